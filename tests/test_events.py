"""Events are published after commit, never for a rolled-back unit of work."""

from __future__ import annotations

import asyncio
import json

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


async def test_subscribers_resync_after_redis_drops_the_connection(settings: Settings) -> None:
    if not settings.redis_url:
        pytest.skip("Redis relays events only on the PostgreSQL + Redis backend")
    import redis.asyncio as aioredis

    from sportello.events import RedisBus

    a, b = Runtime(settings), Runtime(settings)
    await a.start()
    await b.start()
    admin = aioredis.from_url(settings.redis_url)
    try:
        assert isinstance(b.bus, RedisBus)
        sub = b.bus.subscribe("room")
        name = f"sportello-bus-{b.bus.origin[:12]}"
        killed = 0
        for client in await admin.client_list():
            if client.get("name") == name:
                killed += await admin.client_kill_filter(_id=client["id"])
        assert killed >= 1
        # Whatever was published meanwhile is in the database; the subscriber is told to catch up.
        assert await asyncio.wait_for(sub.get(), 10) == {"type": "bus.resync"}
        async with a.db.scope() as session:
            emit(session, "room", {"type": "after-reconnect"})
        assert await asyncio.wait_for(sub.get(), 5) == {"type": "after-reconnect"}
        sub.close()
    finally:
        await admin.aclose()
        await a.stop()
        await b.stop()


async def test_a_message_fanned_out_to_several_sockets_is_encoded_once() -> None:
    from sportello.events import MemoryBus
    from sportello.realtime.stream import message_frame

    bus = MemoryBus()
    visitor, operator = bus.subscribe("conv:1"), bus.subscribe("conv:1")
    message = {"id": 7, "seq": 1, "body": "ciao è", "conversation_id": "1"}
    await bus.publish("conv:1", {"type": "message.created", "message": message})
    seen_by_visitor, seen_by_operator = await visitor.get(), await operator.get()
    first = message_frame(seen_by_visitor["message"], seen_by_visitor)
    # The same text object: the second socket reused the first one's encoding.
    assert message_frame(seen_by_operator["message"], seen_by_operator) is first
    assert json.loads(first) == {"type": "message", "message": message}
    # A message read back from the database (not the live event's) is encoded on its own.
    assert json.loads(message_frame(dict(message))) == json.loads(first)
