"""Conversation use cases: create, access, append messages, change status.

Services flush, never commit: the caller's session scope commits once and then publishes
the events emitted here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sportello import audit
from sportello.conversations.models import (
    Channel,
    Conversation,
    ConversationStatus,
    Message,
    Sender,
)
from sportello.conversations.schemas import ConversationCreate, MessageRead
from sportello.errors import Conflict, NotFound
from sportello.events import emit
from sportello.timeutil import utc_now

S = ConversationStatus
TRANSITIONS: dict[str, frozenset[str]] = {
    S.BOT: frozenset({S.QUEUED, S.AWAITING_CONTACT, S.CLOSED}),
    S.QUEUED: frozenset({S.ASSIGNED, S.AWAITING_CONTACT, S.BOT, S.CLOSED}),
    S.ASSIGNED: frozenset({S.LIVE, S.QUEUED, S.AWAITING_CONTACT, S.CLOSED}),
    S.LIVE: frozenset({S.CLOSED, S.QUEUED, S.AWAITING_CONTACT}),
    S.AWAITING_CONTACT: frozenset({S.TICKETED, S.BOT, S.QUEUED, S.CLOSED}),
    S.TICKETED: frozenset({S.BOT, S.QUEUED, S.CLOSED}),
    S.CLOSED: frozenset({S.BOT}),
}
NOT_FOUND = "conversation not found"


def conversation_channel(conversation_id: uuid.UUID | str) -> str:
    return f"conv:{conversation_id}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_conversation(
    session: AsyncSession,
    data: ConversationCreate,
    *,
    language: str,
    user_agent: str | None,
    channel: str = Channel.WEB,
) -> tuple[Conversation, str]:
    """A new conversation and its access token (returned once, stored only as a hash)."""
    token = secrets.token_urlsafe(32)
    now = utc_now()
    conv = Conversation(
        id=uuid.uuid4(),
        token_hash=hash_token(token),
        status=S.BOT.value,
        language=data.language or language,
        channel=channel,
        page_url=data.page_url,
        user_agent=(user_agent or "")[:512] or None,
        customer_ref=data.customer_ref,
        last_seq=0,
        created_at=now,
        updated_at=now,
        last_activity_at=now,
    )
    session.add(conv)
    await session.flush()
    audit.record(session, "conversation", conv.id, "created", actor_type="visitor")
    return conv, token


def _parse_id(raw: uuid.UUID | str) -> uuid.UUID:
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(raw)
    except (ValueError, TypeError, AttributeError):
        raise NotFound(NOT_FOUND) from None


async def get_for_visitor(
    session: AsyncSession, conversation_id: uuid.UUID | str, token: str | None
) -> Conversation:
    """The conversation if `token` opens it; otherwise NotFound, never saying which part failed."""
    conv_id = _parse_id(conversation_id)
    conv = await session.get(Conversation, conv_id)
    if conv is None:
        raise NotFound(NOT_FOUND)
    if not token:
        raise NotFound(NOT_FOUND)
    if not hmac.compare_digest(conv.token_hash, hash_token(token)):
        raise NotFound(NOT_FOUND)
    return conv


async def get_conversation(session: AsyncSession, conversation_id: uuid.UUID | str) -> Conversation:
    conv = await session.get(Conversation, _parse_id(conversation_id))
    if conv is None:
        raise NotFound(NOT_FOUND)
    return conv


def message_event(message: Message) -> dict[str, Any]:
    return {
        "type": "message.created",
        "message": MessageRead.model_validate(message).model_dump(mode="json"),
    }


async def _find_by_client_id(
    session: AsyncSession, conversation_id: uuid.UUID, client_message_id: str
) -> Message | None:
    stmt = select(Message).where(
        Message.conversation_id == conversation_id,
        Message.client_message_id == client_message_id,
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def append_message(
    session: AsyncSession,
    conv: Conversation,
    *,
    sender: Sender | str,
    body: str,
    channel: str | None = None,
    meta: dict[str, Any] | None = None,
    client_message_id: str | None = None,
) -> tuple[Message, bool]:
    """Store a message with the next sequence number; (message, created).

    A repeated `client_message_id` returns the stored message and creates nothing.
    The sequence comes from an atomic increment on the conversation row, which also
    orders commits: a later sequence number is never visible before an earlier one.
    """
    conv_id = conv.id  # read before a savepoint rollback can expire the instance
    if client_message_id:
        existing = await _find_by_client_id(session, conv_id, client_message_id)
        if existing is not None:
            return existing, False
    now = utc_now()
    try:
        async with session.begin_nested():
            seq = (
                await session.execute(
                    update(Conversation)
                    .where(Conversation.id == conv.id)
                    .values(last_seq=Conversation.last_seq + 1, last_activity_at=now, updated_at=now)
                    .returning(Conversation.last_seq)
                )
            ).scalar_one()
            message = Message(
                conversation_id=conv.id,
                seq=seq,
                sender=str(sender),
                body=body,
                channel=channel or conv.channel,
                created_at=now,
                meta=meta or {},
                client_message_id=client_message_id,
            )
            session.add(message)
            await session.flush()
    except IntegrityError:
        if not client_message_id:
            raise
        existing = await _find_by_client_id(session, conv_id, client_message_id)
        if existing is None:
            raise
        await session.refresh(conv)
        return existing, False
    conv.last_seq = seq
    conv.last_activity_at = now
    emit(session, conversation_channel(conv.id), message_event(message))
    return message, True


async def list_messages(
    session: AsyncSession, conversation_id: uuid.UUID, *, after: int = 0, limit: int = 500
) -> Sequence[Message]:
    stmt = (
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.seq > after)
        .order_by(Message.seq)
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def transition(
    session: AsyncSession,
    conv: Conversation,
    new_status: ConversationStatus,
    *,
    actor_type: str = "system",
    actor_id: object | None = None,
    reason: str | None = None,
) -> None:
    """Move the conversation to `new_status` if the state machine allows it (else 409)."""
    old = conv.status
    if new_status.value == old:
        return
    if new_status.value not in TRANSITIONS[S(old)]:
        raise Conflict(f"a conversation cannot go from '{old}' to '{new_status.value}'")
    conv.status = new_status.value
    conv.updated_at = utc_now()
    await session.flush()
    audit.record(
        session,
        "conversation",
        conv.id,
        "status_changed",
        actor_type=actor_type,
        actor_id=actor_id,
        data={"from": old, "to": new_status.value, "reason": reason},
    )
    emit(
        session,
        conversation_channel(conv.id),
        {
            "type": "conversation.status_changed",
            "conversation_id": str(conv.id),
            "from": old,
            "status": new_status.value,
        },
    )
