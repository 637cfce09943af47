"""Live chat between a visitor and an operator: messages, notes, typing, transfer, end, rating."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sportello import audit
from sportello.conversations import service as conversations
from sportello.conversations.models import Conversation, ConversationStatus, Sender
from sportello.conversations.schemas import MessageCreate, MessageRead
from sportello.errors import Conflict, InvalidInput, NotFound
from sportello.events import emit
from sportello.operators.models import Operator, Role
from sportello.operators.service import OPERATORS_CHANNEL, Principal, operator_channel
from sportello.queue.models import ConversationNote, EntryState, Priority
from sportello.queue.routing import dispatch, try_offer
from sportello.queue.service import current_entry, enqueue
from sportello.queue.texts import text
from sportello.runtime import Runtime
from sportello.timeutil import utc_now

S = ConversationStatus


def staff_channel(conversation_id: uuid.UUID | str) -> str:
    """Operator-only events of a conversation (internal notes); no visitor socket subscribes."""
    return f"convops:{conversation_id}"


async def get_chat_for_operator(
    session: AsyncSession, conversation_id: uuid.UUID | str, principal: Principal
) -> Conversation:
    """The conversation if it is this operator's live chat; NotFound otherwise."""
    conv = await conversations.get_conversation(session, conversation_id)
    if conv.operator_id != principal.id:
        raise NotFound(conversations.NOT_FOUND)
    if conv.status != S.LIVE.value:
        raise NotFound(conversations.NOT_FOUND)
    return conv


async def get_conversation_for_staff(
    session: AsyncSession, conversation_id: uuid.UUID | str, principal: Principal
) -> Conversation:
    """Read access: supervisors see any conversation, agents the ones they hold or held."""
    conv = await conversations.get_conversation(session, conversation_id)
    if principal.has_role(Role.SUPERVISOR):
        return conv
    if conv.operator_id != principal.id:
        raise NotFound(conversations.NOT_FOUND)
    return conv


async def send_operator_message(
    rt: Runtime, conversation_id: uuid.UUID | str, principal: Principal, data: MessageCreate
) -> tuple[MessageRead, bool]:
    """Store and publish a message from the operator who holds the chat."""
    async with rt.db.scope() as session:
        conv = await get_chat_for_operator(session, conversation_id, principal)
        message, created = await conversations.append_message(
            session, conv, sender=Sender.OPERATOR, body=data.body,
            client_message_id=data.client_message_id,
            meta={"operator_id": str(principal.id), "operator_name": principal.name},
        )
        return MessageRead.model_validate(message), created


async def add_note(rt: Runtime, conversation_id: uuid.UUID | str, principal: Principal, body: str) -> ConversationNote:
    """An internal note: stored apart from messages, published only on the staff channel."""
    async with rt.db.scope() as session:
        conv = await get_chat_for_operator(session, conversation_id, principal)
        note = ConversationNote(conversation_id=conv.id, operator_id=principal.id, body=body, created_at=utc_now())
        session.add(note)
        await session.flush()
        emit(
            session,
            staff_channel(conv.id),
            {
                "type": "note.created",
                "internal": True,
                "conversation_id": str(conv.id),
                "note": {"id": note.id, "body": body, "operator_id": str(principal.id), "operator_name": principal.name, "created_at": note.created_at.isoformat()},
            },
        )
        return note


async def list_notes(session: AsyncSession, conversation_id: uuid.UUID) -> list[ConversationNote]:
    stmt = select(ConversationNote).where(ConversationNote.conversation_id == conversation_id).order_by(ConversationNote.id)
    return list((await session.execute(stmt)).scalars().all())


async def operator_typing(rt: Runtime, conversation_id: uuid.UUID | str, principal: Principal) -> None:
    async with rt.db.scope() as session:
        conv = await get_chat_for_operator(session, conversation_id, principal)
    await rt.bus.publish(
        conversations.conversation_channel(conv.id),
        {"type": "typing", "sender": "operator", "conversation_id": str(conv.id), "operator_name": principal.name},
    )


async def _finish_entry(session: AsyncSession, conv: Conversation, now: datetime, reason: str) -> None:
    entry = await current_entry(session, conv.id)
    if entry is not None and entry.state == EntryState.ASSIGNED.value:
        entry.ended_at = now
        entry.end_reason = reason
        if reason == "transferred":
            entry.state = EntryState.TRANSFERRED.value


async def transfer(
    rt: Runtime,
    conversation_id: uuid.UUID | str,
    principal: Principal,
    *,
    operator_id: uuid.UUID | None = None,
    tier: int | None = None,
) -> None:
    """Hand the chat to another operator (offered to them directly) or to a tier (queued)."""
    if (operator_id is None) == (tier is None):
        raise InvalidInput("give either operator_id or tier")
    if operator_id == principal.id:
        raise InvalidInput("you cannot transfer a chat to yourself")
    now = utc_now()
    async with rt.db.scope() as session:
        conv = await get_chat_for_operator(session, conversation_id, principal)
        if operator_id is not None:
            target = await session.get(Operator, operator_id)
            if target is None or not target.active:
                raise NotFound("operator not found")
        await _finish_entry(session, conv, now, "transferred")
        conv.operator_id = None
        conv.silence_deadline_at = None
        conv.inactivity_deadline_at = None
        entry = await enqueue(
            session, rt.settings, conv,
            priority=Priority.HIGH.value if (conv.priority or "medium") != Priority.URGENT.value else Priority.URGENT.value,
            reason=f"transfer from {principal.name}", now=now,
            min_tier=tier or 1, target_operator_id=operator_id,
        )
        await session.flush()
        await conversations.append_message(session, conv, sender=Sender.SYSTEM, body=text("transferred", conv.language), meta={"kind": "chat.transferred"})
        emit(session, operator_channel(principal.id), {"type": "chat.transferred", "conversation_id": str(conv.id), "to_operator_id": str(operator_id) if operator_id else None, "to_tier": tier})
        audit.record(session, "conversation", conv.id, "transferred", actor_type="operator", actor_id=principal.id, data={"operator_id": str(operator_id) if operator_id else None, "tier": tier})
        entry_id = entry.id
        if operator_id is not None and not await try_offer(session, rt.settings, entry_id, operator_id, now):
            raise Conflict("that operator is not online with a free chat slot")
    await dispatch(rt)


async def end_chat(rt: Runtime, conversation_id: uuid.UUID | str, principal: Principal) -> None:
    """The operator ends the chat; the visitor is asked for a rating."""
    now = utc_now()
    async with rt.db.scope() as session:
        conv = await get_chat_for_operator(session, conversation_id, principal)
        await close_chat(session, conv, now, reason="ended", actor_type="operator", actor_id=principal.id)
    await dispatch(rt)


async def close_chat(
    session: AsyncSession, conv: Conversation, now: datetime, *, reason: str, actor_type: str = "system", actor_id: object | None = None
) -> None:
    await _finish_entry(session, conv, now, reason)
    conv.silence_deadline_at = None
    conv.inactivity_deadline_at = None
    await conversations.transition(session, conv, S.CLOSED, actor_type=actor_type, actor_id=actor_id, reason=reason)
    key = "inactive" if reason == "visitor_inactive" else "ended"
    await conversations.append_message(session, conv, sender=Sender.SYSTEM, body=text(key, conv.language), meta={"kind": f"chat.{reason}", "rating_requested": key == "ended"})
    if key == "ended":
        emit(session, conversations.conversation_channel(conv.id), {"type": "rating.requested", "conversation_id": str(conv.id)})
    if conv.operator_id is not None:
        emit(session, operator_channel(conv.operator_id), {"type": "chat.ended", "conversation_id": str(conv.id), "reason": reason})
    emit(session, OPERATORS_CHANNEL, {"type": "queue.changed"})


async def rate(session: AsyncSession, conv: Conversation, rating: int, comment: str | None) -> None:
    """The visitor rates a chat that an operator ended; once."""
    if conv.status != S.CLOSED.value or conv.operator_id is None:
        raise Conflict("only a chat with an operator that has ended can be rated")
    if conv.rating is not None:
        raise Conflict("this chat has already been rated")
    conv.rating = rating
    conv.rating_comment = (comment or "").strip() or None
    audit.record(session, "conversation", conv.id, "rated", actor_type="visitor", data={"rating": rating})
    emit(session, operator_channel(conv.operator_id), {"type": "chat.rated", "conversation_id": str(conv.id), "rating": rating})


async def chats_of(session: AsyncSession, operator_id: uuid.UUID) -> list[Conversation]:
    stmt = select(Conversation).where(
        Conversation.operator_id == operator_id, Conversation.status.in_((S.ASSIGNED.value, S.LIVE.value))
    )
    return list((await session.execute(stmt)).scalars().all())


