"""Events are published after commit, never for a rolled-back unit of work."""

from __future__ import annotations

import asyncio

import pytest

from sportello.config import Settings
from sportello.events import emit
from sportello.runtime import Runtime


async def test_rolled_back_unit_publishes_nothing(settings: Settings) -> None:
    rt = Runtime(settings)
    await rt.start()
    try:
        sub = rt.bus.subscribe("test")
        with pytest.raises(RuntimeError):
            async with rt.db.scope() as session:
                emit(session, "test", {"type": "never"})
                raise RuntimeError("boom")
        async with rt.db.scope() as session:
            emit(session, "test", {"type": "after-commit"})
            assert sub.queue.empty(), "nothing is published before the commit"
        event = await asyncio.wait_for(sub.get(), 2)
        assert event == {"type": "after-commit"}
        assert sub.queue.empty()
        sub.close()
    finally:
        await rt.stop()


async def test_two_runtimes_share_events_through_redis(settings: Settings) -> None:
    if not settings.redis_url:
        pytest.skip("Redis relays events only on the PostgreSQL + Redis backend")
    a, b = Runtime(settings), Runtime(settings)
    await a.start()
    await b.start()
    try:
        sub = b.bus.subscribe("room")
        async with a.db.scope() as session:
            emit(session, "room", {"type": "hello", "n": 1})
        assert await asyncio.wait_for(sub.get(), 5) == {"type": "hello", "n": 1}
        sub.close()
    finally:
        await a.stop()
        await b.stop()
