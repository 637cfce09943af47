"""The ticker: acts on deadlines stored in the database, once each, surviving restarts.

Each job lists due rows, then claims each one in its own unit of work by re-reading it with
`FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite has a single writer) under the same "still due"
condition and clearing the deadline in the transaction that acts on it. A row is therefore
acted on once even with several `sportello worker`/`serve` processes, and a process killed
mid-way leaves the deadline in place for the next tick.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from sportello import audit
from sportello.conversations import service as conversations
from sportello.conversations.models import Conversation, ConversationStatus, Message, Sender
from sportello.events import emit
from sportello.operators.presence import refresh_presence, stale_operators
from sportello.operators.service import SUPERVISORS_CHANNEL
from sportello.privacy.tasks import run_retention
from sportello.queue.alerts import operator_silent, waiting_alerts
from sportello.queue.live import close_chat
from sportello.queue.models import EntryState, QueueEntry
from sportello.queue.routing import dispatch, lapse_offer
from sportello.queue.service import current_entry, leave_queue, lock_entry, publish_positions
from sportello.queue.texts import text
from sportello.runtime import Runtime
from sportello.sla.tasks import run_sla_tick
from sportello.tickets.tasks import refresh_statistics
from sportello.timeutil import as_utc, utc_now

log = logging.getLogger(__name__)
BATCH = 200
S = ConversationStatus


async def _each(rt: Runtime, ids: list[uuid.UUID], act: Callable[[AsyncSession, uuid.UUID], Awaitable[bool]]) -> int:
    done = 0
    for row_id in ids:
        try:
            async with rt.db.scope() as session:
                done += bool(await act(session, row_id))
        except Exception:
            log.exception("ticker job failed", extra={"row": str(row_id)})
    return done


async def expire_presence(rt: Runtime, now: datetime) -> int:
    timeout = rt.settings.presence_timeout_seconds
    async with rt.db.scope() as session:
        stale = await stale_operators(session, presence_timeout=timeout, now=now)

    async def act(session: AsyncSession, op_id: uuid.UUID) -> bool:
        return await refresh_presence(session, op_id, presence_timeout=timeout, now=now) == "offline"

    return await _each(rt, stale, act)


async def lapse_offers(rt: Runtime, now: datetime) -> int:
    async with rt.db.scope() as session:
        ids = list(
            (
                await session.execute(
                    select(QueueEntry.id)
                    .where(QueueEntry.state == EntryState.OFFERED.value, QueueEntry.offer_deadline_at <= now)
                    .limit(BATCH)
                )
            ).scalars()
        )

    async def act(session: AsyncSession, entry_id: uuid.UUID) -> bool:
        return await lapse_offer(session, rt.settings, entry_id, now)

    return await _each(rt, ids, act)


async def queue_wait_timeouts(rt: Runtime, now: datetime) -> int:
    async with rt.db.scope() as session:
        ids = list(
            (
                await session.execute(
                    select(QueueEntry.id)
                    .where(QueueEntry.state == EntryState.WAITING.value, QueueEntry.wait_deadline_at <= now)
                    .limit(BATCH)
                )
            ).scalars()
        )

    async def act(session: AsyncSession, entry_id: uuid.UUID) -> bool:
        entry = await lock_entry(session, entry_id, QueueEntry.state == EntryState.WAITING.value, QueueEntry.wait_deadline_at <= now)
        if entry is None:
            return False
        entry.wait_deadline_at = None
        conv = await conversations.get_conversation(session, entry.conversation_id)
        await conversations.append_message(
            session, conv, sender=Sender.SYSTEM, body=text("wait_timeout", conv.language),
            meta={"kind": "queue.wait_timeout", "actions": ["keep_waiting", "leave_contact"]},
        )
        emit(
            session,
            conversations.conversation_channel(conv.id),
            {"type": "queue.wait_timeout", "conversation_id": str(conv.id), "actions": ["keep_waiting", "leave_contact"]},
        )
        audit.record(session, "queue_entry", entry.id, "wait_timeout")
        return True

    return await _each(rt, ids, act)


async def visitors_gone(rt: Runtime, now: datetime) -> int:
    """Take out of the queue, as abandoned, visitors whose widget stayed closed past the grace period."""
    waiting = (EntryState.WAITING.value, EntryState.OFFERED.value)
    async with rt.db.scope() as session:
        ids = list(
            (
                await session.execute(
                    select(QueueEntry.id)
                    .where(QueueEntry.state.in_(waiting), QueueEntry.gone_deadline_at <= now)
                    .limit(BATCH)
                )
            ).scalars()
        )

    async def act(session: AsyncSession, entry_id: uuid.UUID) -> bool:
        entry = await lock_entry(session, entry_id, QueueEntry.state.in_(waiting), QueueEntry.gone_deadline_at <= now)
        if entry is None:
            return False
        conv = await conversations.get_conversation(session, entry.conversation_id)
        await leave_queue(rt, session, conv, leave_contact=False, now=now, gone=True)
        return True

    return await _each(rt, ids, act)


async def _due_conversations(rt: Runtime, column: InstrumentedAttribute[datetime | None], now: datetime) -> list[uuid.UUID]:
    async with rt.db.scope() as session:
        return list(
            (
                await session.execute(
                    select(Conversation.id)
                    .where(Conversation.status == S.LIVE.value, column <= now)
                    .limit(BATCH)
                )
            ).scalars()
        )


async def _claim_conversation(session: AsyncSession, conv_id: uuid.UUID, column: InstrumentedAttribute[datetime | None], now: datetime) -> Conversation | None:
    stmt = (
        select(Conversation)
        .where(Conversation.id == conv_id, Conversation.status == S.LIVE.value, column <= now)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _last_message_at(session: AsyncSession, conv_id: uuid.UUID, sender: Sender) -> datetime | None:
    stmt = select(func.max(Message.created_at)).where(
        Message.conversation_id == conv_id, Message.sender == sender.value
    )
    value = (await session.execute(stmt)).scalar_one_or_none()
    return as_utc(value) if value is not None else None


async def operator_silence(rt: Runtime, now: datetime) -> int:
    """Alert supervisors when a visitor's message has waited `operator_silence_seconds`.

    The deadline is a check point moved forward lazily: when it comes due the ticker looks at
    the last visitor and operator messages and either alerts or sets the next check point, so
    the message path needs no hook and a restart loses nothing.
    """
    column = Conversation.silence_deadline_at
    silence = timedelta(seconds=rt.settings.operator_silence_seconds)
    ids = await _due_conversations(rt, column, now)

    async def act(session: AsyncSession, conv_id: uuid.UUID) -> bool:
        conv = await _claim_conversation(session, conv_id, column, now)
        if conv is None:
            return False
        visitor_at = await _last_message_at(session, conv.id, Sender.VISITOR)
        operator_at = await _last_message_at(session, conv.id, Sender.OPERATOR)
        unanswered = visitor_at is not None and (operator_at is None or operator_at < visitor_at)
        if not unanswered or visitor_at is None:
            conv.silence_deadline_at = now + silence
            return False
        if visitor_at + silence > now:
            conv.silence_deadline_at = visitor_at + silence
            return False
        conv.silence_deadline_at = now + silence
        emit(
            session,
            SUPERVISORS_CHANNEL,
            {
                "type": "alert.operator_silence",
                "conversation_id": str(conv.id),
                "operator_id": str(conv.operator_id) if conv.operator_id else None,
                "waiting_since": visitor_at.isoformat(),
            },
        )
        audit.record(session, "conversation", conv.id, "operator_silence_alert", data={"operator_id": str(conv.operator_id)})
        await operator_silent(session, rt.settings, conv, visitor_at)
        return True

    return await _each(rt, ids, act)


async def visitor_inactivity(rt: Runtime, now: datetime) -> int:
    """Close live chats whose visitor has been silent `visitor_inactivity_seconds` (lazy check point)."""
    column = Conversation.inactivity_deadline_at
    quiet = timedelta(seconds=rt.settings.visitor_inactivity_seconds)
    ids = await _due_conversations(rt, column, now)

    async def act(session: AsyncSession, conv_id: uuid.UUID) -> bool:
        conv = await _claim_conversation(session, conv_id, column, now)
        if conv is None:
            return False
        entry = await current_entry(session, conv.id)
        anchors = [a for a in (await _last_message_at(session, conv.id, Sender.VISITOR), entry.assigned_at if entry else None) if a]
        anchor = max(anchors) if anchors else conv.updated_at
        if anchor + quiet > now:
            conv.inactivity_deadline_at = anchor + quiet
            return False
        await close_chat(session, conv, now, reason="visitor_inactive")
        return True

    return await _each(rt, ids, act)


async def tick(rt: Runtime, now: datetime | None = None) -> dict[str, int]:
    """One pass over every job; `now` may be moved forward by tests."""
    # A clock installed in the runtime (tests freeze time with it) drives the deadlines too.
    now = now or rt.extensions.get("clock", utc_now)()
    counts = {
        "presence_expired": await expire_presence(rt, now),
        "offers_lapsed": await lapse_offers(rt, now),
        "queue_wait_timeouts": await queue_wait_timeouts(rt, now),
        "queue_waiting_alerts": await waiting_alerts(rt, now),
        "queue_visitors_gone": await visitors_gone(rt, now),
        "operator_silence_alerts": await operator_silence(rt, now),
        "visitor_inactivity_closed": await visitor_inactivity(rt, now),
        "sla_events": await run_sla_tick(rt, now),
    }
    retention = await run_retention(rt, now)  # daily; None when it is not due
    counts["retention_runs"] = int(retention is not None)
    counts["ticket_statistics"] = int(await refresh_statistics(rt, now))
    counts["offers_made"] = await dispatch(rt, now=now)
    counts["positions_published"] = await publish_positions(rt, now)
    return counts


async def run(rt: Runtime) -> None:
    """Tick forever every `ticker_interval` seconds; a failing tick is logged, not fatal."""
    interval = rt.settings.ticker_interval
    loop = asyncio.get_running_loop()
    while True:
        # Lag: how much later than `interval` after the previous pass this one starts (a slow
        # pass or a stalled event loop delays every deadline by as much).
        started = loop.time()
        if rt.metrics.ticker_last_pass is not None:
            rt.metrics.ticker_lag.set(max(0.0, started - rt.metrics.ticker_last_pass - interval))
        rt.metrics.ticker_last_pass = started
        try:
            await tick(rt)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("ticker pass failed")
        # A full interval after the pass ends, not from its start: a visitor's position updates
        # must stay at least a second apart on arrival, and a pass's duration varies.
        await asyncio.sleep(interval)
