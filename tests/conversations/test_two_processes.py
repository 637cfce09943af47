"""Two `sportello serve` processes on one database (and one Redis on PostgreSQL)."""

from __future__ import annotations

import httpx
import pytest

from tests.fixtures.backends import Backend
from tests.fixtures.clients import VisitorSocket, auth


@pytest.mark.slow
async def test_message_posted_on_a_reaches_socket_on_b(backend: Backend, process_server_factory: type) -> None:
    if backend.name == "sqlite":
        pytest.skip("several processes need PostgreSQL + Redis (SQLite runs one process)")
    a = process_server_factory.start()
    b = process_server_factory.start()
    async with httpx.AsyncClient(base_url=a.base_url) as http_a:
        conv = (await http_a.post("/api/v1/conversations", json={})).json()
        on_b = await VisitorSocket.connect(b.ws_url, conv["id"], conv["token"])
        for i in range(20):
            r = await http_a.post(
                f"/api/v1/conversations/{conv['id']}/messages",
                json={"body": f"from A {i}", "client_message_id": f"a{i}"},
                headers=auth(conv["token"]),
            )
            assert r.status_code == 201
        await on_b.until_seq(20, timeout=10)
        assert [m["body"] for m in on_b.messages] == [f"from A {i}" for i in range(20)]
        # And the other way round: a frame sent on B's socket is readable through A.
        await on_b.send({"type": "message", "body": "from B", "client_message_id": "b1"})
        await on_b.until_seq(21)
        listed = await http_a.get(
            f"/api/v1/conversations/{conv['id']}/messages", params={"after": 20}, headers=auth(conv["token"])
        )
        assert [m["body"] for m in listed.json()] == ["from B"]
        await on_b.close()
