"""Gap-free, duplicate-free message streams for one socket."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any

from starlette.websockets import WebSocketDisconnect

from sportello.events import SharedEvent

FetchAfter = Callable[[uuid.UUID, int], Awaitable[Sequence[dict[str, Any]]]]


class ConversationCursor:
    """Tracks the last sequence number sent for one conversation.

    Live events normally arrive in sequence order; when one arrives ahead of a gap (a
    process's event overtook another's, or the bus asked for a resync), the missing range
    is read back from the database, which already holds every message that was published.
    """

    def __init__(self, conversation_id: uuid.UUID, last_seq: int, fetch_after: FetchAfter) -> None:
        self.conversation_id = conversation_id
        self.last_seq = last_seq
        self._fetch_after = fetch_after

    async def catch_up(self, rows: Sequence[dict[str, Any]] | None = None) -> list[dict[str, Any]]:
        """The messages after the last one sent; `rows` if the caller has just read them itself."""
        if rows is None:
            rows = await self._fetch_after(self.conversation_id, self.last_seq)
        out = [m for m in rows if m["seq"] > self.last_seq]
        if out:
            self.last_seq = out[-1]["seq"]
        return out

    async def accept(self, message: dict[str, Any]) -> list[dict[str, Any]]:
        """The messages to send for a live `message`, in order (maybe none, maybe several)."""
        seq = int(message["seq"])
        if seq <= self.last_seq:
            return []
        if seq == self.last_seq + 1:
            self.last_seq = seq
            return [message]
        return await self.catch_up()


def encode(payload: dict[str, Any]) -> str:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False)


def message_frame(message: dict[str, Any], event: dict[str, Any] | None = None) -> str:
    """The text of the `message` frame carrying `message`.

    When it is the message of the live `event`, the text is kept on the event: the visitor's
    echo and each operator's socket send the same frame, so it is encoded once per process.
    """
    if isinstance(event, SharedEvent) and message is event.get("message"):
        text: str | None = getattr(event, "encoded", None)
        if text is None:
            text = event.encoded = encode({"type": "message", "message": message})
        return text
    return encode({"type": "message", "message": message})


async def run_until_first_ends(*coros: Coroutine[Any, Any, None]) -> None:
    """Run a socket's reader and writer together; when one ends, stop the other.

    A disconnect ends the pair quietly; any other failure of the finished side is raised.
    """
    tasks = {asyncio.create_task(c) for c in coros}
    done, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    for task in pending:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    for task in done:
        exc = task.exception()
        if exc is not None and not isinstance(exc, WebSocketDisconnect):
            raise exc
