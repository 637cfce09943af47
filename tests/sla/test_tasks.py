"""The SLA tick: warnings and breaches fire once, across restarts and crashes; escalation chain."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from sportello.config import Settings
from sportello.operators import service as operators
from sportello.operators.schemas import OperatorCreate
from sportello.runtime import Runtime
from sportello.sla import tasks
from sportello.tickets import service as tickets

ROME = ZoneInfo("Europe/Rome")
START = datetime(2025, 12, 1, 9, 0, tzinfo=ROME)  # Monday morning


async def _runtime(settings: Settings) -> Runtime:
    rt = Runtime(settings)
    await rt.start()
    return rt


async def _setup(rt: Runtime, priority: str = "high") -> tuple[str, uuid.UUID]:
    async with rt.db.scope() as session:
        op = await operators.create_operator(
            session,
            OperatorCreate(email=f"{uuid.uuid4().hex[:6]}@x.it", name="Ada", password="x" * 10, tier=1),
        )
        ticket = await tickets.create_ticket(
            session, rt.settings,
            tickets.NewTicket(contact_method="email", subject="s", email="a@b.it", priority=priority,
                              assignee_id=op.id, source="operator"),
            now=START,
        )
        return ticket.number, op.id


def _drain(sub: Any) -> list[dict[str, Any]]:
    """Bus events received so far ("notification" ones come from the notifications domain)."""
    return [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]


async def _history(rt: Runtime, number: str) -> list[tuple[str, dict[str, Any]]]:
    async with rt.db.scope() as session:
        ticket = await tickets.get_by_number(session, number)
        return [(e.action, e.data) for e in await tickets.history(session, ticket)]


async def _ticket(rt: Runtime, number: str) -> Any:
    async with rt.db.scope() as session:
        return await tickets.get_by_number(session, number)


async def test_warning_and_breach_fire_once_across_restarts(settings: Settings) -> None:
    first = await _runtime(settings)
    number, op_id = await _setup(first)
    alerts = first.bus.subscribe("supervisors", operators.operator_channel(op_id))
    # High: 1 business hour to first response; the warning is at 80% (09:48).
    assert await tasks.run_sla_tick(first, START + timedelta(minutes=47)) == 0
    assert await tasks.run_sla_tick(first, START + timedelta(minutes=48)) == 1
    assert await tasks.run_sla_tick(first, START + timedelta(minutes=50)) == 0
    await first.stop()
    warned = [e["type"] for e in _drain(alerts) if e["type"].startswith("sla.")]
    # The warning reached the supervisors and the assignee (both subscribed here).
    assert warned == ["sla.warning", "sla.warning"]
    second = await _runtime(settings)  # a restart: nothing in memory survives
    alerts = second.bus.subscribe("supervisors")
    assert await tasks.run_sla_tick(second, START + timedelta(minutes=55)) == 0
    assert await tasks.run_sla_tick(second, START + timedelta(minutes=60)) == 1
    assert await tasks.run_sla_tick(second, START + timedelta(minutes=61)) == 0
    await second.stop()
    third = await _runtime(settings)
    assert await tasks.run_sla_tick(third, START + timedelta(minutes=70)) == 0
    actions = [a for a, _ in await _history(third, number)]
    assert actions.count("sla_warning") == 1
    assert actions.count("sla_breached") == 1
    assert actions.count("escalated") == 1
    ticket = await _ticket(third, number)
    assert ticket.tier == 2 and ticket.priority == "urgent" and ticket.escalations == 1
    assert ticket.assignee_id is None  # a tier-1 assignee is released to the tier-2 pool
    await third.stop()
    kinds = [e["type"] for e in _drain(alerts) if e["type"] != "notification"]
    assert kinds == ["sla.breached", "ticket.escalated"]


async def test_a_crash_mid_tick_loses_nothing_and_repeats_nothing(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = await _runtime(settings)
    number, _ = await _setup(rt)
    original = tasks._breach

    async def crash(*args: Any, **kwargs: Any) -> None:
        await original(*args, **kwargs)
        raise RuntimeError("process killed half-way")

    monkeypatch.setattr(tasks, "_breach", crash)
    assert await tasks.run_sla_tick(rt, START + timedelta(hours=2)) == 0  # rolled back
    assert [a for a, _ in await _history(rt, number)].count("sla_breached") == 0
    await rt.stop()
    monkeypatch.setattr(tasks, "_breach", original)
    rt = await _runtime(settings)
    assert await tasks.run_sla_tick(rt, START + timedelta(hours=2)) == 1
    assert await tasks.run_sla_tick(rt, START + timedelta(hours=2)) == 0
    actions = [a for a, _ in await _history(rt, number)]
    assert actions.count("sla_breached") == 1 and "sla_warning" not in actions
    await rt.stop()


async def test_escalation_chain_to_the_manager(settings: Settings) -> None:
    rt = await _runtime(settings)
    number, _ = await _setup(rt, priority="low")
    # Low: 24 business hours to first response, 5 business days to resolution.
    fired = await tasks.run_sla_tick(rt, START + timedelta(days=30))
    assert fired == 2  # both clocks breached while the worker was away: one event each
    ticket = await _ticket(rt, number)
    assert (ticket.tier, ticket.priority, ticket.escalations) == (3, "high", 2)
    escalations = [d for a, d in await _history(rt, number) if a == "escalated"]
    assert [e["tier"] for e in escalations] == [[1, 2], [2, 3]]
    assert [e["priority"] for e in escalations] == [["low", "medium"], ["medium", "high"]]
    assert await tasks.run_sla_tick(rt, START + timedelta(days=60)) == 0
    await rt.stop()


async def test_paused_and_resolved_tickets_stay_quiet(settings: Settings) -> None:
    rt = await _runtime(settings)
    number, _ = await _setup(rt)
    config_now = START + timedelta(minutes=5)
    from sportello.sla.service import sla_config

    config = sla_config(rt.settings)
    async with rt.db.scope() as session:
        ticket = await tickets.get_by_number(session, number)
        await tickets.transition(session, ticket, "in_progress", config, now=config_now)
        await tickets.transition(session, ticket, "waiting_user", config, now=config_now)
    assert await tasks.run_sla_tick(rt, START + timedelta(days=20)) == 0
    async with rt.db.scope() as session:
        ticket = await tickets.get_by_number(session, number)
        await tickets.transition(session, ticket, "in_progress", config, now=START + timedelta(days=1))
        assert ticket.resolution_due_at is not None
        # 9 business hours of resolution target; 5 minutes ran before the pause.
        assert ticket.resolution_due_at > START + timedelta(days=1, hours=8)
        await tickets.transition(session, ticket, "resolved", config, now=START + timedelta(days=1, minutes=5))
    assert await tasks.run_sla_tick(rt, START + timedelta(days=40)) == 0
    assert tickets.to_read(await _ticket(rt, number), START + timedelta(days=40)).sla_state == "met"
    await rt.stop()
