"""Moving a ticket between tiers by hand: supervisors only, audited, announced, pool changes."""

from __future__ import annotations

from typing import Any

import httpx

from tests.tickets.helpers import make_operator, runtime


async def _ticket(http: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = await http.post(
        "/api/v1/tickets",
        json={"subject": "Rimborso doppio addebito", "contact_method": "email", "email": "c@example.com", **body},
        headers=headers,
    )
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def _tier(http: httpx.AsyncClient, headers: dict[str, str], number: str, **body: Any) -> httpx.Response:
    return await http.patch(f"/api/v1/tickets/{number}/tier", json=body, headers=headers)


async def test_supervisor_moves_a_ticket_to_the_managers(client: httpx.AsyncClient) -> None:
    rt = runtime(client)
    agent_id, agent = await make_operator(rt, role="agent", tier=1)
    _, tier2_agent = await make_operator(rt, role="agent", tier=2)
    _, manager = await make_operator(rt, role="agent", tier=3)
    _, supervisor = await make_operator(rt, role="supervisor", tier=1)
    ticket = await _ticket(client, supervisor, assignee_id=str(agent_id))
    number = ticket["number"]
    events = rt.bus.subscribe("tickets")

    moved = await _tier(client, supervisor, number, tier=3, reason="serve una decisione sul rimborso")
    assert moved.status_code == 200, moved.text
    body = moved.json()
    # The tier-1 assignee is released: the ticket is now in the managers' pool.
    assert body["tier"] == 3 and body["assignee_id"] is None
    assert body["priority"] == ticket["priority"]
    assert body["first_response_due_at"] == ticket["first_response_due_at"]

    # The pool moved: tier-1 and tier-2 agents no longer see it, a tier-3 operator does.
    assert (await client.get(f"/api/v1/tickets/{number}", headers=agent)).status_code == 404
    assert (await client.get(f"/api/v1/tickets/{number}", headers=tier2_agent)).status_code == 404
    assert (await client.get(f"/api/v1/tickets/{number}", headers=manager)).status_code == 200
    listed = (await client.get("/api/v1/tickets", params={"tier": 3}, headers=manager)).json()["items"]
    assert [t["number"] for t in listed] == [number]

    history = (await client.get(f"/api/v1/tickets/{number}/history", headers=supervisor)).json()
    changes = [e for e in history if e["action"] == "tier_changed"]
    assert len(changes) == 1 and changes[0]["actor_type"] == "operator"
    assert changes[0]["data"]["tier"] == [1, 3]
    assert changes[0]["data"]["assignee_id"] == [str(agent_id), None]
    assert changes[0]["data"]["reason"] == "serve una decisione sul rimborso"

    frames = [events.queue.get_nowait() for _ in range(events.queue.qsize())]
    moved_events = [f for f in frames if f["type"] == "ticket.tier_changed"]
    assert len(moved_events) == 1
    assert moved_events[0]["number"] == number and moved_events[0]["tier"] == 3 and moved_events[0]["from"] == 1

    # Back down to tier 2: a higher-tier assignee keeps it; the same tier again changes nothing.
    manager_id = (await client.get("/api/v1/auth/me", headers=manager)).json()["id"]
    assert (await client.patch(f"/api/v1/tickets/{number}", json={"assignee_id": manager_id}, headers=supervisor)).status_code == 200
    down = (await _tier(client, supervisor, number, tier=2)).json()
    assert down["tier"] == 2 and down["assignee_id"] == manager_id
    assert (await _tier(client, supervisor, number, tier=2)).status_code == 200
    history = (await client.get(f"/api/v1/tickets/{number}/history", headers=supervisor)).json()
    assert [e["data"]["tier"] for e in history if e["action"] == "tier_changed"] == [[1, 3], [3, 2]]


async def test_agents_may_not_change_tiers_even_on_their_own_ticket(client: httpx.AsyncClient) -> None:
    rt = runtime(client)
    agent_id, agent = await make_operator(rt, role="agent", tier=2)
    _, admin = await make_operator(rt, role="admin")
    number = (await _ticket(client, admin, assignee_id=str(agent_id)))["number"]
    refused = await _tier(client, agent, number, tier=3)
    assert refused.status_code == 403
    assert "supervisor" in refused.json()["message"]
    assert (await client.get(f"/api/v1/tickets/{number}", headers=agent)).json()["tier"] == 1
    # An admin may, and an unknown ticket is 404 for them.
    assert (await _tier(client, admin, number, tier=2)).json()["tier"] == 2
    assert (await _tier(client, admin, "LDN-999999", tier=2)).status_code == 404


async def test_bad_tier_requests_say_what_is_wrong(client: httpx.AsyncClient) -> None:
    _, supervisor = await make_operator(runtime(client), role="supervisor")
    number = (await _ticket(client, supervisor))["number"]
    for body, word in (
        ({"tier": 4}, "tier"),
        ({"tier": 0}, "tier"),
        ({"tier": "two"}, "tier"),
        ({}, "tier"),
        ({"tier": 2, "reason": "x" * 201}, "reason"),
        ({"tier": 2, "priority": "high"}, "priority"),
    ):
        response = await _tier(client, supervisor, number, **body)
        assert response.status_code == 422, (body, response.text)
        assert word in response.text, (body, response.text)
    assert (await client.get(f"/api/v1/tickets/{number}", headers=supervisor)).json()["tier"] == 1
