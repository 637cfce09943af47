"""Collectors of the stored-state gauges of /metrics, refreshed at scrape time with cheap counts."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import func, select

from sportello.notifications.models import OutboxMessage, OutboxState
from sportello.operators.models import Operator, Presence
from sportello.queue.models import EntryState, QueueEntry
from sportello.runtime import Runtime
from sportello.timeutil import utc_now

log = logging.getLogger(__name__)
UNDELIVERED = (OutboxState.PENDING.value, OutboxState.SENDING.value)


async def collect_state(rt: Runtime) -> None:
    """Queue length, online operators, outbox backlog, its oldest age and held rows (one short read)."""
    m = rt.metrics
    try:
        async with rt.db.scope() as session:
            waiting = await session.scalar(
                select(func.count()).where(
                    QueueEntry.state.in_((EntryState.WAITING.value, EntryState.OFFERED.value))
                )
            )
            online = await session.scalar(
                select(func.count()).where(
                    Operator.presence == Presence.ONLINE.value, Operator.active.is_(True)
                )
            )
            backlog, oldest = (
                await session.execute(
                    select(func.count(), func.min(OutboxMessage.created_at)).where(
                        OutboxMessage.state.in_(UNDELIVERED)
                    )
                )
            ).one()
            held = await session.scalar(
                select(func.count()).where(OutboxMessage.state == OutboxState.HELD.value)
            )
    except Exception:
        log.exception("metrics: reading the stored state failed")
        return
    m.queue_length.set(waiting or 0)
    m.online_operators.set(online or 0)
    m.outbox_backlog.set(backlog or 0)
    m.outbox_held.set(held or 0)
    m.outbox_oldest.set(max(0.0, (utc_now() - oldest).total_seconds()) if oldest else 0.0)


async def collect_ticker_lag(rt: Runtime) -> None:
    """A ticker stuck in a pass shows as lag too: time since its last start, past the interval."""
    last = rt.metrics.ticker_last_pass
    if last is None:
        return
    stuck = asyncio.get_running_loop().time() - last - rt.settings.ticker_interval
    current = rt.metrics.ticker_lag._value.get()
    if stuck > current:
        rt.metrics.ticker_lag.set(stuck)


def install(rt: Runtime) -> None:
    rt.metrics.collectors.extend((collect_state, collect_ticker_lag))
