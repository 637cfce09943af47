"""Analytics rollups: one row per conversation and one per assistant answer, kept by `facts`.

They are derived data: `facts.refresh` rebuilds the rows of every conversation touched since its
watermark, so deleting them (or the whole tables) loses nothing.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from sportello.conversations.models import Conversation
from sportello.db import Base, BigIntPK, UTCDateTime
from sportello.notifications.models import ConversationLink, OutboxMessage
from sportello.queue.models import QueueEntry
from sportello.tickets.models import Ticket


class ConversationFact(Base):
    """What one conversation amounts to: its outcome and the few numbers the reports need.

    `hour` is the UTC epoch hour of `created_at`: reports group on it in SQL and turn the
    (at most 24 a day) buckets into local days and weekday-hours in Python, which is exact
    because the business zone's offset is a whole number of hours.
    """

    __tablename__ = "analytics_conversations"
    __table_args__ = (
        # Covering: the reports filter on the hour range and read only these columns, so
        # SQLite and PostgreSQL answer them from the index alone.
        Index(
            "ix_analytics_conversations_report",
            "hour", "outcome", "channel", "language", "priority", "operator_id", "rating",
            "first_response_seconds", "has_comment",
        ),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    hour: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    priority: Mapped[str | None] = mapped_column(String(8))
    operator_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    outcome: Mapped[str] = mapped_column(String(16))
    visitor_messages: Mapped[int] = mapped_column(Integer)
    assistant_answers: Mapped[int] = mapped_column(Integer)
    assistant_missed: Mapped[int] = mapped_column(Integer)
    first_response_seconds: Mapped[float | None] = mapped_column(Float)
    rating: Mapped[int | None] = mapped_column(Integer)
    has_comment: Mapped[bool] = mapped_column(Boolean, default=False)
    source_updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AssistantAnswer(Base):
    """One assistant reply to a visitor question: the topic it answered, or the one it was unsure of."""

    __tablename__ = "analytics_answers"
    __table_args__ = (
        Index(
            "ix_analytics_answers_report",
            "created_at", "answered", "topic_id", "candidate_topic_id", "channel", "language",
        ),
    )

    message_id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=False)
    conversation_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("conversations.id", ondelete="CASCADE")
    )
    question_message_id: Mapped[int | None] = mapped_column(BigIntPK)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    answered: Mapped[bool] = mapped_column(Boolean)
    topic_id: Mapped[str | None] = mapped_column(String(80))
    candidate_topic_id: Mapped[str | None] = mapped_column(String(80))
    confidence: Mapped[float | None] = mapped_column(Float)


class AnalyticsState(Base):
    """Named watermarks of the rollups (`conversations`: everything touched before it is rolled up)."""

    __tablename__ = "analytics_state"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    watermark: Mapped[datetime] = mapped_column(UTCDateTime)


# Indexes the reports and the rollup refresh need on other domains' tables; declared here so
# that those tables stay as their domains define them.
REPORT_INDEXES = (
    Index("ix_conversations_updated_at", Conversation.updated_at),
    Index("ix_conversations_last_activity_at", Conversation.last_activity_at),
    Index(
        "ix_queue_entries_report",
        QueueEntry.enqueued_at, QueueEntry.state, QueueEntry.assigned_at, QueueEntry.ended_at,
        QueueEntry.language, QueueEntry.priority, QueueEntry.operator_id,
    ),
    Index("ix_queue_entries_assigned_at", QueueEntry.assigned_at),
    Index("ix_tickets_resolved_at", Ticket.resolved_at),
    Index("ix_notification_outbox_created_at", OutboxMessage.created_at),
    Index("ix_conversation_links_created_at", ConversationLink.created_at),
)
