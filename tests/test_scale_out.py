"""Scale-out: two app processes and a worker on PostgreSQL + Redis run the whole path.

The visitor talks to process A, the operator to process B, the ticker and the outbox run only in
a `sportello worker`. Then A is killed and the visitor reconnects to B with nothing lost.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from sportello.assistant.kb import load_kb_file
from sportello.assistant.service import replace_topics
from sportello.config import Settings
from sportello.conversations.models import Message
from sportello.notifications.models import OutboxMessage
from sportello.tickets.models import Ticket
from tests.conftest import settings_env
from tests.fixtures.backends import Backend
from tests.fixtures.clients import VisitorSocket, auth, open_conversation
from tests.fixtures.shared import LUCINE_KB
from tests.operators.helpers import OperatorSocket, eventually, login, make_operator, side_runtime

APP_ENV = {
    "SPORTELLO_OPENING_HOURS": "always",
    "SPORTELLO_QUEUE_WAIT_SECONDS": "2",
    # The worker alone ticks and delivers; the app processes only serve.
    "SPORTELLO_TICKER_ENABLED": "false",
    "SPORTELLO_OUTBOX_WORKER_ENABLED": "false",
}
WORKER_ENV = {**APP_ENV, "SPORTELLO_TICKER_ENABLED": "true", "SPORTELLO_OUTBOX_WORKER_ENABLED": "true", "SPORTELLO_TICKER_INTERVAL": "0.2"}


@pytest.fixture
def worker(settings: Settings, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    log = (tmp_path / "worker.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sportello", "worker"],
        env={**os.environ, **settings_env(settings), **WORKER_ENV},
        stdout=log, stderr=subprocess.STDOUT,
    )
    yield proc
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def seqs(sock: VisitorSocket) -> list[int]:
    return [m["seq"] for m in sock.messages]


@pytest.mark.slow
async def test_two_processes_and_a_worker_run_the_whole_path(
    backend: Backend, settings: Settings, process_server_factory: Any, request: pytest.FixtureRequest
) -> None:
    if backend.name == "sqlite":
        pytest.skip("several processes need PostgreSQL + Redis (SQLite runs one process)")
    async with side_runtime(settings) as rt:
        async with rt.db.scope() as session:
            await replace_topics(session, load_kb_file(LUCINE_KB), actor_type="test")
        await make_operator(rt, "ada@example.com", max_chats=1)
    a = process_server_factory.start(**APP_ENV)
    b = process_server_factory.start(**APP_ENV)
    request.getfixturevalue("worker")

    async with httpx.AsyncClient(base_url=a.base_url) as http_a, httpx.AsyncClient(base_url=b.base_url) as http_b:
        # The operator works on B.
        token = await login(http_b, "ada@example.com")
        http_b.cookies.clear()
        op = await OperatorSocket.connect(b.ws_url, token)

        # A visitor on A asks a question; the assistant answers.
        conv = await open_conversation(http_a)
        visitor = await VisitorSocket.connect(a.ws_url, conv["id"], conv["token"])
        await visitor.send({"type": "message", "body": "quanto costa il biglietto famiglia?", "client_message_id": "q1"})
        await visitor.until(lambda f: f["type"] == "message" and f["message"]["sender"] == "assistant", timeout=15)

        # Handoff on A → offer on B's operator socket → accepted on B → the visitor on A hears it.
        r = await http_a.post(f"/api/v1/conversations/{conv['id']}/handoff", headers=auth(conv["token"]))
        assert r.json()["outcome"] == "queued", r.text
        offer = await op.until(lambda f: f["type"] == "offer.created" and f["conversation_id"] == conv["id"], timeout=10)
        await op.send({"type": "accept", "conversation_id": offer["conversation_id"]})
        await op.until(lambda f: f["type"] == "accept.ack")
        await visitor.until(lambda f: f["type"] == "message" and f["message"]["metadata"].get("kind") == "chat.joined", timeout=10)

        # Live chat across the processes, both ways.
        await visitor.send({"type": "message", "body": "ciao, sono su A", "client_message_id": "v1"})
        await op.until(lambda f: f["type"] == "message" and f["message"]["body"] == "ciao, sono su A", timeout=10)
        await op.send({"type": "message", "conversation_id": conv["id"], "body": "ciao, sono su B", "client_message_id": "o1"})
        await visitor.until(lambda f: f["type"] == "message" and f["message"]["body"] == "ciao, sono su B", timeout=10)

        # A second visitor waits (the operator is full), times out in the queue (the worker's
        # ticker), leaves a contact instead and gets a ticket; its notification is in the outbox.
        other = await open_conversation(http_a)
        r = await http_a.post(f"/api/v1/conversations/{other['id']}/handoff", headers=auth(other["token"]))
        assert r.json()["outcome"] == "queued", r.text
        other_sock = await VisitorSocket.connect(b.ws_url, other["id"], other["token"])
        await other_sock.until(lambda f: f["type"] == "queue.wait_timeout", timeout=15)
        r = await http_b.post(
            f"/api/v1/conversations/{other['id']}/queue/leave", json={"leave_contact": True}, headers=auth(other["token"])
        )
        assert r.status_code == 204, r.text
        r = await http_a.post(
            f"/api/v1/conversations/{other['id']}/contact",
            json={"method": "email", "email": "gianna@example.com", "consent": True},
            headers=auth(other["token"]),
        )
        assert r.status_code == 201, r.text
        number = r.json()["ticket_number"]
        await other_sock.close()

        async def notified() -> bool:
            async with rt.db.scope() as session:
                ticket = (await session.execute(select(Ticket).where(Ticket.number == number))).scalar_one()
                rows = (
                    await session.execute(
                        select(OutboxMessage).where(OutboxMessage.conversation_id == ticket.conversation_id)
                    )
                ).scalars().all()
                return bool(rows)

        async with side_runtime(settings) as rt:
            await eventually(notified, timeout=10)

        # Process A dies. The operator keeps writing on B; the visitor reconnects to B from the
        # last sequence number it saw and gets everything, in order, exactly once.
        last_seen = visitor.messages[-1]["seq"]
        a.kill()
        await op.send({"type": "message", "conversation_id": conv["id"], "body": "ci sei ancora?", "client_message_id": "o2"})
        await op.send({"type": "message", "conversation_id": conv["id"], "body": "ti aspetto", "client_message_id": "o3"})
        await asyncio.sleep(0.3)
        again = await VisitorSocket.connect(b.ws_url, conv["id"], conv["token"], after=last_seen)
        if "ti aspetto" not in [m["body"] for m in again.messages]:  # usually replayed before `ready`
            await again.until(lambda f: f["type"] == "message" and f["message"]["body"] == "ti aspetto", timeout=10)
        await again.send({"type": "message", "body": "eccomi, ora su B", "client_message_id": "v2"})
        await op.until(lambda f: f["type"] == "message" and f["message"]["body"] == "eccomi, ora su B", timeout=10)
        await again.until(lambda f: f["type"] == "message" and f["message"]["body"] == "eccomi, ora su B")

        async with side_runtime(settings) as rt, rt.db.scope() as session:
            stored = list(
                (
                    await session.execute(
                        select(Message.seq).where(Message.conversation_id == uuid.UUID(conv["id"])).order_by(Message.seq)
                    )
                ).scalars()
            )
        seen = seqs(visitor) + seqs(again)
        assert stored == list(range(1, len(stored) + 1))
        assert seen == stored, (seen, stored)
        await again.close()
        await op.close()
