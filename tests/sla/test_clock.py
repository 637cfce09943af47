"""SLA arithmetic: due and warning times, pauses, states and the escalation chain."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sportello.calendar import (
    ALWAYS,
    DEFAULT_OPENING_HOURS,
    NEVER,
    BusinessCalendar,
    parse_opening_hours,
)
from sportello.sla.clock import (
    DEFAULT_POLICIES,
    MANAGER_TIER,
    PRIORITIES,
    Escalation,
    Pause,
    Priority,
    SlaPolicy,
    due_at,
    elapsed,
    escalate,
    measure,
    next_tier,
    policy_for,
    raise_priority,
    sla_state,
    warning_at,
)

ROME = ZoneInfo("Europe/Rome")
HOUR = 3600.0
SEED = BusinessCalendar(parse_opening_hours(DEFAULT_OPENING_HOURS))


def rome(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=ROME)


def utc_of(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return rome(year, month, day, hour, minute).astimezone(UTC)


def due(priority: Priority, start: datetime, kind: str = "first_response") -> datetime | None:
    policy = policy_for(priority)
    seconds = (
        policy.first_response_seconds if kind == "first_response" else policy.resolution_seconds
    )
    return due_at(seconds, start, SEED, policy.business_hours)


# Policies


def test_default_policies_follow_the_seed() -> None:
    first = {p: DEFAULT_POLICIES[p].first_response_seconds for p in PRIORITIES}
    assert first == {"urgent": 15 * 60, "high": HOUR, "medium": 4 * HOUR, "low": 24 * HOUR}
    assert not DEFAULT_POLICIES["urgent"].business_hours
    assert all(DEFAULT_POLICIES[p].business_hours for p in ("low", "medium", "high"))
    for policy in DEFAULT_POLICIES.values():
        assert policy.resolution_seconds > policy.first_response_seconds


def test_policies_validate() -> None:
    with pytest.raises(ValueError, match="unknown priority"):
        SlaPolicy("critical", 60, 120, True)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        SlaPolicy("low", 0, 120, True)
    with pytest.raises(ValueError, match="no SLA policy"):
        policy_for("low", {})


# Due times at the awkward moments the tickets issue names


def test_friday_at_five_to_six() -> None:
    friday = rome(2026, 11, 27, 17, 55)
    assert due("urgent", friday) == utc_of(2026, 11, 27, 18, 10)  # calendar time
    assert due("high", friday) == utc_of(2026, 11, 28, 9, 55)  # Saturday is open
    assert due("medium", friday) == utc_of(2026, 11, 28, 12, 55)
    assert due("low", friday) == utc_of(2026, 12, 1, 14, 55)  # 5 min + 9 h Sat + 9 h Mon + ...
    assert due("high", friday, "resolution") == utc_of(2026, 11, 28, 17, 55)
    assert due("medium", friday, "resolution") == utc_of(2026, 12, 1, 17, 55)


def test_friday_evening_with_a_weekday_only_calendar() -> None:
    weekdays = BusinessCalendar(parse_opening_hours("mon-fri 09:00-18:00"))
    friday = rome(2026, 11, 27, 17, 55)
    assert due_at(HOUR, friday, weekdays, True) == utc_of(2026, 11, 30, 9, 55)


def test_christmas_eve() -> None:
    # Thu 24 Dec 17:30; 25 and 26 are holidays, 27 is Sunday.
    eve = rome(2026, 12, 24, 17, 30)
    assert due("high", eve) == utc_of(2026, 12, 28, 9, 30)
    assert due("medium", eve) == utc_of(2026, 12, 28, 12, 30)
    assert due("urgent", eve, "resolution") == utc_of(2026, 12, 24, 21, 30)
    assert due("low", eve, "resolution") == utc_of(2027, 1, 2, 17, 30)  # 1 Jan is a holiday


def test_across_the_spring_change() -> None:
    saturday = rome(2026, 3, 28, 17, 0)
    assert due("medium", saturday) == utc_of(2026, 3, 30, 12, 0)  # business hours: wall clock
    late = rome(2026, 3, 28, 23, 0)
    # Four real hours from 23:00 CET end at 04:00 CEST: the clock skipped 02:00-03:00.
    assert due("urgent", late, "resolution") == utc_of(2026, 3, 29, 4, 0)


def test_across_the_autumn_change() -> None:
    saturday = rome(2026, 10, 24, 17, 0)
    assert due("medium", saturday) == utc_of(2026, 10, 26, 12, 0)
    late = rome(2026, 10, 24, 23, 0)
    # Four real hours from 23:00 CEST end at 02:00 CET: 02:00-03:00 happened twice.
    result = due("urgent", late, "resolution")
    assert result == datetime(2026, 10, 25, 1, 0, tzinfo=UTC)
    assert result is not None and result.astimezone(ROME).hour == 2


def test_zero_target_and_negative() -> None:
    start = rome(2026, 11, 29, 12, 0)
    assert due_at(0, start, SEED, True) == start
    with pytest.raises(ValueError, match="negative"):
        due_at(-1, start, SEED, True)


def test_a_business_clock_on_a_closed_calendar_raises() -> None:
    with pytest.raises(ValueError, match="stays closed"):
        due_at(60, rome(2026, 1, 1), BusinessCalendar(NEVER, search_days=20), True)
    assert due_at(60, rome(2026, 1, 1), BusinessCalendar(NEVER), False) == utc_of(2026, 1, 1, 0, 1)


# Pauses (waiting_user)


def test_pause_moves_the_due_time() -> None:
    monday = rome(2026, 11, 30, 9, 0)
    pauses: list[Pause] = [(rome(2026, 11, 30, 10, 0), rome(2026, 11, 30, 11, 30))]
    assert due_at(4 * HOUR, monday, SEED, True, pauses) == utc_of(2026, 11, 30, 14, 30)
    assert due_at(4 * HOUR, monday, SEED, False, pauses) == utc_of(2026, 11, 30, 14, 30)


def test_pause_outside_business_hours_changes_nothing() -> None:
    friday = rome(2026, 11, 27, 17, 0)
    night: list[Pause] = [(rome(2026, 11, 27, 19, 0), rome(2026, 11, 28, 8, 0))]
    assert due_at(3 * HOUR, friday, SEED, True, night) == utc_of(2026, 11, 28, 11, 0)
    assert due_at(3 * HOUR, friday, SEED, True) == utc_of(2026, 11, 28, 11, 0)
    assert due_at(3 * HOUR, friday, SEED, False, night) == utc_of(2026, 11, 28, 9, 0)


def test_overlapping_and_early_pauses_merge() -> None:
    monday = rome(2026, 11, 30, 9, 0)
    pauses: list[Pause] = [
        (rome(2026, 11, 30, 8, 0), rome(2026, 11, 30, 9, 30)),  # began before the clock
        (rome(2026, 11, 30, 12, 0), rome(2026, 11, 30, 13, 0)),
        (rome(2026, 11, 30, 12, 30), rome(2026, 11, 30, 14, 0)),
    ]
    assert elapsed(monday, rome(2026, 11, 30, 15, 0), SEED, True, pauses) == 3.5 * HOUR
    assert due_at(4 * HOUR, monday, SEED, True, pauses) == utc_of(2026, 11, 30, 15, 30)


def test_open_pause_freezes_the_clock() -> None:
    monday = rome(2026, 11, 30, 9, 0)
    waiting: list[Pause] = [(rome(2026, 11, 30, 10, 0), None)]
    assert due_at(4 * HOUR, monday, SEED, True, waiting) is None
    assert due_at(HOUR, monday, SEED, True, waiting) == utc_of(2026, 11, 30, 10, 0)
    assert due_at(30 * 60, monday, SEED, False, waiting) == utc_of(2026, 11, 30, 9, 30)
    assert elapsed(monday, rome(2026, 12, 3, 12, 0), SEED, True, waiting) == HOUR
    assert warning_at(4 * HOUR, monday, SEED, True, waiting) is None


def test_elapsed_counts_business_or_calendar_time() -> None:
    friday = rome(2026, 11, 27, 17, 0)
    monday = rome(2026, 11, 30, 10, 0)
    assert elapsed(friday, monday, SEED, True) == (1 + 9 + 1) * HOUR
    assert elapsed(friday, monday, SEED, False) == 65 * HOUR
    assert elapsed(monday, friday, SEED, True) == 0


# Warning at 80%


def test_warning_at_is_80_percent_of_business_time() -> None:
    friday = rome(2026, 11, 27, 17, 55)
    # 48 of 60 minutes: 5 on Friday, 43 on Saturday morning; not 80% of the wall-clock span.
    assert warning_at(HOUR, friday, SEED, True) == utc_of(2026, 11, 28, 9, 43)
    assert warning_at(HOUR, friday, SEED, True, warn_ratio=0.5) == utc_of(2026, 11, 28, 9, 25)
    with pytest.raises(ValueError, match="warn_ratio"):
        warning_at(HOUR, friday, SEED, True, warn_ratio=1.5)


# States


def test_sla_state_transitions() -> None:
    start = rome(2026, 11, 30, 9, 0)
    deadline = due_at(HOUR, start, SEED, True)
    warn = warning_at(HOUR, start, SEED, True)
    assert deadline is not None and warn is not None

    def state(now: datetime, **kwargs: datetime | None) -> str:
        return sla_state(now, deadline, warn_at=warn, **kwargs)

    assert state(rome(2026, 11, 30, 9, 30)) == "ok"
    assert state(rome(2026, 11, 30, 9, 48)) == "warning"
    assert state(rome(2026, 11, 30, 10, 0)) == "breached"
    assert state(rome(2026, 11, 30, 10, 0), met_at=rome(2026, 11, 30, 9, 59)) == "met"
    assert state(rome(2026, 11, 30, 9, 0), met_at=rome(2026, 11, 30, 9, 59)) == "met"
    assert state(rome(2026, 11, 30, 12, 0), met_at=rome(2026, 11, 30, 10, 1)) == "breached"
    assert state(rome(2026, 11, 30, 12, 0), paused_since=rome(2026, 11, 30, 9, 50)) == "paused"
    assert state(rome(2026, 11, 30, 12, 0), paused_since=rome(2026, 11, 30, 10, 5)) == "breached"
    assert sla_state(rome(2026, 11, 30, 12, 0), None) == "ok"
    assert sla_state(rome(2026, 11, 30, 12, 0), None, met_at=rome(2026, 11, 30, 11)) == "met"


def test_measure_reads_the_whole_history() -> None:
    start = rome(2026, 11, 30, 9, 0)
    pause: list[Pause] = [(rome(2026, 11, 30, 9, 30), rome(2026, 11, 30, 10, 30))]

    def read(now: datetime, pauses: list[Pause] = pause, met_at: datetime | None = None) -> str:
        return measure(HOUR, start, now, SEED, True, pauses, met_at=met_at).state

    assert read(rome(2026, 11, 30, 9, 20)) == "ok"
    assert read(rome(2026, 11, 30, 10, 0)) == "paused"
    assert read(rome(2026, 11, 30, 10, 50)) == "warning"  # 30 + 20 = 50 minutes
    assert read(rome(2026, 11, 30, 11, 0)) == "breached"
    assert read(rome(2026, 11, 30, 12, 0), met_at=rome(2026, 11, 30, 10, 45)) == "met"
    assert read(rome(2026, 11, 30, 12, 0), met_at=rome(2026, 11, 30, 11, 15)) == "breached"
    late_pause: list[Pause] = [(rome(2026, 11, 30, 10, 30), None)]
    assert read(rome(2026, 11, 30, 11, 0), late_pause) == "breached"  # breached, then paused

    reading = measure(HOUR, start, rome(2026, 11, 30, 10, 50), SEED, True, pause)
    assert reading.elapsed_seconds == 50 * 60
    assert reading.remaining_seconds == 10 * 60
    assert reading.due_at == utc_of(2026, 11, 30, 11, 0)
    assert reading.warning_at == utc_of(2026, 11, 30, 10, 48)
    assert reading.ratio == pytest.approx(50 / 60)


# Properties


TOLERANCE = 1e-5
starts = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)


@st.composite
def pause_lists(draw: st.DrawFn, start: datetime) -> list[Pause]:
    offsets = sorted(draw(st.lists(st.integers(0, 20 * 86400), max_size=6)))
    return [
        (start + timedelta(seconds=a), start + timedelta(seconds=b))
        for a, b in zip(offsets[::2], offsets[1::2], strict=False)
    ]


@settings(max_examples=150, deadline=None)
@given(starts, st.floats(min_value=1, max_value=10 * 86400), st.booleans(), st.data())
def test_elapsed_at_the_due_time_is_the_target(
    start: datetime, seconds: float, business: bool, data: st.DataObject
) -> None:
    pauses = data.draw(pause_lists(start))
    deadline = due_at(seconds, start, SEED, business, pauses)
    assert deadline is not None
    assert abs(elapsed(start, deadline, SEED, business, pauses) - seconds) <= TOLERANCE
    warn = warning_at(seconds, start, SEED, business, pauses)
    assert warn is not None and start <= warn <= deadline


@settings(max_examples=100, deadline=None)
@given(starts, st.floats(min_value=0, max_value=10 * 86400), st.data())
def test_always_calendar_equals_wall_clock(
    start: datetime, seconds: float, data: st.DataObject
) -> None:
    always = BusinessCalendar(ALWAYS, country_holidays=None)
    pauses = data.draw(pause_lists(start))
    assert due_at(seconds, start, always, True, pauses) == due_at(
        seconds, start, SEED, False, pauses
    )
    now = start + timedelta(seconds=seconds)
    assert (
        abs(elapsed(start, now, always, True, pauses) - elapsed(start, now, SEED, False, pauses))
        <= TOLERANCE
    )


@settings(max_examples=100, deadline=None)
@given(starts, st.floats(min_value=1, max_value=5 * 86400), st.data())
def test_pauses_never_bring_a_due_time_forward(
    start: datetime, seconds: float, data: st.DataObject
) -> None:
    pauses = data.draw(pause_lists(start))
    plain = due_at(seconds, start, SEED, True)
    paused = due_at(seconds, start, SEED, True, pauses)
    assert plain is not None and paused is not None and paused >= plain


# Escalation


def test_escalation_chain() -> None:
    assert [next_tier(t) for t in (1, 2, 3)] == [2, 3, MANAGER_TIER]
    assert [raise_priority(p) for p in PRIORITIES] == ["medium", "high", "urgent", "urgent"]
    assert escalate(1, "low") == Escalation(2, "medium", changed=True)
    assert escalate(2, "urgent") == Escalation(3, "urgent", changed=True)
    assert escalate(3, "urgent") == Escalation(3, "urgent", changed=False)
    with pytest.raises(ValueError):
        next_tier(0)
    with pytest.raises(ValueError):
        raise_priority("critical")  # type: ignore[arg-type]


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        elapsed(datetime(2026, 1, 1), datetime(2026, 1, 2, tzinfo=UTC), SEED, True)
