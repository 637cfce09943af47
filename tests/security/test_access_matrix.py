"""The access matrix: every route of the app × every kind of caller, with the answer each gets.

The expectations are keyed by (method, path template) and must cover exactly the routes the app
serves (API docs and static files aside): a new endpoint without a row fails
`test_every_route_has_a_row`. The rule they encode (docs/security.md, "The access rule"):

- a conversation is reached with its own token only; anything else is 404, never 401 or 403;
- operator endpoints answer 401 without a live session (deactivated operators included), 403
  when the role is too low (the endpoint exists for everybody, no object is revealed), and 404
  when the object is not visible to this operator, exactly as when it does not exist.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import websockets
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount, WebSocketRoute
from websockets.exceptions import ConnectionClosed

from sportello.config import Settings
from sportello.notifications.models import OutboxMessage
from sportello.operators import service as operators
from sportello.operators.models import Operator
from sportello.operators.schemas import OperatorCreate
from sportello.runtime import Runtime
from sportello.tickets.models import Ticket, VipCustomer
from sportello.timeutil import utc_now
from tests.fixtures.clients import open_conversation
from tests.fixtures.servers import ThreadServer
from tests.operators.helpers import PASSWORD, side_runtime

pytestmark = pytest.mark.parametrize("backend", ["sqlite"], indirect=True)

ANON, VISITOR, OTHER, AGENT, SUP, ADMIN, GONE = PRINCIPALS = (
    "anonymous", "visitor", "other_visitor", "agent", "supervisor", "admin", "deactivated",
)
OK = "ok"  # served: any answer but 401/403/404 and never a 5xx (409 or 422 are fine)
Expect = dict[str, int | str]


def public(answer: int | str = OK) -> Expect:
    return dict.fromkeys(PRINCIPALS, answer)


def visitor_only() -> Expect:
    return {**dict.fromkeys(PRINCIPALS, 404), VISITOR: OK}


def staff(agent: int | str = OK, supervisor: int | str = OK, admin: int | str = OK) -> Expect:
    return {ANON: 401, VISITOR: 401, OTHER: 401, GONE: 401, AGENT: agent, SUP: supervisor, ADMIN: admin}


SUPERVISORS = staff(agent=403)
ADMINS = staff(agent=403, supervisor=403)
HOLDER_ONLY = staff(404, 404, 404)  # your own live chat; the agent here holds none
VISIBLE = staff(agent=404)  # supervisors see all; the agent neither holds the chat nor has the tier
C = "/api/v1/conversations/{conversation_id}"
T = "/api/v1/tickets/{number}"
REPORTS = ("outcomes", "assistant", "queue", "response-times", "sla", "operators", "satisfaction", "channels", "volume")

EXPECTED: dict[tuple[str, str], Expect] = {
    # Widget and visitor API: the conversation's token, or 404.
    ("POST", "/api/v1/conversations"): public(),
    ("GET", C): visitor_only(),
    ("GET", f"{C}/messages"): visitor_only(),
    ("POST", f"{C}/messages"): visitor_only(),
    ("WS", "/ws/conversations/{conversation_id}"): visitor_only(),
    ("POST", f"{C}/handoff"): visitor_only(),
    ("POST", f"{C}/queue/keep-waiting"): visitor_only(),
    ("POST", f"{C}/queue/leave"): visitor_only(),
    ("POST", f"{C}/rating"): visitor_only(),
    ("POST", f"{C}/contact"): visitor_only(),
    ("GET", f"{C}/contact"): visitor_only(),
    # Operator session.
    ("POST", "/api/v1/auth/login"): public(),
    ("POST", "/api/v1/auth/logout"): staff(),
    ("GET", "/api/v1/auth/me"): staff(),
    ("POST", "/api/v1/auth/password"): staff(),
    ("PUT", "/api/v1/operator/presence"): staff(),
    ("WS", "/ws/operator"): staff(),
    ("GET", "/api/v1/dashboard/session"): staff(),
    ("GET", "/api/v1/dashboard/colleagues"): staff(),
    # Operator accounts.
    ("GET", "/api/v1/operators"): SUPERVISORS,
    ("POST", "/api/v1/operators"): ADMINS,
    ("PATCH", "/api/v1/operators/{operator_id}"): ADMINS,
    ("POST", "/api/v1/operators/{operator_id}/deactivate"): ADMINS,
    # Queue and live chat.
    ("GET", "/api/v1/queue"): staff(),
    ("POST", f"{C}/accept"): HOLDER_ONLY,
    ("POST", f"{C}/notes"): HOLDER_ONLY,
    ("GET", f"{C}/notes"): VISIBLE,
    ("POST", f"{C}/typing"): HOLDER_ONLY,
    ("POST", f"{C}/transfer"): HOLDER_ONLY,
    ("POST", f"{C}/end"): HOLDER_ONLY,
    ("GET", "/api/v1/operator/chats"): staff(),
    ("GET", "/api/v1/operator/chats/{conversation_id}/messages"): VISIBLE,
    ("GET", "/api/v1/dashboard/conversations/{conversation_id}"): VISIBLE,
    ("GET", "/api/v1/canned-replies"): staff(),
    ("POST", "/api/v1/canned-replies"): SUPERVISORS,
    # Tickets (the ticket is tier 2, assigned to nobody: the tier-1 agent may not see it).
    ("POST", "/api/v1/tickets"): staff(),
    ("GET", "/api/v1/tickets"): staff(),
    ("GET", T): VISIBLE,
    ("PATCH", T): VISIBLE,
    ("PATCH", f"{T}/tier"): SUPERVISORS,  # the role check comes first: no ticket is revealed
    ("POST", f"{T}/notes"): VISIBLE,
    ("GET", f"{T}/notes"): VISIBLE,
    ("POST", f"{T}/replies"): VISIBLE,
    ("GET", f"{T}/history"): VISIBLE,
    ("GET", "/api/v1/dashboard/tickets/{number}/messages"): VISIBLE,
    ("GET", "/api/v1/vip-customers"): ADMINS,
    ("POST", "/api/v1/vip-customers"): ADMINS,
    ("DELETE", "/api/v1/vip-customers/{customer_ref}"): ADMINS,
    # Notifications: webhooks answer 403 to anything Twilio did not sign; links are capabilities.
    ("POST", "/api/v1/channels/twilio/inbound"): public(403),
    ("POST", "/api/v1/channels/twilio/status"): public(403),
    ("GET", "/r/{token}"): public(404),
    ("GET", "/api/v1/notifications/preferences"): staff(),
    ("PUT", "/api/v1/notifications/preferences"): staff(),
    ("GET", "/api/v1/notifications/push/key"): staff(),
    ("POST", "/api/v1/notifications/push/subscriptions"): staff(),
    ("POST", "/api/v1/notifications/push/unsubscribe"): staff(),
    ("GET", "/api/v1/notifications/dead-letters"): SUPERVISORS,
    ("POST", "/api/v1/notifications/dead-letters/{outbox_id}/retry"): SUPERVISORS,
    ("GET", "/api/v1/notifications/channels"): staff(),
    # Reports and data-subject requests.
    **{("GET", f"/api/v1/reports/{name}"): SUPERVISORS for name in REPORTS},
    ("POST", "/api/v1/admin/data-requests/export"): ADMINS,
    ("POST", "/api/v1/admin/data-requests/erase"): ADMINS,
    # Pages and operations (the dashboard page is public; its data is not).
    ("GET", "/"): public(),
    ("GET", "/widget.js"): public(),
    ("GET", "/dashboard"): public(),
    ("GET", "/dashboard/sw.js"): public(),  # the push service worker: a static script
    ("GET", "/dashboard/{path:path}"): public(),
    ("GET", "/healthz"): public(),
    ("GET", "/readyz"): public(),
    ("GET", "/metrics"): public(),
}
SPOILERS = {("POST", "/api/v1/auth/logout"), ("POST", "/api/v1/auth/password")}  # they end the session
NOT_ROUTES = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}


def app_routes(app: Any) -> set[tuple[str, str]]:
    """(method, path template) of every route served, WebSockets as `WS`."""
    found: set[tuple[str, str]] = set()
    for ctx in iter_route_contexts(app.routes):
        route = ctx.original_route
        if isinstance(route, Mount) or ctx.path in NOT_ROUTES:
            continue
        if isinstance(route, WebSocketRoute) or ctx.methods is None:
            found.add(("WS", ctx.path))
            continue
        found |= {(m, ctx.path) for m in ctx.methods if m != "HEAD"}
    return found


def test_every_route_has_a_row(settings: Settings) -> None:
    from sportello.app import create_app

    served = app_routes(create_app(settings))
    missing = sorted(served - EXPECTED.keys())
    stale = sorted(EXPECTED.keys() - served)
    assert not missing, f"routes without a row in the access matrix: {missing}"
    assert not stale, f"rows for routes that no longer exist: {stale}"


@dataclass
class World:
    rt: Runtime
    server: ThreadServer
    conversation: str
    visitor_token: str
    other_token: str
    ticket: str
    operators: dict[str, uuid.UUID]
    target_operator: uuid.UUID
    dead_letter: int
    sessions: dict[str, str] = field(default_factory=dict)

    async def token(self, principal: str, *, fresh: bool = False) -> str | None:
        """The caller's credentials; `fresh` for a request that ends the session it uses."""
        if principal == ANON:
            return None
        if principal == VISITOR:
            return self.visitor_token
        if principal == OTHER:
            return self.other_token
        if not fresh and principal in self.sessions:
            return self.sessions[principal]
        async with self.rt.db.scope() as session:
            op = await session.get(Operator, self.operators[principal])
            assert op is not None
            token, _ = await operators.start_session(session, op, self.rt.settings, address=None, user_agent=None)
        if not fresh:
            self.sessions[principal] = token
        return token

    async def path(self, template: str) -> str:
        if "{outbox_id}" in template:
            self.dead_letter = await dead_letter(self.rt)
        values = {
            "conversation_id": self.conversation, "number": self.ticket, "operator_id": str(self.target_operator),
            "outbox_id": str(self.dead_letter), "customer_ref": "C-1", "token": "not-a-link", "path:path": "tickets",
        }
        for name, value in values.items():
            template = template.replace("{" + name + "}", value)
        return template


def bodies(world: World) -> dict[tuple[str, str], Callable[[str], Any]]:
    """A valid body per route and caller, so a refusal is never a validation error in disguise."""
    return {
        ("POST", f"{C}/messages"): lambda p: {"body": "hello"},
        ("POST", f"{C}/rating"): lambda p: {"rating": 5},
        ("POST", f"{C}/contact"): lambda p: {"method": "email", "email": "c@example.com", "consent": True},
        ("POST", "/api/v1/auth/login"): lambda p: {"email": "login@example.com", "password": PASSWORD},
        ("POST", "/api/v1/auth/password"): lambda p: {"current_password": PASSWORD, "new_password": PASSWORD + " again"},
        ("PUT", "/api/v1/operator/presence"): lambda p: {"status": "away"},
        ("POST", "/api/v1/operators"): lambda p: {"email": f"{uuid.uuid4().hex[:8]}@example.com", "name": "New", "password": PASSWORD},
        ("PATCH", "/api/v1/operators/{operator_id}"): lambda p: {"name": "Renamed"},
        ("POST", f"{C}/notes"): lambda p: {"body": "note"},
        ("POST", f"{C}/transfer"): lambda p: {"tier": 2},
        ("POST", "/api/v1/canned-replies"): lambda p: {"shortcut": f"s{uuid.uuid4().hex[:6]}", "language": "it", "title": "T", "body": "B"},
        ("POST", "/api/v1/tickets"): lambda p: {"subject": "S", "contact_method": "email", "email": "c@example.com"},
        ("PATCH", T): lambda p: {"priority": "high"},
        ("PATCH", f"{T}/tier"): lambda p: {"tier": 3},
        ("POST", f"{T}/notes"): lambda p: {"body": "note"},
        ("POST", f"{T}/replies"): lambda p: {"body": "reply"},
        ("POST", "/api/v1/vip-customers"): lambda p: {"customer_ref": f"C-{uuid.uuid4().hex[:6]}"},
        ("PUT", "/api/v1/notifications/preferences"): lambda p: {"preferences": {}},
        ("POST", "/api/v1/notifications/push/subscriptions"): lambda p: {
            "endpoint": f"https://push.example.com/{uuid.uuid4().hex}", "keys": {"p256dh": "BPk" + "A" * 84, "auth": "A" * 22},
        },
        ("POST", "/api/v1/notifications/push/unsubscribe"): lambda p: {"endpoint": "https://push.example.com/none"},
        ("POST", "/api/v1/admin/data-requests/export"): lambda p: {"email": "nobody@example.com"},
        ("POST", "/api/v1/admin/data-requests/erase"): lambda p: {"email": "nobody@example.com"},
    }


async def dead_letter(rt: Runtime) -> int:
    async with rt.db.scope() as session:
        row = OutboxMessage(
            idempotency_key=f"dead-{uuid.uuid4()}", kind="ticket.opened", channel="slack", recipient="team",
            language="it", payload={}, state="dead", next_attempt_at=utc_now(), created_at=utc_now(), updated_at=utc_now(),
        )
        session.add(row)
        await session.flush()
        return row.id


async def make_staff(rt: Runtime, email: str, role: str, tier: int = 1) -> uuid.UUID:
    async with rt.db.scope() as session:
        op = await operators.create_operator(
            session, OperatorCreate(email=email, name=email.split("@")[0], password=PASSWORD, role=role, tier=tier)  # type: ignore[arg-type]
        )
        return op.id


@contextlib.asynccontextmanager
async def world_for(settings: Settings) -> AsyncIterator[World]:
    server = ThreadServer(settings).start()
    try:
        async with side_runtime(settings) as rt, httpx.AsyncClient(base_url=server.base_url) as http:
            conv = await open_conversation(http, language="it")
            other = await open_conversation(http, language="it")
            ops = {
                AGENT: await make_staff(rt, "agent@example.com", "agent"),
                SUP: await make_staff(rt, "sup@example.com", "supervisor"),
                ADMIN: await make_staff(rt, "admin@example.com", "admin"),
                GONE: await make_staff(rt, "gone@example.com", "admin"),
            }
            target = await make_staff(rt, "target@example.com", "agent")
            await make_staff(rt, "login@example.com", "agent")
            async with rt.db.scope() as session:
                gone = await session.get(Operator, ops[GONE])
                assert gone is not None
                gone.active = False
                session.add(VipCustomer(customer_ref="C-1", created_at=utc_now()))
            sup_token = await World(rt, server, "", "", "", "", ops, target, 0).token(SUP)
            created = await http.post(
                "/api/v1/tickets", headers={"Authorization": f"Bearer {sup_token}"},
                json={"subject": "Tier two", "contact_method": "email", "email": "t2@example.com"},
            )
            assert created.status_code == 201, created.text
            async with rt.db.scope() as session:
                ticket = await session.get(Ticket, uuid.UUID(created.json()["id"]))
                assert ticket is not None
                ticket.tier = 2
            yield World(rt, server, conv["id"], conv["token"], other["token"], created.json()["number"], ops, target, 0)
    finally:
        server.stop()


async def ws_answer(world: World, template: str, token: str | None) -> int | str:
    """A socket as a status: OK when it gets its `ready` frame, else 401/404 from the close code."""
    query = f"?token={token}" if token else ""
    url = world.server.ws_url + await world.path(template) + query
    try:
        async with websockets.connect(url, origin=websockets.Origin(world.server.base_url)) as ws:  # type: ignore[attr-defined]
            while True:  # a replay of stored messages may come first
                frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if frame.get("type") == "ready":
                    return OK
    except ConnectionClosed as exc:
        code = exc.rcvd.code if exc.rcvd else None
        return {4401: 401, 4403: 403, 4404: 404}.get(code or 0, f"close {code}")


def judge(expected: int | str, status: int | str) -> bool:
    if expected == OK:
        return status == OK or (isinstance(status, int) and status < 500 and status not in (401, 403, 404))
    return status == expected


async def test_access_matrix(settings: Settings) -> None:
    async with world_for(settings) as world, httpx.AsyncClient(base_url=world.server.base_url, follow_redirects=False) as http:
        body_for = bodies(world)
        failures: list[str] = []
        for (method, template), expect in EXPECTED.items():
            for principal in PRINCIPALS:
                token = await world.token(principal, fresh=(method, template) in SPOILERS)
                if method == "WS":
                    answer = await ws_answer(world, template, token)
                else:
                    headers = {"Authorization": f"Bearer {token}"} if token else {}
                    make_body = body_for.get((method, template))
                    response = await http.request(
                        method, await world.path(template), headers=headers,
                        json=make_body(principal) if make_body else None,
                    )
                    http.cookies.clear()  # the login answer sets a session cookie; callers here carry none
                    answer = response.status_code
                if (method, template) in SPOILERS:
                    world.sessions.clear()  # a password change ends every session of the operator
                if not judge(expect[principal], answer):
                    failures.append(f"{method} {template} as {principal}: expected {expect[principal]}, got {answer}")
        assert not failures, "\n".join(failures)


async def test_missing_and_forbidden_look_alike(settings: Settings) -> None:
    """An unknown id answers what a forbidden one does: 404 for the visitor and for staff."""
    async with world_for(settings) as world, httpx.AsyncClient(base_url=world.server.base_url) as http:
        unknown = {"conversation_id": str(uuid.uuid4()), "number": "LDN-999999"}
        body_for = bodies(world)
        failures = []
        for (method, template), expect in EXPECTED.items():
            names = [n for n in unknown if "{" + n + "}" in template]
            if not names or method == "WS":
                continue
            caller = VISITOR if expect[VISITOR] == OK else ADMIN
            path = template
            for name in names:
                path = path.replace("{" + name + "}", unknown[name])
            token = await world.token(caller)
            make_body = body_for.get((method, template))
            response = await http.request(
                method, path, headers={"Authorization": f"Bearer {token}"}, json=make_body(caller) if make_body else None
            )
            if response.status_code != 404:
                failures.append(f"{method} {template} with an unknown id as {caller}: {response.status_code}")
        assert not failures, "\n".join(failures)


OPERATOR_ACTIONS: list[dict[str, Any]] = [
    {"type": "accept"}, {"type": "message", "body": "hi"}, {"type": "typing"}, {"type": "note", "body": "n"},
    {"type": "end"}, {"type": "transfer", "tier": 2},
]


async def test_operator_socket_actions_on_a_chat_not_yours(settings: Settings) -> None:
    """Every conversation action on the operator socket is refused as `not_found`, for any role."""
    async with world_for(settings) as world:
        for principal in (AGENT, SUP, ADMIN):
            token = await world.token(principal)
            url = f"{world.server.ws_url}/ws/operator?token={token}"
            async with websockets.connect(url, origin=websockets.Origin(world.server.base_url)) as ws:  # type: ignore[attr-defined]
                for action in OPERATOR_ACTIONS:
                    await ws.send(json.dumps({**action, "conversation_id": world.conversation}))
                    while True:
                        frame = json.loads(await asyncio.wait_for(ws.recv(), 5))
                        if frame.get("type") == "error":
                            break
                    assert frame["code"] == "not_found", (principal, action, frame)
