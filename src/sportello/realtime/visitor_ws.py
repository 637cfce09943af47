"""`WS /ws/conversations/{id}`: the visitor's live connection to a conversation."""

from __future__ import annotations

import contextlib
import json
import logging
import time
import uuid
from collections import Counter, deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.websockets import WebSocketDisconnect, WebSocketState

from sportello.conversations import service
from sportello.conversations.intake import receive_visitor_message
from sportello.conversations.schemas import MessageCreate, MessageRead
from sportello.errors import DomainError, NotFound
from sportello.groupcommit import GroupCommit
from sportello.middleware import origin_allowed
from sportello.queue import service as queue
from sportello.realtime.stream import (
    ConversationCursor,
    encode,
    message_frame,
    run_until_first_ends,
)
from sportello.runtime import Runtime
from sportello.timeutil import utc_now

log = logging.getLogger(__name__)
router = APIRouter()

CLOSE_NOT_FOUND = 4404
CLOSE_FORBIDDEN_ORIGIN = 4403
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_SERVICE_RESTART = 1012  # the server is stopping: the visitor did not leave
ABUSE_LIMIT = 10
ABUSE_WINDOW = 60.0
OPENINGS_KEY = "realtime.visitor_socket_openings"
DEPARTURES_KEY = "realtime.visitor_socket_departures"


class AbuseCounter:
    """Counts bad frames in a sliding window; too many closes the socket."""

    def __init__(self, limit: int = ABUSE_LIMIT, window: float = ABUSE_WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._hits: deque[float] = deque()

    def hit(self) -> bool:
        now = time.monotonic()
        self._hits.append(now)
        while self._hits and self._hits[0] < now - self.window:
            self._hits.popleft()
        return len(self._hits) >= self.limit


async def fetch_messages_after(rt: Runtime, conversation_id: uuid.UUID, after: int) -> list[dict[str, Any]]:
    async with rt.db.scope() as session:
        return await _messages_after(session, conversation_id, after)


async def _messages_after(session: AsyncSession, conversation_id: uuid.UUID, after: int) -> list[dict[str, Any]]:
    rows = await service.list_messages(session, conversation_id, after=after, limit=1000)
    return [MessageRead.model_validate(m).model_dump(mode="json") for m in rows]


@dataclass(frozen=True)
class _Opening:
    conversation_id: uuid.UUID
    token: str
    after: int


async def _open_sockets(session: AsyncSession, openings: list[_Opening]) -> list[list[dict[str, Any]] | DomainError]:
    """Check the tokens, cancel queue grace periods and read the backlogs of sockets opening together.

    On SQLite every unit of work and every statement queues for the one connection; in a burst of
    new visitors each socket's opening was two units of work and three statements. Now sockets
    opening together share one unit of work and two statements, and a new conversation's backlog
    is not read at all (its last sequence number says there is none).
    """
    last_seqs = await service.visitor_last_seqs(session, [(o.conversation_id, o.token) for o in openings])
    await queue.visitors_returned(
        session, [o.conversation_id for o, seq in zip(openings, last_seqs, strict=True) if seq is not None]
    )
    out: list[list[dict[str, Any]] | DomainError] = []
    for o, last_seq in zip(openings, last_seqs, strict=True):
        if last_seq is None:
            out.append(NotFound(service.NOT_FOUND))
        else:
            out.append(await _messages_after(session, o.conversation_id, o.after) if last_seq > o.after else [])
    return out


def _openings(rt: Runtime) -> GroupCommit[_Opening, list[dict[str, Any]]]:
    found = rt.extensions.get(OPENINGS_KEY)
    if found is None:
        found = rt.extensions[OPENINGS_KEY] = GroupCommit(
            rt, "visitor-socket-openings", _open_sockets, order=lambda o: str(o.conversation_id)
        )
    return cast(GroupCommit[_Opening, list[dict[str, Any]]], found)


async def send_json(ws: WebSocket, payload: dict[str, Any]) -> None:
    await ws.send_text(encode(payload))


def observe_delivery(rt: Runtime, message: dict[str, Any]) -> None:
    """Record how long a live message took from its commit to this socket."""
    try:
        created = datetime.fromisoformat(message["created_at"].replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return
    rt.metrics.delivery.observe(max(0.0, (utc_now() - created).total_seconds()))


def error_frame(code: str, message: str, **extra: Any) -> dict[str, Any]:
    return {"type": "error", "code": code, "message": message, **extra}


@router.websocket("/ws/conversations/{conversation_id}")
async def visitor_socket(ws: WebSocket, conversation_id: str, token: str = "", after: int = 0) -> None:
    rt: Runtime = ws.app.state.runtime
    await ws.accept()
    if not origin_allowed(ws.headers.get("origin"), ws.headers.get("host"), rt.settings.widget_origins):
        await ws.close(code=CLOSE_FORBIDDEN_ORIGIN, reason="origin not allowed")
        return
    try:
        conv_id = service.parse_id(conversation_id)
    except NotFound:
        await ws.close(code=CLOSE_NOT_FOUND, reason="conversation not found")
        return
    # Subscribed before the backlog is read, so a message committed in between is not missed.
    sub = rt.bus.subscribe(service.conversation_channel(conv_id))
    try:
        backlog = await _openings(rt).submit(_Opening(conv_id, token, max(after, 0)))
    except NotFound:
        sub.close()
        await ws.close(code=CLOSE_NOT_FOUND, reason="conversation not found")
        return
    except BaseException:
        sub.close()
        raise

    rt.metrics.open_sockets.labels("visitor").inc()
    open_here: Counter[uuid.UUID] = rt.extensions.setdefault("visitor_sockets", Counter())
    open_here[conv_id] += 1
    cursor = ConversationCursor(
        conv_id, max(after, 0), lambda cid, n: fetch_messages_after(rt, cid, n)
    )
    left = True
    try:
        for message in await cursor.catch_up(backlog):
            await ws.send_text(message_frame(message))
        await send_json(ws, {"type": "ready", "last_seq": cursor.last_seq})
        await run_until_first_ends(_read_frames(rt, ws, conv_id, token), _write_events(rt, ws, sub, cursor))
    except WebSocketDisconnect as exc:
        left = exc.code != CLOSE_SERVICE_RESTART
    finally:
        sub.close()
        rt.metrics.open_sockets.labels("visitor").dec()
        open_here[conv_id] -= 1
        if open_here[conv_id] <= 0:
            del open_here[conv_id]
            if left:
                await _visitor_left(rt, conv_id)
        if ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await ws.close()


async def _visitor_left(rt: Runtime, conv_id: uuid.UUID) -> None:
    """No socket of this conversation is open here any more: the queue may start its grace period."""
    try:
        await _departures(rt).submit((conv_id, rt.extensions.get("clock", utc_now)()))
    except Exception:
        # The socket is gone either way; a waiting visitor then stays queued until the wait timeout.
        log.exception("could not record a visitor leaving", extra={"conversation_id": str(conv_id)})


def _departures(rt: Runtime) -> GroupCommit[tuple[uuid.UUID, datetime], None]:
    """Sockets closing together share one unit of work and one read (most are not in the queue)."""
    found = rt.extensions.get(DEPARTURES_KEY)
    if found is None:

        async def write(session: AsyncSession, departures: list[tuple[uuid.UUID, datetime]]) -> list[None]:
            await queue.visitors_left(session, rt.settings, departures)
            return [None] * len(departures)

        found = rt.extensions[DEPARTURES_KEY] = GroupCommit(rt, "visitor-socket-departures", write)
    return cast(GroupCommit[tuple[uuid.UUID, datetime], None], found)


async def _still_here(rt: Runtime, conv_id: uuid.UUID) -> None:
    try:
        async with rt.db.scope() as session:
            await queue.visitor_returned(session, conv_id)
    except Exception:
        log.exception("could not record a visitor still here", extra={"conversation_id": str(conv_id)})


async def _write_events(rt: Runtime, ws: WebSocket, sub: Any, cursor: ConversationCursor) -> None:
    while True:
        event = await sub.get()
        kind = event.get("type")
        if kind == queue.VISITOR_GONE_EVENT:
            # Another process saw a socket of this conversation close; this one is still open.
            await _still_here(rt, cursor.conversation_id)
        elif kind == "message.created":
            for message in await cursor.accept(event["message"]):
                await ws.send_text(message_frame(message, event))
                observe_delivery(rt, message)
        elif kind == "bus.resync":
            for message in await cursor.catch_up():
                await ws.send_text(message_frame(message))
        elif kind == "typing":
            if event.get("sender") != "visitor":
                await send_json(ws, event)
        elif kind is not None and not event.get("internal"):
            await send_json(ws, event)


async def _read_frames(rt: Runtime, ws: WebSocket, conv_id: uuid.UUID, token: str) -> None:
    abuse = AbuseCounter()
    limit = rt.settings.ws_max_frame_bytes
    per_second = rt.settings.limit_ws_frames_per_second
    window_start, frames_in_window = time.monotonic(), 0
    while True:
        frame = await ws.receive()
        if frame["type"] == "websocket.disconnect":
            raise WebSocketDisconnect(frame.get("code", 1000))
        raw = frame.get("text")
        if raw is None and frame.get("bytes") is not None:
            raw_bytes: bytes = frame["bytes"]
            if len(raw_bytes) > limit:
                await ws.close(code=CLOSE_TOO_BIG, reason="frame too large")
                return
            raw = raw_bytes.decode("utf-8", errors="replace")
        raw = raw or ""
        if len(raw.encode()) > limit:
            await ws.close(code=CLOSE_TOO_BIG, reason="frame too large")
            return
        now = time.monotonic()
        if now - window_start >= 1.0:
            window_start, frames_in_window = now, 0
        frames_in_window += 1
        if per_second and frames_in_window > per_second:
            reply: dict[str, Any] | None = error_frame(
                "rate_limited", "too many frames; please slow down", retry_after=1
            )
        else:
            reply = await _handle_frame(rt, conv_id, token, raw)
        if reply is None:
            continue
        await send_json(ws, reply)
        if reply["type"] == "error" and abuse.hit():
            await ws.close(code=CLOSE_POLICY, reason="too many invalid frames")
            return


async def _handle_frame(rt: Runtime, conv_id: uuid.UUID, token: str, raw: str) -> dict[str, Any] | None:
    try:
        frame = json.loads(raw)
    except ValueError:
        return error_frame("bad_json", "frame is not valid JSON")
    if not isinstance(frame, dict):
        return error_frame("bad_frame", "frame must be a JSON object with a 'type'")
    kind = frame.get("type")
    if kind == "message":
        cmid = frame.get("client_message_id")
        try:
            data = MessageCreate.model_validate(
                {"body": frame.get("body"), "client_message_id": cmid}
            )
        except ValidationError as exc:
            detail = "; ".join(
                f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors()
            )
            return error_frame("invalid_message", detail, client_message_id=cmid)
        try:
            await receive_visitor_message(rt, conv_id, token, data)
        except DomainError as exc:
            extra = {"retry_after": int(exc.headers["Retry-After"])} if exc.headers and "Retry-After" in exc.headers else {}
            return error_frame(exc.code, exc.message, client_message_id=cmid, **extra)
        return None
    if kind == "typing":
        await rt.bus.publish(
            service.conversation_channel(conv_id),
            {"type": "typing", "sender": "visitor", "conversation_id": str(conv_id)},
        )
        return None
    if kind == "ping":
        return {"type": "pong"}
    return error_frame("unknown_type", f"unknown frame type {kind!r}; expected message, typing or ping")
