"""Conversations and their messages."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from sportello.db import Base, BigIntPK, JSONType, UTCDateTime
from sportello.timeutil import utc_now


class ConversationStatus(enum.StrEnum):
    BOT = "bot"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    LIVE = "live"
    CLOSED = "closed"
    AWAITING_CONTACT = "awaiting_contact"
    TICKETED = "ticketed"


class Sender(enum.StrEnum):
    VISITOR = "visitor"
    ASSISTANT = "assistant"
    OPERATOR = "operator"
    SYSTEM = "system"


class Channel(enum.StrEnum):
    WEB = "web"
    EMAIL = "email"
    SMS = "sms"
    WHATSAPP = "whatsapp"
    PHONE = "phone"


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        Index("ix_conversations_status_activity", "status", "last_activity_at"),
        Index("ix_conversations_created_at", "created_at"),
        Index("ix_conversations_operator_status", "operator_id", "status"),
        Index("ix_conversations_silence_deadline", "silence_deadline_at"),
        Index("ix_conversations_inactivity_deadline", "inactivity_deadline_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    token_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(24), default=ConversationStatus.BOT.value)
    language: Mapped[str] = mapped_column(String(8))
    channel: Mapped[str] = mapped_column(String(16), default=Channel.WEB.value)
    page_url: Mapped[str | None] = mapped_column(String(2048))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    customer_ref: Mapped[str | None] = mapped_column(String(128))
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now, onupdate=utc_now)
    last_activity_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    # Live handoff (queue/): who has the chat, its priority, deadlines the ticker claims,
    # and the visitor's rating at the end. No foreign key on operator ids here: adding one
    # would make SQLite rebuild these tables on upgrade.
    operator_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    priority: Mapped[str | None] = mapped_column(String(8))
    silence_deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    inactivity_deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    rating: Mapped[int | None] = mapped_column(Integer)
    rating_comment: Mapped[str | None] = mapped_column(Text)


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq"),
        UniqueConstraint("conversation_id", "client_message_id"),
        Index("ix_messages_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    seq: Mapped[int] = mapped_column(Integer)
    sender: Mapped[str] = mapped_column(String(16))
    body: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(16), default=Channel.WEB.value)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    meta: Mapped[dict[str, Any]] = mapped_column("metadata", JSONType, default=dict)
    client_message_id: Mapped[str | None] = mapped_column(String(64))
