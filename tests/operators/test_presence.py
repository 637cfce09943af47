"""Presence through the operator socket: online while heartbeating, offline when it goes quiet."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import websockets

from sportello.config import Settings
from tests.fixtures.clients import open_conversation
from tests.fixtures.servers import ThreadServer
from tests.operators.helpers import (
    OperatorSocket,
    bearer,
    eventually,
    login,
    make_operator,
    presence_of,
    server,
    side_runtime,
)


async def test_socket_presence_heartbeat_and_expiry(settings: Settings) -> None:
    async with side_runtime(settings) as rt:
        op_id = await make_operator(rt, "gina@example.com")
        with server(settings, presence_timeout_seconds=1.5) as live:
            async with httpx.AsyncClient(base_url=live.base_url) as http:
                token = await login(http, "gina@example.com")
                conv = await open_conversation(http)
                # A visitor's token does not open the operator socket.
                async with websockets.connect(f"{live.ws_url}/ws/operator?token={conv['token']}") as ws:
                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        await asyncio.wait_for(ws.recv(), 5)
                    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401

                sock = await OperatorSocket.connect(live.ws_url, token)
                assert await presence_of(rt, op_id) == "online"
                await sock.send({"type": "presence", "status": "away"})
                assert (await sock.until(lambda f: f["type"] == "presence.ack"))["presence"] == "away"
                r = await http.put("/api/v1/operator/presence", json={"status": "online"}, headers=bearer(token))
                assert r.json()["presence"] == "online"

                # No heartbeat for longer than the timeout: the ticker turns the operator offline.
                async def offline() -> bool:
                    return await presence_of(rt, op_id) == "offline"

                await eventually(offline)
                # Heartbeats bring the still-open socket back and keep it online.
                for _ in range(4):
                    await sock.send({"type": "heartbeat"})
                    await sock.until(lambda f: f["type"] == "heartbeat.ack")
                    assert await presence_of(rt, op_id) == "online"
                    await asyncio.sleep(0.5)
                await sock.close()
                await eventually(offline, timeout=2)


async def test_deactivation_and_logout_close_sockets(live: object, settings: Settings) -> None:
    async with side_runtime(settings) as rt:
        await make_operator(rt, "admin@example.com", role="admin")
        op_id = await make_operator(rt, "hugo@example.com")
    base, ws_url = live.base_url, live.ws_url  # type: ignore[attr-defined]
    async with httpx.AsyncClient(base_url=base) as http:
        admin = await login(http, "admin@example.com")
        token = await login(http, "hugo@example.com")
        sock = await OperatorSocket.connect(ws_url, token)
        other = await OperatorSocket.connect(ws_url, await login(http, "admin@example.com"))
        assert (await http.post(f"/api/v1/operators/{op_id}/deactivate", headers=bearer(admin))).status_code == 200
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await sock.until(lambda f: False)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
        # Logout ends only that session's sockets.
        await http.post("/api/v1/auth/logout", headers=bearer(admin))
        await other.send({"type": "ping"})
        assert (await other.until(lambda f: f["type"] == "pong"))["type"] == "pong"
        await other.close()


async def test_operator_socket_refuses_other_origins(live: ThreadServer) -> None:
    from websockets.exceptions import ConnectionClosed as _Closed

    evil = await websockets.connect(f"{live.ws_url}/ws/operator", origin="https://evil.example")  # type: ignore[arg-type]
    try:
        await asyncio.wait_for(evil.recv(), 5)
        raise AssertionError("the socket should have been closed")
    except _Closed as closed:
        assert closed.rcvd is not None and closed.rcvd.code == 4403
