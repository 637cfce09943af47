"""A waiting visitor whose widget socket closes: a grace period, then abandonment; back in time, nothing."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sportello.config import Settings
from sportello.queue.models import QueueEntry
from sportello.runtime import Runtime
from tests.fixtures.backends import Backend
from tests.fixtures.clients import VisitorSocket, auth, open_conversation
from tests.operators.helpers import (
    bearer,
    eventually,
    go_online,
    login,
    make_operator,
    server,
    side_runtime,
)

GRACE = 1.5


async def _entry(rt: Runtime, conv_id: str) -> QueueEntry:
    async with rt.db.scope() as session:
        entry = (
            await session.execute(
                select(QueueEntry)
                .where(QueueEntry.conversation_id == uuid.UUID(conv_id))
                .order_by(QueueEntry.enqueued_at.desc())
                .limit(1)
                .execution_options(populate_existing=True)
            )
        ).scalar_one()
        return entry


async def _queued_behind_a_busy_operator(rt: Runtime, http: httpx.AsyncClient) -> dict[str, Any]:
    """A visitor waiting at position 1: the only operator's one slot holds an offer to someone else."""
    await go_online(rt, await make_operator(rt, f"{uuid.uuid4().hex[:6]}@example.com", max_chats=1))
    first = await open_conversation(http, language="it")
    assert (await http.post(f"/api/v1/conversations/{first['id']}/handoff", headers=auth(first["token"]))).json()["outcome"] == "queued"
    waiting = await open_conversation(http, language="it")
    r = await http.post(f"/api/v1/conversations/{waiting['id']}/handoff", headers=auth(waiting["token"]))
    assert r.json()["outcome"] == "queued"
    return waiting


async def _status(http: httpx.AsyncClient, conv: dict[str, Any]) -> str:
    status: str = (await http.get(f"/api/v1/conversations/{conv['id']}", headers=auth(conv["token"]))).json()["status"]
    return status


async def test_gone_after_the_grace_period_counts_as_abandoned(settings: Settings) -> None:
    with server(settings, queue_disconnect_grace_seconds=GRACE) as srv:
        async with side_runtime(settings) as rt, httpx.AsyncClient(base_url=srv.base_url) as http:
            conv = await _queued_behind_a_busy_operator(rt, http)
            sock = await VisitorSocket.connect(srv.ws_url, conv["id"], conv["token"])
            assert (await _entry(rt, conv["id"])).gone_deadline_at is None

            # The socket drops (a page reload, a tunnel): the deadline is written, not a timer.
            await sock.close()

            async def deadline_set() -> bool:
                return (await _entry(rt, conv["id"])).gone_deadline_at is not None

            await eventually(deadline_set)
            # Back within the grace period: nothing changes, however long they then wait.
            sock = await VisitorSocket.connect(srv.ws_url, conv["id"], conv["token"])
            assert (await _entry(rt, conv["id"])).gone_deadline_at is None
            await asyncio.sleep(GRACE + 1.0)
            entry = await _entry(rt, conv["id"])
            assert entry.state == "waiting" and await _status(http, conv) == "queued"

            # Gone for good: removed from the queue by the ticker, as abandoned.
            await sock.close()

            async def abandoned() -> bool:
                return (await _entry(rt, conv["id"])).state == "abandoned"

            await eventually(abandoned, timeout=GRACE + 5)
            entry = await _entry(rt, conv["id"])
            assert entry.end_reason == "visitor_gone" and entry.gone_deadline_at is None
            assert await _status(http, conv) == "bot"
            msgs = (await http.get(f"/api/v1/conversations/{conv['id']}/messages", headers=auth(conv["token"]))).json()
            gone = [m for m in msgs if m["metadata"].get("kind") == "queue.visitor_gone"]
            assert len(gone) == 1 and "tolto dalla coda" in gone[0]["body"]

            # Analytics counts it with the abandonments.
            await make_operator(rt, "sup@example.com", role="supervisor")
            token = await login(http, "sup@example.com")
            http.cookies.clear()
            report = (await http.get("/api/v1/reports/queue", headers=bearer(token))).json()
            assert report["abandoned"] == 1 and report["waiting"] == 1  # the other visitor is still offered


async def test_second_tab_keeps_the_visitor_in_the_queue(settings: Settings) -> None:
    with server(settings, queue_disconnect_grace_seconds=GRACE) as srv:
        async with side_runtime(settings) as rt, httpx.AsyncClient(base_url=srv.base_url) as http:
            conv = await _queued_behind_a_busy_operator(rt, http)
            tab1 = await VisitorSocket.connect(srv.ws_url, conv["id"], conv["token"])
            tab2 = await VisitorSocket.connect(srv.ws_url, conv["id"], conv["token"])
            await tab1.close()
            await asyncio.sleep(GRACE + 1.0)
            entry = await _entry(rt, conv["id"])
            assert entry.state == "waiting" and entry.gone_deadline_at is None
            await tab2.close()

            async def abandoned() -> bool:
                return (await _entry(rt, conv["id"])).state == "abandoned"

            await eventually(abandoned, timeout=GRACE + 5)


@pytest.mark.slow
async def test_reconnecting_to_another_process(backend: Backend, settings: Settings, process_server_factory: Any) -> None:
    if backend.name == "sqlite":
        pytest.skip("several processes need PostgreSQL + Redis (SQLite runs one process)")
    env = {
        "SPORTELLO_OPENING_HOURS": "always", "SPORTELLO_TICKER_INTERVAL": "0.2",
        "SPORTELLO_QUEUE_DISCONNECT_GRACE_SECONDS": str(GRACE),
    }
    a = process_server_factory.start(**env)
    b = process_server_factory.start(**env)
    async with side_runtime(settings) as rt, httpx.AsyncClient(base_url=a.base_url) as http:
        conv = await _queued_behind_a_busy_operator(rt, http)
        on_a = await VisitorSocket.connect(a.ws_url, conv["id"], conv["token"])
        await on_a.close()

        async def deadline_set() -> bool:
            return (await _entry(rt, conv["id"])).gone_deadline_at is not None

        await eventually(deadline_set)
        # The widget reconnects through the load balancer to the other process, in time.
        on_b = await VisitorSocket.connect(b.ws_url, conv["id"], conv["token"])
        await asyncio.sleep(GRACE + 1.0)
        assert (await _entry(rt, conv["id"])).state == "waiting"

        # Two tabs on two processes: closing the one on A starts a grace period that the open
        # one on B cancels (it hears the event through Redis).
        on_a = await VisitorSocket.connect(a.ws_url, conv["id"], conv["token"])
        await on_a.close()
        await asyncio.sleep(GRACE + 1.0)
        entry = await _entry(rt, conv["id"])
        assert entry.state == "waiting" and entry.gone_deadline_at is None

        await on_b.close()

        async def abandoned() -> bool:
            return (await _entry(rt, conv["id"])).state == "abandoned"

        await eventually(abandoned, timeout=GRACE + 5)
        assert (await _entry(rt, conv["id"])).end_reason == "visitor_gone"
