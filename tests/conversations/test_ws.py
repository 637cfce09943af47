"""The visitor WebSocket through a real uvicorn server."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from sportello.config import Settings
from tests.fixtures.clients import VisitorSocket, auth
from tests.fixtures.servers import ThreadServer


async def _new(http: httpx.AsyncClient) -> dict[str, str]:
    conv: dict[str, str] = (await http.post("/api/v1/conversations", json={})).json()
    return conv


async def test_send_and_acknowledge_over_socket(live: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        conv = await _new(http)
        sock = await VisitorSocket.connect(live.ws_url, conv["id"], conv["token"])
        await sock.send({"type": "message", "body": "Ciao!", "client_message_id": "w1"})
        await sock.until_seq(1)
        assert sock.messages[0]["body"] == "Ciao!" and sock.messages[0]["client_message_id"] == "w1"
        # A retried frame is acknowledged by nothing new: the same message stays the only one.
        await sock.send({"type": "message", "body": "Ciao!", "client_message_id": "w1"})
        await sock.send({"type": "ping"})
        await sock.until(lambda f: f["type"] == "pong")
        stored = (await http.get(f"/api/v1/conversations/{conv['id']}/messages", headers=auth(conv["token"]))).json()
        assert [m["seq"] for m in stored] == [1]
        await sock.close()


async def test_rest_message_reaches_socket_and_replay_after_reconnect(live: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        conv = await _new(http)
        url = f"/api/v1/conversations/{conv['id']}/messages"
        sock = await VisitorSocket.connect(live.ws_url, conv["id"], conv["token"])
        for i in range(3):
            await http.post(url, json={"body": f"a{i}"}, headers=auth(conv["token"]))
        await sock.until_seq(3)
        await sock.close()
        # Messages sent while disconnected are replayed once, in order, after `after`.
        for i in range(3, 7):
            await http.post(url, json={"body": f"a{i}"}, headers=auth(conv["token"]))
        again = await VisitorSocket.connect(live.ws_url, conv["id"], conv["token"], after=3)
        await again.send({"type": "message", "body": "a7", "client_message_id": "x"})
        await again.until_seq(8)
        seqs = [m["seq"] for m in sock.messages + again.messages]
        assert seqs == list(range(1, 9))
        assert [m["body"] for m in again.messages] == ["a3", "a4", "a5", "a6", "a7"]
        await again.close()


async def test_bad_frames_get_error_frames_and_abuse_closes(live: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        conv = await _new(http)
        sock = await VisitorSocket.connect(live.ws_url, conv["id"], conv["token"])
        await sock.send("{nope")
        assert (await sock.until(lambda f: f["type"] == "error"))["code"] == "bad_json"
        await sock.send({"type": "dance"})
        err = await sock.until(lambda f: f["type"] == "error")
        assert err["code"] == "unknown_type" and "dance" in err["message"]
        await sock.send({"type": "message", "client_message_id": "m1"})
        err = await sock.until(lambda f: f["type"] == "error")
        assert err["code"] == "invalid_message" and err["client_message_id"] == "m1"
        await sock.send({"type": "message", "body": "y" * 5000})
        err = await sock.until(lambda f: f["type"] == "error")
        assert "maximum is 4000" in err["message"]
        await sock.send("[1, 2]")
        assert (await sock.until(lambda f: f["type"] == "error"))["code"] == "bad_frame"
        # The socket still works after errors...
        await sock.send({"type": "message", "body": "ok"})
        await sock.until_seq(1)
        # ...until abuse: the tenth bad frame in a minute closes it with 1008.
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(10):
                await sock.send("garbage")
                await sock.next_frame()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        # The server keeps serving.
        r = await http.get(f"/api/v1/conversations/{conv['id']}/messages", headers=auth(conv["token"]))
        assert [m["body"] for m in r.json()] == ["ok"]


async def test_oversized_frame_closes_with_1009(live: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        conv = await _new(http)
        sock = await VisitorSocket.connect(live.ws_url, conv["id"], conv["token"])
        with pytest.raises(ConnectionClosed) as closed:
            await sock.send(json.dumps({"type": "message", "body": "z" * 1_000_000}))
            await sock.next_frame()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
        ok = await http.post(
            f"/api/v1/conversations/{conv['id']}/messages", json={"body": "after"}, headers=auth(conv["token"])
        )
        assert ok.status_code == 201 and ok.json()["seq"] == 1


@pytest.mark.parametrize("which", ["wrong-token", "unknown-id", "no-token"])
async def test_wrong_token_closes_4404(live: ThreadServer, which: str) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        conv = await _new(http)
        conv_id, token = conv["id"], conv["token"]
        if which == "wrong-token":
            token = "A" * 43
        elif which == "unknown-id":
            conv_id = "00000000-0000-0000-0000-000000000000"
        else:
            token = ""
        ws = await websockets.connect(f"{live.ws_url}/ws/conversations/{conv_id}?token={token}")
        with pytest.raises(ConnectionClosed) as closed:
            await asyncio.wait_for(ws.recv(), 5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4404


async def test_typing_reaches_other_sockets_but_not_the_sender(live: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        conv = await _new(http)
        a = await VisitorSocket.connect(live.ws_url, conv["id"], conv["token"])
        await a.send({"type": "typing"})
        await a.send({"type": "ping"})
        frame = await a.until(lambda f: f["type"] in {"pong", "typing"})
        assert frame["type"] == "pong"
        await a.close()


async def test_many_concurrent_senders_get_a_gap_free_sequence(live: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        conv = await _new(http)
        watcher = await VisitorSocket.connect(live.ws_url, conv["id"], conv["token"])
        senders = [await VisitorSocket.connect(live.ws_url, conv["id"], conv["token"]) for _ in range(4)]
        for n in range(10):
            for i, s in enumerate(senders):
                await s.send({"type": "message", "body": f"{i}-{n}", "client_message_id": f"{i}-{n}"})
        await watcher.until_seq(40, timeout=20)
        assert [m["seq"] for m in watcher.messages] == list(range(1, 41))
        for s in senders:
            await s.until_seq(40, timeout=20)
            assert [m["seq"] for m in s.messages] == list(range(1, 41))
            await s.close()
        await watcher.close()


async def test_socket_origin_allow_list(live: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        conv = await _new(http)
    url = f"{live.ws_url}/ws/conversations/{conv['id']}?token={conv['token']}"
    same = await websockets.connect(url, origin=f"http://127.0.0.1:{live.port}")  # type: ignore[arg-type]
    assert json.loads(await asyncio.wait_for(same.recv(), 5))["type"] == "ready"
    await same.close()
    evil = await websockets.connect(url, origin="https://evil.example")  # type: ignore[arg-type]
    with pytest.raises(ConnectionClosed) as closed:
        await asyncio.wait_for(evil.recv(), 5)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


async def test_security_headers(live: ThreadServer) -> None:
    async with httpx.AsyncClient(base_url=live.base_url) as http:
        page = await http.get("/")
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "strict-transport-security" not in page.headers


async def test_dead_socket_is_dropped(settings: Settings) -> None:
    """A client that stops answering pings is disconnected and unsubscribed."""
    import base64
    import os

    server = ThreadServer(settings.model_copy(update={"ws_ping_interval": 0.3})).start()
    try:
        async with httpx.AsyncClient(base_url=server.base_url) as http:
            conv = await _new(http)
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            key = base64.b64encode(os.urandom(16)).decode()
            writer.write(
                (
                    f"GET /ws/conversations/{conv['id']}?token={conv['token']} HTTP/1.1\r\n"
                    f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                    f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
                ).encode()
            )
            await writer.drain()
            assert b"101" in await reader.readuntil(b"\r\n\r\n")

            async def open_sockets() -> float:
                text = (await http.get("/metrics")).text
                lines = [x for x in text.splitlines() if x.startswith('sportello_open_sockets{kind="visitor"}')]
                return float(lines[0].split()[-1]) if lines else 0.0

            for _ in range(50):
                if await open_sockets() == 1.0:
                    break
                await asyncio.sleep(0.05)
            assert await open_sockets() == 1.0
            # From now on the client neither reads nor answers pings.
            for _ in range(50):
                await asyncio.sleep(0.1)
                if await open_sockets() == 0.0:
                    break
            assert await open_sockets() == 0.0
            writer.close()
    finally:
        server.stop()
