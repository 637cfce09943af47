"""Several `sportello serve` processes on one database: atomic routing, durable deadlines."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from sportello.config import Settings
from sportello.conversations.models import Conversation
from sportello.queue.models import QueueEntry
from tests.fixtures.backends import Backend
from tests.fixtures.clients import auth, open_conversation
from tests.fixtures.locks import writes_blocked
from tests.operators.helpers import (
    OperatorSocket,
    bearer,
    eventually,
    login,
    make_operator,
    side_runtime,
)

# The assistant is not under test here: lexical only, so processes start fast.
ENV = {"SPORTELLO_OPENING_HOURS": "always", "SPORTELLO_TICKER_INTERVAL": "0.2", "SPORTELLO_ASSISTANT_SEMANTIC": "false"}


@pytest.mark.slow
async def test_two_processes_never_double_assign(backend: Backend, settings: Settings, process_server_factory: Any) -> None:
    if backend.name == "sqlite":
        pytest.skip("several processes need PostgreSQL + Redis (SQLite runs one process)")
    a = process_server_factory.start(**ENV)
    b = process_server_factory.start(**ENV)
    async with side_runtime(settings) as rt, httpx.AsyncClient(base_url=a.base_url) as http_a, httpx.AsyncClient(base_url=b.base_url) as http_b:
        ops = [await make_operator(rt, f"op{i}@example.com", max_chats=2) for i in range(3)]
        tokens = [await login(http_a, f"op{i}@example.com") for i in range(3)]
        http_a.cookies.clear()
        sockets = [await OperatorSocket.connect((a if i % 2 else b).ws_url, t) for i, t in enumerate(tokens)]
        convs = [await open_conversation(http_a) for _ in range(16)]
        # Every visitor asks at once, half through each process: both route concurrently.
        results = await asyncio.gather(
            *(
                (http_a if i % 2 else http_b).post(f"/api/v1/conversations/{c['id']}/handoff", headers=auth(c["token"]))
                for i, c in enumerate(convs)
            )
        )
        assert all(r.json()["outcome"] == "queued" for r in results)

        async def offers() -> list[tuple[uuid.UUID, uuid.UUID]]:
            async with rt.db.scope() as session:
                rows = await session.execute(
                    select(QueueEntry.conversation_id, QueueEntry.operator_id).where(QueueEntry.state == "offered")
                )
                return [(c, o) for c, o in rows.all() if o is not None]

        async def six_offers() -> bool:
            return len(await offers()) == 6

        await eventually(six_offers, timeout=10)
        # Each offer is accepted through both processes at the same moment: one 200, one 409.
        by_op = dict(zip(ops, tokens, strict=True))
        pairs = await offers()
        responses = await asyncio.gather(
            *(
                client.post(f"/api/v1/conversations/{conv_id}/accept", headers=bearer(by_op[op_id]))
                for conv_id, op_id in pairs
                for client in (http_a, http_b)
            )
        )
        codes = [r.status_code for r in responses]
        assert sorted(codes) == [200] * len(pairs) + [409] * len(pairs), codes
        # Everybody ends their chats concurrently; the queue drains into the freed slots.
        await asyncio.gather(
            *(
                (http_a if i % 2 else http_b).post(f"/api/v1/conversations/{conv_id}/end", headers=bearer(by_op[op_id]))
                for i, (conv_id, op_id) in enumerate(pairs)
            )
        )
        await eventually(six_offers, timeout=10)
        if True:
            async with rt.db.scope() as session:
                loads = dict(
                    (
                        await session.execute(
                            select(Conversation.operator_id, func.count())
                            .where(Conversation.status.in_(("assigned", "live")))
                            .group_by(Conversation.operator_id)
                        )
                    ).all()
                )
                assert all(n <= 2 for n in loads.values()), loads
                per_conv = (
                    await session.execute(
                        select(QueueEntry.conversation_id, func.count())
                        .where(QueueEntry.state.in_(("offered", "assigned")), QueueEntry.ended_at.is_(None))
                        .group_by(QueueEntry.conversation_id)
                    )
                ).all()
                assert all(n == 1 for _, n in per_conv)
        for sock in sockets:
            await sock.close()


@pytest.mark.slow
async def test_restart_in_the_middle_of_a_queue_wait(backend: Backend, settings: Settings, process_server_factory: Any) -> None:
    env = {**ENV, "SPORTELLO_QUEUE_WAIT_SECONDS": "4", "SPORTELLO_PRESENCE_TIMEOUT_SECONDS": "3"}
    a = process_server_factory.start(**env)
    async with side_runtime(settings) as rt:
        await make_operator(rt, "uma@example.com", max_chats=1)
    async with httpx.AsyncClient(base_url=a.base_url) as http:
        token = await login(http, "uma@example.com")
        http.cookies.clear()
        sock = await OperatorSocket.connect(a.ws_url, token)
        first = await open_conversation(http)
        await http.post(f"/api/v1/conversations/{first['id']}/handoff", headers=auth(first["token"]))
        await sock.until(lambda f: f["type"] == "offer.created")
        assert (await http.post(f"/api/v1/conversations/{first['id']}/accept", headers=bearer(token))).status_code == 200
        waiting = await open_conversation(http)
        r = await http.post(f"/api/v1/conversations/{waiting['id']}/handoff", headers=auth(waiting["token"]))
        assert r.json()["outcome"] == "queued" and r.json()["position"] == 1
    a.kill()  # the wait deadline is 4 s away; no process is running when it passes
    await asyncio.sleep(4.5)
    survivors = [process_server_factory.start(**env)]
    if backend.name == "postgres":
        survivors.append(process_server_factory.start(**env))  # two tickers race for the same row

    async def timeouts() -> int:
        async with httpx.AsyncClient(base_url=survivors[0].base_url) as http:
            msgs = (await http.get(f"/api/v1/conversations/{waiting['id']}/messages", headers=auth(waiting["token"]))).json()
        return [m["metadata"].get("kind") for m in msgs].count("queue.wait_timeout")

    async def fired() -> bool:
        return await timeouts() >= 1

    await eventually(fired, timeout=10)
    await asyncio.sleep(1.5)
    assert await timeouts() == 1


@pytest.mark.slow
async def test_killed_while_the_wait_timeout_is_being_written(backend: Backend, settings: Settings, process_server_factory: Any) -> None:
    """SIGKILL in the middle of the wait-timeout job: the new processes post it exactly once."""
    env = {**ENV, "SPORTELLO_QUEUE_WAIT_SECONDS": "6", "SPORTELLO_PRESENCE_TIMEOUT_SECONDS": "3"}
    a = process_server_factory.start(**env)
    async with side_runtime(settings) as rt:
        await make_operator(rt, "uma@example.com", max_chats=1)
    async with httpx.AsyncClient(base_url=a.base_url) as http:
        token = await login(http, "uma@example.com")
        http.cookies.clear()
        sock = await OperatorSocket.connect(a.ws_url, token)
        first = await open_conversation(http)
        await http.post(f"/api/v1/conversations/{first['id']}/handoff", headers=auth(first["token"]))
        await sock.until(lambda f: f["type"] == "offer.created")
        assert (await http.post(f"/api/v1/conversations/{first['id']}/accept", headers=bearer(token))).status_code == 200
        waiting = await open_conversation(http)
        r = await http.post(f"/api/v1/conversations/{waiting['id']}/handoff", headers=auth(waiting["token"]))
        assert r.json()["outcome"] == "queued"
        queued_at = asyncio.get_running_loop().time()

    async def timeouts(base_url: str) -> int:
        async with httpx.AsyncClient(base_url=base_url) as http:
            msgs = (await http.get(f"/api/v1/conversations/{waiting['id']}/messages", headers=auth(waiting["token"]))).json()
        return [m["metadata"].get("kind") for m in msgs].count("queue.wait_timeout")

    async with writes_blocked(backend, settings) as lock:
        if backend.name == "postgres":
            # The ticker claimed the entry, cleared its deadline and now waits to store the message.
            await lock.execute("LOCK TABLE messages IN SHARE MODE")

            async def stuck() -> bool:
                await lock.execute("SELECT pg_stat_clear_snapshot()")
                return bool(
                    await lock.fetchval(
                        "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid"
                        " WHERE NOT l.granted AND l.relation = 'messages'::regclass"
                        " AND a.backend_xid IS NOT NULL AND a.query ILIKE '%INSERT INTO messages%'"
                    )
                )

            await eventually(stuck, timeout=15)
        else:
            # SQLite shows no waiters: a dozen ticker passes past the deadline, all blocked.
            await asyncio.sleep(max(0.0, 6 - (asyncio.get_running_loop().time() - queued_at)) + 2.5)
        a.kill()
    await sock.close()
    survivors = [process_server_factory.start(**env)]
    if backend.name == "postgres":
        survivors.append(process_server_factory.start(**env))

    async def fired() -> bool:
        return await timeouts(survivors[0].base_url) >= 1

    await eventually(fired, timeout=15)
    await asyncio.sleep(1.5)
    assert await timeouts(survivors[-1].base_url) == 1
