"""Ticket API: creation, numbering, filters, search, pagination, transitions, access, bad input."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from sportello.tickets import service
from tests.tickets.helpers import make_operator, runtime

PHONE_CALL = {"subject": "Parcheggio per disabili?", "contact_method": "phone", "phone": "333 123 4567"}


async def _create(http: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await http.post("/api/v1/tickets", json={**PHONE_CALL, **body}, headers=headers)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def _patch(http: httpx.AsyncClient, headers: dict[str, str], number: str, **body: Any) -> httpx.Response:
    return await http.patch(f"/api/v1/tickets/{number}", json=body, headers=headers)


async def test_create_directly_reads_back_everything(client: httpx.AsyncClient) -> None:
    _, headers = await make_operator(runtime(client), role="agent")
    ticket = await _create(client, headers, description="Chiamata al centralino", tags=["Parking", "access"])
    assert ticket["number"] == "LDN-000001"
    assert ticket["phone"] == "+393331234567"
    assert ticket["status"] == "open" and ticket["priority"] == "medium" and ticket["tier"] == 1
    assert ticket["tags"] == ["parking", "access"]
    assert ticket["sla_state"] in ("ok", "warning", "breached")
    assert ticket["first_response_due_at"] and ticket["resolution_due_at"]
    assert ticket["conversation_id"]  # a conversation on the phone channel holds its messages
    again = (await client.get("/api/v1/tickets/ldn-000001", headers=headers)).json()
    assert again == ticket
    second = await _create(client, headers)
    assert second["number"] == "LDN-000002"


async def test_numbers_are_unique_under_concurrency(client: httpx.AsyncClient) -> None:
    rt = runtime(client)

    async def one() -> str:
        async with rt.db.scope() as session:
            ticket = await service.create_ticket(
                session, rt.settings,
                service.NewTicket(contact_method="email", subject="x", email="a@b.it", source="operator"),
            )
            return ticket.number

    numbers = await asyncio.gather(*(one() for _ in range(12)))
    assert sorted(numbers) == [f"LDN-{i:06d}" for i in range(1, 13)]


async def test_prefix_is_configurable(client: httpx.AsyncClient) -> None:
    rt = runtime(client)
    rt.settings = rt.settings.model_copy(update={"ticket_number_prefix": "EVT"})
    _, headers = await make_operator(rt)
    assert (await _create(client, headers))["number"] == "EVT-000001"


async def test_status_machine_and_illegal_moves(client: httpx.AsyncClient) -> None:
    _, headers = await make_operator(runtime(client))
    number = (await _create(client, headers))["number"]
    bad = await _patch(client, headers, number, status="waiting_user")
    assert bad.status_code == 409
    assert "cannot go from 'open' to 'waiting_user'" in bad.json()["message"]
    for status in ("in_progress", "waiting_user"):
        response = await _patch(client, headers, number, status=status)
        assert response.status_code == 200, response.text
    assert (await _patch(client, headers, number, status="waiting_user")).json()["sla_state"] == "paused"
    assert (await _patch(client, headers, number, status="resolved")).json()["sla_state"] == "met"
    closed = (await _patch(client, headers, number, status="closed")).json()
    assert closed["status"] == "closed"
    bad = await _patch(client, headers, number, status="resolved")
    assert bad.status_code == 409 and "reopened" in bad.json()["message"]
    bad = await _patch(client, headers, number, status="open")
    assert bad.status_code == 409 and "never goes back to open" in bad.json()["message"]
    reopened = (await _patch(client, headers, number, status="in_progress")).json()
    assert reopened["status"] == "in_progress" and reopened["resolved_at"] is None
    history = (await client.get(f"/api/v1/tickets/{number}/history", headers=headers)).json()
    actions = [h["action"] for h in history]
    assert actions[0] == "created" and "reopened" in actions
    assert actions.count("status_changed") == 4
    assert all(h["actor_type"] in ("operator", "system") for h in history)


async def test_notes_replies_and_their_audit(client: httpx.AsyncClient) -> None:
    op_id, headers = await make_operator(runtime(client))
    number = (await _create(client, headers))["number"]
    note = await client.post(f"/api/v1/tickets/{number}/notes", json={"body": "  cliente gentile "}, headers=headers)
    assert note.status_code == 201 and note.json()["body"] == "cliente gentile"
    assert note.json()["operator_id"] == str(op_id)
    blank = await client.post(f"/api/v1/tickets/{number}/notes", json={"body": "   "}, headers=headers)
    assert blank.status_code == 422
    notes = (await client.get(f"/api/v1/tickets/{number}/notes", headers=headers)).json()
    assert [n["body"] for n in notes] == ["cliente gentile"]
    reply = await client.post(f"/api/v1/tickets/{number}/replies", json={"body": "Sì, c'è."}, headers=headers)
    assert reply.status_code == 201, reply.text
    ticket = reply.json()["ticket"]
    assert ticket["status"] == "in_progress" and ticket["first_responded_at"] is not None
    history = [h["action"] for h in (await client.get(f"/api/v1/tickets/{number}/history", headers=headers)).json()]
    assert {"note_added", "replied", "status_changed"} <= set(history)


async def test_access_by_role_and_tier(client: httpx.AsyncClient) -> None:
    rt = runtime(client)
    agent1_id, agent1 = await make_operator(rt, tier=1)
    agent2_id, agent2 = await make_operator(rt, tier=2)
    _, supervisor = await make_operator(rt, role="supervisor")
    low = (await _create(client, supervisor))["number"]
    high = (await _create(client, supervisor))["number"]
    async with rt.db.scope() as session:
        ticket = await service.get_by_number(session, high)
        ticket.tier = 2
    assert (await client.get(f"/api/v1/tickets/{high}", headers=agent1)).status_code == 404
    assert (await client.get(f"/api/v1/tickets/{high}", headers=agent2)).status_code == 200
    assert (await _patch(client, agent1, high, status="in_progress")).status_code == 404
    listed = (await client.get("/api/v1/tickets", headers=agent1)).json()["items"]
    assert [t["number"] for t in listed] == [low]
    assert len((await client.get("/api/v1/tickets", headers=supervisor)).json()["items"]) == 2
    # Agents take tickets for themselves only; supervisors assign anyone.
    taken = await _patch(client, agent1, low, assignee_id=str(agent1_id))
    assert taken.status_code == 200 and taken.json()["assignee_id"] == str(agent1_id)
    stolen = await _patch(client, agent2, low, assignee_id=str(agent2_id))
    assert stolen.status_code == 409 and "supervisor" in stolen.json()["message"]
    pushed = await _patch(client, agent1, low, assignee_id=str(agent2_id))
    assert pushed.status_code == 409
    moved = await _patch(client, supervisor, high, assignee_id=str(agent1_id))
    assert moved.status_code == 200
    # Assigned to them, a tier-1 agent now sees the tier-2 ticket.
    assert (await client.get(f"/api/v1/tickets/{high}", headers=agent1)).status_code == 200
    mine = (await client.get("/api/v1/tickets", params={"assignee": "me"}, headers=agent1)).json()["items"]
    assert {t["number"] for t in mine} == {low, high}
    assert (await client.get("/api/v1/tickets", headers={})).status_code == 401
    assert (await client.get("/api/v1/tickets", headers={"Authorization": "Bearer sop_nope"})).status_code == 401


async def test_filters_and_search(client: httpx.AsyncClient) -> None:
    rt = runtime(client)
    op_id, headers = await make_operator(rt, role="supervisor")
    a = (await _create(client, headers, subject="Biglietti smarriti", priority="high", tags=["refund"]))["number"]
    b = (await _create(client, headers, subject="Orari navetta", description="Chiede della navetta 50%_off"))["number"]
    c = (await _create(client, headers, subject="Accesso cani", priority="low", assignee_id=str(op_id)))["number"]
    await _patch(client, headers, b, status="in_progress")
    await client.post(f"/api/v1/tickets/{c}/replies", json={"body": "I cani piccoli entrano in braccio"}, headers=headers)

    async def numbers(**params: Any) -> list[str]:
        response = await client.get("/api/v1/tickets", params=params, headers=headers)
        assert response.status_code == 200, response.text
        return [t["number"] for t in response.json()["items"]]

    assert await numbers() == [c, b, a]
    assert await numbers(status="open") == [a]
    assert await numbers(status="open,in_progress") == [c, b, a]
    assert await numbers(priority="high,low") == [c, a]
    assert await numbers(assignee="none") == [b, a]
    assert await numbers(assignee=str(op_id)) == [c]
    assert await numbers(tier=1) == [c, b, a]
    assert await numbers(tier=2) == []
    assert await numbers(tag="refund") == [a]
    assert await numbers(tag="nope") == []
    assert await numbers(q="NAVETTA") == [b]
    assert await numbers(q="50%_") == [b]
    assert await numbers(q="%") == [b]  # a literal percent sign, not a wildcard
    assert await numbers(q="_") == [b]
    assert await numbers(q="zzz") == []
    assert await numbers(q="in braccio") == [c]  # found in the conversation's messages
    assert await numbers(q=a) == [a]
    assert await numbers(sort="priority") == [a, b, c]
    assert await numbers(sort="created_at") == [a, b, c]
    assert await numbers(sla_state="ok") == [c, b, a]
    assert await numbers(sla_state="breached") == []
    assert await numbers(sla_state="paused") == []
    assert await numbers(sla_state="met") == []


@pytest.mark.parametrize("sort", ["-created_at", "created_at", "priority", "sla_due_at", "-updated_at"])
async def test_pagination_is_stable_under_inserts(client: httpx.AsyncClient, sort: str) -> None:
    _, headers = await make_operator(runtime(client), role="admin")
    priorities = ["low", "medium", "high", "urgent"]
    originals = {
        (await _create(client, headers, priority=priorities[i % 4]))["number"] for i in range(7)
    }
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params: dict[str, Any] = {"limit": 3, "sort": sort}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/tickets", params=params, headers=headers)).json()
        seen += [t["number"] for t in page["items"]]
        cursor = page["next_cursor"]
        pages += 1
        await _create(client, headers, priority=priorities[pages % 4])  # arrives mid-listing
        if cursor is None:
            break
    assert len(seen) == len(set(seen)), "a ticket appeared twice"
    assert originals <= set(seen), "a ticket was skipped"


async def test_bad_input_of_every_field(client: httpx.AsyncClient) -> None:
    rt = runtime(client)
    _, headers = await make_operator(rt, role="supervisor")

    async def create(**body: Any) -> httpx.Response:
        return await client.post("/api/v1/tickets", json={**PHONE_CALL, **body}, headers=headers)

    cases: list[tuple[dict[str, Any], str]] = [
        ({"subject": "x" * 201}, "subject"),
        ({"subject": ""}, "subject"),
        ({"priority": "critical"}, "priority"),
        ({"contact_method": "fax"}, "contact_method"),
        ({"contact_method": "email", "email": None}, "email"),
        ({"contact_method": "email", "email": "nobody"}, "email"),
        ({"phone": "12"}, "phone"),
        ({"contact_method": "sms", "phone": "06 1234 5678"}, "landline"),
        ({"phone": None}, "phone"),
        ({"callback_at": "2020-01-01T10:00:00+01:00"}, "callback_at"),
        ({"callback_at": "not a time"}, "callback_at"),
        ({"tags": ["ok", "Not OK!"]}, "tag"),
        ({"tags": "refund"}, "tags"),
        ({"assignee_id": "00000000-0000-0000-0000-000000000000"}, "assignee_id"),
        ({"assignee_id": "me"}, "assignee_id"),
        ({"conversation_id": "not-a-uuid"}, "conversation_id"),
        ({"language": "fr"}, "language"),
        ({"contact_method": "chat"}, "conversation_id"),
        ({"unknown": 1}, "unknown"),
    ]
    for body, word in cases:
        response = await create(**body)
        assert response.status_code == 422, (body, response.text)
        assert word in response.json()["message"], (body, response.json())
    missing = await client.post(
        "/api/v1/tickets", json={"contact_method": "phone", "phone": "3331234567"}, headers=headers
    )
    assert missing.status_code == 422 and "subject" in missing.json()["message"]
    unknown_conv = await create(conversation_id="00000000-0000-0000-0000-000000000000")
    assert unknown_conv.status_code == 404

    number = (await create()).json()["number"]
    patches: list[tuple[dict[str, Any], int, str]] = [
        ({}, 422, "at least one"),
        ({"status": None}, 422, "status"),
        ({"status": "done"}, 422, "status"),
        ({"priority": None}, 422, "priority"),
        ({"priority": "asap"}, 422, "priority"),
        ({"tags": None}, 422, "tags"),
        ({"tags": ["x" * 41]}, 422, "tag"),
        ({"assignee_id": "bob"}, 422, "assignee_id"),
        ({"assignee_id": "00000000-0000-0000-0000-000000000000"}, 422, "assignee_id"),
        ({"subject": "new"}, 422, "subject"),
    ]
    for body, code, word in patches:
        response = await _patch(client, headers, number, **body)
        assert response.status_code == code, (body, response.text)
        assert word in response.json()["message"], (body, response.json())
    assert (await _patch(client, headers, "LDN-999999", status="closed")).status_code == 404
    queries: list[dict[str, Any]] = [
        {"status": "gone"}, {"priority": "max"}, {"tier": 4}, {"sla_state": "late"},
        {"sort": "subject"}, {"cursor": "garbage"}, {"limit": 0}, {"limit": 1000},
        {"assignee": "someone"},
    ]
    for params in queries:
        response = await client.get("/api/v1/tickets", params=params, headers=headers)
        assert response.status_code == 422, (params, response.text)
    first = (await client.get("/api/v1/tickets", params={"limit": 1}, headers=headers)).json()
    await _create_more(client, headers)
    page = (await client.get("/api/v1/tickets", params={"limit": 1}, headers=headers)).json()
    wrong_sort = await client.get(
        "/api/v1/tickets", params={"cursor": page["next_cursor"], "sort": "priority"}, headers=headers
    )
    assert wrong_sort.status_code == 422 and "cursor" in wrong_sort.json()["message"]
    assert first["items"]


async def _create_more(http: httpx.AsyncClient, headers: dict[str, str]) -> None:
    await _create(http, headers)


async def test_vip_customers_start_higher(client: httpx.AsyncClient) -> None:
    rt = runtime(client)
    _, admin = await make_operator(rt, role="admin")
    _, agent = await make_operator(rt)
    assert (await client.post("/api/v1/vip-customers", json={"customer_ref": "C-42"}, headers=agent)).status_code == 403
    added = await client.post("/api/v1/vip-customers", json={"customer_ref": "C-42", "note": "sponsor"}, headers=admin)
    assert added.status_code == 201
    assert (await client.post("/api/v1/vip-customers", json={"customer_ref": "C-42"}, headers=admin)).status_code == 409
    vip = await _create(client, agent, customer_ref="C-42")
    assert vip["vip"] is True and vip["priority"] == "high"
    explicit = await _create(client, agent, customer_ref="C-42", priority="low")
    assert explicit["priority"] == "low"
    plain = await _create(client, agent, customer_ref="C-7")
    assert plain["vip"] is False and plain["priority"] == "medium"
    assert [v["customer_ref"] for v in (await client.get("/api/v1/vip-customers", headers=admin)).json()] == ["C-42"]
    assert (await client.delete("/api/v1/vip-customers/C-42", headers=admin)).status_code == 204
    assert (await _create(client, agent, customer_ref="C-42"))["priority"] == "medium"


async def test_openapi_documents_the_contract(client: httpx.AsyncClient) -> None:
    spec = (await client.get("/openapi.json")).json()
    paths = spec["paths"]
    for path in (
        "/api/v1/tickets", "/api/v1/tickets/{number}", "/api/v1/tickets/{number}/notes",
        "/api/v1/conversations/{conversation_id}/contact",
    ):
        assert path in paths
    params = {p["name"] for p in paths["/api/v1/tickets"]["get"]["parameters"]}
    assert {"status", "priority", "assignee", "tier", "tag", "sla_state", "q", "sort", "cursor"} <= params
    read = spec["components"]["schemas"]["TicketRead"]["properties"]
    for field in ("number", "status", "priority", "contact_method", "email", "phone", "tier",
                  "first_response_due_at", "resolution_due_at", "sla_state", "conversation_id"):
        assert field in read
