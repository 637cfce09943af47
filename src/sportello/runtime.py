"""What one process holds: settings, database, event bus, background tasks and hooks."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from sportello.config import Settings
from sportello.db import Database
from sportello.events import Envelope, EventBus, make_bus
from sportello.metrics import Metrics, watch_loop_lag
from sportello.ratelimit import RateLimiter

log = logging.getLogger(__name__)



@dataclass(frozen=True)
class VisitorTurn:
    """A visitor message just committed, with the conversation's status and language as its store left them.

    The automated steps start from this instead of reading the conversation and message back:
    on SQLite every read is a unit of work queued for the one connection.
    """

    conversation_id: uuid.UUID
    message_id: int
    body: str
    status: str
    language: str


VisitorMessageHandler = Callable[["Runtime", VisitorTurn], Awaitable[None]]


class Runtime:
    def __init__(self, settings: Settings, bus: EventBus | None = None) -> None:
        self.settings = settings
        self.bus = bus or make_bus(settings.redis_url, settings.redis_prefix)
        self.db = Database(settings.resolved_database_url, bus=self.bus)
        self.visitor_message_handlers: list[VisitorMessageHandler] = []
        # Per-process services installed by domains at start-up (assistant cache, handoff hook...).
        self.extensions: dict[str, Any] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._daemons: set[asyncio.Task[Any]] = set()
        self.limiter = RateLimiter(prefix=settings.redis_prefix)
        self.metrics = Metrics()
        self.bus.observer = self._count_messages
        self.redis: Any = None

    def _count_messages(self, envelopes: list[Envelope]) -> None:
        for env in envelopes:
            if env.event.get("type") == "message.created":
                self.metrics.messages.labels(env.event["message"].get("sender", "unknown")).inc()

    async def start(self) -> None:
        self.spawn(watch_loop_lag(self.metrics), name="loop-lag", daemon=True)
        await self.bus.start()
        if settings_redis := self.settings.redis_url:
            import redis.asyncio as aioredis

            self.redis = aioredis.from_url(settings_redis, socket_connect_timeout=2, socket_timeout=2)
            self.limiter.redis = self.redis

    async def stop(self, grace: float = 5.0) -> None:
        """Let background work finish (up to `grace` seconds), cancel the rest, release resources."""
        for task in list(self._daemons):
            task.cancel()
        finite = [t for t in self._tasks if t not in self._daemons]
        if finite:
            await asyncio.wait(finite, timeout=grace)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.bus.stop()
        if self.redis is not None:
            await self.redis.aclose()
        await self.db.dispose()

    def spawn(
        self, coro: Coroutine[Any, Any, Any], name: str | None = None, *, daemon: bool = False
    ) -> asyncio.Task[Any]:
        """Run `coro` in the background, keeping a reference and logging its failure.

        At shutdown ordinary tasks get a grace period to finish; daemon tasks (endless loops such
        as the ticker) are cancelled at once.
        """
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        if daemon:
            self._daemons.add(task)
        task.add_done_callback(self._done)
        return task

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._daemons.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task failed", exc_info=task.exception())

    async def idle(self) -> None:
        """Wait until non-daemon background work started so far has finished."""
        while finite := [t for t in self._tasks if t not in self._daemons]:
            await asyncio.gather(*finite, return_exceptions=True)

    async def on_visitor_message(self, turn: VisitorTurn) -> None:
        for handler in self.visitor_message_handlers:
            await handler(self, turn)
