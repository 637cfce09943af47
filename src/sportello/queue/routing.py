"""Routing: offer the next waiting conversation to the best free operator; accept; lapse.

Atomicity across processes: an offer locks the operator row first (capacity is re-counted
under that lock), then moves the entry with a conditional `UPDATE … WHERE state='waiting'`;
accepting is a conditional `UPDATE … WHERE state='offered' AND operator_id=…`. Rows are
always locked in the order operator → queue entry → conversation, so processes never deadlock.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from sportello import audit
from sportello.config import Settings
from sportello.conversations import service as conversations
from sportello.conversations.models import Conversation, ConversationStatus, Sender
from sportello.errors import Conflict, NotFound
from sportello.events import emit
from sportello.operators.models import Operator, Presence
from sportello.operators.presence import lock_operator, refresh_presence
from sportello.operators.service import OPERATORS_CHANNEL, Principal, operator_channel
from sportello.queue import alerts
from sportello.queue.models import EntryState, QueueEntry
from sportello.queue.service import operator_loads, waiting_entries
from sportello.queue.texts import text
from sportello.runtime import Runtime
from sportello.timeutil import utc_now

log = logging.getLogger(__name__)
S = ConversationStatus
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
SCAN = 200
FIRST_PAGE = 10


@dataclass
class FreeOperator:
    id: uuid.UUID
    languages: list[str]
    skills: list[str]
    tier: int
    load: int
    last_routed_at: datetime | None


def eligible(op: FreeOperator, entry: QueueEntry) -> bool:
    """Language and tier are hard requirements; skills only rank."""
    speaks = not op.languages or entry.language in op.languages
    senior_enough = op.tier >= entry.min_tier
    targeted = entry.target_operator_id is None or entry.target_operator_id == op.id
    return speaks and senior_enough and targeted


def best_operator(entry: QueueEntry, ops: list[FreeOperator]) -> list[FreeOperator]:
    """Eligible operators, best first: skill match, fewest chats, longest since last routed.

    Operators who let this entry's offer lapse come last.
    """
    lapsed = set(entry.lapsed_by or ())
    wanted = set(entry.skills or ())

    def key(op: FreeOperator) -> tuple[bool, int, int, datetime]:
        return (
            str(op.id) in lapsed,
            -len(wanted & set(op.skills)),
            op.load,
            op.last_routed_at or EPOCH,
        )

    return sorted((op for op in ops if eligible(op, entry)), key=key)


async def free_operators(session: AsyncSession) -> list[FreeOperator]:
    ops = (
        await session.execute(
            select(Operator).where(Operator.active.is_(True), Operator.presence == Presence.ONLINE.value)
        )
    ).scalars().all()
    loads = await operator_loads(session, [op.id for op in ops])
    return [
        FreeOperator(op.id, list(op.languages or ()), list(op.skills or ()), op.tier, loads.get(op.id, 0), op.last_routed_at)
        for op in ops
        if loads.get(op.id, 0) < op.max_chats
    ]


async def try_offer(
    session: AsyncSession, settings: Settings, entry_id: uuid.UUID, operator_id: uuid.UUID, now: datetime
) -> bool:
    """Offer the entry to the operator if they are online with a free slot and it still waits."""
    op = await lock_operator(session, operator_id, skip_locked=True)
    if op is None or not op.active or op.presence != Presence.ONLINE.value:
        return False
    if (await operator_loads(session, [op.id])).get(op.id, 0) >= op.max_chats:
        return False
    deadline = now + timedelta(seconds=settings.initial_response_seconds)
    # RETURNING hands back what the offer tells the operator: no second read of the entry.
    entry = (
        await session.execute(
            update(QueueEntry)
            .where(QueueEntry.id == entry_id, QueueEntry.state == EntryState.WAITING.value)
            .values(state=EntryState.OFFERED.value, operator_id=op.id, offered_at=now, offer_deadline_at=deadline)
            .returning(
                QueueEntry.conversation_id, QueueEntry.language, QueueEntry.priority,
                QueueEntry.reason, QueueEntry.target_operator_id,
            )
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    if entry is None:
        return False
    conv = await _reload_conversation(session, entry.conversation_id)
    conv.operator_id = op.id
    await conversations.transition(session, conv, S.ASSIGNED, reason="offered")
    op.last_routed_at = now
    emit(
        session,
        operator_channel(op.id),
        {
            "type": "offer.created",
            "conversation_id": str(conv.id),
            "expires_at": deadline.isoformat(),
            "language": entry.language,
            "priority": entry.priority,
            "reason": entry.reason,
            "transfer": entry.target_operator_id is not None,
        },
    )
    emit(session, OPERATORS_CHANNEL, {"type": "queue.changed"})
    audit.record(session, "queue_entry", entry_id, "offered", data={"operator_id": str(op.id)})
    offer = alerts.Offer(
        entry_id, entry.conversation_id, entry.language, entry.priority,
        transfer=entry.target_operator_id is not None, offered_at=now,
    )
    await alerts.offer_made(session, settings, offer, op.id, deadline)
    return True


async def _reload_conversation(session: AsyncSession, conversation_id: uuid.UUID) -> Conversation:
    stmt = select(Conversation).where(Conversation.id == conversation_id).execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one()


async def offer_next(session: AsyncSession, settings: Settings, now: datetime) -> bool:
    """Make one offer: the first waiting entry (routing order) that a free operator can take."""
    ops = await free_operators(session)
    if not ops:
        return False
    # The head of the queue nearly always fits a free operator: a short page first (loading
    # SCAN entries for every offer dominated a long queue's routing), the rest only if needed.
    seen = 0
    for limit in (FIRST_PAGE, SCAN):
        entries = await waiting_entries(session, limit=limit)
        for entry in entries[seen:]:
            for op in best_operator(entry, ops):
                if await try_offer(session, settings, entry.id, op.id, now):
                    return True
        if len(entries) < limit:
            break
        seen = len(entries)
    return False


async def dispatch(rt: Runtime, *, now: datetime | None = None, limit: int = 100) -> int:
    """Offer waiting conversations while operators have capacity; one unit of work per offer."""
    made = 0
    while made < limit:
        try:
            async with rt.db.scope() as session:
                offered = await offer_next(session, rt.settings, now or utc_now())
        except DBAPIError as exc:
            # A lost race with another process (lock timeout, deadlock victim): the ticker's
            # next pass routes whatever is left; the caller's own change is already committed.
            log.warning("routing pass abandoned", extra={"error": type(exc.orig).__name__})
            break
        if not offered:
            break
        made += 1
    return made


async def accept(
    session: AsyncSession, settings: Settings, conversation_id: uuid.UUID | str, principal: Principal, now: datetime
) -> Conversation:
    """The offered operator takes the chat (200); anyone else NotFound; a second accept Conflict."""
    conv = await conversations.get_conversation(session, conversation_id)
    op = await lock_operator(session, principal.id)
    if op is None:
        raise NotFound(conversations.NOT_FOUND)
    result = await session.execute(
        update(QueueEntry)
        .where(
            QueueEntry.conversation_id == conv.id,
            QueueEntry.state == EntryState.OFFERED.value,
            QueueEntry.operator_id == principal.id,
        )
        .values(state=EntryState.ASSIGNED.value, assigned_at=now, offer_deadline_at=None, wait_deadline_at=None)
        .execution_options(synchronize_session=False)
    )
    conv = await _reload_conversation(session, conv.id)
    if result.rowcount != 1:  # type: ignore[attr-defined]
        if conv.operator_id == principal.id and conv.status == S.LIVE.value:
            raise Conflict("you have already accepted this conversation")
        raise NotFound(conversations.NOT_FOUND)
    op.lapsed_offers = 0
    await conversations.transition(session, conv, S.LIVE, actor_type="operator", actor_id=principal.id, reason="accepted")
    conv.inactivity_deadline_at = now + timedelta(seconds=settings.visitor_inactivity_seconds)
    conv.silence_deadline_at = now + timedelta(seconds=settings.operator_silence_seconds)
    await conversations.append_message(
        session, conv, sender=Sender.SYSTEM, body=text("joined", conv.language, name=op.name),
        meta={"kind": "chat.joined", "operator_name": op.name},
    )
    emit(session, operator_channel(principal.id), {"type": "chat.assigned", "conversation_id": str(conv.id)})
    emit(session, OPERATORS_CHANNEL, {"type": "queue.changed"})
    return conv


async def _back_to_queue(
    session: AsyncSession, entry: QueueEntry, now: datetime, *, lapsed: bool, reason: str
) -> None:
    op_id = entry.operator_id
    entry.state = EntryState.WAITING.value
    entry.operator_id = None
    entry.offered_at = None
    entry.offer_deadline_at = None
    entry.target_operator_id = None
    if lapsed and op_id is not None:
        entry.lapsed_by = [*(entry.lapsed_by or []), str(op_id)]
    conv = await _reload_conversation(session, entry.conversation_id)
    if conv.status == S.ASSIGNED.value:
        conv.operator_id = None
        await conversations.transition(session, conv, S.QUEUED, reason=reason)
    if op_id is not None:
        emit(session, operator_channel(op_id), {"type": "offer.withdrawn", "conversation_id": str(conv.id), "reason": reason})
    emit(session, OPERATORS_CHANNEL, {"type": "queue.changed"})
    audit.record(session, "queue_entry", entry.id, "returned", data={"operator_id": str(op_id), "reason": reason})


async def withdraw_offers(session: AsyncSession, operator_id: uuid.UUID, *, now: datetime, reason: str) -> int:
    """Hand the operator's pending offers back to the queue (they went away or offline)."""
    entries = (
        await session.execute(
            select(QueueEntry)
            .where(QueueEntry.operator_id == operator_id, QueueEntry.state == EntryState.OFFERED.value)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    ).scalars().all()
    for entry in entries:
        await _back_to_queue(session, entry, now, lapsed=False, reason=reason)
    await session.flush()
    return len(entries)


async def lapse_offer(session: AsyncSession, settings: Settings, entry_id: uuid.UUID, now: datetime) -> bool:
    """An offer not accepted in time goes back to the queue; two lapses set the operator away."""
    peek = await session.get(QueueEntry, entry_id)
    if peek is None or peek.operator_id is None:
        return False
    op = await lock_operator(session, peek.operator_id)
    entry = (
        await session.execute(
            select(QueueEntry)
            .where(
                QueueEntry.id == entry_id,
                QueueEntry.state == EntryState.OFFERED.value,
                QueueEntry.offer_deadline_at <= now,
            )
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if entry is None or op is None or entry.operator_id != op.id:
        return False
    await _back_to_queue(session, entry, now, lapsed=True, reason="offer lapsed")
    op.lapsed_offers += 1
    emit(session, operator_channel(op.id), {"type": "offer.lapsed", "conversation_id": str(entry.conversation_id), "lapsed_offers": op.lapsed_offers})
    if op.lapsed_offers >= settings.lapsed_offers_before_away:
        op.presence_choice = Presence.AWAY.value
        op.lapsed_offers = 0
        await session.flush()
        await refresh_presence(session, op.id, presence_timeout=settings.presence_timeout_seconds, now=now)
        audit.record(session, "operator", op.id, "set_away", data={"reason": "offers lapsed"})
    await session.flush()
    return True
