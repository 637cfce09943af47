"""The outbox: notifications written in the caller's unit of work, delivered after it commits.

`enqueue` only adds a row to the caller's session. If that transaction rolls back, the row
vanishes with it and nothing is ever sent; if it commits, the worker delivers it at least once.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime, timedelta
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from sportello.errors import InvalidInput
from sportello.events import emit
from sportello.notifications.models import (
    ChannelKind,
    NotificationRecipient,
    OutboxMessage,
    OutboxState,
    RecipientState,
)
from sportello.timeutil import utc_now

OUTBOX_CHANNEL = "notifications.outbox"
CHANNELS = frozenset(c.value for c in ChannelKind)


def insert_for(session: AsyncSession) -> Any:
    """The dialect's INSERT, which knows ON CONFLICT."""
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return pg_insert if dialect == "postgresql" else sqlite_insert


def check_header_safe(value: str, what: str) -> str:
    """`value` unchanged, or InvalidInput if it could inject a header line (CR, LF, NUL)."""
    if any(ch in value for ch in "\r\n\x00"):
        raise InvalidInput(f"{what} must not contain line breaks")
    return value


def normalise_recipient(channel: str, recipient: str) -> str:
    """The canonical address for `channel`; InvalidInput when it cannot be one."""
    recipient = check_header_safe(recipient.strip(), "the recipient")
    if not recipient:
        raise InvalidInput("the recipient is empty")
    if channel == ChannelKind.EMAIL:
        try:
            return validate_email(
                recipient,
                check_deliverability=False,
                globally_deliverable=False,
                test_environment=True,
            ).normalized
        except EmailNotValidError as exc:
            raise InvalidInput(f"not an email address: {exc}") from None
    if channel in (ChannelKind.SMS, ChannelKind.WHATSAPP):
        if recipient.startswith("whatsapp:"):
            recipient = recipient.removeprefix("whatsapp:")
        if not (
            recipient.startswith("+") and recipient[1:].isdigit() and 8 <= len(recipient) <= 16
        ):
            raise InvalidInput("a phone number must be in E.164 form, like +393331234567")
    return recipient


async def enqueue(
    session: AsyncSession,
    *,
    kind: str,
    channel: str,
    recipient: str,
    payload: dict[str, Any],
    idempotency_key: str,
    language: str = "it",
    conversation_id: uuid.UUID | None = None,
    not_before: datetime | None = None,
) -> OutboxMessage:
    """Add a notification to the caller's unit of work; a known key returns the existing row.

    `payload` is the template context (ids and short strings, JSON-serialisable). Nothing is
    sent until the caller's transaction commits; the worker then delivers it at least once,
    and every attempt carries `idempotency_key`.
    """
    if channel not in CHANNELS:
        raise InvalidInput(f"unknown notification channel '{channel}'")
    if not idempotency_key or len(idempotency_key) > 200:
        raise InvalidInput("an idempotency key of 1 to 200 characters is required")
    recipient = normalise_recipient(channel, recipient)
    existing = await get_by_key(session, idempotency_key)
    if existing is not None:
        return existing
    now = utc_now()
    values: dict[str, Any] = {
        "idempotency_key": idempotency_key,
        "kind": kind,
        "channel": channel,
        "recipient": recipient,
        "language": language if language in ("it", "en") else "it",
        "payload": payload,
        "conversation_id": conversation_id,
        "state": OutboxState.PENDING.value,
        "attempts": 0,
        "next_attempt_at": not_before or now,
        "created_at": now,
        "updated_at": now,
    }
    # ON CONFLICT DO NOTHING rather than a savepoint: another transaction may have written
    # the same key first, and SQLite's driver would commit a released savepoint early.
    stmt = (
        insert_for(session)(OutboxMessage)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(OutboxMessage.id)
    )
    new_id = (await session.execute(stmt)).scalar_one_or_none()
    row = await get_by_key(session, idempotency_key)
    assert row is not None
    if new_id is None:
        return row
    emit(session, OUTBOX_CHANNEL, {"type": "outbox.enqueued", "id": row.id})
    return row


async def get_by_key(session: AsyncSession, idempotency_key: str) -> OutboxMessage | None:
    stmt = select(OutboxMessage).where(OutboxMessage.idempotency_key == idempotency_key)
    return (await session.execute(stmt)).scalar_one_or_none()


async def recipient_state(
    session: AsyncSession, channel: str, address: str
) -> NotificationRecipient | None:
    return await session.get(NotificationRecipient, (channel, address))


async def set_recipient_state(
    session: AsyncSession,
    channel: str,
    address: str,
    state: RecipientState,
    reason: str | None = None,
    *,
    inbound_at: datetime | None = None,
) -> NotificationRecipient:
    """Record what we learnt about an address (invalid, opted out, back in, wrote to us)."""
    row = await session.get(NotificationRecipient, (channel, address))
    if row is None:
        row = NotificationRecipient(channel=channel, address=address, state=state.value)
        session.add(row)
    row.state = state.value
    row.reason = reason
    row.updated_at = utc_now()
    if inbound_at is not None:
        row.last_inbound_at = inbound_at
    await session.flush()
    return row


def key_digest(idempotency_key: str) -> str:
    """The idempotency key as it travels to providers: 40 hex digits of its SHA-256."""
    return hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]


def mark_sent(
    row: OutboxMessage, provider_message_id: str | None, status: str | None, now: datetime
) -> None:
    """The provider accepted the row's message: it is `sent` and never attempted again."""
    row.state = OutboxState.SENT.value
    row.sent_at = now
    # Equal to `sent_at`, as for every sent row (the daily limits count sent rows by it).
    row.next_attempt_at = now
    row.locked_until = None
    row.updated_at = now
    row.provider_message_id = provider_message_id
    row.delivery_status = status
    row.last_error = None


def backoff_delay(attempts: int, base: float, cap: float, rand: float) -> timedelta:
    """Exponential backoff with jitter: base·2^(attempts-1), scaled by `rand` in [0.5, 1.5)."""
    exp = base * (2 ** max(0, attempts - 1))
    return timedelta(seconds=min(cap, exp) * (0.5 + rand))
