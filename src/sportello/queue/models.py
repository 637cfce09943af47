"""Queue entries (one per wait for an operator), internal notes and canned replies."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from sportello.db import Base, BigIntPK, JSONType, UTCDateTime
from sportello.timeutil import utc_now


class Priority(enum.StrEnum):
    URGENT = "urgent"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"


PRIORITY_WEIGHT: dict[str, int] = {"urgent": 3, "high": 2, "medium": 1, "low": 0}


class EntryState(enum.StrEnum):
    WAITING = "waiting"
    OFFERED = "offered"
    ASSIGNED = "assigned"
    ABANDONED = "abandoned"
    TIMED_OUT = "timed_out"
    TRANSFERRED = "transferred"


class QueueEntry(Base):
    """A conversation's wait for an operator, from enqueue to the end of the chat.

    `rank_at` orders the queue: enqueue time minus `weight × aging`, so one priority level
    is worth `queue_aging_seconds` of waiting and a low-priority visitor is never starved.
    Deadline columns are claimed by the ticker and cleared when they fire.
    """

    __tablename__ = "queue_entries"
    __table_args__ = (
        Index("ix_queue_entries_state_rank", "state", "rank_at"),
        Index("ix_queue_entries_conversation", "conversation_id"),
        Index("ix_queue_entries_operator_state", "operator_id", "state"),
        Index("ix_queue_entries_offer_deadline", "offer_deadline_at"),
        Index("ix_queue_entries_wait_deadline", "wait_deadline_at"),
        Index("ix_queue_entries_gone_deadline", "gone_deadline_at"),
        Index("ix_queue_entries_ended_at", "ended_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid.uuid4)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    state: Mapped[str] = mapped_column(String(16), default=EntryState.WAITING.value)
    priority: Mapped[str] = mapped_column(String(8), default=Priority.MEDIUM.value)
    language: Mapped[str] = mapped_column(String(8))
    skills: Mapped[list[str]] = mapped_column(JSONType, default=list)
    min_tier: Mapped[int] = mapped_column(Integer, default=1)
    reason: Mapped[str | None] = mapped_column(String(200))
    operator_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("operators.id", ondelete="SET NULL")
    )
    target_operator_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    lapsed_by: Mapped[list[str]] = mapped_column(JSONType, default=list)
    enqueued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
    rank_at: Mapped[datetime] = mapped_column(UTCDateTime)
    offered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    offer_deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    wait_deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when the visitor's last socket closed while waiting; cleared when one reopens.
    gone_deadline_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    end_reason: Mapped[str | None] = mapped_column(String(32))
    published_position: Mapped[int | None] = mapped_column(Integer)
    published_wait: Mapped[int | None] = mapped_column(Integer)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ConversationNote(Base):
    """An operator's internal note: never stored among, or sent as, visitor-visible messages."""

    __tablename__ = "conversation_notes"
    __table_args__ = (Index("ix_conversation_notes_conversation", "conversation_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    operator_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("operators.id", ondelete="SET NULL")
    )
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class CannedReply(Base):
    __tablename__ = "canned_replies"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    shortcut: Mapped[str] = mapped_column(String(40))
    language: Mapped[str] = mapped_column(String(8))
    title: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)
