"""Retention, run daily by the ticker: personal data older than `retention_months` is deleted.

What goes: closed tickets (with their notes and contact requests) closed before the cut-off;
conversations whose last activity is before it and that no remaining ticket points at (with
their messages, notes, queue entries, links, contact requests and analytics rows); sent, failed,
dead or held notifications and inbound texts from before it; failed-login records. What stays: open,
unresolved or recently closed tickets and their conversations, opt-out records (a STOP must be
honoured for as long as we can text anyone), aggregated reports. Each run leaves an audit row
with the cut-off and counts only.
"""

from __future__ import annotations

import calendar
import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sportello import audit
from sportello.audit import AuditEvent
from sportello.conversations.models import Conversation, Message
from sportello.db import Base
from sportello.notifications.models import InboundMessage, OutboxMessage, OutboxState
from sportello.operators.models import LoginFailure
from sportello.runtime import Runtime
from sportello.tickets.models import ContactRequest, Ticket, TicketNote, TicketStatus
from sportello.timeutil import as_utc

log = logging.getLogger(__name__)
RUN_EVERY = timedelta(days=1)
NEXT_RUN_KEY = "privacy.retention_next_run"
BATCH = 500
FINISHED_NOTIFICATIONS = (
    OutboxState.SENT.value, OutboxState.FAILED.value, OutboxState.DEAD.value, OutboxState.HELD.value,
)


def months_before(now: datetime, months: int) -> datetime:
    """The same instant `months` calendar months earlier (the day clamped to the month's end)."""
    index = now.year * 12 + (now.month - 1) - months
    year, month = divmod(index, 12)
    day = min(now.day, calendar.monthrange(year, month + 1)[1])
    return now.replace(year=year, month=month + 1, day=day)


async def _count(session: AsyncSession, stmt: Any) -> int:
    result = await session.execute(stmt.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


async def purge(session: AsyncSession, cutoff: datetime) -> dict[str, int]:
    """Delete what is older than `cutoff` (see the module docstring); returns counts."""
    counts: dict[str, int] = {}
    closed_at = func.coalesce(Ticket.closed_at, Ticket.updated_at)
    ticket_ids = list(
        (
            await session.execute(
                select(Ticket.id).where(Ticket.status == TicketStatus.CLOSED.value, closed_at < cutoff)
            )
        ).scalars()
    )
    counts["tickets"] = 0
    for start in range(0, len(ticket_ids), BATCH):
        chunk = ticket_ids[start : start + BATCH]
        await session.execute(delete(TicketNote).where(TicketNote.ticket_id.in_(chunk)))
        await session.execute(delete(ContactRequest).where(ContactRequest.ticket_id.in_(chunk)))
        counts["tickets"] += await _count(session, delete(Ticket).where(Ticket.id.in_(chunk)))

    kept_by_ticket = exists().where(Ticket.conversation_id == Conversation.id)
    conv_ids = list(
        (
            await session.execute(
                select(Conversation.id).where(Conversation.last_activity_at < cutoff, ~kept_by_ticket)
            )
        ).scalars()
    )
    counts["conversations"] = counts["messages"] = 0
    for start in range(0, len(conv_ids), BATCH):
        chunk = conv_ids[start : start + BATCH]
        counts["messages"] += await _count(session, delete(Message).where(Message.conversation_id.in_(chunk)))
        for table in reversed(Base.metadata.sorted_tables):
            column = table.columns.get("conversation_id")
            if column is None or table.name in ("conversations", "messages", "tickets"):
                continue
            if table.name == "notification_outbox":
                # Pending notifications about the conversation lose their link, not their delivery.
                await session.execute(
                    update(table)
                    .where(column.in_(chunk), table.c.state.in_(("pending", "sending")))
                    .values(conversation_id=None)
                )
            await session.execute(delete(table).where(column.in_(chunk)))
        counts["conversations"] += await _count(session, delete(Conversation).where(Conversation.id.in_(chunk)))
    for start in range(0, len(conv_ids) + len(ticket_ids), BATCH):
        ids = [str(i) for i in [*conv_ids, *ticket_ids][start : start + BATCH]]
        await session.execute(
            delete(AuditEvent).where(AuditEvent.subject_type.in_(("conversation", "ticket")), AuditEvent.subject_id.in_(ids))
        )

    counts["contact_requests"] = await _count(
        session,
        delete(ContactRequest).where(
            ContactRequest.updated_at < cutoff,
            ~exists().where(Ticket.id == ContactRequest.ticket_id),
        ),
    )
    counts["notifications"] = await _count(
        session,
        delete(OutboxMessage).where(OutboxMessage.state.in_(FINISHED_NOTIFICATIONS), OutboxMessage.created_at < cutoff),
    )
    counts["inbound_messages"] = await _count(session, delete(InboundMessage).where(InboundMessage.received_at < cutoff))
    counts["login_records"] = await _count(
        session,
        delete(AuditEvent).where(AuditEvent.subject_type == "operator_login", AuditEvent.created_at < cutoff),
    )
    counts["login_records"] += await _count(session, delete(LoginFailure).where(LoginFailure.created_at < cutoff))
    return counts


async def last_run(session: AsyncSession) -> datetime | None:
    value = (
        await session.execute(
            select(func.max(AuditEvent.created_at)).where(AuditEvent.subject_type == "retention", AuditEvent.action == "run")
        )
    ).scalar_one_or_none()
    return as_utc(value) if value is not None else None


async def run_retention(rt: Runtime, now: datetime, *, force: bool = False) -> dict[str, int] | None:
    """The daily job: purge and record the run, unless one ran in the last day (None then)."""
    months = rt.settings.retention_months
    if months <= 0:
        return None
    next_run: datetime | None = rt.extensions.get(NEXT_RUN_KEY)
    if not force and next_run is not None and now < next_run:
        return None
    cutoff = months_before(now, months)
    async with rt.db.scope() as session:
        previous = await last_run(session)
        if not force and previous is not None and previous + RUN_EVERY > now:
            rt.extensions[NEXT_RUN_KEY] = previous + RUN_EVERY
            return None
        counts = await purge(session, cutoff)
        audit.record(
            session, "retention", now.date().isoformat(), "run",
            data={"months": months, "cutoff": cutoff.isoformat(), **counts},
        ).created_at = now
    rt.extensions[NEXT_RUN_KEY] = now + RUN_EVERY
    log.info("retention run", extra={"counts": counts})
    return counts
