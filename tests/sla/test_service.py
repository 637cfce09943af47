"""SLA clocks on tickets: policies from settings, pauses, holidays, state, events fired once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sportello.config import Settings
from sportello.sla import service as sla
from sportello.tickets.models import Ticket

ROME = ZoneInfo("Europe/Rome")
CONFIG = sla.sla_config(Settings(_env_file=None))  # type: ignore[call-arg]


def rome(*args: int) -> datetime:
    return datetime(*args, tzinfo=ROME)  # type: ignore[misc]


def new_ticket(priority: str, at: datetime, config: sla.SlaConfig = CONFIG) -> Ticket:
    ticket = Ticket(
        id=uuid.uuid4(), number="LDN-000001", status="open", priority=priority, tier=1,
        created_at=at.astimezone(UTC), escalations=0,
    )
    for clock in sla.CLOCKS:
        for suffix in ("warned_at", "breached_at"):
            setattr(ticket, f"{clock}_{suffix}", None)
    ticket.first_responded_at = ticket.resolved_at = None
    sla.start_clocks(ticket, config, at)
    return ticket


def test_policy_overrides_from_settings() -> None:
    policies = sla.parse_policies("urgent=10m/2h/business; low = 2d/10d")
    assert policies["urgent"].first_response_seconds == 600
    assert policies["urgent"].business_hours is True
    assert policies["low"].first_response_seconds == 2 * 86400
    assert policies["low"].business_hours is True  # default mode kept
    assert policies["medium"].first_response_seconds == 4 * 3600
    for bad in ("urgent", "urgent=1h", "asap=1h/2h", "high=1h/2h/sometimes", "high=soon/2h"):
        with pytest.raises(ValueError):
            sla.parse_policies(bad)


def test_business_hours_over_a_weekend_and_a_holiday() -> None:
    # Thursday 1 May 2025 is Labour Day: a high ticket at 17:30 on 30 April.
    ticket = new_ticket("high", rome(2025, 4, 30, 17, 30))
    assert ticket.first_response_due_at == rome(2025, 5, 2, 9, 30)
    assert ticket.first_response_warn_at == rome(2025, 5, 2, 9, 18)
    # Urgent counts calendar time: 15 minutes, holiday or not.
    urgent = new_ticket("urgent", rome(2025, 5, 1, 3, 0))
    assert urgent.first_response_due_at == rome(2025, 5, 1, 3, 15)
    assert urgent.sla_check_at == rome(2025, 5, 1, 3, 12)


def test_waiting_user_pauses_and_resuming_moves_the_due_time() -> None:
    start = rome(2025, 12, 1, 9, 0)  # Monday
    ticket = new_ticket("medium", start)
    ticket.first_responded_at = start + timedelta(minutes=10)
    ticket.status = "waiting_user"
    sla.pause(ticket, rome(2025, 12, 1, 10, 0))
    sla.refresh(ticket, CONFIG, rome(2025, 12, 1, 10, 0))
    assert ticket.resolution_due_at is None and ticket.sla_check_at is None
    assert sla.ticket_sla_state(ticket, rome(2025, 12, 9, 10, 0)) == "paused"
    ticket.status = "in_progress"
    sla.resume(ticket, rome(2025, 12, 2, 10, 0))  # the customer answered a day later
    sla.refresh(ticket, CONFIG, rome(2025, 12, 2, 10, 0))
    # 3 business days = 27 h; 1 h ran on Monday before the pause, 26 h remain from Tue 10:00:
    # Tue 8 h, Wed 9 h, Thu 9 h → Thursday 18:00.
    assert ticket.resolution_due_at == rome(2025, 12, 4, 18, 0)
    assert ticket.first_response_due_at == rome(2025, 12, 1, 13, 0)  # met: kept as it was


def test_met_late_is_breached_without_an_event() -> None:
    ticket = new_ticket("high", rome(2025, 12, 1, 9, 0))
    ticket.first_responded_at = rome(2025, 12, 1, 11, 0)
    ticket.status = "in_progress"
    sla.refresh(ticket, CONFIG, rome(2025, 12, 1, 11, 0))
    assert ticket.first_response_breached_at == rome(2025, 12, 1, 11, 0)
    assert sla.ticket_sla_state(ticket, rome(2025, 12, 1, 11, 0)) == "breached"
    assert sla.due_events(ticket, rome(2025, 12, 1, 11, 0)) == []


def test_events_fire_once_and_a_breach_swallows_its_warning() -> None:
    ticket = new_ticket("high", rome(2025, 12, 1, 9, 0))
    assert sla.due_events(ticket, rome(2025, 12, 1, 9, 47)) == []
    events = sla.due_events(ticket, rome(2025, 12, 1, 9, 48))
    assert [(e.kind, e.clock) for e in events] == [("warning", "first_response")]
    sla.refresh(ticket, CONFIG, rome(2025, 12, 1, 9, 48))
    assert ticket.sla_check_at == rome(2025, 12, 1, 10, 0)
    assert sla.due_events(ticket, rome(2025, 12, 1, 9, 50)) == []
    late = new_ticket("high", rome(2025, 12, 1, 9, 0))
    events = sla.due_events(late, rome(2025, 12, 1, 12, 0))
    assert [(e.kind, e.clock) for e in events] == [("breach", "first_response")]
    sla.refresh(late, CONFIG, rome(2025, 12, 1, 12, 0))
    assert sla.due_events(late, rome(2025, 12, 1, 12, 0)) == []
    assert late.sla_check_at == late.resolution_warn_at


@settings(max_examples=60, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 31)),
    priority=st.sampled_from(["low", "medium", "high", "urgent"]),
    pause_after=st.integers(min_value=0, max_value=72 * 60),
    pause_minutes=st.integers(min_value=0, max_value=72 * 60),
)
def test_a_pause_never_brings_a_due_time_earlier(
    start: datetime, priority: str, pause_after: int, pause_minutes: int
) -> None:
    begin = start.replace(tzinfo=ROME)
    plain = new_ticket(priority, begin)
    paused = new_ticket(priority, begin)
    p0 = begin + timedelta(minutes=pause_after)
    sla.pause(paused, p0)
    sla.resume(paused, p0 + timedelta(minutes=pause_minutes))
    sla.refresh(paused, CONFIG, p0)
    assert plain.resolution_due_at is not None and paused.resolution_due_at is not None
    assert paused.resolution_due_at >= plain.resolution_due_at
    if priority == "urgent":  # calendar time: the shift is at most the pause itself
        assert paused.resolution_due_at - plain.resolution_due_at <= timedelta(minutes=pause_minutes)
    # The warning comes before the due time, and the next check is the earliest pending event.
    assert paused.sla_warn_at is not None and paused.sla_due_at is not None
    assert paused.sla_warn_at <= paused.sla_due_at
    assert paused.sla_check_at == paused.sla_warn_at


@settings(max_examples=40, deadline=None)
@given(
    start=st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 31)),
    ticks=st.lists(st.integers(min_value=0, max_value=20 * 24 * 60), min_size=1, max_size=12),
)
def test_any_tick_sequence_fires_each_event_at_most_once(start: datetime, ticks: list[int]) -> None:
    ticket = new_ticket("medium", start.replace(tzinfo=ROME))
    fired: list[tuple[str, str]] = []
    for minutes in sorted(ticks):
        now = ticket.created_at + timedelta(minutes=minutes)
        fired += [(e.kind, e.clock) for e in sla.due_events(ticket, now)]
        sla.refresh(ticket, CONFIG, now)
    assert len(fired) == len(set(fired))
    assert len(fired) <= 4
