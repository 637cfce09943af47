"""SLA arithmetic: targets per priority, due and warning times, elapsed time, state, escalation.

Pure functions over aware datetimes and a `BusinessCalendar`; the tickets service stores what they
return and the ticker compares it with the clock. A clock counts either business time (the desk's
open hours) or calendar time, and stops while the ticket waits for the customer (`waiting_user`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal, get_args

from sportello.calendar.hours import BusinessCalendar

__all__ = [
    "DEFAULT_POLICIES",
    "DEFAULT_WARN_RATIO",
    "MANAGER_TIER",
    "PRIORITIES",
    "Escalation",
    "Pause",
    "Priority",
    "SlaPolicy",
    "SlaReading",
    "SlaState",
    "due_at",
    "elapsed",
    "escalate",
    "measure",
    "next_tier",
    "policy_for",
    "raise_priority",
    "sla_state",
    "warning_at",
]

Priority = Literal["low", "medium", "high", "urgent"]
SlaState = Literal["ok", "warning", "breached", "paused", "met"]
Pause = tuple[datetime, datetime | None]
"""A span when the clock stood still; an end of None means it is still paused."""

PRIORITIES: tuple[Priority, ...] = get_args(Priority)
DEFAULT_WARN_RATIO = 0.8
MANAGER_TIER = 3

_MINUTE = 60
_HOUR = 60 * _MINUTE
_BUSINESS_DAY = 9 * _HOUR  # one day of the default calendar, 09:00-18:00
_FAR_FUTURE = datetime(9000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class SlaPolicy:
    """Targets for one priority, in seconds of business time (or of calendar time)."""

    priority: Priority
    first_response_seconds: float
    resolution_seconds: float
    business_hours: bool

    def __post_init__(self) -> None:
        if self.priority not in PRIORITIES:
            raise ValueError(f"unknown priority {self.priority!r}; use one of {PRIORITIES}")
        if self.first_response_seconds <= 0 or self.resolution_seconds <= 0:
            raise ValueError(f"{self.priority}: SLA targets must be positive")


DEFAULT_POLICIES: Mapping[Priority, SlaPolicy] = {
    "urgent": SlaPolicy("urgent", 15 * _MINUTE, 4 * _HOUR, business_hours=False),
    "high": SlaPolicy("high", 1 * _HOUR, 1 * _BUSINESS_DAY, business_hours=True),
    "medium": SlaPolicy("medium", 4 * _HOUR, 3 * _BUSINESS_DAY, business_hours=True),
    "low": SlaPolicy("low", 24 * _HOUR, 5 * _BUSINESS_DAY, business_hours=True),
}


def policy_for(
    priority: Priority, policies: Mapping[Priority, SlaPolicy] = DEFAULT_POLICIES
) -> SlaPolicy:
    """The policy of `priority`; raises ValueError for an unknown priority."""
    try:
        return policies[priority]
    except KeyError:
        raise ValueError(f"no SLA policy for priority {priority!r}") from None


def due_at(
    seconds: float,
    start: datetime,
    calendar: BusinessCalendar,
    business_hours: bool,
    paused_intervals: Iterable[Pause] = (),
) -> datetime | None:
    """When `seconds` of clock time will have run since `start` (UTC).

    None when a pause with no end stops the clock before then: the due time is unknown until the
    pause ends, and is then computed again with that pause closed. Raises ValueError when a
    business-hours clock meets a calendar that stays closed for its whole search window.
    """
    if seconds < 0:
        raise ValueError("seconds must not be negative")
    start = _utc(start)
    pauses = _merge_pauses(paused_intervals, start)
    frozen_from = pauses[-1][0] if pauses and pauses[-1][1] == _FAR_FUTURE else None
    remaining = timedelta(seconds=seconds)
    if not remaining:
        return start
    for s, e in _running(start, frozen_from, calendar, business_hours, pauses):
        if e - s >= remaining:
            return s + remaining
        remaining -= e - s
    if frozen_from is not None:
        return None
    raise ValueError(f"{calendar!r} stays closed, so a business-hours clock never runs out")


def warning_at(
    seconds: float,
    start: datetime,
    calendar: BusinessCalendar,
    business_hours: bool,
    paused_intervals: Iterable[Pause] = (),
    warn_ratio: float = DEFAULT_WARN_RATIO,
) -> datetime | None:
    """When `warn_ratio` (80%) of the target `seconds` will have run; None as for `due_at`."""
    if not 0 < warn_ratio <= 1:
        raise ValueError("warn_ratio must be in (0, 1]")
    return due_at(seconds * warn_ratio, start, calendar, business_hours, paused_intervals)


def elapsed(
    start: datetime,
    now: datetime,
    calendar: BusinessCalendar,
    business_hours: bool,
    paused_intervals: Iterable[Pause] = (),
) -> float:
    """Seconds of clock time run between `start` and `now`, pauses left out; 0 if now <= start."""
    start, now = _utc(start), _utc(now)
    if now <= start:
        return 0.0
    pauses = _merge_pauses(paused_intervals, start)
    total = timedelta()
    for s, e in _running(start, now, calendar, business_hours, pauses):
        total += e - s
    return total.total_seconds()


def sla_state(
    now: datetime,
    due: datetime | None,
    *,
    warn_at: datetime | None = None,
    met_at: datetime | None = None,
    paused_since: datetime | None = None,
) -> SlaState:
    """The state a ticket shows, from its stored due and warning times.

    met: done by the due time (late means breached, for good). paused: the ticket waits for the
    customer since `paused_since`, unless it was already breached then. Otherwise breached at the
    due time, warning from `warn_at`, ok before. A missing due time (clock paused) reads as ok.
    """
    now = _utc(now)
    if met_at is not None:
        return "met" if due is None or _utc(met_at) <= _utc(due) else "breached"
    if paused_since is not None:
        breached_before = due is not None and _utc(due) <= _utc(paused_since)
        return "breached" if breached_before else "paused"
    if due is not None and now >= _utc(due):
        return "breached"
    if warn_at is not None and now >= _utc(warn_at):
        return "warning"
    return "ok"


@dataclass(frozen=True)
class SlaReading:
    """One clock read at `now`: what has run, what is left, and the resulting state."""

    state: SlaState
    target_seconds: float
    elapsed_seconds: float
    due_at: datetime | None
    warning_at: datetime | None

    @property
    def remaining_seconds(self) -> float:
        return max(0.0, self.target_seconds - self.elapsed_seconds)

    @property
    def ratio(self) -> float:
        return self.elapsed_seconds / self.target_seconds


def measure(
    target_seconds: float,
    start: datetime,
    now: datetime,
    calendar: BusinessCalendar,
    business_hours: bool,
    paused_intervals: Iterable[Pause] = (),
    met_at: datetime | None = None,
    warn_ratio: float = DEFAULT_WARN_RATIO,
) -> SlaReading:
    """Read a clock from its history: the same answer as `sla_state` on freshly computed times."""
    pauses = list(paused_intervals)
    now = _utc(now)
    stop = min(now, _utc(met_at)) if met_at is not None else now
    spent = elapsed(start, stop, calendar, business_hours, pauses)
    due = due_at(target_seconds, start, calendar, business_hours, pauses)
    warn = warning_at(target_seconds, start, calendar, business_hours, pauses, warn_ratio)
    paused_now = any(_utc(s) <= now and (e is None or now < _utc(e)) for s, e in pauses)
    state: SlaState
    if met_at is not None:
        state = "met" if spent <= target_seconds else "breached"
    elif spent >= target_seconds:
        state = "breached"
    elif paused_now:
        state = "paused"
    elif spent >= target_seconds * warn_ratio:
        state = "warning"
    else:
        state = "ok"
    return SlaReading(state, target_seconds, spent, due, warn)


def next_tier(tier: int) -> int:
    """The tier a breached ticket goes to: 1 → 2 → 3 (manager), which stays 3."""
    if tier < 1:
        raise ValueError(f"tier must be 1, 2 or 3, got {tier}")
    return min(tier + 1, MANAGER_TIER)


def raise_priority(priority: Priority) -> Priority:
    """One step up: low → medium → high → urgent, which stays urgent."""
    if priority not in PRIORITIES:
        raise ValueError(f"unknown priority {priority!r}; use one of {PRIORITIES}")
    return PRIORITIES[min(PRIORITIES.index(priority) + 1, len(PRIORITIES) - 1)]


@dataclass(frozen=True)
class Escalation:
    """Where a breach moves a ticket; `changed` is False once at the manager with urgent."""

    tier: int
    priority: Priority
    changed: bool


def escalate(tier: int, priority: Priority) -> Escalation:
    """The next tier and the priority one step up, both capped."""
    new_tier, new_priority = next_tier(tier), raise_priority(priority)
    return Escalation(new_tier, new_priority, (new_tier, new_priority) != (tier, priority))


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"datetimes must be timezone-aware, got {value!r}")
    return value.astimezone(UTC)


def _merge_pauses(pauses: Iterable[Pause], start: datetime) -> list[tuple[datetime, datetime]]:
    """Pauses in UTC, sorted, merged, clipped to begin no earlier than `start`; open ends far away."""
    spans: list[tuple[datetime, datetime]] = []
    for s, e in pauses:
        begin = max(_utc(s), start)
        end = _utc(e) if e is not None else _FAR_FUTURE
        if end > begin:
            spans.append((begin, end))
    spans.sort()
    merged: list[tuple[datetime, datetime]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], e))
        else:
            merged.append((s, e))
    return merged


def _running(
    start: datetime,
    stop: datetime | None,
    calendar: BusinessCalendar,
    business_hours: bool,
    pauses: list[tuple[datetime, datetime]],
) -> Iterator[tuple[datetime, datetime]]:
    """The spans after `start` (and before `stop`) in which the clock runs."""
    spans: Iterable[tuple[datetime, datetime]]
    if business_hours:
        spans = calendar.open_intervals(start, stop)
    else:
        spans = [(start, stop if stop is not None else _FAR_FUTURE)]
    index = 0
    for s, e in spans:
        cursor = s
        while index < len(pauses) and pauses[index][1] <= cursor:
            index += 1
        probe = index
        while probe < len(pauses) and pauses[probe][0] < e:
            pause_start, pause_end = pauses[probe]
            if pause_start > cursor:
                yield cursor, pause_start
            cursor = max(cursor, pause_end)
            if cursor >= e:
                break
            probe += 1
        if cursor < e:
            yield cursor, e
