"""The wait estimate, scored against what really happened on simulated days."""

from __future__ import annotations

from sportello.queue.estimate import estimate_waits, round_estimate, typical_duration
from tests.queue.simulation import simulate_day


def test_estimate_error_on_simulated_days() -> None:
    # Nine chat slots, ~750 visitors over 9 hours with two peaks, lognormal handle times
    # (mean 5 min): most visitors wait, several minutes at the peaks.
    days = [simulate_day(seed) for seed in range(3)]
    for day in days:
        assert day.waited > 300
        # Typical error is a small share of the wait and the estimate is not biased...
        assert day.mae < 0.2 * day.mean_wait, day
        assert abs(day.bias) < 0.05 * day.mean_wait, day
        # ...and it beats "position × handle time ÷ slots" or stays within 5 % of it.
        assert day.mae < 1.05 * day.naive_mae, day
    mean_mae = sum(d.mae for d in days) / len(days)
    assert mean_mae < 90  # seconds; measured ≈ 68 s (see docs/handoff.md)


def test_estimate_basics() -> None:
    assert estimate_waits(2, slots=0, free_slots=0, handle=300, accept=15) == [None, None]
    # Two free slots: the first two are served at once (only the accept latency).
    waits = estimate_waits(4, slots=4, free_slots=2, handle=285, accept=15)
    assert waits[:2] == [15, 15] and waits[2] == 15 + 0.5 * 75 and waits[3] == 15 + 1.5 * 75
    assert typical_duration([], prior=300) == 300
    assert 300 < typical_duration([600] * 50, prior=300) < 600
    assert round_estimate(None) is None and round_estimate(52) == 45 and round_estimate(200) == 180
