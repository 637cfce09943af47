"""A simulated day at the desk, used to measure the wait estimate's error."""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass

from sportello.queue.estimate import estimate_waits, typical_duration


@dataclass
class DayResult:
    visitors: int
    waited: int
    mean_wait: float
    mae: float
    naive_mae: float
    p90_abs_error: float
    bias: float


def simulate_day(
    seed: int,
    *,
    slots: int = 9,
    mean_handle: float = 300.0,
    hours: float = 9.0,
    base_per_hour: float = 70.0,
    peak_per_hour: float = 125.0,
) -> DayResult:
    """FIFO queue over `slots` chat slots; estimates taken at each arrival, compared to reality."""
    rng = random.Random(seed)
    sigma = 0.6
    mu = math.log(mean_handle) - sigma**2 / 2
    arrivals: list[float] = []
    t = 0.0
    end = hours * 3600
    while True:
        # Two peaks (late morning and late afternoon) over a steady base.
        phase = t / end
        rate = base_per_hour + (peak_per_hour - base_per_hour) * max(
            math.exp(-(((phase - 0.3) / 0.08) ** 2)), math.exp(-(((phase - 0.8) / 0.08) ** 2))
        )
        t += rng.expovariate(rate / 3600)
        if t >= end:
            break
        arrivals.append(t)
    handles = [rng.lognormvariate(mu, sigma) for _ in arrivals]
    accepts = [rng.uniform(5, 25) for _ in arrivals]

    free_at = [0.0] * slots
    offered: list[float] = []
    ends: list[float] = []
    for a, h, acc in zip(arrivals, handles, accepts, strict=True):
        f = heapq.heappop(free_at)
        o = max(a, f)
        offered.append(o)
        ends.append(o + acc + h)
        heapq.heappush(free_at, o + acc + h)

    signed: list[float] = []
    errors: list[float] = []
    naive_errors: list[float] = []
    waits: list[float] = []
    for i, a in enumerate(arrivals):
        actual = offered[i] + accepts[i] - a
        ahead = sum(1 for j in range(i) if offered[j] > a)
        busy = [a - offered[j] for j in range(i) if offered[j] <= a < ends[j]]
        done = sorted((ends[j], handles[j]) for j in range(i) if ends[j] <= a)[-50:]
        recent_accepts = [accepts[j] for j in range(i) if offered[j] + accepts[j] <= a][-50:]
        handle = typical_duration([d for _, d in done], mean_handle)
        accept = typical_duration(recent_accepts, 15.0)
        position = ahead + 1
        estimate = estimate_waits(
            position, slots=slots, free_slots=slots - len(busy), handle=handle, accept=accept
        )[-1]
        assert estimate is not None
        if slots - len(busy) >= position:
            continue  # served at once: only waits that really happen are scored
        waits.append(actual)
        errors.append(abs(estimate - actual))
        signed.append(estimate - actual)
        naive_errors.append(abs(position * handle / slots - actual))
    errors_sorted = sorted(errors)
    return DayResult(
        visitors=len(arrivals),
        waited=len(waits),
        mean_wait=sum(waits) / max(len(waits), 1),
        mae=sum(errors) / max(len(errors), 1),
        naive_mae=sum(naive_errors) / max(len(naive_errors), 1),
        bias=sum(signed) / max(len(signed), 1),
        p90_abs_error=errors_sorted[int(0.9 * (len(errors_sorted) - 1))] if errors_sorted else 0.0,
    )


if __name__ == "__main__":
    for seed in range(5):
        print(simulate_day(seed))
