"""Group commit: batching, per-item outcomes, and the one-by-one retry of a failed batch."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from sportello.config import Settings
from sportello.errors import DomainError, NotFound
from sportello.groupcommit import GroupCommit
from sportello.runtime import Runtime


async def test_items_queued_during_a_write_share_the_next_batch_and_fail_alone(settings: Settings) -> None:
    rt = Runtime(settings)
    batches: list[list[int]] = []
    release = asyncio.Event()

    async def write(session: AsyncSession, items: list[int]) -> list[int | DomainError]:
        batches.append(list(items))
        await session.execute(text("SELECT 1"))
        if len(batches) == 1:
            await release.wait()
        return [NotFound("odd") if i % 2 else i * 10 for i in items]

    commit: GroupCommit[int, int] = GroupCommit(rt, "test", write, order=lambda i: -i)
    try:
        first = asyncio.ensure_future(commit.submit(0))
        await asyncio.sleep(0.05)
        rest = [asyncio.ensure_future(commit.submit(i)) for i in range(1, 6)]
        await asyncio.sleep(0.05)
        release.set()
        assert await first == 0
        outcomes = await asyncio.gather(*rest, return_exceptions=True)
        assert batches == [[0], [5, 4, 3, 2, 1]]  # one batch for all that queued, in `order`
        assert [o if isinstance(o, int) else type(o) for o in outcomes] == [NotFound, 20, NotFound, 40, NotFound]
    finally:
        await rt.db.dispose()


async def test_a_failed_batch_is_retried_one_item_per_transaction(settings: Settings) -> None:
    rt = Runtime(settings)
    batches: list[list[str]] = []

    async def write(session: AsyncSession, items: list[str]) -> list[str | DomainError]:
        batches.append(list(items))
        if "bad" in items:
            raise RuntimeError("the database refused the batch")
        return [i.upper() for i in items]

    commit: GroupCommit[str, str] = GroupCommit(rt, "test", write)
    try:
        assert await commit.submit("first") == "FIRST"
        a, bad, b = await asyncio.gather(*(commit.submit(i) for i in ("a", "bad", "b")), return_exceptions=True)
        assert (a, b) == ("A", "B")
        assert isinstance(bad, RuntimeError)
        assert batches == [["first"], ["a", "bad", "b"], ["a"], ["bad"], ["b"]]
    finally:
        await rt.db.dispose()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_a_lone_item_is_written_at_once(settings: Settings) -> None:
    rt = Runtime(settings)

    async def write(session: AsyncSession, items: list[int]) -> list[int | DomainError]:
        return [(await session.execute(text("SELECT :n"), {"n": i})).scalar_one() for i in items]

    commit: GroupCommit[int, int] = GroupCommit(rt, "test", write)
    try:
        assert await asyncio.wait_for(commit.submit(7), 5) == 7
    finally:
        await rt.db.dispose()


async def test_a_cancelled_submitter_in_a_failed_batch_leaves_the_others_answered(settings: Settings) -> None:
    rt = Runtime(settings)
    started = asyncio.Event()
    release = asyncio.Event()

    async def write(session: AsyncSession, items: list[str]) -> list[str | DomainError]:
        if items == ["hold"]:
            started.set()
            await release.wait()
            return ["HOLD"]
        if "gone" in items:
            raise RuntimeError("the database refused the batch")
        return [i.upper() for i in items]

    commit: GroupCommit[str, str] = GroupCommit(rt, "test", write)
    try:
        hold = asyncio.ensure_future(commit.submit("hold"))
        await started.wait()
        # These three queue up behind the batch being written; the visitor of "gone" disconnects.
        waiting = [asyncio.ensure_future(commit.submit(i)) for i in ("a", "gone", "b")]
        await asyncio.sleep(0)
        waiting[1].cancel()
        release.set()
        assert await asyncio.wait_for(hold, 5) == "HOLD"
        a, b = await asyncio.wait_for(asyncio.gather(waiting[0], waiting[2]), 5)
        assert (a, b) == ("A", "B")
    finally:
        await rt.db.dispose()
