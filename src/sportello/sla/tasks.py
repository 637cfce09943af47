"""What the ticker runs for SLAs: warnings at 80%, breaches at 100%, escalation on breach.

`run_sla_tick(rt, now)` lists tickets whose `sla_check_at` has come, then claims each in its own
unit of work (re-read under the same condition, `FOR UPDATE SKIP LOCKED` on PostgreSQL; SQLite
has a single writer). The fired warning or breach is stamped on the row in the transaction that
emits its alerts and escalates, so a restart between two ticks neither loses nor repeats one.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sportello import audit
from sportello.events import emit
from sportello.operators import service as operators
from sportello.runtime import Runtime
from sportello.sla import service as sla
from sportello.sla.clock import escalate
from sportello.tickets.models import Ticket
from sportello.tickets.notify import notify
from sportello.tickets.service import TICKETS_CHANNEL, operator_tier
from sportello.timeutil import utc_now

log = logging.getLogger(__name__)
BATCH = 200


async def run_sla_tick(rt: Runtime, now: datetime | None = None) -> int:
    """Fire the SLA warnings and breaches due at `now`; returns how many fired."""
    now = now or utc_now()
    config = sla.sla_config(rt.settings)
    async with rt.db.scope() as session:
        ids = list(
            (
                await session.execute(
                    select(Ticket.id)
                    .where(Ticket.sla_check_at.is_not(None), Ticket.sla_check_at <= now)
                    .order_by(Ticket.sla_check_at)
                    .limit(BATCH)
                )
            ).scalars()
        )
    fired = 0
    for ticket_id in ids:
        try:
            async with rt.db.scope() as session:
                fired += await check_ticket(session, ticket_id, config, now)
        except Exception:
            log.exception("SLA check failed", extra={"ticket_id": str(ticket_id)})
    return fired


async def check_ticket(
    session: AsyncSession, ticket_id: uuid.UUID, config: sla.SlaConfig, now: datetime
) -> int:
    """Claim one ticket if its check is still due, fire what is due, and move its check on."""
    ticket = (
        await session.execute(
            select(Ticket)
            .where(
                Ticket.id == ticket_id,
                Ticket.sla_check_at.is_not(None),
                Ticket.sla_check_at <= now,
            )
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if ticket is None:
        return 0
    events = sla.due_events(ticket, now)
    for event in events:
        if event.kind == "warning":
            await _warn(session, ticket, event)
        else:
            await _breach(session, ticket, event, now)
    sla.refresh(ticket, config, now)
    if ticket.sla_check_at is not None and ticket.sla_check_at <= now:
        # Never claim the same row again in a loop if the arithmetic says "now" twice.
        log.warning("SLA check did not move on", extra={"ticket": ticket.number})
        ticket.sla_check_at = None
    await session.flush()
    return len(events)


def _alert(session: AsyncSession, ticket: Ticket, event: dict[str, object]) -> None:
    emit(session, operators.SUPERVISORS_CHANNEL, event)
    emit(session, TICKETS_CHANNEL, event)
    if ticket.assignee_id is not None:
        emit(session, operators.operator_channel(ticket.assignee_id), event)


async def _warn(session: AsyncSession, ticket: Ticket, event: sla.SlaEvent) -> None:
    data = {"clock": event.clock, "due_at": event.due_at.isoformat()}
    audit.record(session, "ticket", ticket.id, "sla_warning", data=data)
    data["event_id"] = f"{event.clock}-warning"
    _alert(
        session,
        ticket,
        {"type": "sla.warning", "ticket_id": str(ticket.id), "number": ticket.number, **data},
    )
    await notify(
        session,
        "sla.warning",
        ticket,
        operator_ids=[ticket.assignee_id],
        supervisors=True,
        data=data,
    )


async def _breach(
    session: AsyncSession, ticket: Ticket, event: sla.SlaEvent, now: datetime
) -> None:
    """Alert the assignee and supervisors, then move the ticket one tier and one priority up.

    An assignee below the new tier is released, so that the next tier's pool picks it up; the
    SLA targets stay those of the ticket's policy (a breach is not forgiven by escalating).
    """
    data = {"clock": event.clock, "due_at": event.due_at.isoformat()}
    previous_assignee = ticket.assignee_id
    audit.record(session, "ticket", ticket.id, "sla_breached", data=data)
    data["event_id"] = f"{event.clock}-breach"
    _alert(
        session,
        ticket,
        {"type": "sla.breached", "ticket_id": str(ticket.id), "number": ticket.number, **data},
    )
    await notify(
        session,
        "sla.breached",
        ticket,
        operator_ids=[previous_assignee],
        supervisors=True,
        data=data,
    )
    step = escalate(ticket.tier, sla.as_priority(ticket.priority))
    if not step.changed:
        return
    old_tier, old_priority = ticket.tier, ticket.priority
    ticket.tier, ticket.priority = step.tier, step.priority
    ticket.escalations += 1
    ticket.updated_at = now
    if previous_assignee is not None and await operator_tier(session, previous_assignee) < step.tier:
        ticket.assignee_id = None
    change = {
        "tier": [old_tier, step.tier],
        "priority": [old_priority, step.priority],
        "assignee_id": [
            str(previous_assignee) if previous_assignee else None,
            str(ticket.assignee_id) if ticket.assignee_id else None,
        ],
        "clock": event.clock,
    }
    audit.record(session, "ticket", ticket.id, "escalated", data=change)
    _alert(
        session,
        ticket,
        {
            "type": "ticket.escalated",
            "ticket_id": str(ticket.id),
            "number": ticket.number,
            **change,
        },
    )
    await notify(
        session,
        "ticket.escalated",
        ticket,
        operator_ids=[previous_assignee],
        supervisors=True,
        data={**change, "event_id": f"{event.clock}-escalation"},
    )

