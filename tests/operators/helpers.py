"""Operators for tests: accounts, logins, presence and their socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any

import httpx
import websockets

from sportello.config import Settings
from sportello.operators import presence
from sportello.operators.models import Operator
from sportello.operators.schemas import OperatorCreate
from sportello.operators.service import create_operator
from sportello.runtime import Runtime
from tests.fixtures.servers import ThreadServer

PASSWORD = "correct horse battery"


async def make_operator(
    rt: Runtime,
    email: str,
    *,
    name: str | None = None,
    role: str = "agent",
    languages: Sequence[str] = ("it", "en"),
    skills: Sequence[str] = (),
    max_chats: int = 3,
    tier: int = 1,
) -> uuid.UUID:
    async with rt.db.scope() as session:
        op = await create_operator(
            session,
            OperatorCreate(
                email=email, name=name or email.split("@")[0].title(), password=PASSWORD, role=role,  # type: ignore[arg-type]
                languages=list(languages), skills=list(skills), max_chats=max_chats, tier=tier,
            ),
        )
        return op.id


async def go_online(rt: Runtime, operator_id: uuid.UUID) -> uuid.UUID:
    """Presence as if a dashboard socket had connected (without a socket)."""
    async with rt.db.scope() as session:
        return await presence.connect(
            session, operator_id, None, presence_timeout=rt.settings.presence_timeout_seconds
        )


async def login(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    r = await http.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class OperatorSocket:
    """The operator's dashboard socket; collects frames."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.frames: list[dict[str, Any]] = []

    @classmethod
    async def connect(cls, ws_url: str, token: str) -> OperatorSocket:
        sock = cls(await websockets.connect(f"{ws_url}/ws/operator?token={token}"))
        await sock.until(lambda f: f["type"] == "ready")
        return sock

    async def send(self, frame: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(frame))

    async def until(self, predicate: Any, timeout: float = 5.0) -> dict[str, Any]:
        for frame in self.frames:
            if predicate(frame):
                self.frames.remove(frame)
                return frame
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), max(0.01, deadline - loop.time()))
            frame: dict[str, Any] = json.loads(raw)
            if predicate(frame):
                return frame
            self.frames.append(frame)

    async def close(self) -> None:
        await self.ws.close()


@contextlib.asynccontextmanager
async def side_runtime(settings: Settings) -> AsyncIterator[Runtime]:
    """A runtime in the test's own loop on the server's database (and Redis, when set)."""
    rt = Runtime(settings)
    await rt.start()
    try:
        yield rt
    finally:
        await rt.stop()


@contextlib.contextmanager
def server(settings: Settings, **overrides: Any) -> Iterator[ThreadServer]:
    """A real server with some settings changed (short timeouts, usually)."""
    srv = ThreadServer(settings.model_copy(update=overrides)).start()
    try:
        yield srv
    finally:
        srv.stop()


async def presence_of(rt: Runtime, operator_id: uuid.UUID) -> str:
    async with rt.db.scope() as session:
        op = await session.get(Operator, operator_id, populate_existing=True)
        assert op is not None
        return op.presence


async def eventually(check: Any, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        if await check():
            return
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.05)
