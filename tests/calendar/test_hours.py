"""Opening-hours parsing and the business calendar on ordinary days, holidays, exceptions and DST."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from sportello.calendar import (
    ALWAYS,
    DEFAULT_OPENING_HOURS,
    NEVER,
    BusinessCalendar,
    CalendarException,
    TimeRange,
    WeeklyHours,
    parse_day_hours,
    parse_exceptions,
    parse_opening_hours,
)

ROME = ZoneInfo("Europe/Rome")


def rome(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=ROME)


def utc_of(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return rome(year, month, day, hour, minute).astimezone(UTC)


@pytest.fixture
def seed() -> BusinessCalendar:
    return BusinessCalendar(parse_opening_hours(DEFAULT_OPENING_HOURS))


# Parsing


def test_seed_default_is_monday_to_saturday_nine_to_six() -> None:
    hours = parse_opening_hours("mon-sat 09:00-18:00")
    for weekday in range(6):
        assert hours.on(weekday) == (TimeRange(9 * 60, 18 * 60),)
    assert hours.on(6) == ()
    assert hours.weekly_minutes == 6 * 9 * 60


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("mon-fri 09:00-18:00; sat 10:00-13:00", "mon-fri 09:00-18:00; sat 10:00-13:00"),
        ("mon-fri 09:00-13:00,14:00-18:00", "mon-fri 09:00-13:00,14:00-18:00"),
        ("MON - FRI 9:00 - 18:00 ;", "mon-fri 09:00-18:00"),
        ("mon,wed,fri 9-17", "mon 09:00-17:00; wed 09:00-17:00; fri 09:00-17:00"),
        ("fri-mon 10:00-24:00", "mon 10:00-24:00; fri-sun 10:00-24:00"),
        ("daily 08.30-20.00", "mon-sun 08:30-20:00"),
        ("lun-ven 09:00-18:00; sab chiuso", "mon-fri 09:00-18:00"),
        ("mon 09:00-12:00,12:00-13:00", "mon 09:00-13:00"),
        ("sun 00:00-24:00", "sun 00:00-24:00"),
        ("always", "always"),
        ("24/7", "always"),
        ("daily 00:00-24:00", "always"),
        ("closed", "closed"),
        ("mon-sun closed", "closed"),
    ],
)
def test_good_specs_read_back_canonically(spec: str, expected: str) -> None:
    hours = parse_opening_hours(spec)
    assert str(hours) == expected
    assert parse_opening_hours(str(hours)) == hours


def test_always_and_never() -> None:
    assert parse_opening_hours("always") == ALWAYS and ALWAYS.is_always
    assert parse_opening_hours("closed") == NEVER and NEVER.is_never


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("mon-sat", "should be days then hours"),
        ("mno-fri 09:00-18:00", "'mno' is not a day"),
        ("mon-fri 9:00-25:00", "'25:00' in '9:00-25:00' is not a time between 00:00 and 24:00"),
        ("mon-fri 09:60-18:00", "'09:60'"),
        ("mon-fri 24:30-24:45", "'24:30'"),
        ("mon-fri 18:00-09:00", "ends before it starts"),
        ("mon-fri 09:00-09:00", "ends before it starts"),
        ("mon-fri nine-six", "'nine' in 'nine-six' is not a time"),
        ("mon-fri 09:00", "is not a time range like '09:00-18:00'"),
        ("mon 09:00-13:00,12:00-14:00", "overlap"),
        ("mon-fri 09:00-18:00; fri 10:00-11:00", "fri is in both"),
        ("mon,mon 09:00-18:00", "mon is named twice"),
        ("mon--fri 09:00-18:00", "is not a day or a day range"),
        ("mon-fri 09:00-18:00 extra", "should be days then hours"),
        (";", "name no days"),
    ],
)
def test_bad_specs_say_what_is_wrong(spec: str, message: str) -> None:
    with pytest.raises(ValueError, match="opening hours") as excinfo:
        parse_opening_hours(spec)
    assert message in str(excinfo.value)


def test_error_names_the_clause_only_when_there_are_several() -> None:
    with pytest.raises(ValueError) as excinfo:
        parse_opening_hours("mon-fri 09:00-18:00; sat 10:00-31:00")
    assert "clause 'sat 10:00-31:00'" in str(excinfo.value)


def test_weekly_hours_validates_itself() -> None:
    with pytest.raises(ValueError, match="7 days"):
        WeeklyHours(days=((),) * 6)
    with pytest.raises(ValueError):
        TimeRange(600, 600)
    with pytest.raises(ValueError):
        TimeRange(0, 1441)


def test_day_hours_and_exceptions_parse() -> None:
    assert parse_day_hours("18:00-23:00") == (TimeRange(18 * 60, 23 * 60),)
    assert parse_day_hours("closed") == ()
    exceptions = parse_exceptions("2026-12-24 09:00-13:00; 2026-12-31 closed;")
    assert exceptions == [
        CalendarException(date(2026, 12, 24), (TimeRange(540, 780),)),
        CalendarException(date(2026, 12, 31), ()),
    ]
    assert exceptions[1].is_closed
    with pytest.raises(ValueError, match="'2026-13-01' is not a date"):
        parse_exceptions("2026-13-01 closed")
    with pytest.raises(ValueError, match="given twice"):
        parse_exceptions("2026-12-24 closed; 2026-12-24 09:00-12:00")
    with pytest.raises(ValueError, match="a date then hours"):
        parse_exceptions("2026-12-24")


def test_calendar_rejects_bad_settings() -> None:
    with pytest.raises(ValueError, match="time zone"):
        BusinessCalendar(ALWAYS, tz="Europe/Nowhere")
    with pytest.raises(ValueError, match="public holidays"):
        BusinessCalendar(ALWAYS, country_holidays="XX")
    with pytest.raises(ValueError, match="two calendar exceptions"):
        BusinessCalendar(
            ALWAYS,
            exceptions=[
                CalendarException.closed(date(2026, 1, 2)),
                CalendarException.closed(date(2026, 1, 2)),
            ],
        )
    with pytest.raises(ValueError, match="timezone-aware"):
        BusinessCalendar(ALWAYS).is_open(datetime(2026, 1, 2, 10))


# Ordinary days


def test_is_open_on_a_weekday(seed: BusinessCalendar) -> None:
    assert not seed.is_open(rome(2026, 11, 27, 8, 59, 59))
    assert seed.is_open(rome(2026, 11, 27, 9, 0))
    assert seed.is_open(rome(2026, 11, 27, 17, 59, 59))
    assert not seed.is_open(rome(2026, 11, 27, 18, 0))


def test_is_open_in_any_zone(seed: BusinessCalendar) -> None:
    assert seed.is_open(datetime(2026, 11, 27, 8, 30, tzinfo=UTC))  # 09:30 in Rome
    assert not seed.is_open(datetime(2026, 11, 27, 7, 30, tzinfo=UTC))
    new_york = ZoneInfo("America/New_York")
    assert seed.is_open(datetime(2026, 11, 27, 11, 0, tzinfo=new_york))  # 17:00 in Rome


def test_next_opening_and_closing(seed: BusinessCalendar) -> None:
    friday_evening = rome(2026, 11, 27, 18, 30)
    assert seed.next_opening(friday_evening) == utc_of(2026, 11, 28, 9, 0)
    open_now = rome(2026, 11, 27, 10, 0)
    assert seed.next_opening(open_now) == open_now
    assert seed.next_closing(open_now) == utc_of(2026, 11, 27, 18, 0)
    assert seed.next_closing(friday_evening) == utc_of(2026, 11, 28, 18, 0)
    assert seed.next_opening(rome(2026, 11, 28, 8, 0)).tzinfo is UTC  # type: ignore[union-attr]


def test_sunday_is_closed(seed: BusinessCalendar) -> None:
    assert not seed.is_open(rome(2026, 11, 29, 12, 0))
    assert seed.next_opening(rome(2026, 11, 28, 18, 0)) == utc_of(2026, 11, 30, 9, 0)


# Italian public holidays


@pytest.mark.parametrize(
    "day",
    [
        date(2026, 1, 1),
        date(2026, 1, 6),
        date(2026, 4, 6),  # Easter Monday 2026
        date(2026, 4, 25),
        date(2026, 5, 1),
        date(2026, 6, 2),
        date(2026, 8, 15),
        date(2026, 12, 8),
        date(2026, 12, 25),
        date(2026, 12, 26),
    ],
)
def test_closed_on_italian_holidays(seed: BusinessCalendar, day: date) -> None:
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=ROME)
    assert seed.holiday_name(day)
    assert not seed.is_open(noon)
    assert seed.hours_on(day) == ()


def test_christmas_eve_evening_reopens_after_santo_stefano_and_sunday(
    seed: BusinessCalendar,
) -> None:
    # Thu 24 open, Fri 25 and Sat 26 holidays, Sun 27 closed.
    assert seed.is_open(rome(2026, 12, 24, 17, 0))
    assert seed.next_opening(rome(2026, 12, 24, 18, 0)) == utc_of(2026, 12, 28, 9, 0)


def test_easter_2026(seed: BusinessCalendar) -> None:
    assert seed.next_opening(rome(2026, 4, 4, 19, 0)) == utc_of(2026, 4, 7, 9, 0)


def test_without_holidays_the_weekly_hours_rule(seed: BusinessCalendar) -> None:
    plain = BusinessCalendar(seed.hours, country_holidays=None)
    assert plain.is_open(rome(2026, 12, 25, 12, 0))
    assert plain.holiday_name(date(2026, 12, 25)) is None


def test_regional_holidays() -> None:
    hours = parse_opening_hours("mon-sat 09:00-18:00")
    rome_city = BusinessCalendar(hours, holiday_subdivision="RM")  # Saints Peter and Paul
    assert not rome_city.is_open(rome(2026, 6, 29, 12, 0))
    assert BusinessCalendar(hours).is_open(rome(2026, 6, 29, 12, 0))


# Exceptions


def test_exception_closes_a_normal_day(seed: BusinessCalendar) -> None:
    calendar = BusinessCalendar(
        seed.hours, exceptions=[CalendarException.closed(date(2026, 11, 30), "inventory")]
    )
    assert not calendar.is_open(rome(2026, 11, 30, 12, 0))
    assert calendar.next_opening(rome(2026, 11, 28, 19, 0)) == utc_of(2026, 12, 1, 9, 0)


def test_exception_opens_an_event_evening(seed: BusinessCalendar) -> None:
    calendar = BusinessCalendar(
        seed.hours, exceptions=[CalendarException.opening(date(2026, 12, 5), "18:00-23:00")]
    )
    assert not calendar.is_open(rome(2026, 12, 5, 10, 0))  # replaces the day's hours
    assert calendar.is_open(rome(2026, 12, 5, 22, 59))
    assert not calendar.is_open(rome(2026, 12, 5, 23, 0))
    assert calendar.next_opening(rome(2026, 12, 5, 9, 0)) == utc_of(2026, 12, 5, 18, 0)


def test_exception_opens_a_holiday_and_a_sunday(seed: BusinessCalendar) -> None:
    calendar = BusinessCalendar(
        seed.hours,
        exceptions=parse_exceptions("2026-12-08 17:00-23:00; 2026-12-13 10:00-12:00,15:00-19:00"),
    )
    assert calendar.is_open(rome(2026, 12, 8, 20, 0))
    assert not calendar.is_open(rome(2026, 12, 8, 12, 0))
    assert calendar.holiday_name(date(2026, 12, 8))
    assert calendar.is_open(rome(2026, 12, 13, 11, 0))
    assert not calendar.is_open(rome(2026, 12, 13, 13, 0))
    assert calendar.next_opening(rome(2026, 12, 13, 12, 0)) == utc_of(2026, 12, 13, 15, 0)


# Never and always


def test_a_calendar_that_never_opens() -> None:
    never = BusinessCalendar(NEVER, search_days=30)
    at = rome(2026, 1, 1, 0, 0)
    assert not never.is_open(at)
    assert never.next_opening(at) is None
    assert never.next_closing(at) is None
    assert list(never.open_intervals(at, at + timedelta(days=90))) == []
    assert never.business_seconds_between(at, at + timedelta(days=90)) == 0
    with pytest.raises(ValueError, match="stays closed"):
        never.add_business_seconds(at, 60)


def test_holidays_alone_never_exhaust_the_search() -> None:
    only_christmas = BusinessCalendar(
        parse_opening_hours("always"),
        exceptions=[CalendarException.opening(date(2027, 12, 25), "10:00-11:00")],
    )
    assert only_christmas.next_opening(rome(2027, 12, 24, 12, 0)) == rome(2027, 12, 24, 12, 0)
    sparse = BusinessCalendar(
        NEVER, exceptions=[CalendarException.opening(date(2027, 6, 1), "10:00-11:00")]
    )
    assert sparse.next_opening(rome(2026, 7, 1, 0, 0)) == utc_of(2027, 6, 1, 10, 0)
    assert sparse.next_opening(rome(2025, 1, 1, 0, 0)) is None  # beyond 400 days


def test_always_is_open_and_never_closes() -> None:
    always = BusinessCalendar(ALWAYS, country_holidays=None)
    at = rome(2026, 12, 25, 3, 0)
    assert always.is_open(at)
    assert always.next_opening(at) == at
    assert always.next_closing(at) is None
    assert list(always.open_intervals(at, at + timedelta(days=3))) == [
        (at.astimezone(UTC), (at + timedelta(days=3)).astimezone(UTC))
    ]


def test_closing_merges_across_midnight() -> None:
    night = BusinessCalendar(
        parse_opening_hours("fri 20:00-24:00; sat 00:00-02:00"), country_holidays=None
    )
    assert night.next_closing(rome(2026, 11, 27, 21, 0)) == utc_of(2026, 11, 28, 2, 0)
    assert night.is_open(rome(2026, 11, 28, 1, 0))


# Intervals and business seconds


def test_open_intervals_are_clipped_and_in_utc(seed: BusinessCalendar) -> None:
    intervals = list(seed.open_intervals(rome(2026, 11, 27, 12, 0), rome(2026, 11, 30, 10, 0)))
    assert intervals == [
        (utc_of(2026, 11, 27, 12, 0), utc_of(2026, 11, 27, 18, 0)),
        (utc_of(2026, 11, 28, 9, 0), utc_of(2026, 11, 28, 18, 0)),
        (utc_of(2026, 11, 30, 9, 0), utc_of(2026, 11, 30, 10, 0)),
    ]
    assert all(s.tzinfo is UTC and e.tzinfo is UTC for s, e in intervals)


def test_business_seconds_and_adding_them(seed: BusinessCalendar) -> None:
    friday = rome(2026, 11, 27, 17, 55)
    assert seed.add_business_seconds(friday, 3600) == utc_of(2026, 11, 28, 9, 55)
    assert seed.business_seconds_between(friday, rome(2026, 11, 28, 9, 55)) == 3600
    assert seed.business_seconds_between(friday, friday - timedelta(hours=1)) == 0
    assert seed.add_business_seconds(friday, 0) == friday
    assert seed.add_business_seconds(rome(2026, 11, 27, 17, 0), 3600) == utc_of(2026, 11, 27, 18)
    with pytest.raises(ValueError, match="negative"):
        seed.add_business_seconds(friday, -1)


# Daylight saving time in Europe/Rome


def test_spring_forward_day_keeps_wall_clock_hours() -> None:
    daily = BusinessCalendar(parse_opening_hours("daily 09:00-18:00"), country_holidays=None)
    sunday = date(2026, 3, 29)
    assert (
        daily.business_seconds_between(rome(2026, 3, 29, 0, 0), rome(2026, 3, 30, 0, 0)) == 9 * 3600
    )
    assert daily.next_opening(rome(2026, 3, 29, 1, 0)) == datetime(2026, 3, 29, 7, tzinfo=UTC)
    assert daily.is_open(datetime(2026, 3, 29, 7, 0, tzinfo=UTC))
    assert not daily.is_open(datetime(2026, 3, 28, 17, 30, tzinfo=UTC))  # 18:30 CET
    assert daily.is_open(datetime(2026, 3, 29, 15, 30, tzinfo=UTC))  # 17:30 CEST
    assert daily.hours_on(sunday)


def test_fall_back_day_keeps_wall_clock_hours() -> None:
    daily = BusinessCalendar(parse_opening_hours("daily 09:00-18:00"), country_holidays=None)
    assert (
        daily.business_seconds_between(rome(2026, 10, 25, 0, 0), rome(2026, 10, 26, 0, 0))
        == 9 * 3600
    )
    assert daily.next_opening(rome(2026, 10, 25, 1, 0)) == datetime(2026, 10, 25, 8, tzinfo=UTC)
    assert daily.next_closing(rome(2026, 10, 25, 12, 0)) == datetime(2026, 10, 25, 17, tzinfo=UTC)


def test_always_has_23_and_25_hour_days() -> None:
    always = BusinessCalendar(ALWAYS, country_holidays=None)
    spring = always.business_seconds_between(rome(2026, 3, 29), rome(2026, 3, 30))
    autumn = always.business_seconds_between(rome(2026, 10, 25), rome(2026, 10, 26))
    assert (spring, autumn) == (23 * 3600, 25 * 3600)


def test_opening_inside_the_skipped_hour_starts_at_three() -> None:
    night = BusinessCalendar(parse_opening_hours("daily 02:30-05:00"), country_holidays=None)
    assert night.next_opening(rome(2026, 3, 29, 0, 0)) == datetime(2026, 3, 29, 1, tzinfo=UTC)
    assert night.business_seconds_between(rome(2026, 3, 29), rome(2026, 3, 30)) == 2 * 3600
    inside_gap = BusinessCalendar(parse_opening_hours("daily 02:15-02:45"), country_holidays=None)
    assert inside_gap.hours_on(date(2026, 3, 29))
    assert inside_gap.business_seconds_between(rome(2026, 3, 29), rome(2026, 3, 30)) == 0
    assert inside_gap.next_opening(rome(2026, 3, 29)) == utc_of(2026, 3, 30, 2, 15)


def test_range_in_the_repeated_hour_covers_both_passes() -> None:
    night = BusinessCalendar(parse_opening_hours("daily 02:30-05:00"), country_holidays=None)
    # From the first 02:30 (CEST, 00:30 UTC) to 05:00 CET (04:00 UTC): 3.5 hours.
    intervals = list(night.open_intervals(rome(2026, 10, 25), rome(2026, 10, 26)))
    assert intervals == [
        (datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 4, 0, tzinfo=UTC))
    ]
    early = BusinessCalendar(parse_opening_hours("daily 00:00-02:30"), country_holidays=None)
    # Until the second 02:30 (CET, 01:30 UTC), so every instant showing 02:00-02:29 is open.
    assert early.next_closing(rome(2026, 10, 25, 1, 0)) == datetime(2026, 10, 25, 1, 30, tzinfo=UTC)


# Visitor messages


def test_describe_next_opening_in_italian_and_english(seed: BusinessCalendar) -> None:
    sunday = rome(2026, 11, 29, 12, 0)
    assert seed.describe_next_opening(sunday, "it") == "Riapriamo domani alle 09:00."
    assert seed.describe_next_opening(sunday, "en") == "We reopen tomorrow at 09:00."
    early = rome(2026, 12, 1, 7, 30)
    assert seed.describe_next_opening(early, "it-IT") == "Riapriamo oggi alle 09:00."
    assert seed.describe_next_opening(early, "en-GB") == "We reopen today at 09:00."
    saturday_night = rome(2026, 11, 28, 19, 0)
    assert (
        seed.describe_next_opening(saturday_night, "it")
        == "Riapriamo lunedì 30 novembre alle 09:00."
    )
    assert (
        seed.describe_next_opening(saturday_night, "en")
        == "We reopen on Monday 30 November at 09:00."
    )
    assert seed.describe_next_opening(rome(2026, 11, 30, 10, 0), "en") == "We are open now."
    assert seed.describe_next_opening(rome(2026, 11, 30, 10, 0), "it") == "Siamo aperti adesso."


def test_describe_across_new_year_and_when_never_open(seed: BusinessCalendar) -> None:
    calendar = BusinessCalendar(seed.hours, exceptions=parse_exceptions("2026-12-31 closed"))
    assert (
        calendar.describe_next_opening(rome(2026, 12, 30, 19, 0), "en")
        == "We reopen on Saturday 2 January 2027 at 09:00."
    )
    never = BusinessCalendar(NEVER, search_days=10)
    assert (
        never.describe_next_opening(rome(2026, 1, 1), "it") == "Siamo chiusi fino a nuovo avviso."
    )
    assert (
        never.describe_next_opening(rome(2026, 1, 1), "fr") == "We are closed until further notice."
    )


def test_describe_moment(seed: BusinessCalendar) -> None:
    when = datetime(2026, 12, 28, 11, 30, tzinfo=UTC)
    assert seed.describe_moment(when, "it") == "lunedì 28 dicembre 2026 alle 12:30"
    assert seed.describe_moment(when, "en", now=rome(2026, 12, 24)) == "Monday 28 December at 12:30"
    assert seed.describe_moment(rome(2026, 12, 28, 1, 0), "it", now=rome(2026, 12, 27)) == (
        "domani all'01:00"
    )
