"""Business hours: weekly opening ranges, public holidays and dated exceptions in one time zone.

Every instant given to a `BusinessCalendar` must be timezone-aware; every instant it returns is
aware UTC. Opening ranges are wall-clock times in the business zone, so 09:00-18:00 stays 09:00-18:00
on both DST days, while a range that spans a transition lasts one hour less (spring) or more (autumn).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = [
    "ALWAYS",
    "DEFAULT_OPENING_HOURS",
    "NEVER",
    "BusinessCalendar",
    "CalendarException",
    "DayHours",
    "TimeRange",
    "WeeklyHours",
    "parse_day_hours",
    "parse_exceptions",
    "parse_opening_hours",
]

DEFAULT_OPENING_HOURS = "mon-sat 09:00-18:00"
MINUTES_PER_DAY = 24 * 60
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_DAY_ALIASES: dict[str, int] = {}
for _index, _names in enumerate(
    (
        ("mon", "monday", "lun", "lunedi", "lunedì"),
        ("tue", "tues", "tuesday", "mar", "martedi", "martedì"),
        ("wed", "wednesday", "mer", "mercoledi", "mercoledì"),
        ("thu", "thur", "thurs", "thursday", "gio", "giovedi", "giovedì"),
        ("fri", "friday", "ven", "venerdi", "venerdì"),
        ("sat", "saturday", "sab", "sabato"),
        ("sun", "sunday", "dom", "domenica"),
    )
):
    for _name in _names:
        _DAY_ALIASES[_name] = _index

_ALL_DAYS_WORDS = frozenset({"daily", "everyday", "all", "tutti"})
_CLOSED_WORDS = frozenset({"closed", "chiuso", "off"})
_ALWAYS_WORDS = frozenset({"always", "24/7", "sempre"})
_NEVER_WORDS = frozenset({"never", "closed", "mai", "chiuso"})
_CLOCK = re.compile(r"^(\d{1,2})(?:[:.](\d{2}))?$")


@dataclass(frozen=True, order=True)
class TimeRange:
    """An opening from `start` to `end` minutes after local midnight; `end` 1440 means 24:00."""

    start: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.start < self.end <= MINUTES_PER_DAY:
            raise ValueError(f"invalid time range {self.start}-{self.end} (minutes after midnight)")

    def __str__(self) -> str:
        return f"{_format_minute(self.start)}-{_format_minute(self.end)}"

    @property
    def minutes(self) -> int:
        return self.end - self.start


DayHours = tuple[TimeRange, ...]
"""The opening ranges of one day, sorted and not touching; empty means closed."""


@dataclass(frozen=True)
class WeeklyHours:
    """Opening ranges for each weekday, Monday first."""

    days: tuple[DayHours, ...]

    def __post_init__(self) -> None:
        if len(self.days) != 7:
            raise ValueError(f"weekly hours need 7 days, got {len(self.days)}")
        for weekday, ranges in enumerate(self.days):
            if tuple(_normalise(list(ranges), DAY_NAMES[weekday])) != ranges:
                raise ValueError(f"{DAY_NAMES[weekday]}: ranges must be sorted and not touch")

    def on(self, weekday: int) -> DayHours:
        """The ranges of `weekday` (0 = Monday)."""
        return self.days[weekday]

    @property
    def is_always(self) -> bool:
        return all(day == (TimeRange(0, MINUTES_PER_DAY),) for day in self.days)

    @property
    def is_never(self) -> bool:
        return not any(self.days)

    @property
    def weekly_minutes(self) -> int:
        return sum(r.minutes for day in self.days for r in day)

    def __str__(self) -> str:
        """The canonical spec, which `parse_opening_hours` reads back to an equal value."""
        if self.is_always:
            return "always"
        if self.is_never:
            return "closed"
        clauses: list[str] = []
        weekday = 0
        while weekday < 7:
            ranges = self.days[weekday]
            last = weekday
            while last + 1 < 7 and self.days[last + 1] == ranges:
                last += 1
            if ranges:
                days = DAY_NAMES[weekday]
                if last > weekday:
                    days += f"-{DAY_NAMES[last]}"
                clauses.append(f"{days} {','.join(str(r) for r in ranges)}")
            weekday = last + 1
        return "; ".join(clauses)


def parse_opening_hours(spec: str) -> WeeklyHours:
    """Read weekly hours such as ``"mon-fri 09:00-13:00,14:00-18:00; sat 10:00-13:00"``.

    Clauses are separated by ``;``. Each names days (``mon``, ``mon-fri``, ``fri-mon``,
    ``mon,wed,fri``, ``daily``; English or Italian names) and then comma-separated ``HH:MM-HH:MM``
    ranges or ``closed``. ``24:00`` ends a range at midnight. Days not named are closed. The whole
    spec may also be ``always`` (open around the clock) or ``closed``. A day may appear in only
    one clause. Raises ValueError naming the part that is wrong.
    """
    text = spec.strip().lower()
    if not text:
        raise ValueError(
            "opening hours are empty: write them like 'mon-sat 09:00-18:00', or 'always'"
        )
    if text in _ALWAYS_WORDS:
        return ALWAYS
    if text in _NEVER_WORDS:
        return NEVER

    days: list[DayHours | None] = [None] * 7
    given_in: list[str] = [""] * 7
    for raw_clause in text.split(";"):
        clause = _squeeze(raw_clause)
        if not clause:
            continue
        parts = clause.split(" ")
        if len(parts) != 2:
            raise ValueError(
                f"opening hours {spec!r}: clause {clause!r} should be days then hours, "
                "like 'mon-fri 09:00-18:00' or 'sun closed'"
            )
        day_part, hours_part = parts
        where = f"opening hours {spec!r}"
        if clause != _squeeze(text):
            where += f", clause {clause!r}"
        ranges = _parse_ranges(hours_part, where)
        for weekday in _parse_days(day_part, where):
            if days[weekday] is not None:
                raise ValueError(
                    f"opening hours {spec!r}: {DAY_NAMES[weekday]} is in both "
                    f"{given_in[weekday]!r} and {clause!r}; name each day once "
                    "(several ranges go in one clause: 'mon 09:00-13:00,14:00-18:00')"
                )
            days[weekday] = ranges
            given_in[weekday] = clause
    if all(day is None for day in days):
        raise ValueError(f"opening hours {spec!r} name no days")
    return WeeklyHours(days=tuple(day or () for day in days))


def parse_day_hours(spec: str) -> DayHours:
    """Read one day's ranges, ``"09:00-13:00,14:00-18:00"`` or ``"closed"``."""
    return _parse_ranges(_squeeze(spec.lower()), f"hours {spec!r}")


@dataclass(frozen=True)
class CalendarException:
    """One date whose ranges replace the weekly hours and any holiday; no ranges means closed."""

    day: date
    hours: DayHours = ()
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "hours", tuple(_normalise(list(self.hours), str(self.day))))

    @classmethod
    def closed(cls, day: date, note: str = "") -> CalendarException:
        return cls(day=day, hours=(), note=note)

    @classmethod
    def opening(cls, day: date, hours: str, note: str = "") -> CalendarException:
        """An exception open at `hours`, e.g. ``"18:00-23:00"`` for an event evening."""
        return cls(day=day, hours=parse_day_hours(hours), note=note)

    @property
    def is_closed(self) -> bool:
        return not self.hours


def parse_exceptions(spec: str) -> list[CalendarException]:
    """Read dated exceptions such as ``"2026-12-24 09:00-13:00; 2026-12-31 closed"``."""
    exceptions: list[CalendarException] = []
    seen: set[date] = set()
    for raw_clause in spec.split(";"):
        clause = _squeeze(raw_clause.lower())
        if not clause:
            continue
        parts = clause.split(" ")
        if len(parts) != 2:
            raise ValueError(
                f"calendar exception {clause!r} should be a date then hours, "
                "like '2026-12-24 09:00-13:00' or '2026-12-31 closed'"
            )
        try:
            day = date.fromisoformat(parts[0])
        except ValueError:
            raise ValueError(
                f"calendar exception {clause!r}: {parts[0]!r} is not a date like 2026-12-24"
            ) from None
        if day in seen:
            raise ValueError(f"calendar exception {clause!r}: {day} is given twice")
        seen.add(day)
        hours = _parse_ranges(parts[1], f"calendar exception {clause!r}")
        exceptions.append(CalendarException(day=day, hours=hours))
    return exceptions


Interval = tuple[datetime, datetime]


class BusinessCalendar:
    """When the desk is open: weekly hours, minus public holidays, with dated exceptions on top."""

    def __init__(
        self,
        hours: WeeklyHours,
        tz: str = "Europe/Rome",
        country_holidays: str | None = "IT",
        exceptions: Iterable[CalendarException] = (),
        *,
        holiday_subdivision: str | None = None,
        search_days: int = 400,
    ) -> None:
        try:
            self.zone = ZoneInfo(tz)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {tz!r} (use a name like 'Europe/Rome')") from None
        self.hours = hours
        self.country_holidays = country_holidays
        self._holidays: holidays.HolidayBase | None = None
        if country_holidays:
            try:
                self._holidays = holidays.country_holidays(
                    country_holidays, subdiv=holiday_subdivision
                )
            except NotImplementedError:
                raise ValueError(
                    f"no public holidays known for country {country_holidays!r} "
                    f"(subdivision {holiday_subdivision!r}); use an ISO code like 'IT'"
                ) from None
        self.exceptions: dict[date, CalendarException] = {}
        for exception in exceptions:
            if exception.day in self.exceptions:
                raise ValueError(f"two calendar exceptions for {exception.day}")
            self.exceptions[exception.day] = exception
        self.search_days = search_days
        self._day_cache: dict[date, tuple[Interval, ...]] = {}

    def __repr__(self) -> str:
        return (
            f"BusinessCalendar({str(self.hours)!r}, tz={self.zone.key!r}, "
            f"country_holidays={self.country_holidays!r}, exceptions={len(self.exceptions)})"
        )

    def holiday_name(self, day: date) -> str | None:
        """The public holiday on `day`, if any (whether or not an exception opens the day)."""
        if self._holidays is None:
            return None
        name = self._holidays.get(day)
        return str(name) if name is not None else None

    def hours_on(self, day: date) -> DayHours:
        """The wall-clock ranges of the local date `day`, after holidays and exceptions."""
        exception = self.exceptions.get(day)
        if exception is not None:
            return exception.hours
        if self._holidays is not None and day in self._holidays:
            return ()
        return self.hours.on(day.weekday())

    def local(self, at: datetime) -> datetime:
        """`at` in the business zone."""
        return _aware(at, "at").astimezone(self.zone)

    def is_open(self, at: datetime) -> bool:
        """Whether the desk is open at the instant `at`."""
        at = _aware(at, "at").astimezone(UTC)
        return any(start <= at < end for start, end in self._intervals_on(self.local(at).date()))

    def next_opening(self, at: datetime) -> datetime | None:
        """`at` if open, else the next opening (UTC); None if closed for `search_days` days."""
        for start, _end in self._forward(_aware(at, "at").astimezone(UTC)):
            return start
        return None

    def next_closing(self, at: datetime) -> datetime | None:
        """The end of the open period holding `at`, or of the next one when closed (UTC).

        Open periods that meet at midnight count as one. None if the calendar never opens, or
        does not close within `search_days` days of `at` (``always``).
        """
        at = _aware(at, "at").astimezone(UTC)
        limit = at + timedelta(days=self.search_days)
        current: Interval | None = None
        for start, end in self._forward(at):
            if current is not None and start > current[1]:
                return current[1]
            current = (start if current is None else current[0], end)
            if end > limit:
                return None
        return current[1] if current is not None else None

    def open_intervals(self, start: datetime, end: datetime | None = None) -> Iterator[Interval]:
        """The open periods within [start, end), clipped and merged across midnight, in UTC.

        Without `end` the periods continue until the calendar stays closed for `search_days`,
        and a period longer than `search_days` (``always``) comes in pieces of about that length.
        """
        start = _aware(start, "start").astimezone(UTC)
        stop = _aware(end, "end").astimezone(UTC) if end is not None else None
        if stop is not None and stop <= start:
            return
        horizon = timedelta(days=self.search_days)
        current: Interval | None = None
        for s, e in self._forward(start, stop):
            if stop is not None:
                if s >= stop:
                    break
                e = min(e, stop)
            if current is not None and s <= current[1]:
                current = (current[0], max(current[1], e))
                if stop is None and current[1] - current[0] > horizon:
                    yield current
                    current = None
                continue
            if current is not None:
                yield current
            current = (s, e)
        if current is not None:
            yield current

    def business_seconds_between(self, start: datetime, end: datetime) -> float:
        """Seconds of open time in [start, end); 0 when end is not after start."""
        total = timedelta()
        for s, e in self._forward(
            _aware(start, "start").astimezone(UTC), _aware(end, "end").astimezone(UTC)
        ):
            total += e - s
        return total.total_seconds()

    def add_business_seconds(self, start: datetime, seconds: float) -> datetime:
        """The instant (UTC) at which `seconds` of open time have passed since `start`.

        Zero seconds gives `start`. Raises ValueError if the calendar stays closed for
        `search_days` days before the time is used up.
        """
        if seconds < 0:
            raise ValueError("seconds must not be negative")
        start = _aware(start, "start").astimezone(UTC)
        remaining = timedelta(seconds=seconds)
        if not remaining:
            return start
        for s, e in self._forward(start):
            if e - s >= remaining:
                return s + remaining
            remaining -= e - s
        raise ValueError(
            f"the calendar stays closed for {self.search_days} days after {start.isoformat()}"
        )

    def describe_moment(self, when: datetime, lang: str = "it", now: datetime | None = None) -> str:
        """`when` for a visitor in the business zone: "oggi alle 15:00", "Monday 1 December at 09:00".

        "today"/"tomorrow" are relative to `now` (default: `when` is described by its date only).
        Italian for ``it``/``it-*``, English otherwise. The year is named when it is not `now`'s.
        """
        local = self.local(when)
        italian = _is_italian(lang)
        clock = local.strftime("%H:%M")
        at_clock = (("all'" if local.hour == 1 else "alle ") + clock) if italian else f"at {clock}"
        if now is not None:
            days_ahead = (local.date() - self.local(now).date()).days
            if days_ahead == 0:
                return f"{'oggi' if italian else 'today'} {at_clock}"
            if days_ahead == 1:
                return f"{'domani' if italian else 'tomorrow'} {at_clock}"
        names = _IT if italian else _EN
        day = f"{names.weekdays[local.weekday()]} {local.day} {names.months[local.month - 1]}"
        if now is None or local.year != self.local(now).year:
            day += f" {local.year}"
        return f"{day} {at_clock}"

    def describe_next_opening(self, at: datetime, lang: str = "it") -> str:
        """A sentence telling a visitor at `at` when the desk opens, in Italian or English."""
        italian = _is_italian(lang)
        opening = self.next_opening(at)
        if opening is None:
            return (
                "Siamo chiusi fino a nuovo avviso."
                if italian
                else "We are closed until further notice."
            )
        if opening <= _aware(at, "at"):
            return "Siamo aperti adesso." if italian else "We are open now."
        when = self.describe_moment(opening, lang, now=at)
        days_ahead = (self.local(opening).date() - self.local(at).date()).days
        if italian:
            return f"Riapriamo {when}."
        return f"We reopen {when}." if days_ahead <= 1 else f"We reopen on {when}."

    def _intervals_on(self, day: date) -> tuple[Interval, ...]:
        """The open intervals (UTC) of the local date `day`, half-open and sorted."""
        cached = self._day_cache.get(day)
        if cached is not None:
            return cached
        intervals: list[Interval] = []
        for r in self.hours_on(day):
            start = _wall_to_utc(day, r.start, self.zone, latest=False)
            end = _wall_to_utc(day, r.end, self.zone, latest=True)
            if end > start:
                intervals.append((start, end))
        result = tuple(intervals)
        if len(self._day_cache) > 4096:
            self._day_cache.clear()
        self._day_cache[day] = result
        return result

    def _forward(self, start: datetime, stop: datetime | None = None) -> Iterator[Interval]:
        """Per-day open intervals ending after `start` (UTC), clipped to start there.

        Ends at `stop` when given, otherwise after `search_days` closed days in a row.
        """
        if stop is not None and stop <= start:
            return
        day = start.astimezone(self.zone).date()
        last_day = stop.astimezone(self.zone).date() if stop is not None else None
        closed_days = 0
        while last_day is None or day <= last_day:
            intervals = self._intervals_on(day)
            if intervals:
                closed_days = 0
            else:
                closed_days += 1
                if last_day is None and closed_days > self.search_days:
                    return
            for s, e in intervals:
                if stop is not None:
                    e = min(e, stop)
                if e > start and s < e:
                    yield max(s, start), e
            day += timedelta(days=1)


@dataclass(frozen=True)
class _Names:
    weekdays: tuple[str, ...]
    months: tuple[str, ...]


_IT = _Names(
    weekdays=("lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"),
    months=tuple(
        "gennaio febbraio marzo aprile maggio giugno luglio agosto settembre ottobre novembre "
        "dicembre".split()
    ),
)
_EN = _Names(
    weekdays=("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    months=tuple(
        "January February March April May June July August September October November "
        "December".split()
    ),
)


def _is_italian(lang: str) -> bool:
    return lang.strip().lower().replace("_", "-").split("-")[0] == "it"


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime, got {value!r}")
    return value


def _wall_to_utc(day: date, minute: int, zone: ZoneInfo, *, latest: bool) -> datetime:
    """The UTC instant of wall time `minute` on local `day`.

    A time skipped by a spring-forward gap maps to the transition itself (the clock jumps from
    02:00 to 03:00, so an opening at 02:30 happens at 03:00). A time repeated in autumn maps to
    its first occurrence, or to its second when `latest` (used for the end of a range), so a range
    holds every instant whose wall clock shows a time inside it.
    """
    naive = datetime.combine(day, time()) + timedelta(minutes=minute)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    second = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if first == second:
        return first
    low, high = min(first, second), max(first, second)
    if low.astimezone(zone).replace(tzinfo=None) == naive:
        return high if latest else low
    # A gap: no instant shows `naive`; find the transition between `low` and `high`.
    before = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high.replace(microsecond=0) if high.microsecond else high


def _squeeze(text: str) -> str:
    """Collapse whitespace and drop it around ``-`` and ``,`` so "mon - fri" reads as "mon-fri"."""
    text = re.sub(r"\s+", " ", text.strip())
    return re.sub(r"\s*([,\-])\s*", r"\1", text)


def _parse_days(part: str, where: str) -> list[int]:
    if part in _ALL_DAYS_WORDS:
        return list(range(7))
    weekdays: list[int] = []
    for item in part.split(","):
        names = item.split("-")
        if len(names) > 2 or not all(names):
            raise ValueError(f"{where}: {item!r} is not a day or a day range like 'mon-fri'")
        indexes = [_day_index(name, where) for name in names]
        first, last = indexes[0], indexes[-1]
        span = (last - first) % 7
        for offset in range(span + 1):
            weekday = (first + offset) % 7
            if weekday in weekdays:
                raise ValueError(f"{where}: {DAY_NAMES[weekday]} is named twice")
            weekdays.append(weekday)
    return weekdays


def _day_index(name: str, where: str) -> int:
    try:
        return _DAY_ALIASES[name]
    except KeyError:
        raise ValueError(
            f"{where}: {name!r} is not a day; use mon, tue, wed, thu, fri, sat, sun "
            "(or lun, mar, mer, gio, ven, sab, dom)"
        ) from None


def _parse_ranges(part: str, where: str) -> DayHours:
    if part in _CLOSED_WORDS:
        return ()
    ranges: list[TimeRange] = []
    for item in part.split(","):
        bounds = item.split("-")
        if len(bounds) != 2:
            raise ValueError(
                f"{where}: {item!r} is not a time range like '09:00-18:00' (or 'closed')"
            )
        start = _parse_clock(bounds[0], item, where)
        end = _parse_clock(bounds[1], item, where)
        if end <= start:
            raise ValueError(
                f"{where}: {item!r} ends before it starts; hours past midnight go on the next "
                "day, e.g. 'fri 20:00-24:00; sat 00:00-02:00'"
            )
        ranges.append(TimeRange(start, end))
    ranges.sort()
    for before, after in pairwise(ranges):
        if after.start < before.end:
            raise ValueError(f"{where}: ranges {before} and {after} overlap")
    return tuple(_normalise(ranges, where))


def _parse_clock(text: str, item: str, where: str) -> int:
    match = _CLOCK.match(text)
    if match is None:
        raise ValueError(f"{where}: {text!r} in {item!r} is not a time like 09:00")
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if minute > 59 or hour > 24 or (hour == 24 and minute):
        raise ValueError(f"{where}: {text!r} in {item!r} is not a time between 00:00 and 24:00")
    return hour * 60 + minute


def _normalise(ranges: list[TimeRange], where: str) -> list[TimeRange]:
    """Sorted ranges with touching ones joined; overlapping ones are an error."""
    merged: list[TimeRange] = []
    for r in sorted(ranges):
        if merged and r.start < merged[-1].end:
            raise ValueError(f"{where}: ranges {merged[-1]} and {r} overlap")
        if merged and r.start == merged[-1].end:
            merged[-1] = TimeRange(merged[-1].start, r.end)
        else:
            merged.append(r)
    return merged


def _format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


ALWAYS = WeeklyHours(days=((TimeRange(0, MINUTES_PER_DAY),),) * 7)
NEVER = WeeklyHours(days=((),) * 7)
