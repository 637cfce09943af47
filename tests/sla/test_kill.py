"""SLA alerts survive `sportello serve` processes killed with SIGKILL at the worst moments.

A tiny policy (high: first response in 20 s, calendar time, warning at 25%) puts the warning and
the breach far enough apart for a second process to start in between, even on a busy machine. The first process is killed right after its warning committed; the second is
killed while its breach transaction is stuck on a database lock the test holds (PostgreSQL: on
the outbox insert, after the ticket row was claimed and changed; SQLite: on its first write),
so it dies with the breach half done. The processes started afterwards must fire the breach and
its escalation exactly once, with one set of outbox notifications.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from typing import Any

import pytest
from sqlalchemy import select

from sportello.config import Settings
from sportello.notifications import service as notifications
from sportello.notifications.models import OutboxMessage
from sportello.runtime import Runtime
from sportello.tickets import service as tickets
from sportello.tickets.models import Ticket
from tests.fixtures.backends import Backend
from tests.fixtures.locks import writes_blocked
from tests.operators.helpers import eventually, make_operator, side_runtime

FIRST_RESPONSE = 20.0  # seconds
WARN_RATIO = 0.25  # the warning at 5 s
ENV = {
    "SPORTELLO_OPENING_HOURS": "always",
    "SPORTELLO_TICKER_INTERVAL": "0.2",
    "SPORTELLO_SLA_POLICIES": f"high={FIRST_RESPONSE:g}s/1h/calendar",
    "SPORTELLO_SLA_WARN_RATIO": str(WARN_RATIO),
}


async def _ticket(rt: Runtime, number: str) -> Ticket:
    async with rt.db.scope() as session:
        row = (
            await session.execute(
                select(Ticket).where(Ticket.number == number).execution_options(populate_existing=True)
            )
        ).scalar_one()
        return row


async def _actions(rt: Runtime, number: str) -> Counter[str]:
    async with rt.db.scope() as session:
        ticket = await tickets.get_by_number(session, number)
        return Counter(e.action for e in await tickets.history(session, ticket))


async def _outbox(rt: Runtime, ticket_id: uuid.UUID) -> Counter[str]:
    async with rt.db.scope() as session:
        rows = await session.execute(select(OutboxMessage.kind, OutboxMessage.payload))
        return Counter(
            kind for kind, payload in rows.all()
            if payload.get("ticket_id") == str(ticket_id) and kind in ("sla.warning", "sla.breached", "ticket.escalated")
        )


@pytest.mark.slow
async def test_killed_processes_neither_lose_nor_repeat_a_breach(
    backend: Backend, settings: Settings, process_server_factory: Any
) -> None:
    side = settings.model_copy(
        update={"opening_hours": "always", "sla_policies": ENV["SPORTELLO_SLA_POLICIES"], "sla_warn_ratio": WARN_RATIO}
    )
    first = process_server_factory.start(**ENV)
    async with side_runtime(side) as rt:
        agent = await make_operator(rt, "agent@example.com", tier=1)
        supervisor = await make_operator(rt, "sup@example.com", role="supervisor")
        async with rt.db.scope() as session:
            # The supervisor also wants warnings by email, so the warning has an outbox row too.
            await notifications.set_preferences(session, supervisor, {"sla.warning": {"email": True}})
            ticket = await tickets.create_ticket(
                session, rt.settings,
                tickets.NewTicket(contact_method="email", subject="Doppio addebito", email="c@example.com",
                                  priority="high", assignee_id=agent, source="operator"),
            )
            number, ticket_id = ticket.number, ticket.id
        created = time.monotonic()

        # 1. Kill the first process right after its warning committed.
        async def warned() -> bool:
            return (await _ticket(rt, number)).first_response_warned_at is not None

        await eventually(warned, timeout=FIRST_RESPONSE + 10)
        first.kill()
        assert time.monotonic() - created < FIRST_RESPONSE, "the breach came before the kill; machine too slow"
        assert (await _actions(rt, number))["sla_breached"] == 0

        # 2. Kill the second process while its breach transaction waits on our lock. It starts
        # first: on SQLite a blocked ticker holds the process's one connection, so it could not
        # answer /readyz.
        second = process_server_factory.start(**ENV)
        async with writes_blocked(backend, settings) as lock:
            assert time.monotonic() - created < FIRST_RESPONSE, "the second process started after the breach was due"
            if backend.name == "postgres":
                async def breach_stuck() -> bool:
                    # A transaction that already wrote (it has an xid: the claimed ticket row)
                    # and now waits to insert the breach's notifications.
                    await lock.execute("SELECT pg_stat_clear_snapshot()")  # activity is cached per transaction
                    waiting = await lock.fetchval(
                        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                        " WHERE NOT l.granted AND l.relation = 'notification_outbox'::regclass"
                        " AND a.backend_xid IS NOT NULL AND a.query ILIKE '%INSERT INTO notification_outbox%'"
                    )
                    return bool(waiting)

                await eventually(breach_stuck, timeout=FIRST_RESPONSE + 10)
            else:
                # SQLite shows no waiters: give the ticker a dozen passes past the due time.
                await asyncio.sleep(max(0.0, FIRST_RESPONSE - (time.monotonic() - created)) + 2.5)
            second.kill()
            row = await _ticket(rt, number)
            assert row.first_response_breached_at is None and row.tier == 1
            assert (await _actions(rt, number))["sla_breached"] == 0

        # 3. New processes (two racing tickers on PostgreSQL) finish the job, once.
        survivors = [process_server_factory.start(**ENV)]
        if backend.name == "postgres":
            survivors.append(process_server_factory.start(**ENV))

        async def breached() -> bool:
            return (await _ticket(rt, number)).first_response_breached_at is not None

        await eventually(breached, timeout=20)
        await asyncio.sleep(1.5)  # more ticks: nothing may fire again
        actions = await _actions(rt, number)
        assert (actions["sla_warning"], actions["sla_breached"], actions["escalated"]) == (1, 1, 1), actions
        row = await _ticket(rt, number)
        assert (row.tier, row.priority, row.escalations, row.assignee_id) == (2, "urgent", 1, None)
        # Warning: the supervisor's email. Breach and escalation: assignee + supervisor emails, Slack.
        assert await _outbox(rt, ticket_id) == Counter({"sla.warning": 1, "sla.breached": 3, "ticket.escalated": 3})
