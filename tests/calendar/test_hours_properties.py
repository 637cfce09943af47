"""Properties of business-time arithmetic that must hold for any calendar and any instants."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from sportello.calendar import (
    ALWAYS,
    BusinessCalendar,
    CalendarException,
    TimeRange,
    WeeklyHours,
    parse_opening_hours,
)

ROME = ZoneInfo("Europe/Rome")
TOLERANCE = 1e-5  # business seconds are summed from microsecond timedeltas

# Instants around 2026, with extra weight on both DST weekends and the Christmas holidays.
_hot_days = st.sampled_from(
    [
        datetime(2026, 3, 28, tzinfo=UTC),
        datetime(2026, 10, 24, tzinfo=UTC),
        datetime(2026, 12, 23, tzinfo=UTC),
    ]
)
instants = st.one_of(
    st.datetimes(
        min_value=datetime(2025, 12, 1), max_value=datetime(2027, 2, 1), timezones=st.just(UTC)
    ),
    st.builds(
        lambda day, seconds: day + timedelta(seconds=seconds),
        _hot_days,
        st.integers(min_value=0, max_value=4 * 86400),
    ),
)


@st.composite
def day_hours(draw: st.DrawFn) -> tuple[TimeRange, ...]:
    # Quarter-hour boundaries, so ranges often touch 02:00-03:00 and midnight.
    cuts = sorted(draw(st.sets(st.integers(min_value=0, max_value=96), max_size=6)))
    pairs = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]
    ranges = [TimeRange(a * 15, b * 15) for a, b in pairs if b > a]
    merged: list[TimeRange] = []
    for r in ranges:
        if merged and r.start == merged[-1].end:
            merged[-1] = TimeRange(merged[-1].start, r.end)
        else:
            merged.append(r)
    return tuple(merged)


@st.composite
def calendars(draw: st.DrawFn) -> BusinessCalendar:
    kind = draw(st.sampled_from(["seed", "split", "always", "random"]))
    if kind == "seed":
        hours = parse_opening_hours("mon-sat 09:00-18:00")
    elif kind == "split":
        hours = parse_opening_hours("mon-fri 09:00-13:00,14:00-18:00; sat 10:00-13:00")
    elif kind == "always":
        hours = ALWAYS
    else:
        days = tuple(draw(day_hours()) for _ in range(7))
        assume(any(days))
        hours = WeeklyHours(days=days)
    exceptions = draw(
        st.lists(
            st.builds(
                CalendarException,
                st.dates(min_value=date(2025, 12, 1), max_value=date(2027, 2, 1)),
                day_hours(),
            ),
            max_size=4,
            unique_by=lambda e: e.day,
        )
    )
    holidays = draw(st.sampled_from(["IT", None]))
    return BusinessCalendar(hours, country_holidays=holidays, exceptions=exceptions)


business_amounts = st.floats(min_value=0, max_value=30 * 86400, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(calendars(), instants, business_amounts)
def test_adding_then_measuring_gives_the_same_seconds(
    calendar: BusinessCalendar, start: datetime, seconds: float
) -> None:
    end = calendar.add_business_seconds(start, seconds)
    assert end >= start
    assert abs(calendar.business_seconds_between(start, end) - seconds) <= TOLERANCE


@settings(max_examples=200, deadline=None)
@given(calendars(), instants, business_amounts, business_amounts)
def test_adding_is_monotonic(
    calendar: BusinessCalendar, start: datetime, a: float, b: float
) -> None:
    low, high = sorted((a, b))
    assert calendar.add_business_seconds(start, low) <= calendar.add_business_seconds(start, high)


@settings(max_examples=200, deadline=None)
@given(calendars(), st.lists(instants, min_size=3, max_size=3))
def test_business_seconds_add_up_over_a_split_point(
    calendar: BusinessCalendar, points: list[datetime]
) -> None:
    a, b, c = sorted(points)
    whole = calendar.business_seconds_between(a, c)
    parts = calendar.business_seconds_between(a, b) + calendar.business_seconds_between(b, c)
    assert abs(whole - parts) <= TOLERANCE
    assert 0 <= calendar.business_seconds_between(a, b) <= (b - a).total_seconds()


@settings(max_examples=200, deadline=None)
@given(calendars(), instants, st.integers(min_value=1, max_value=5 * 86400), st.data())
def test_is_open_agrees_with_open_intervals(
    calendar: BusinessCalendar, start: datetime, span: int, data: st.DataObject
) -> None:
    end = start + timedelta(seconds=span)
    intervals = list(calendar.open_intervals(start, end))
    for (s1, e1), (s2, _e2) in itertools.pairwise(intervals):
        assert s1 < e1 < s2  # sorted, disjoint, merged
    for s, e in intervals:
        assert calendar.is_open(s)
        assert calendar.is_open(e - timedelta(microseconds=1))
        if e < end:
            assert not calendar.is_open(e)
    probe = start + timedelta(seconds=data.draw(st.floats(min_value=0, max_value=span - 1e-3)))
    inside = any(s <= probe < e for s, e in intervals)
    assert calendar.is_open(probe) == inside


@settings(max_examples=200, deadline=None)
@given(calendars(), instants)
def test_next_opening_is_the_first_open_instant(calendar: BusinessCalendar, at: datetime) -> None:
    opening = calendar.next_opening(at)
    assume(opening is not None)
    assert opening is not None and opening >= at
    assert calendar.is_open(opening)
    assert calendar.business_seconds_between(at, opening) == 0
    closing = calendar.next_closing(at)
    if closing is not None:
        assert closing > opening
        assert not calendar.is_open(closing)
        assert (
            calendar.business_seconds_between(opening, closing)
            == (closing - opening).total_seconds()
        )


@settings(max_examples=100, deadline=None)
@given(instants, business_amounts)
def test_always_is_wall_clock_time(start: datetime, seconds: float) -> None:
    always = BusinessCalendar(ALWAYS, country_holidays=None)
    assert always.add_business_seconds(start, seconds) == start + timedelta(seconds=seconds)
    end = start + timedelta(seconds=seconds)
    assert abs(always.business_seconds_between(start, end) - (end - start).total_seconds()) <= (
        TOLERANCE
    )


@settings(max_examples=100, deadline=None)
@given(st.dates(min_value=date(2025, 1, 1), max_value=date(2030, 12, 31)))
def test_nine_to_six_is_nine_hours_every_day(day: date) -> None:
    daily = BusinessCalendar(parse_opening_hours("daily 09:00-18:00"), country_holidays=None)
    midnight = datetime(day.year, day.month, day.day, tzinfo=ROME)
    assert daily.business_seconds_between(midnight, midnight + timedelta(days=1)) == 9 * 3600
