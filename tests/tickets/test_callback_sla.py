"""A phone call-back's SLA clocks start at the slot the customer chose, not when the ticket opens."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from sportello.sla import tasks
from tests.fixtures.clients import auth
from tests.tickets.helpers import awaiting_contact, freeze, make_operator, rome, runtime

FRIDAY_1755 = rome(2025, 11, 28, 17, 55)
SATURDAY_1730 = rome(2025, 11, 29, 17, 30)


def _at(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value)


async def _history(http: httpx.AsyncClient, headers: dict[str, str], number: str) -> list[str]:
    response = await http.get(f"/api/v1/tickets/{number}/history", headers=headers)
    return [e["action"] for e in response.json()]


async def test_callback_from_the_chat_is_due_within_its_slot(client: httpx.AsyncClient) -> None:
    """Friday 17:55, slot Saturday 10:00: nothing is late overnight, the call is due by 11:00."""
    rt = runtime(client)
    freeze(client, FRIDAY_1755)
    _, supervisor = await make_operator(rt, role="supervisor")
    conv_id, token = await awaiting_contact(client, "it")
    slot = rome(2025, 11, 29, 10, 0)
    ok = await client.post(
        f"/api/v1/conversations/{conv_id}/contact",
        json={"method": "phone", "phone": "3331234567", "callback_slot": slot.isoformat(), "consent": True},
        headers=auth(token),
    )
    assert ok.status_code == 201, ok.text
    assert _at(ok.json()["expected_answer_at"]) == slot
    number = ok.json()["ticket_number"]
    ticket = (await client.get(f"/api/v1/tickets/{number}", headers=supervisor)).json()
    # Medium is 4 business hours to first response, but a call-back is owed inside its slot
    # (SPORTELLO_CALLBACK_WINDOW_MINUTES, 60); resolution counts its 27 business hours from the slot.
    assert _at(ticket["first_response_due_at"]) == rome(2025, 11, 29, 11, 0)
    assert _at(ticket["resolution_due_at"]) == rome(2025, 12, 3, 10, 0)  # Sat 8 h, Mon 9 h, Tue 9 h, Wed 1 h
    assert ticket["sla_state"] == "ok"

    # The ticker stays quiet before the slot, warns at 80% of the slot, breaches at its end.
    assert await tasks.run_sla_tick(rt, rome(2025, 11, 29, 10, 47)) == 0
    assert await tasks.run_sla_tick(rt, rome(2025, 11, 29, 10, 48)) == 1
    assert await tasks.run_sla_tick(rt, rome(2025, 11, 29, 11, 0)) == 1
    actions = await _history(client, supervisor, number)
    assert actions.count("sla_warning") == 1 and actions.count("sla_breached") == 1


async def test_callback_on_the_next_business_day_and_priority_change(client: httpx.AsyncClient) -> None:
    """Saturday 17:30 for Monday 09:30 (Sunday closed): the clocks start on Monday."""
    rt = runtime(client)
    freeze(client, SATURDAY_1730)
    _, supervisor = await make_operator(rt, role="supervisor")
    slot = rome(2025, 12, 1, 9, 30)
    created = await client.post(
        "/api/v1/tickets",
        json={"subject": "Richiamatemi", "contact_method": "phone", "phone": "333 123 4567", "callback_at": slot.isoformat(), "priority": "high"},
        headers=supervisor,
    )
    assert created.status_code == 201, created.text
    ticket: dict[str, Any] = created.json()
    number = ticket["number"]
    # Opened on Saturday at 17:30 with 30 business minutes left, but nothing runs before Monday 09:30.
    assert _at(ticket["first_response_due_at"]) == rome(2025, 12, 1, 10, 30)
    assert _at(ticket["resolution_due_at"]) == rome(2025, 12, 2, 9, 30)  # 9 business hours from the slot
    assert await tasks.run_sla_tick(rt, rome(2025, 11, 29, 18, 0)) == 0
    assert await tasks.run_sla_tick(rt, rome(2025, 12, 1, 9, 30)) == 0

    # Raised to urgent (15 calendar minutes): still counted from the slot, not from Saturday.
    raised = await client.patch(f"/api/v1/tickets/{number}", json={"priority": "urgent"}, headers=supervisor)
    assert raised.status_code == 200, raised.text
    assert _at(raised.json()["first_response_due_at"]) == slot + timedelta(minutes=15)
    assert _at(raised.json()["resolution_due_at"]) == slot + timedelta(hours=4)

    # Calling back early is a first response in time.
    done = await client.post(f"/api/v1/tickets/{number}/replies", json={"body": "Chiamata fatta"}, headers=supervisor)
    assert done.status_code == 201
    assert await tasks.run_sla_tick(rt, rome(2025, 12, 1, 10, 0)) == 0
    assert "sla_breached" not in await _history(client, supervisor, number)


async def test_callback_time_is_only_for_phone_tickets(client: httpx.AsyncClient) -> None:
    _, supervisor = await make_operator(runtime(client), role="supervisor")
    freeze(client, SATURDAY_1730)
    response = await client.post(
        "/api/v1/tickets",
        json={"subject": "S", "contact_method": "email", "email": "a@b.it", "callback_at": rome(2025, 12, 1, 10, 0).isoformat()},
        headers=supervisor,
    )
    assert response.status_code == 422 and "callback_at" in response.json()["message"]


async def test_callbacks_list_in_the_order_of_their_slots(client: httpx.AsyncClient) -> None:
    """`?callback=true&sort=callback_at`: the call-backs owed, soonest slot first, page by page."""
    rt = runtime(client)
    freeze(client, FRIDAY_1755)
    _, supervisor = await make_operator(rt, role="supervisor")
    slots = [rome(2025, 12, 1, 15, 0), rome(2025, 11, 29, 10, 0), rome(2025, 12, 1, 9, 30)]
    for i, slot in enumerate(slots):
        created = await client.post(
            "/api/v1/tickets",
            json={"subject": f"Richiamata {i}", "contact_method": "phone", "phone": "333 123 4567", "callback_at": slot.isoformat()},
            headers=supervisor,
        )
        assert created.status_code == 201, created.text
    email = await client.post(
        "/api/v1/tickets", json={"subject": "Per email", "contact_method": "email", "email": "a@b.it"}, headers=supervisor
    )
    assert email.status_code == 201, email.text

    seen: list[datetime] = []
    cursor: str | None = None
    while True:
        params = {"callback": "true", "sort": "callback_at", "limit": "2", **({"cursor": cursor} if cursor else {})}
        page: dict[str, Any] = (await client.get("/api/v1/tickets", params=params, headers=supervisor)).json()
        seen += [_at(t["callback_at"]) for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(slots)
    everything = (await client.get("/api/v1/tickets", params={"sort": "callback_at"}, headers=supervisor)).json()["items"]
    assert [t["subject"] for t in everything][-1] == "Per email"  # no slot: last
