"""Audit trail: one row per state change of an aggregate (who, when, what)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Index, String, Table, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from sportello.db import Base, BigIntPK, JSONType, UTCDateTime
from sportello.timeutil import utc_now


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


def record(
    session: AsyncSession,
    subject_type: str,
    subject_id: object,
    action: str,
    *,
    actor_type: str = "system",
    actor_id: object | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add an audit row to the current unit of work."""
    row = AuditEvent(
        subject_type=subject_type,
        subject_id=str(subject_id),
        action=action,
        actor_type=actor_type,
        actor_id=None if actor_id is None else str(actor_id),
        data=data or {},
        created_at=utc_now(),
    )
    session.add(row)
    return row


async def record_many(
    session: AsyncSession,
    subject_type: str,
    subject_ids: Sequence[object],
    action: str,
    *,
    actor_type: str = "system",
) -> None:
    """The same action on many subjects, in one statement of the current unit of work."""
    now = utc_now()
    await session.execute(
        insert(cast(Table, AuditEvent.__table__)),
        [
            {
                "subject_type": subject_type, "subject_id": str(subject_id), "action": action,
                "actor_type": actor_type, "actor_id": None, "data": {}, "created_at": now,
            }
            for subject_id in subject_ids
        ],
    )
