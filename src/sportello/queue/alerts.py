"""Chat events for operators beyond the dashboard socket: offers, transfers, waits, silence.

Each function writes through `notifications.service.notify_operators` in the caller's unit of
work, so a rolled-back offer notifies nobody, and keys every alert by its event, so running
it twice notifies once. Who gets what, and on which channel, is in docs/notifications.md.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sportello import audit
from sportello.audit import AuditEvent
from sportello.config import Settings
from sportello.conversations.models import Conversation
from sportello.notifications.service import notify_operators
from sportello.operators.models import Operator, Presence, Role
from sportello.queue.models import EntryState, QueueEntry
from sportello.queue.service import lock_entry
from sportello.runtime import Runtime

log = logging.getLogger(__name__)
BATCH = 200
WAITING_ALERT = "waiting_alert"


def _dashboard_url(settings: Settings) -> str | None:
    return f"{settings.public_url.rstrip('/')}/dashboard" if settings.public_url else None


@dataclass(frozen=True)
class Offer:
    """What an offer tells the operator (the routing's RETURNING row, no ORM object)."""

    entry_id: uuid.UUID
    conversation_id: uuid.UUID
    language: str
    priority: str
    transfer: bool
    offered_at: datetime


async def offer_made(
    session: AsyncSession,
    settings: Settings,
    entry: Offer,
    operator_id: uuid.UUID,
    deadline: datetime,
) -> None:
    """Tell the operator about an offer (or a colleague's transfer) until it lapses."""
    kind = "chat.assigned" if entry.transfer else "chat.offered"
    offered_at = entry.offered_at
    await notify_operators(
        session,
        kind=kind,
        operator_ids=[operator_id],
        context={
            "conversation_id": str(entry.conversation_id),
            "language": entry.language,
            "priority": entry.priority,
            "accept_seconds": settings.initial_response_seconds,
            "expires_at": deadline.isoformat(),
            # The dashboard's own desktop notification uses this tag: the two replace each other.
            "tag": f"offer-{entry.conversation_id}",
            "url": _dashboard_url(settings),
        },
        key=f"{kind}:{entry.entry_id}:{int(offered_at.timestamp())}",
    )


def _can_take(op: Operator, entry: QueueEntry) -> bool:
    speaks = not op.languages or entry.language in op.languages
    return speaks and op.tier >= entry.min_tier


async def waiting_alerts(rt: Runtime, now: datetime) -> int:
    """Alert about visitors who have waited `queue_alert_seconds` and nobody took; once each.

    The newest overdue entries come first, so a long backlog cannot starve fresh ones; an
    audit row per entry (written with the alert) makes the alert durable across restarts.
    """
    after = rt.settings.queue_alert_seconds
    if after <= 0:
        return 0
    cutoff = now - timedelta(seconds=after)
    async with rt.db.scope() as session:
        ids = list(
            (
                await session.execute(
                    select(QueueEntry.id)
                    .where(
                        QueueEntry.state == EntryState.WAITING.value,
                        QueueEntry.enqueued_at <= cutoff,
                    )
                    .order_by(QueueEntry.enqueued_at.desc())
                    .limit(BATCH)
                )
            ).scalars()
        )
        if not ids:
            return 0
        done = set(
            (
                await session.execute(
                    select(AuditEvent.subject_id).where(
                        AuditEvent.subject_type == "queue_entry",
                        AuditEvent.action == WAITING_ALERT,
                        AuditEvent.subject_id.in_([str(i) for i in ids]),
                    )
                )
            ).scalars()
        )
    alerted = 0
    for entry_id in ids:
        if str(entry_id) in done:
            continue
        try:
            async with rt.db.scope() as session:
                alerted += await _alert_waiting(session, rt.settings, entry_id, cutoff, now)
        except Exception:
            log.exception("waiting alert failed", extra={"entry_id": str(entry_id)})
    return alerted


async def _alert_waiting(
    session: AsyncSession, settings: Settings, entry_id: uuid.UUID, cutoff: datetime, now: datetime
) -> int:
    entry = await lock_entry(session, entry_id, QueueEntry.state == EntryState.WAITING.value, QueueEntry.enqueued_at <= cutoff)
    if entry is None:
        return 0
    already = await session.execute(
        select(AuditEvent.id).where(
            AuditEvent.subject_type == "queue_entry",
            AuditEvent.subject_id == str(entry.id),
            AuditEvent.action == WAITING_ALERT,
        )
    )
    if already.first() is not None:
        return 0  # another process alerted between our listing and our lock
    ops = list(
        (await session.execute(select(Operator).where(Operator.active.is_(True)))).scalars()
    )
    able = [op for op in ops if _can_take(op, entry)]
    nobody_online = not any(op.presence == Presence.ONLINE.value for op in able)
    # Online agents see the queue already; the ones who could come back are told.
    agents = [
        op.id for op in able if op.presence != Presence.ONLINE.value and op.role == Role.AGENT
    ]
    waited = int((now - entry.enqueued_at).total_seconds())
    context: dict[str, Any] = {
        "conversation_id": str(entry.conversation_id),
        "language": entry.language,
        "priority": entry.priority,
        "waited_minutes": max(1, round(waited / 60)),
        "nobody_online": nobody_online,
        "url": _dashboard_url(settings),
    }
    await notify_operators(
        session,
        kind="chat.waiting",
        operator_ids=agents,
        supervisors=True,
        context=context,
        key=f"chat.waiting:{entry.id}",
    )
    if nobody_online:
        await notify_operators(
            session,
            kind="chat.unattended",
            supervisors=True,
            context=context,
            key=f"chat.unattended:{entry.id}",
        )
    audit.record(
        session,
        "queue_entry",
        entry.id,
        WAITING_ALERT,
        data={"waited_seconds": waited, "nobody_online": nobody_online},
    )
    return 1


async def operator_silent(
    session: AsyncSession, settings: Settings, conv: Conversation, waiting_since: datetime
) -> None:
    """Tell supervisors that a visitor's message has gone unanswered; once per message."""
    name = None
    if conv.operator_id is not None:
        op = await session.get(Operator, conv.operator_id)
        name = op.name if op is not None else None
    await notify_operators(
        session,
        kind="chat.unanswered",
        supervisors=True,
        context={
            "conversation_id": str(conv.id),
            "operator_name": name,
            "silent_minutes": max(1, round(settings.operator_silence_seconds / 60)),
            "url": _dashboard_url(settings),
        },
        key=f"chat.unanswered:{conv.id}:{int(waiting_since.timestamp())}",
    )
