"""SLA clocks stored on tickets: policies from settings, due times, pauses, state, what fires.

`sla.clock` does the arithmetic; this module keeps a ticket's SLA columns consistent with its
history. `refresh` is the only writer of the derived columns, and `due_events` tells the ticker
which warnings and breaches are due; each is marked as fired on the row in the same transaction
as its effects, so it fires once however often the ticker runs or restarts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Literal, cast

from sqlalchemy import ColumnElement, and_, false, or_

from sportello.calendar.hours import BusinessCalendar, parse_exceptions, parse_opening_hours
from sportello.config import Settings
from sportello.sla.clock import (
    DEFAULT_POLICIES,
    DEFAULT_WARN_RATIO,
    PRIORITIES,
    Pause,
    Priority,
    SlaPolicy,
    SlaState,
    due_at,
    policy_for,
    warning_at,
)
from sportello.tickets.models import Ticket, TicketStatus

Clock = Literal["first_response", "resolution"]
CLOCKS: tuple[Clock, ...] = ("first_response", "resolution")
RUNNING = (TicketStatus.OPEN.value, TicketStatus.IN_PROGRESS.value)
DONE = (TicketStatus.RESOLVED.value, TicketStatus.CLOSED.value)

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|min|h|d)?$")
_UNIT_SECONDS = {"s": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, None: 60}


@dataclass(frozen=True)
class SlaConfig:
    """What the SLA arithmetic of one deployment needs."""

    calendar: BusinessCalendar
    policies: Mapping[Priority, SlaPolicy]
    warn_ratio: float = DEFAULT_WARN_RATIO
    # A phone call-back is answered by calling inside the slot the customer chose.
    callback_window_seconds: float = 3600.0

    def policy(self, priority: str) -> SlaPolicy:
        return policy_for(as_priority(priority), self.policies)


def as_priority(value: str) -> Priority:
    if value not in PRIORITIES:
        raise ValueError(f"unknown priority {value!r}; use one of {', '.join(PRIORITIES)}")
    return cast(Priority, value)


def _seconds(text: str, where: str) -> float:
    match = _DURATION.match(text.strip().lower())
    if match is None:
        raise ValueError(f"{where}: {text!r} is not a duration like 15m, 4h or 2d")
    return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]


def parse_policies(spec: str) -> dict[Priority, SlaPolicy]:
    """The default policies with the overrides of `spec` applied.

    `spec` is `priority=first/resolution[/business|calendar]` clauses separated by `;`, e.g.
    "urgent=15m/4h/calendar; low=1d/5d". A clause without the mode keeps the default mode.
    """
    policies: dict[Priority, SlaPolicy] = dict(DEFAULT_POLICIES)
    for clause in filter(None, (c.strip() for c in spec.split(";"))):
        name, sep, rest = clause.partition("=")
        if not sep:
            raise ValueError(f"SLA policy {clause!r}: write priority=first/resolution[/mode]")
        priority = as_priority(name.strip().lower())
        parts = [p.strip().lower() for p in rest.split("/")]
        if len(parts) not in (2, 3):
            raise ValueError(f"SLA policy {clause!r}: write priority=first/resolution[/mode]")
        business = policies[priority].business_hours
        if len(parts) == 3:
            if parts[2] not in ("business", "calendar"):
                raise ValueError(f"SLA policy {clause!r}: the mode is 'business' or 'calendar'")
            business = parts[2] == "business"
        policies[priority] = SlaPolicy(
            priority, _seconds(parts[0], clause), _seconds(parts[1], clause), business
        )
    return policies


@lru_cache(maxsize=16)
def _config(
    opening_hours: str,
    exceptions: str,
    country: str,
    tz: str,
    policies: str,
    ratio: float,
    callback_window: float,
) -> SlaConfig:
    calendar = BusinessCalendar(
        parse_opening_hours(opening_hours),
        tz=tz,
        country_holidays=country or None,
        exceptions=parse_exceptions(exceptions),
    )
    return SlaConfig(calendar, parse_policies(policies), ratio, callback_window)


def sla_config(settings: Settings) -> SlaConfig:
    """The calendar and policies the settings describe (built once per distinct settings)."""
    return _config(
        settings.opening_hours,
        settings.calendar_exceptions,
        settings.holiday_country,
        settings.timezone,
        settings.sla_policies,
        settings.sla_warn_ratio,
        settings.callback_window_minutes * 60.0,
    )


def pauses(ticket: Ticket) -> list[Pause]:
    out: list[Pause] = []
    for start, end in ticket.sla_pauses or []:
        out.append((_parse(start), _parse(end) if end else None))
    return out


def _parse(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def start_clocks(ticket: Ticket, config: SlaConfig, start: datetime) -> None:
    """Set the policy of the ticket's priority and compute its clocks from `start`.

    A phone call-back with a slot (`callback_at`) owes nothing before the slot: the span from
    `start` to the slot is stored as a pause, so both clocks start at the slot (on the next
    business day if that is where the slot is) and `refresh` keeps it that way.
    """
    apply_policy(ticket, config)
    ticket.sla_pauses = []
    if ticket.callback_at is not None and ticket.callback_at > start:
        ticket.sla_pauses = [
            [start.astimezone(UTC).isoformat(), ticket.callback_at.astimezone(UTC).isoformat()]
        ]
    refresh(ticket, config, start)


def apply_policy(ticket: Ticket, config: SlaConfig) -> None:
    """Store the targets of the ticket's priority (a call-back's first response: within its slot)."""
    policy = config.policy(ticket.priority)
    first = policy.first_response_seconds
    if ticket.callback_at is not None:
        first = min(first, config.callback_window_seconds)
    ticket.first_response_seconds = round(first)
    ticket.resolution_seconds = round(policy.resolution_seconds)
    ticket.sla_business_hours = policy.business_hours


def pause(ticket: Ticket, at: datetime) -> None:
    """Stop the clocks at `at` (no-op when already stopped)."""
    current = list(ticket.sla_pauses or [])
    if current and current[-1][1] is None:
        return
    current.append([at.astimezone(UTC).isoformat(), None])
    ticket.sla_pauses = current


def resume(ticket: Ticket, at: datetime) -> None:
    """Restart the clocks at `at` (no-op when running)."""
    current = [list(p) for p in ticket.sla_pauses or []]
    if not current or current[-1][1] is not None:
        return
    current[-1][1] = max(at, _parse(current[-1][0])).astimezone(UTC).isoformat()
    ticket.sla_pauses = current


def _target(ticket: Ticket, clock: Clock) -> int:
    return ticket.first_response_seconds if clock == "first_response" else ticket.resolution_seconds


def _met_at(ticket: Ticket, clock: Clock) -> datetime | None:
    return ticket.first_responded_at if clock == "first_response" else ticket.resolved_at


def refresh(ticket: Ticket, config: SlaConfig, now: datetime) -> None:
    """Recompute due and warning times of the clocks still running, and the next check time.

    A clock met after its due time is recorded as breached at that moment (no alert: the work
    is done); a met clock keeps its times. While paused, due times are unknown (None).
    """
    history = pauses(ticket)
    for clock in CLOCKS:
        met = _met_at(ticket, clock)
        if met is None:
            target = _target(ticket, clock)
            due = due_at(
                target, ticket.created_at, config.calendar, ticket.sla_business_hours, history
            )
            warn = warning_at(
                target,
                ticket.created_at,
                config.calendar,
                ticket.sla_business_hours,
                history,
                config.warn_ratio,
            )
            setattr(ticket, f"{clock}_due_at", due)
            setattr(ticket, f"{clock}_warn_at", warn)
        else:
            due = getattr(ticket, f"{clock}_due_at")
            if due is not None and met > due and getattr(ticket, f"{clock}_breached_at") is None:
                setattr(ticket, f"{clock}_breached_at", met)
    pending_due = [getattr(ticket, f"{c}_due_at") for c in CLOCKS if _met_at(ticket, c) is None]
    pending_warn = [getattr(ticket, f"{c}_warn_at") for c in CLOCKS if _met_at(ticket, c) is None]
    ticket.sla_due_at = min((d for d in pending_due if d is not None), default=None)
    ticket.sla_warn_at = min((w for w in pending_warn if w is not None), default=None)
    checks: list[datetime] = []
    for clock in CLOCKS:
        if _met_at(ticket, clock) is not None or getattr(ticket, f"{clock}_breached_at"):
            continue
        due, warn = getattr(ticket, f"{clock}_due_at"), getattr(ticket, f"{clock}_warn_at")
        if warn is not None and getattr(ticket, f"{clock}_warned_at") is None:
            checks.append(warn)
        if due is not None:
            checks.append(due)
    ticket.sla_check_at = min(checks, default=None)


def is_breached(ticket: Ticket) -> bool:
    return (
        ticket.first_response_breached_at is not None or ticket.resolution_breached_at is not None
    )


def ticket_sla_state(ticket: Ticket, now: datetime) -> SlaState:
    """ok, warning, breached, paused (waiting for the customer) or met (resolved in time).

    A breach is for good. Mirrors `state_clause`, which filters lists by the same rule.
    """
    if is_breached(ticket):
        return "breached"
    if ticket.status in DONE:
        return "met"
    if ticket.status == TicketStatus.WAITING_USER:
        return "paused"
    if ticket.sla_due_at is not None and now >= ticket.sla_due_at:
        return "breached"
    if ticket.sla_warn_at is not None and now >= ticket.sla_warn_at:
        return "warning"
    return "ok"


def state_clause(state: SlaState, now: datetime) -> ColumnElement[bool]:
    """A SQL condition on tickets equal to `ticket_sla_state(ticket, now) == state`."""
    fired = or_(
        Ticket.first_response_breached_at.is_not(None), Ticket.resolution_breached_at.is_not(None)
    )
    not_fired = and_(
        Ticket.first_response_breached_at.is_(None), Ticket.resolution_breached_at.is_(None)
    )
    running = Ticket.status.in_(RUNNING)
    due_passed = and_(Ticket.sla_due_at.is_not(None), Ticket.sla_due_at <= now)
    warn_passed = and_(Ticket.sla_warn_at.is_not(None), Ticket.sla_warn_at <= now)
    if state == "breached":
        return or_(fired, and_(running, due_passed))
    if state == "met":
        return and_(not_fired, Ticket.status.in_(DONE))
    if state == "paused":
        return and_(not_fired, Ticket.status == TicketStatus.WAITING_USER.value)
    if state == "warning":
        return and_(not_fired, running, ~due_passed, warn_passed)
    if state == "ok":
        return and_(not_fired, running, ~due_passed, ~warn_passed)
    return false()


@dataclass(frozen=True)
class SlaEvent:
    """A warning or breach that is due on a ticket's clock."""

    kind: Literal["warning", "breach"]
    clock: Clock
    due_at: datetime


def due_events(ticket: Ticket, now: datetime) -> list[SlaEvent]:
    """The warnings and breaches due at `now` that have not fired; marks them fired on `ticket`.

    When a breach is due its warning is marked fired too without being returned: the breach says
    more. Call `refresh` afterwards to move `sla_check_at` on.
    """
    if ticket.status not in RUNNING:
        return []
    events: list[SlaEvent] = []
    for clock in CLOCKS:
        if _met_at(ticket, clock) is not None or getattr(ticket, f"{clock}_breached_at"):
            continue
        due, warn = getattr(ticket, f"{clock}_due_at"), getattr(ticket, f"{clock}_warn_at")
        if due is not None and due <= now:
            setattr(ticket, f"{clock}_breached_at", now)
            if getattr(ticket, f"{clock}_warned_at") is None:
                setattr(ticket, f"{clock}_warned_at", now)
            events.append(SlaEvent("breach", clock, due))
        elif warn is not None and warn <= now and getattr(ticket, f"{clock}_warned_at") is None:
            setattr(ticket, f"{clock}_warned_at", now)
            events.append(SlaEvent("warning", clock, due or warn))
    return events


def expected_answer_at(config: SlaConfig, priority: str, start: datetime) -> datetime:
    """When a new ticket of `priority` opened at `start` will have its first answer at the latest."""
    policy = config.policy(priority)
    due = due_at(policy.first_response_seconds, start, config.calendar, policy.business_hours)
    assert due is not None  # no pauses given, so the clock never stops
    return due
