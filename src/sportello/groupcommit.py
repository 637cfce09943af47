"""Group commit: work that queues up while a batch is being written shares the next unit of work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from sportello.errors import DomainError

if TYPE_CHECKING:
    from sportello.runtime import Runtime

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")
BATCH = 128

WriteBatch = Callable[[AsyncSession, list[T]], Awaitable[Sequence["R | DomainError"]]]


@dataclass
class _Pending(Generic[T, R]):
    item: T
    result: asyncio.Future[R] = field(default_factory=lambda: asyncio.get_running_loop().create_future())


class GroupCommit(Generic[T, R]):
    """Writes submitted items in shared transactions, one batch at a time.

    Under load most of a small write's cost is the unit of work around it (session, pool
    checkout, commit, each a round trip to the database thread or server), not its statements;
    sharing one commit among the items that queued up meanwhile keeps the latency of a lone item
    unchanged and divides that cost under a burst. Each item's result is given only after its
    batch committed and published its events. `write` returns one outcome per item, in order: a
    DomainError fails only its own item. A batch that fails for any other reason is retried one
    item per transaction, so one bad item never fails the others. `order` sorts each batch, so
    that rows locked in that order never deadlock between two processes' batches.
    """

    def __init__(
        self, rt: Runtime, name: str, write: WriteBatch[T, R], order: Callable[[T], Any] | None = None
    ) -> None:
        self.rt = rt
        self.name = name
        self._write_batch = write
        self._order = order
        self._queue: list[_Pending[T, R]] = []
        self._task: asyncio.Task[None] | None = None

    async def submit(self, item: T) -> R:
        pending: _Pending[T, R] = _Pending(item)
        self._queue.append(pending)
        if self._task is None:
            self._task = self.rt.spawn(self._drain(), name=self.name)
        return await pending.result

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
                if self._order is not None:
                    order = self._order
                    batch.sort(key=lambda p: order(p.item))
                try:
                    await self._write(batch)
                except asyncio.CancelledError:
                    for pending in batch:
                        pending.result.cancel()
                    raise
        finally:
            self._task = None
            for pending in self._queue:
                pending.result.cancel()
            self._queue = []

    async def _write(self, batch: list[_Pending[T, R]]) -> None:
        try:
            async with self.rt.db.scope() as session:
                outcomes = await self._write_batch(session, [p.item for p in batch])
        except Exception as exc:
            if len(batch) == 1:
                # A submitter that gave up (cancelled) has nothing to hear; the others still do.
                if not batch[0].result.done():
                    batch[0].result.set_exception(exc)
                return
            log.warning("%s: batch failed; writing one by one", self.name, extra={"size": len(batch)})
            for pending in batch:
                await self._write([pending])
            return
        for pending, outcome in zip(batch, outcomes, strict=True):
            if pending.result.done():
                continue
            if isinstance(outcome, DomainError):
                pending.result.set_exception(outcome)
            else:
                pending.result.set_result(outcome)
