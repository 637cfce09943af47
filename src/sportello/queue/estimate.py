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

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

PRIOR_WEIGHT = 5
HEAD_START = 0.5
# A language's own handle time is used from this many recent chats on; below, the global one.
LANGUAGE_MIN_SAMPLES = 10


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


@dataclass(frozen=True)
class Pool:
    """Online operators who speak the same languages (none listed: every language)."""

    languages: frozenset[str]
    slots: int
    free: int

    def speaks(self, language: str) -> bool:
        return not self.languages or language in self.languages


def handle_for(language_samples: Sequence[float], global_handle: float) -> float:
    """A language's handle time: its own recent mean once it has enough chats, else the global one."""
    if len(language_samples) < LANGUAGE_MIN_SAMPLES:
        return global_handle
    return typical_duration(language_samples, global_handle)


class LanguageEstimator:
    """Estimated waits when operators speak different languages (docs/handoff.md).

    A visitor of language L is served by the pools that speak L, at their pace: the slots of
    those pools, freeing every `handle[L] + accept` seconds. Visitors ahead compete for those
    slots by how much they overlap: one of language M counts for the share of M's slots that
    also speak L (1 for L itself, 0 for a language none of L's operators speaks). With one pool
    for every language this is exactly `estimate_waits`.
    """

    def __init__(
        self, pools: Sequence[Pool], *, handle: Mapping[str, float], default_handle: float, accept: float
    ) -> None:
        self.pools = pools
        self.handle = handle
        self.default_handle = default_handle
        self.accept = accept
        self._slots: dict[str, int] = {}
        self._free: dict[str, int] = {}
        self._shared: dict[tuple[str, str], float] = {}

    def slots(self, language: str) -> int:
        if language not in self._slots:
            self._slots[language] = sum(p.slots for p in self.pools if p.speaks(language))
        return self._slots[language]

    def free(self, language: str) -> int:
        if language not in self._free:
            self._free[language] = sum(p.free for p in self.pools if p.speaks(language))
        return self._free[language]

    def share(self, ahead: str, mine: str) -> float:
        if ahead == mine:
            return 1.0
        key = (ahead, mine)
        if key not in self._shared:
            both = sum(p.slots for p in self.pools if p.speaks(ahead) and p.speaks(mine))
            self._shared[key] = both / self.slots(ahead) if self.slots(ahead) else 0.0
        return self._shared[key]

    def wait(self, language: str, ahead: Mapping[str, int]) -> float | None:
        """Seconds of wait for a visitor of `language` with `ahead[M]` visitors of language M before them."""
        total = self.slots(language)
        if total <= 0:
            return None
        position = 1.0 + sum(n * self.share(other, language) for other, n in ahead.items())
        gap = (self.handle.get(language, self.default_handle) + self.accept) / total
        behind = position - max(self.free(language), 0)
        return self.accept if behind <= 0 else self.accept + max(behind - HEAD_START, 0.0) * gap


def estimate_by_language(
    languages: Sequence[str],
    pools: Sequence[Pool],
    *,
    handle: Mapping[str, float],
    default_handle: float,
    accept: float,
) -> list[float | None]:
    """Estimated seconds of wait for each queue position, given each waiting visitor's language."""
    estimator = LanguageEstimator(pools, handle=handle, default_handle=default_handle, accept=accept)
    ahead: Counter[str] = Counter()  # O(queue × languages), not O(queue²)
    out: list[float | None] = []
    for language in languages:
        out.append(estimator.wait(language, ahead))
        ahead[language] += 1
    return out
