"""Abuse limits: a friendly refusal, nothing lost, and the service keeps serving."""

from __future__ import annotations

import httpx
import pytest

from sportello.config import Settings
from sportello.ratelimit import Limit, RateLimiter
from tests.fixtures.clients import VisitorSocket, auth
from tests.fixtures.servers import ThreadServer


async def test_fixed_window_counts_and_resets() -> None:
    limiter = RateLimiter()
    lim = Limit("t", 3, 60)
    assert [await limiter.hit(lim, "k", now=120.0 + i) for i in range(3)] == [None, None, None]
    assert await limiter.hit(lim, "k", now=130.0) == pytest.approx(50.0)
    assert await limiter.hit(lim, "other", now=130.0) is None
    assert await limiter.hit(lim, "k", now=180.0) is None  # next window


@pytest.fixture
def tight(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "limit_conversations_per_address_hour": 3,
            "limit_messages_per_conversation_minute": 4,
            "limit_ws_frames_per_second": 5,
        }
    )


async def test_conversations_per_address_and_messages_per_conversation(tight: Settings) -> None:
    server = ThreadServer(tight).start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            created = [await http.post("/api/v1/conversations", json={}) for _ in range(4)]
            assert [r.status_code for r in created] == [201, 201, 201, 429]
            assert int(created[-1].headers["Retry-After"]) >= 1
            assert "too many new conversations" in created[-1].json()["message"]
            conv = created[0].json()
            url = f"/api/v1/conversations/{conv['id']}/messages"
            codes = [(await http.post(url, json={"body": f"m{i}"}, headers=auth(conv["token"]))).status_code for i in range(5)]
            assert codes == [201, 201, 201, 201, 429]
            stored = (await http.get(url, headers=auth(conv["token"]))).json()
            assert [m["body"] for m in stored] == ["m0", "m1", "m2", "m3"]
            # Over the socket, the visitor is told to slow down, with when to retry.
            sock = await VisitorSocket.connect(server.ws_url, conv["id"], conv["token"])
            await sock.send({"type": "message", "body": "again", "client_message_id": "x"})
            err = await sock.until(lambda f: f["type"] == "error")
            assert err["code"] == "rate_limited" and err["client_message_id"] == "x" and err["retry_after"] >= 1
            await sock.close()
    finally:
        server.stop()


async def test_socket_frame_rate(tight: Settings) -> None:
    server = ThreadServer(tight).start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            conv = (await http.post("/api/v1/conversations", json={})).json()
        sock = await VisitorSocket.connect(server.ws_url, conv["id"], conv["token"])
        for _ in range(8):
            await sock.send({"type": "ping"})
        frames = [await sock.next_frame() for _ in range(8)]
        kinds = [f.get("code", f["type"]) for f in frames]
        assert kinds.count("pong") == 5 and kinds.count("rate_limited") == 3
        await sock.close()
    finally:
        server.stop()
