"""Keep the rollups in step: rebuild the facts of every conversation touched since the watermark.

A conversation is "touched" when its `updated_at` (status, rating, operator) or its
`last_activity_at` (any message) moves. Every state change that matters to a report moves one of
the two: a queue entry is assigned or abandoned together with a conversation transition, and a
ticket is opened from one. The watermark trails the refresh start by `MARGIN`, so a transaction
that committed late with an earlier timestamp is still picked up by the next refresh.

Outcomes, in this order (docs/analytics.md):
- `ticket`: a ticket was opened from the conversation;
- `operator`: an operator was assigned to it (at least one queue entry reached `assigned_at`);
- `in_queue`: it is waiting for an operator right now;
- `abandoned`: the visitor asked for a person (queue entry, contact collection, or an
  `operator` intent) and left without an operator and without leaving a contact;
- `assistant`: the visitor never asked for a person; the assistant's answers stood.
Only conversations where the visitor wrote at least one message get a fact.
"""

from __future__ import annotations

import asyncio
import uuid
import weakref
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, union
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from sportello.analytics.models import AnalyticsState, AssistantAnswer, ConversationFact
from sportello.conversations.models import Conversation, Message
from sportello.db import Database
from sportello.queue.models import EntryState, QueueEntry
from sportello.tickets.models import ContactRequest, Ticket
from sportello.timeutil import as_utc, utc_now

MARGIN = timedelta(minutes=2)
BATCH = 2000
WATERMARK = "conversations"
OUTCOMES = ("assistant", "operator", "ticket", "abandoned", "in_queue")
_locks: weakref.WeakKeyDictionary[Database, asyncio.Lock] = weakref.WeakKeyDictionary()


def epoch_hour(moment: datetime) -> int:
    return int(as_utc(moment).timestamp()) // 3600


def _insert(session: AsyncSession, table: Any) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


async def refresh(db: Database, *, full: bool = False) -> int:
    """Roll up every conversation touched since the watermark (all of them when `full`); how many.

    One refresh at a time per process; concurrent refreshes in several processes are safe
    (upserts), only wasteful.
    """
    lock = _locks.setdefault(db, asyncio.Lock())
    async with lock:
        started = utc_now()
        async with db.scope() as session:
            state = await session.get(AnalyticsState, WATERMARK)
            since = None if full or state is None else state.watermark - MARGIN
            ids = await _touched(session, since)
        done = 0
        for start in range(0, len(ids), BATCH):
            async with db.scope() as session:
                done += await rebuild(session, ids[start : start + BATCH])
        async with db.scope() as session:
            stmt = _insert(session, AnalyticsState.__table__).values(
                name=WATERMARK, watermark=started
            )
            await session.execute(
                stmt.on_conflict_do_update(index_elements=["name"], set_={"watermark": started})
            )
        return done


async def _touched(session: AsyncSession, since: datetime | None) -> list[uuid.UUID]:
    if since is None:
        stmt: Any = select(Conversation.id)
    else:
        stmt = union(
            select(Conversation.id).where(Conversation.updated_at >= since),
            select(Conversation.id).where(Conversation.last_activity_at >= since),
        )
    return [row[0] for row in await session.execute(stmt)]


async def rebuild(session: AsyncSession, ids: Sequence[uuid.UUID]) -> int:
    """Recompute the facts and answers of these conversations in the caller's unit of work."""
    if not ids:
        return 0
    convs = (
        await session.execute(
            select(
                Conversation.id,
                Conversation.created_at,
                Conversation.channel,
                Conversation.language,
                Conversation.priority,
                Conversation.operator_id,
                Conversation.status,
                Conversation.rating,
                Conversation.rating_comment,
                Conversation.updated_at,
            ).where(Conversation.id.in_(ids))
        )
    ).all()
    counts: dict[uuid.UUID, int] = defaultdict(int)
    first_operator_at: dict[uuid.UUID, datetime] = {}
    per_sender = await session.execute(
        select(Message.conversation_id, Message.sender, func.count(), func.min(Message.created_at))
        .where(Message.conversation_id.in_(ids), Message.sender.in_(("visitor", "operator")))
        .group_by(Message.conversation_id, Message.sender)
    )
    for conv_id, sender, n, first in per_sender:
        if sender == "visitor":
            counts[conv_id] = n
        elif first is not None:
            first_operator_at[conv_id] = (
                as_utc(first) if isinstance(first, datetime) else _parse(first)
            )
    replies = (
        await session.execute(
            select(Message.id, Message.conversation_id, Message.created_at, Message.meta).where(
                Message.conversation_id.in_(ids), Message.sender == "assistant"
            )
        )
    ).all()
    entries: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for row in await session.execute(
        select(
            QueueEntry.conversation_id,
            QueueEntry.enqueued_at,
            QueueEntry.assigned_at,
            QueueEntry.state,
            QueueEntry.operator_id,
            QueueEntry.priority,
        ).where(QueueEntry.conversation_id.in_(ids))
    ):
        entries[row.conversation_id].append(row)
    ticketed = dict(
        (
            await session.execute(
                select(Ticket.conversation_id, func.max(Ticket.priority))
                .where(Ticket.conversation_id.in_(ids))
                .group_by(Ticket.conversation_id)
            )
        ).all()
    )
    contacted = set(
        (
            await session.execute(
                select(ContactRequest.conversation_id).where(
                    ContactRequest.conversation_id.in_(ids)
                )
            )
        ).scalars()
    )

    answers: list[dict[str, Any]] = []
    asked_operator: set[uuid.UUID] = set()
    answered_n: dict[uuid.UUID, int] = defaultdict(int)
    missed_n: dict[uuid.UUID, int] = defaultdict(int)
    conv_by_id = {c.id: c for c in convs}
    for msg_id, conv_id, created_at, meta in replies:
        meta = meta or {}
        intent = meta.get("intent")
        if intent == "operator":
            asked_operator.add(conv_id)
        if intent != "question":
            continue
        conv = conv_by_id[conv_id]
        answered = meta.get("topic_id") is not None
        (answered_n if answered else missed_n)[conv_id] += 1
        answers.append(
            {
                "message_id": msg_id,
                "conversation_id": conv_id,
                "question_message_id": meta.get("in_reply_to"),
                "created_at": created_at,
                "channel": conv.channel,
                "language": meta.get("lang") or conv.language,
                "answered": answered,
                "topic_id": meta.get("topic_id"),
                "candidate_topic_id": None if answered else meta.get("candidate_topic_id"),
                "confidence": meta.get("confidence"),
            }
        )

    facts: list[dict[str, Any]] = []
    for c in convs:
        if counts.get(c.id, 0) == 0:
            continue
        mine = sorted(entries.get(c.id, []), key=lambda e: e.enqueued_at)
        served = [e for e in mine if e.assigned_at is not None]
        if c.id in ticketed:
            outcome = "ticket"
        elif served:
            outcome = "operator"
        elif any(e.state in (EntryState.WAITING.value, EntryState.OFFERED.value) for e in mine):
            outcome = "in_queue"
        elif mine or c.id in contacted or c.id in asked_operator:
            outcome = "abandoned"
        else:
            outcome = "assistant"
        first_response = None
        if served and c.id in first_operator_at:
            first_response = max(
                0.0, (first_operator_at[c.id] - as_utc(mine[0].enqueued_at)).total_seconds()
            )
        priority = c.priority or (mine[0].priority if mine else None) or ticketed.get(c.id)
        facts.append(
            {
                "conversation_id": c.id,
                "created_at": c.created_at,
                "hour": epoch_hour(c.created_at),
                "channel": c.channel,
                "language": c.language,
                "priority": priority,
                "operator_id": served[-1].operator_id if served else None,
                "outcome": outcome,
                "visitor_messages": counts[c.id],
                "assistant_answers": answered_n[c.id],
                "assistant_missed": missed_n[c.id],
                "first_response_seconds": first_response,
                "rating": c.rating,
                "has_comment": bool(c.rating_comment),
                "source_updated_at": c.updated_at,
            }
        )
    if facts:
        stmt = _insert(session, ConversationFact.__table__)
        cols = {k: getattr(stmt.excluded, k) for k in facts[0] if k != "conversation_id"}
        await session.execute(stmt.on_conflict_do_update(index_elements=["conversation_id"], set_=cols), facts)
    if answers:
        stmt = _insert(session, AssistantAnswer.__table__)
        await session.execute(stmt.on_conflict_do_nothing(index_elements=["message_id"]), answers)
    return len(facts)


def _parse(value: Any) -> datetime:
    return as_utc(datetime.fromisoformat(str(value)))
