"""`WS /ws/operator`: an operator's dashboard connection (presence, offers, queue and chats).

Authentication is the session bearer token (`?token=`) or the session cookie; anything else
closes with 4401. The socket keeps the operator online while the client sends
`{"type": "heartbeat"}` (or `ping`) at least every `presence_timeout_seconds`; it receives
every event of `operator:{id}`, `operators` (and `supervisors` for supervisors), plus the
messages, typing and internal notes of the operator's chats, gap-free via ConversationCursor.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from sportello.conversations import service as conversations
from sportello.conversations.schemas import MessageCreate
from sportello.errors import DomainError
from sportello.events import Subscription
from sportello.middleware import origin_allowed
from sportello.operators import presence
from sportello.operators.deps import cookie_token
from sportello.operators.models import Role
from sportello.operators.service import (
    OPERATORS_CHANNEL,
    SUPERVISORS_CHANNEL,
    Principal,
    authenticate,
    is_operator_token,
    operator_channel,
)
from sportello.queue import live, routing
from sportello.realtime.stream import ConversationCursor, message_frame, run_until_first_ends
from sportello.realtime.visitor_ws import AbuseCounter, error_frame, fetch_messages_after, send_json
from sportello.runtime import Runtime
from sportello.timeutil import utc_now

router = APIRouter()

CLOSE_UNAUTHORIZED = 4401
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
HEARTBEAT_WRITE_EVERY = 5.0


class OperatorHub:
    """State of one operator socket: the chats it follows and their cursors."""

    def __init__(self, rt: Runtime, ws: WebSocket, principal: Principal, sub: Subscription) -> None:
        self.rt = rt
        self.ws = ws
        self.principal = principal
        self.sub = sub
        self.cursors: dict[str, ConversationCursor] = {}
        self.connection_id: uuid.UUID | None = None
        self._last_beat = 0.0

    async def follow(self, conversation_id: uuid.UUID | str) -> None:
        key = str(conversation_id)
        if key in self.cursors:
            return
        conv_id = uuid.UUID(key)
        self.sub.add(conversations.conversation_channel(conv_id))
        self.sub.add(live.staff_channel(conv_id))
        cursor = ConversationCursor(conv_id, 0, lambda cid, n: fetch_messages_after(self.rt, cid, n))
        self.cursors[key] = cursor
        await self.send_messages(await cursor.catch_up())

    async def send_messages(self, messages: list[dict[str, Any]], event: dict[str, Any] | None = None) -> None:
        for message in messages:
            await self.ws.send_text(message_frame(message, event))

    async def beat(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.connection_id is None or (not force and now - self._last_beat < HEARTBEAT_WRITE_EVERY):
            return
        self._last_beat = now
        async with self.rt.db.scope() as session:
            await presence.heartbeat(
                session, self.connection_id, self.principal.id, self.principal.session_id,
                presence_timeout=self.rt.settings.presence_timeout_seconds,
            )

    async def write_events(self) -> None:
        while True:
            event = await self.sub.get()
            kind = event.get("type")
            if kind == "session.revoked":
                ids = event.get("session_ids")
                if ids == "all" or str(self.principal.session_id) in (ids or ()):
                    await self.ws.close(code=CLOSE_UNAUTHORIZED, reason="session ended")
                    return
                continue
            if kind == "message.created":
                cursor = self.cursors.get(str(event["message"]["conversation_id"]))
                if cursor is not None:
                    await self.send_messages(await cursor.accept(event["message"]), event)
                continue
            if kind == "bus.resync":
                for cursor in list(self.cursors.values()):
                    await self.send_messages(await cursor.catch_up())
                await send_json(self.ws, {"type": "resync"})
                continue
            if kind == "typing" and event.get("sender") == "operator":
                continue
            if kind == "chat.assigned":
                await send_json(self.ws, event)
                await self.follow(event["conversation_id"])
                continue
            await send_json(self.ws, event)

    async def read_frames(self) -> None:
        abuse = AbuseCounter()
        limit = self.rt.settings.ws_max_frame_bytes
        while True:
            frame = await self.ws.receive()
            if frame["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(frame.get("code", 1000))
            raw = frame.get("text")
            if raw is None and frame.get("bytes") is not None:
                raw = frame["bytes"].decode("utf-8", errors="replace")
            raw = raw or ""
            if len(raw.encode()) > limit:
                await self.ws.close(code=CLOSE_TOO_BIG, reason="frame too large")
                return
            await self.beat()
            reply = await self.handle(raw)
            if reply is None:
                continue
            await send_json(self.ws, reply)
            if reply["type"] == "error" and abuse.hit():
                await self.ws.close(code=CLOSE_POLICY, reason="too many invalid frames")
                return

    async def handle(self, raw: str) -> dict[str, Any] | None:
        try:
            frame = json.loads(raw)
        except ValueError:
            return error_frame("bad_json", "frame is not valid JSON")
        if not isinstance(frame, dict):
            return error_frame("bad_frame", "frame must be a JSON object with a 'type'")
        kind = frame.get("type")
        conv_id = frame.get("conversation_id")
        try:
            return await self._dispatch_frame(kind, frame, conv_id)
        except DomainError as exc:
            return error_frame(exc.code, exc.message, conversation_id=conv_id, request=kind)
        except ValidationError as exc:
            detail = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            return error_frame("invalid_input", detail, conversation_id=conv_id, request=kind)

    async def _dispatch_frame(self, kind: object, frame: dict[str, Any], conv_id: Any) -> dict[str, Any] | None:
        rt, principal = self.rt, self.principal
        if kind in ("heartbeat", "ping"):
            await self.beat(force=True)
            return {"type": "pong" if kind == "ping" else "heartbeat.ack"}
        if kind == "presence":
            status = frame.get("status")
            if status not in ("online", "away"):
                return error_frame("invalid_input", "status must be 'online' or 'away'")
            async with rt.db.scope() as session:
                now_presence = await presence.set_choice(
                    session, principal.id, status, presence_timeout=rt.settings.presence_timeout_seconds
                )
            await routing.dispatch(rt)
            return {"type": "presence.ack", "presence": now_presence}
        if not isinstance(conv_id, str):
            if kind in ("accept", "message", "typing", "note", "end", "transfer"):
                return error_frame("invalid_input", "conversation_id is required")
            return error_frame(
                "unknown_type",
                f"unknown frame type {kind!r}; expected heartbeat, ping, presence, accept, message, typing, note, transfer or end",
            )
        if kind == "accept":
            async with rt.db.scope() as session:
                await routing.accept(session, rt.settings, conv_id, principal, utc_now())
            return {"type": "accept.ack", "conversation_id": conv_id}
        if kind == "message":
            data = MessageCreate.model_validate({"body": frame.get("body"), "client_message_id": frame.get("client_message_id")})
            await live.send_operator_message(rt, conv_id, principal, data)
            return None
        if kind == "typing":
            await live.operator_typing(rt, conv_id, principal)
            return None
        if kind == "note":
            body = frame.get("body")
            if not isinstance(body, str) or not body.strip():
                return error_frame("invalid_input", "body must be non-blank text")
            await live.add_note(rt, conv_id, principal, body)
            return None
        if kind == "end":
            await live.end_chat(rt, conv_id, principal)
            return {"type": "end.ack", "conversation_id": conv_id}
        if kind == "transfer":
            target = frame.get("operator_id")
            tier = frame.get("tier")
            await live.transfer(
                rt, conv_id, principal,
                operator_id=uuid.UUID(target) if isinstance(target, str) else None,
                tier=tier if isinstance(tier, int) else None,
            )
            return {"type": "transfer.ack", "conversation_id": conv_id}
        return error_frame("unknown_type", f"unknown frame type {kind!r}")


@router.websocket("/ws/operator")
async def operator_socket(ws: WebSocket, token: str = "") -> None:
    rt: Runtime = ws.app.state.runtime
    await ws.accept()
    # The dashboard is served by this server: a page of any other origin must not ride on an
    # operator's session cookie (cross-site WebSocket hijacking).
    if not origin_allowed(ws.headers.get("origin"), ws.headers.get("host"), []):
        await ws.close(code=4403, reason="origin not allowed")
        return
    raw = token if is_operator_token(token) else cookie_token(ws, rt.settings)
    async with rt.db.scope() as session:
        principal = await authenticate(session, raw)
    if principal is None:
        await ws.close(code=CLOSE_UNAUTHORIZED, reason="operator session required")
        return
    channels = [operator_channel(principal.id), OPERATORS_CHANNEL]
    if principal.has_role(Role.SUPERVISOR):
        channels.append(SUPERVISORS_CHANNEL)
    sub = rt.bus.subscribe(*channels)
    hub = OperatorHub(rt, ws, principal, sub)
    timeout = rt.settings.presence_timeout_seconds
    try:
        async with rt.db.scope() as session:
            hub.connection_id = await presence.connect(session, principal.id, principal.session_id, presence_timeout=timeout)
            chats = [c.id for c in await live.chats_of(session, principal.id)]
            op_presence = await presence.refresh_presence(session, principal.id, presence_timeout=timeout)
        await send_json(
            ws,
            {"type": "ready", "operator_id": str(principal.id), "presence": op_presence, "chats": [str(c) for c in chats]},
        )
        for conv_id in chats:
            await hub.follow(conv_id)
        await routing.dispatch(rt)
        await run_until_first_ends(hub.read_frames(), hub.write_events())
    except WebSocketDisconnect:
        pass
    finally:
        sub.close()
        if hub.connection_id is not None:
            with contextlib.suppress(Exception):
                async with rt.db.scope() as session:
                    await presence.disconnect(session, hub.connection_id, principal.id, presence_timeout=timeout)
                await routing.dispatch(rt)
        if ws.application_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await ws.close()
