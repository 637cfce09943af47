"""Presence: an operator is online only while one of their sockets is alive and heartbeating.

Each socket is a row in `operator_connections`; its `last_seen_at` moves with heartbeats. The
effective presence is `offline` with no fresh row, otherwise the operator's choice (online or
away). Leaving `online` hands any pending offers back to the queue.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sportello.events import emit
from sportello.operators.models import Operator, OperatorConnection, Presence
from sportello.operators.service import OPERATORS_CHANNEL, operator_channel
from sportello.timeutil import utc_now


async def lock_operator(
    session: AsyncSession, operator_id: uuid.UUID, *, skip_locked: bool = False
) -> Operator | None:
    """The operator row, locked until commit on PostgreSQL (SQLite has one writer anyway).

    With `skip_locked`, None when another transaction holds the row (routing moves on to the
    next candidate instead of waiting, so routers never wait on each other in a cycle).
    """
    stmt = (
        select(Operator)
        .where(Operator.id == operator_id)
        .with_for_update(skip_locked=skip_locked)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def refresh_presence(
    session: AsyncSession, operator_id: uuid.UUID, *, presence_timeout: float, now: datetime | None = None
) -> str:
    """Recompute the operator's presence from their sockets; returns the presence."""
    now = now or utc_now()
    op = await lock_operator(session, operator_id)
    if op is None:
        return Presence.OFFLINE.value
    fresh = (
        await session.execute(
            select(func.count(OperatorConnection.id)).where(
                OperatorConnection.operator_id == operator_id,
                OperatorConnection.last_seen_at >= now - timedelta(seconds=presence_timeout),
            )
        )
    ).scalar_one()
    target = op.presence_choice if fresh and op.active else Presence.OFFLINE.value
    if target != op.presence:
        old = op.presence
        op.presence = target
        op.presence_changed_at = now
        if target == Presence.ONLINE.value:
            op.lapsed_offers = 0
        await session.flush()
        event = {"type": "presence.changed", "operator_id": str(op.id), "presence": target, "from": old}
        emit(session, OPERATORS_CHANNEL, event)
        emit(session, operator_channel(op.id), event)
    if target != Presence.ONLINE.value:
        from sportello.queue.routing import withdraw_offers

        await withdraw_offers(session, operator_id, now=now, reason=f"operator {target}")
    return target


async def connect(
    session: AsyncSession, operator_id: uuid.UUID, session_id: uuid.UUID | None, *, presence_timeout: float
) -> uuid.UUID:
    now = utc_now()
    conn = OperatorConnection(
        id=uuid.uuid4(), operator_id=operator_id, session_id=session_id, connected_at=now, last_seen_at=now
    )
    session.add(conn)
    await session.flush()
    await refresh_presence(session, operator_id, presence_timeout=presence_timeout, now=now)
    return conn.id


async def heartbeat(
    session: AsyncSession,
    connection_id: uuid.UUID,
    operator_id: uuid.UUID,
    session_id: uuid.UUID | None,
    *,
    presence_timeout: float,
) -> None:
    """Mark the socket alive; if the ticker had already expired it, the socket comes back."""
    now = utc_now()
    result = await session.execute(
        update(OperatorConnection).where(OperatorConnection.id == connection_id).values(last_seen_at=now)
    )
    if result.rowcount == 0:  # type: ignore[attr-defined]
        session.add(
            OperatorConnection(
                id=connection_id, operator_id=operator_id, session_id=session_id,
                connected_at=now, last_seen_at=now,
            )
        )
        await session.flush()
        await refresh_presence(session, operator_id, presence_timeout=presence_timeout, now=now)


async def disconnect(
    session: AsyncSession, connection_id: uuid.UUID, operator_id: uuid.UUID, *, presence_timeout: float
) -> None:
    await session.execute(delete(OperatorConnection).where(OperatorConnection.id == connection_id))
    await refresh_presence(session, operator_id, presence_timeout=presence_timeout)


async def set_choice(
    session: AsyncSession, operator_id: uuid.UUID, choice: str, *, presence_timeout: float
) -> str:
    """Switch between online and away; takes effect while a socket is alive."""
    op = await lock_operator(session, operator_id)
    if op is None:
        return Presence.OFFLINE.value
    op.presence_choice = choice
    await session.flush()
    return await refresh_presence(session, operator_id, presence_timeout=presence_timeout)


async def force_offline(session: AsyncSession, operator_id: uuid.UUID) -> None:
    await session.execute(delete(OperatorConnection).where(OperatorConnection.operator_id == operator_id))
    await refresh_presence(session, operator_id, presence_timeout=0.0)


async def stale_operators(session: AsyncSession, *, presence_timeout: float, now: datetime) -> list[uuid.UUID]:
    """Operators shown online or away whose sockets have all gone quiet (or who have none)."""
    cutoff = now - timedelta(seconds=presence_timeout)
    fresh = select(OperatorConnection.operator_id).where(OperatorConnection.last_seen_at >= cutoff)
    stale = await session.execute(
        select(Operator.id).where(Operator.presence != Presence.OFFLINE.value, Operator.id.not_in(fresh))
    )
    await session.execute(delete(OperatorConnection).where(OperatorConnection.last_seen_at < cutoff))
    return list(stale.scalars().all())
