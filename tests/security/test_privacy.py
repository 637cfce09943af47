"""Data-subject requests (export, erasure) and retention, through the admin API, the CLI and the ticker."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from sportello import ticker
from sportello.audit import AuditEvent
from sportello.conversations.models import Conversation, Message
from sportello.notifications.models import NotificationRecipient, OutboxMessage
from sportello.privacy import tasks
from sportello.runtime import Runtime
from sportello.tickets.models import Ticket, TicketStatus
from sportello.timeutil import utc_now
from tests.fixtures.clients import auth, open_conversation
from tests.security.erasure import rows_mentioning
from tests.tickets.helpers import make_operator, runtime

EMAIL = "Mario.Rossi_77@Example.it"
PHONE = "+39 333 123 4567"
NEEDLES = ("mario.rossi_77@example.it", "3331234567")


async def _footprint(client: httpx.AsyncClient) -> dict[str, Any]:
    """Mario's data in every place it ends up, plus a bystander who mentions him."""
    rt = runtime(client)
    _, agent = await make_operator(rt, role="agent")
    mario = await open_conversation(client, language="it")
    await client.post(
        f"/api/v1/conversations/{mario['id']}/messages",
        json={"body": f"sono Mario, scrivetemi a {EMAIL} o al {PHONE}"}, headers=auth(mario["token"]),
    )
    contact = await client.post(
        f"/api/v1/conversations/{mario['id']}/contact",
        json={"method": "email", "email": EMAIL, "consent": True}, headers=auth(mario["token"]),
    )
    assert contact.status_code == 201, contact.text
    number = contact.json()["ticket_number"]
    note = await client.post(f"/api/v1/tickets/{number}/notes", json={"body": f"called {PHONE}, no answer"}, headers=agent)
    assert note.status_code == 201, note.text
    by_phone = await client.post(
        "/api/v1/tickets", headers=agent,
        json={"subject": "Richiamare", "description": "cliente al telefono", "contact_method": "sms", "phone": PHONE},
    )
    assert by_phone.status_code == 201, by_phone.text
    # A visitor who types the address is taken for its owner (their conversation is erased too).
    typed = await open_conversation(client, language="it")
    await client.post(
        f"/api/v1/conversations/{typed['id']}/messages",
        json={"body": "il mio indirizzo: mario.rossi_77@example.it"}, headers=auth(typed["token"]),
    )
    # Someone else's ticket that only mentions him keeps existing, redacted.
    other = await client.post(
        "/api/v1/tickets", headers=agent,
        json={"subject": "Ordine 55", "description": "come per mario.rossi_77@example.it", "contact_method": "email", "email": "anna@example.com"},
    )
    assert other.status_code == 201, other.text
    async with rt.db.scope() as session:
        session.add(NotificationRecipient(channel="sms", address="+393331234567", state="opted_out", updated_at=utc_now()))
        session.add(OutboxMessage(
            idempotency_key=f"t-{uuid.uuid4()}", kind="ticket_replied", channel="sms", recipient="+393331234567",
            language="it", payload={"text": "Ciao Mario"}, state="sent", next_attempt_at=utc_now(),
            created_at=utc_now(), updated_at=utc_now(),
        ))
    await rt.idle()
    return {"mario": mario, "typed": typed, "other": other.json()["number"], "number": number, "by_phone": by_phone.json()["number"], "agent": agent}


async def test_export_then_erase_leaves_nothing_in_any_table(client: httpx.AsyncClient) -> None:
    rt = runtime(client)
    world = await _footprint(client)
    _, admin = await make_operator(rt, role="admin")
    _, supervisor = await make_operator(rt, role="supervisor")
    assert len(await rows_mentioning(rt, NEEDLES)) > 5

    body = {"email": EMAIL, "phone": PHONE}
    assert (await client.post("/api/v1/admin/data-requests/export", json=body, headers=supervisor)).status_code == 403
    assert (await client.post("/api/v1/admin/data-requests/export", json=body)).status_code == 401
    assert (await client.post("/api/v1/admin/data-requests/export", json={}, headers=admin)).status_code == 422

    exported = await client.post("/api/v1/admin/data-requests/export", json=body, headers=admin)
    assert exported.status_code == 200, exported.text
    data = exported.json()
    assert {world["mario"]["id"], world["typed"]["id"]} <= {c["id"] for c in data["conversations"]}
    assert len(data["conversations"]) == 3  # with the one behind the ticket opened by phone
    assert any(EMAIL in m["body"] for c in data["conversations"] for m in c["messages"])
    assert {t["number"] for t in data["tickets"]} == {world["number"], world["by_phone"]}
    assert data["contact_requests"][0]["email"].lower() == NEEDLES[0]
    assert data["recipient_status"][0]["state"] == "opted_out"
    assert {"text": "Ciao Mario"} in [n["content"] for n in data["notifications"]]
    # Internal notes are counted for the admin, never handed to the customer.
    assert data["internal_notes_held"] == 1
    assert "no answer" not in json.dumps(data)

    erased = await client.post("/api/v1/admin/data-requests/erase", json=body, headers=admin)
    assert erased.status_code == 200, erased.text
    counts = erased.json()["counts"]
    assert counts["conversations"] == 3 and counts["tickets"] == 2 and counts["notes"] == 1
    entry = erased.json()["audit"]
    assert (entry["subject_type"], entry["action"], entry["actor_type"]) == ("data_subject", "erased", "operator")
    assert entry["subject_id"] == erased.json()["reference"] and entry["data"] == counts

    assert await rows_mentioning(rt, NEEDLES) == []
    other = await client.get(f"/api/v1/tickets/{world['other']}", headers=world["agent"])
    assert other.json()["description"] == "come per [erased]"
    assert (await client.get(f"/api/v1/conversations/{world['mario']['id']}", headers=auth(world["mario"]["token"]))).status_code == 404
    # The audit trail says that it happened, with counts and a keyed hash only.
    async with rt.db.scope() as session:
        rows = (await session.execute(select(AuditEvent).where(AuditEvent.subject_type == "data_subject"))).scalars().all()
    assert [r.action for r in rows] == ["exported", "erased"]
    assert rows[0].subject_id == rows[1].subject_id == erased.json()["reference"]
    assert all(n not in json.dumps(r.data).lower() for r in rows for n in NEEDLES)


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_cli_export_and_erase(client: httpx.AsyncClient, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    from sportello import cli

    rt = runtime(client)
    await _footprint(client)
    monkeypatch.setattr(cli, "get_settings", lambda: rt.settings)
    assert await asyncio.to_thread(cli.main, ["privacy", "export", "--phone", "333 1234567"]) == 0
    exported = json.loads(capsys.readouterr().out)
    assert [t["phone"] for t in exported["tickets"]] == ["+393331234567"]
    assert await asyncio.to_thread(cli.main, ["privacy", "erase", "--email", EMAIL, "--phone", PHONE]) == 2  # no --yes
    assert await asyncio.to_thread(cli.main, ["privacy", "erase", "--email", EMAIL, "--phone", PHONE, "--yes"]) == 0
    assert "tickets: 2" in capsys.readouterr().out
    assert await rows_mentioning(rt, NEEDLES) == []


async def _age(rt: Runtime, conv_id: str | None = None, ticket_number: str | None = None, *, days: int) -> None:
    past = utc_now() - timedelta(days=days)
    async with rt.db.scope() as session:
        if conv_id:
            conv = await session.get(Conversation, uuid.UUID(conv_id))
            assert conv is not None
            conv.last_activity_at = conv.created_at = past
        if ticket_number:
            ticket = (await session.execute(select(Ticket).where(Ticket.number == ticket_number))).scalar_one()
            ticket.status = TicketStatus.CLOSED.value
            ticket.closed_at = ticket.updated_at = past


async def test_retention_with_the_clock_moved_forward(client: httpx.AsyncClient) -> None:
    rt = runtime(client)
    _, agent = await make_operator(rt, role="agent")
    chat_only = await open_conversation(client, language="it")
    await client.post(f"/api/v1/conversations/{chat_only['id']}/messages", json={"body": "ciao"}, headers=auth(chat_only["token"]))
    closed = await open_conversation(client, language="it")
    done = await client.post(
        f"/api/v1/conversations/{closed['id']}/contact",
        json={"method": "email", "email": "old@example.com", "consent": True}, headers=auth(closed["token"]),
    )
    still_open = await open_conversation(client, language="it")
    pending = await client.post(
        f"/api/v1/conversations/{still_open['id']}/contact",
        json={"method": "email", "email": "open@example.com", "consent": True}, headers=auth(still_open["token"]),
    )
    assert done.status_code == pending.status_code == 201
    await rt.idle()
    await _age(rt, closed["id"], done.json()["ticket_number"], days=1)
    await _age(rt, still_open["id"], days=1)
    async with rt.db.scope() as session:
        sent = (await session.execute(select(OutboxMessage))).scalars().all()
        for row in sent:
            row.state = "sent"

    # Today nothing is old enough; the run is recorded all the same, once a day.
    counts = await tasks.run_retention(rt, utc_now())
    assert counts is not None and counts["conversations"] == counts["tickets"] == 0
    assert await tasks.run_retention(rt, utc_now() + timedelta(hours=1)) is None

    later = utc_now() + timedelta(days=2 * 366)
    result = await ticker.tick(rt, now=later)
    assert result["retention_runs"] == 1
    async with rt.db.scope() as session:
        convs = set((await session.execute(select(Conversation.id))).scalars())
        tickets = list((await session.execute(select(Ticket.number))).scalars())
        messages = (await session.execute(select(func.count()).select_from(Message))).scalar_one()
        outbox = (await session.execute(select(func.count()).select_from(OutboxMessage))).scalar_one()
        runs = (await session.execute(select(AuditEvent).where(AuditEvent.subject_type == "retention"))).scalars().all()
    # Only the conversation behind the ticket that is still open survives.
    assert convs == {uuid.UUID(still_open["id"])}
    assert tickets == [pending.json()["ticket_number"]]
    assert messages > 0 and outbox == 0
    assert len(runs) == 2
    last = runs[-1].data
    assert last["conversations"] == 2 and last["tickets"] == 1 and last["months"] == 24
    assert not any("@" in json.dumps(r.data) for r in runs)
    del agent
