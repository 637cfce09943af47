"""Outbox rows, recipient status, inbound dedup, operator preferences, push subscriptions, links."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from sportello.db import Base, BigIntPK, JSONType, UTCDateTime
from sportello.timeutil import utc_now


class OutboxState(enum.StrEnum):
    PENDING = "pending"  # waiting for its next_attempt_at
    SENDING = "sending"  # claimed by a worker until locked_until
    SENT = "sent"  # the provider accepted it
    FAILED = "failed"  # permanently refused (invalid address, opted out): not retried
    DEAD = "dead"  # gave up after the maximum number of attempts; a supervisor may retry
    HELD = "held"  # over a daily limit (notifications.limits); a supervisor may release it


class ChannelKind(enum.StrEnum):
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    PUSH = "push"
    SLACK = "slack"


class RecipientState(enum.StrEnum):
    OK = "ok"
    INVALID = "invalid"  # Twilio 21211: not a valid number
    OPTED_OUT = "opted_out"  # the recipient sent STOP (or Twilio said 21610) until START


class OutboxMessage(Base):
    """One notification to one recipient on one channel, delivered at least once."""

    __tablename__ = "notification_outbox"
    __table_args__ = (
        Index("ix_notification_outbox_due", "state", "next_attempt_at"),
        Index("ix_notification_outbox_provider_id", "provider_message_id"),
        Index("ix_notification_outbox_recipient", "channel", "recipient"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    kind: Mapped[str] = mapped_column(String(48))
    channel: Mapped[str] = mapped_column(String(16))
    recipient: Mapped[str] = mapped_column(String(320))
    language: Mapped[str] = mapped_column(String(8))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    state: Mapped[str] = mapped_column(String(16), default=OutboxState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    provider_message_id: Mapped[str | None] = mapped_column(String(64))
    delivery_status: Mapped[str | None] = mapped_column(String(24))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class NotificationRecipient(Base):
    """What we know about one address on one channel: invalid, opted out, last inbound message."""

    __tablename__ = "notification_recipients"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    address: Mapped[str] = mapped_column(String(320), primary_key=True)
    state: Mapped[str] = mapped_column(String(16), default=RecipientState.OK.value)
    reason: Mapped[str | None] = mapped_column(String(200))
    last_inbound_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class InboundMessage(Base):
    """A message received from Twilio, stored once per MessageSid."""

    __tablename__ = "notification_inbound"

    message_sid: Mapped[str] = mapped_column(String(64), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    from_address: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text, default="")
    conversation_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    outcome: Mapped[str] = mapped_column(String(24))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class NotificationPreference(Base):
    """An operator's explicit choice for one event kind on one channel (absent: the default)."""

    __tablename__ = "notification_preferences"
    __table_args__ = (UniqueConstraint("operator_id", "event_kind", "channel"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    operator_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("operators.id", ondelete="CASCADE")
    )
    event_kind: Mapped[str] = mapped_column(String(48))
    channel: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean)


class PushSubscription(Base):
    """One browser of one operator that accepts web push."""

    __tablename__ = "push_subscriptions"
    __table_args__ = (Index("ix_push_subscriptions_operator", "operator_id"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    operator_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("operators.id", ondelete="CASCADE")
    )
    endpoint: Mapped[str] = mapped_column(String(2048), unique=True)
    p256dh: Mapped[str] = mapped_column(String(200))
    auth: Mapped[str] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class ConversationLink(Base):
    """A single-use link sent to a customer: reopen the conversation, or rate it.

    The URL carries `nonce` signed with the secret key; the row says which conversation it
    opens and whether it was used. Expiry is `created_at` plus the configured lifetime.
    """

    __tablename__ = "conversation_links"
    __table_args__ = (Index("ix_conversation_links_conversation", "conversation_id"),)

    nonce: Mapped[str] = mapped_column(String(43), primary_key=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    purpose: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
