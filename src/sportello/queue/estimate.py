"""Wait estimates: pure arithmetic over what the queue service measures (docs/handoff.md).

With `slots` chat slots online (the sum of `max_chats` of the online operators), a slot frees
on average every `handle + accept` seconds, so together they take a visitor every
`(handle + accept) / slots` seconds. A visitor at position `p` with `free` slots open now
needs `p - free` slots to free before theirs (half a gap less on average, because the first
free-up is already under way), then the operator's accept latency.

Simpler-looking models were measured against this one on simulated days
(tests/queue/test_estimate.py): giving each busy slot its own "handle time minus elapsed"
remaining time is *worse*, because chat lengths vary so much that the order in which slots
free is close to random; the pooled rate is what carries the information.
"""

from __future__ import annotations

from collections.abc import Sequence

PRIOR_WEIGHT = 5
HEAD_START = 0.5


def typical_duration(samples: Sequence[float], prior: float, prior_weight: int = PRIOR_WEIGHT) -> float:
    """Mean of recent durations, pulled towards `prior` while there are few samples."""
    return (sum(samples) + prior * prior_weight) / (len(samples) + prior_weight)


def estimate_waits(
    count: int, *, slots: int, free_slots: int, handle: float, accept: float
) -> list[float | None]:
    """Estimated seconds of wait for queue positions 1..count (None: nobody online takes chats)."""
    if slots <= 0:
        return [None] * count
    gap = (handle + accept) / slots
    out: list[float | None] = []
    for position in range(1, count + 1):
        behind = position - max(free_slots, 0)
        out.append(accept if behind <= 0 else accept + max(behind - HEAD_START, 0.0) * gap)
    return out


def round_estimate(seconds: float | None) -> int | None:
    """Shown to visitors rounded: to 15 s under two minutes, else to the minute."""
    if seconds is None:
        return None
    if seconds < 120:
        return int(15 * round(seconds / 15))
    return int(60 * round(seconds / 60))
