"""Operators with tokens, conversations in contact collection, a fixed clock."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from sportello.conversations import contact
from sportello.conversations import service as conversations
from sportello.operators import service as operators
from sportello.operators.schemas import OperatorCreate
from sportello.runtime import Runtime
from tests.fixtures.clients import auth, open_conversation

ROME = ZoneInfo("Europe/Rome")


def rome(*args: int) -> datetime:
    return datetime(*args, tzinfo=ROME)  # type: ignore[misc]


def runtime(http: httpx.AsyncClient) -> Runtime:
    rt: Runtime = http.app.state.runtime  # type: ignore[attr-defined]
    return rt


async def make_operator(
    rt: Runtime, *, role: str = "agent", tier: int = 1, name: str | None = None
) -> tuple[uuid.UUID, dict[str, str]]:
    """An operator and the headers of a logged-in session of theirs."""
    async with rt.db.scope() as session:
        op = await operators.create_operator(
            session,
            OperatorCreate(
                email=f"{uuid.uuid4().hex[:8]}@example.com",
                name=name or f"{role} t{tier}",
                password="correct horse battery",
                role=role,  # type: ignore[arg-type]
                tier=tier,
            ),
        )
        token, _ = await operators.start_session(session, op, rt.settings, address=None, user_agent=None)
        return op.id, auth(token)


async def awaiting_contact(
    http: httpx.AsyncClient, language: str = "it", **body: Any
) -> tuple[str, str]:
    """A conversation that the hand-off sent to contact collection (the menu is posted)."""
    conv = await open_conversation(http, language=language, **body)
    rt = runtime(http)
    async with rt.db.scope() as session:
        row = await conversations.get_conversation(session, conv["id"])
        await contact.offer_contact_options(session, row, reason="closed")
    return conv["id"], conv["token"]


def freeze(http: httpx.AsyncClient, at: datetime) -> None:
    runtime(http).extensions["clock"] = lambda: at


async def say(http: httpx.AsyncClient, conv_id: str, token: str, text: str) -> dict[str, Any]:
    """Send a visitor message and return the automated reply to it."""
    response = await http.post(
        f"/api/v1/conversations/{conv_id}/messages", json={"body": text}, headers=auth(token)
    )
    assert response.status_code == 201, response.text
    sent = response.json()
    await runtime(http).idle()
    messages = (
        await http.get(
            f"/api/v1/conversations/{conv_id}/messages",
            params={"after": sent["seq"]},
            headers=auth(token),
        )
    ).json()
    replies = [m for m in messages if m["sender"] == "system"]
    assert replies, f"no reply to {text!r}: {messages}"
    reply: dict[str, Any] = replies[-1]
    return reply


async def status_of(http: httpx.AsyncClient, conv_id: str, token: str) -> str:
    response = await http.get(f"/api/v1/conversations/{conv_id}", headers=auth(token))
    status: str = response.json()["status"]
    return status
