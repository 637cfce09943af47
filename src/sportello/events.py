"""After-commit events and the bus that fans them out (in-process, or Redis across processes).

Services call `emit(session, channel, event)`; the event is held on the session and published
only after the session's transaction commits, so nobody hears of a change that was rolled back.
Subscribers hold a queue per channel; the Redis bus relays between processes and tells local
subscribers to resynchronise from the database after a Redis outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

log = logging.getLogger(__name__)

PENDING_KEY = "sportello.pending_events"
RESYNC = {"type": "bus.resync"}


@dataclass(frozen=True)
class Envelope:
    channel: str
    event: dict[str, Any]


def emit(session: AsyncSession, channel: str, event: dict[str, Any]) -> None:
    """Queue an event to be published after `session` commits."""
    session.info.setdefault(PENDING_KEY, []).append(Envelope(channel, event))


def take_pending(session: AsyncSession) -> list[Envelope]:
    pending: list[Envelope] = session.info.pop(PENDING_KEY, [])
    return pending


class SharedEvent(dict[str, Any]):
    """An event as this process's subscribers receive it: one object for all of them.

    `encoded` keeps a wire form the first subscriber computed, so an event fanned out to several
    sockets (a message echoed to its visitor and delivered to the operators) is serialised once.
    """

    __slots__ = ("encoded",)
    encoded: str


@dataclass(eq=False)
class Subscription:
    """A bounded queue of events for one subscriber on a set of channels."""

    bus: EventBus
    channels: set[str]
    queue: asyncio.Queue[dict[str, Any]] = field(default_factory=lambda: asyncio.Queue(1000))
    overflowed: bool = False

    def deliver(self, event: dict[str, Any]) -> None:
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # A slow consumer is told to resynchronise from the database instead of
            # growing memory without bound; nothing is lost because messages are stored.
            self.overflowed = True

    async def get(self) -> dict[str, Any]:
        if self.overflowed:
            self.overflowed = False
            while not self.queue.empty():
                self.queue.get_nowait()
            return dict(RESYNC)
        return await self.queue.get()

    def add(self, channel: str) -> None:
        self.bus._add(self, channel)

    def close(self) -> None:
        self.bus.unsubscribe(self)


class EventBus:
    """Local fan-out to subscriptions; subclasses relay between processes."""

    def __init__(self) -> None:
        self._subs: dict[str, set[Subscription]] = defaultdict(set)
        # Called with each batch published from this process (metrics); must not raise.
        self.observer: Callable[[list[Envelope]], None] | None = None

    def subscribe(self, *channels: str) -> Subscription:
        sub = Subscription(self, set())
        for channel in channels:
            self._add(sub, channel)
        return sub

    def _add(self, sub: Subscription, channel: str) -> None:
        sub.channels.add(channel)
        self._subs[channel].add(sub)

    def unsubscribe(self, sub: Subscription) -> None:
        for channel in sub.channels:
            subs = self._subs.get(channel)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._subs[channel]
        sub.channels.clear()

    def subscriber_count(self) -> int:
        return len({s for subs in self._subs.values() for s in subs})

    def _dispatch(self, channel: str, event: dict[str, Any]) -> None:
        subs = self._subs.get(channel)
        if not subs:
            return
        shared = SharedEvent(event)
        for sub in list(subs):
            sub.deliver(shared)

    def _dispatch_all(self, event: dict[str, Any]) -> None:
        for sub in {s for subs in self._subs.values() for s in subs}:
            sub.deliver(dict(event))

    async def publish_many(self, envelopes: Iterable[Envelope]) -> None:
        envelopes = list(envelopes)
        self._observe(envelopes)
        for env in envelopes:
            self._dispatch(env.channel, env.event)

    def _observe(self, envelopes: list[Envelope]) -> None:
        if self.observer is not None:
            self.observer(envelopes)

    async def publish(self, channel: str, event: dict[str, Any]) -> None:
        await self.publish_many([Envelope(channel, event)])

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None


class MemoryBus(EventBus):
    """The default: everything happens inside one process."""


class RedisBus(EventBus):
    """Relays events between processes over one Redis pub/sub channel.

    Local subscribers are served directly (so a process keeps working while Redis is away);
    events from other processes arrive through Redis. After Redis comes back every local
    subscriber gets `bus.resync` and catches up from the database.
    """

    def __init__(self, url: str, prefix: str = "sportello") -> None:
        super().__init__()
        self.url = url
        self.channel = f"{prefix}:events"
        self.origin = uuid.uuid4().hex
        self._task: asyncio.Task[None] | None = None
        self._redis: Any = None
        self.connected = asyncio.Event()

    async def start(self) -> None:
        import redis.asyncio as aioredis

        self._redis = aioredis.from_url(
            self.url,
            socket_connect_timeout=2,
            socket_timeout=5,
            client_name=f"sportello-bus-{self.origin[:12]}",
        )
        self._task = asyncio.create_task(self._listen(), name="redis-bus")
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.connected.wait(), timeout=5)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        if self._redis is not None:
            await self._redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self._redis.ping())
        except Exception:
            return False

    async def publish_many(self, envelopes: Iterable[Envelope]) -> None:
        envelopes = list(envelopes)
        self._observe(envelopes)
        for env in envelopes:
            self._dispatch(env.channel, env.event)
        if not envelopes:
            return
        payload = json.dumps(
            {"o": self.origin, "e": [[env.channel, env.event] for env in envelopes]},
            separators=(",", ":"),
            default=str,
        )
        try:
            await self._redis.publish(self.channel, payload)
        except Exception as exc:
            # The change is committed; peers catch up from the database on resync.
            log.warning("redis publish failed", extra={"error": type(exc).__name__})

    async def _listen(self) -> None:
        delay = 0.1
        first = True
        while True:
            pubsub = self._redis.pubsub()
            try:
                await pubsub.subscribe(self.channel)
                self.connected.set()
                if not first:
                    self._dispatch_all(RESYNC)
                first = False
                delay = 0.1
                while True:
                    msg = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                    if msg is None:
                        continue
                    self._receive(msg["data"])
            except asyncio.CancelledError:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                raise
            except Exception as exc:
                self.connected.clear()
                log.warning("redis bus disconnected", extra={"error": type(exc).__name__})
                with contextlib.suppress(Exception):
                    await pubsub.aclose()
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    def _receive(self, data: bytes | str) -> None:
        try:
            decoded = json.loads(data)
        except ValueError:
            return
        if decoded.get("o") == self.origin:
            return
        for channel, event in decoded.get("e", []):
            self._dispatch(channel, event)


def make_bus(redis_url: str | None, prefix: str) -> EventBus:
    return RedisBus(redis_url, prefix) if redis_url else MemoryBus()
