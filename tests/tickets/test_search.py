"""Ticket text search: accent- and case-insensitive substrings, through the indexes of each backend.

Every query is also answered by a plain Python scan of the same texts (`fold` + `in`), so
SQLite's FTS5 tables and PostgreSQL's trigram indexes are both held to one reference.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, func, select, text, update

from sportello.conversations.models import Message
from sportello.textfold import FOLD_FROM, FOLD_OTHER, fold
from sportello.tickets.models import Ticket
from sportello.tickets.tasks import refresh_statistics
from tests.fixtures.clients import auth, open_conversation
from tests.tickets.helpers import make_operator, runtime

QUERIES = [
    "perche", "PERCHÉ", "perché la navetta", "NAVETTA È", "citta", "Città", "caffè", "CAFFE",
    "wheelchair", "WHEELCHAIR ACCESS", "heelch", "Zürich", "zurich", "naïve", "NAIVE", "façade",
    "cane è piccolo", "cane e piccolo", "in braccio", "ldn-00000", "LDN-000002", "50%", "%", "_", "è",
    "ò", "xyzzy", "rimborso biglietto", "Rimborso", "'", "\"quoted\"", "dell'ingresso",
]


async def _ticket(http: httpx.AsyncClient, headers: dict[str, str], **body: Any) -> str:
    data = {"contact_method": "email", "email": "cliente@example.com", **body}
    response = await http.post("/api/v1/tickets", json=data, headers=headers)
    assert response.status_code == 201, response.text
    number: str = response.json()["number"]
    return number


async def _found(http: httpx.AsyncClient, headers: dict[str, str], q: str) -> set[str]:
    response = await http.get("/api/v1/tickets", params={"q": q, "limit": 200}, headers=headers)
    assert response.status_code == 200, response.text
    return {t["number"] for t in response.json()["items"]}


async def _reference(http: httpx.AsyncClient, q: str) -> set[str]:
    """The tickets a full scan in Python finds: the contract the indexes must keep."""
    needle = fold(q) or ""
    async with runtime(http).db.scope() as session:
        tickets = (await session.execute(select(Ticket))).scalars().all()
        bodies: dict[Any, list[str]] = {}
        for conv_id, body in (await session.execute(select(Message.conversation_id, Message.body))).all():
            bodies.setdefault(conv_id, []).append(body)
    found = set()
    for t in tickets:
        texts = [t.number, t.subject, t.description, *bodies.get(t.conversation_id, [])]
        if any(needle in (fold(x) or "") for x in texts):
            found.add(t.number)
    return found


async def test_search_folds_accents_and_case_in_tickets_and_messages(client: httpx.AsyncClient) -> None:
    _, headers = await make_operator(runtime(client), role="supervisor")
    conv = await open_conversation(client, language="it")
    for body in ("Buongiorno", "Il mio cane è piccolo, può entrare IN BRACCIO?"):
        sent = await client.post(f"/api/v1/conversations/{conv['id']}/messages", json={"body": body}, headers=auth(conv["token"]))
        assert sent.status_code == 201, sent.text
    await runtime(client).idle()
    # The conversation had its messages before the ticket: they are searchable from its creation.
    dog = await _ticket(client, headers, subject="Accesso cani", conversation_id=conv["id"])
    shuttle = await _ticket(client, headers, subject="Perché la navetta è in ritardo?", description="Città: Zürich, 50% off")
    wheel = await _ticket(client, headers, subject="WHEELCHAIR access", description="A naïve question about the façade")
    refund = await _ticket(client, headers, subject="Rimborso biglietto", description="Caffè dell'ingresso, \"quoted\"", language="it")

    assert await _found(client, headers, "perche") == {shuttle}
    assert await _found(client, headers, "PERCHÉ") == {shuttle}
    assert await _found(client, headers, "zurich") == {shuttle}
    assert await _found(client, headers, "heelch") == {wheel}
    assert await _found(client, headers, "NAIVE") == {wheel}
    assert await _found(client, headers, "cane e piccolo") == {dog}
    assert await _found(client, headers, "caffe") == {refund}
    assert await _found(client, headers, "xyzzy") == set()
    for q in QUERIES:
        assert await _found(client, headers, q) == await _reference(client, q), q

    # A message added later is found; a redacted or deleted one no longer is.
    reply = await client.post(f"/api/v1/tickets/{refund}/replies", json={"body": "Il rimborso arriverà giovedì"}, headers=headers)
    assert reply.status_code in (200, 201), reply.text
    assert await _found(client, headers, "arrivera GIOVEDI") == {refund}
    async with runtime(client).db.scope() as session:
        await session.execute(
            update(Message).where(Message.body.like("%giov%")).values(body="[redacted]")
            .execution_options(synchronize_session=False)
        )
    assert await _found(client, headers, "giovedi") == set()
    assert await _found(client, headers, "redacted") == {refund}
    reply = await client.post(f"/api/v1/tickets/{dog}/replies", json={"body": "Consegna venerdì"}, headers=headers)
    assert reply.status_code in (200, 201), reply.text
    assert await _found(client, headers, "VENERDI") == {dog}
    async with runtime(client).db.scope() as session:
        await session.execute(delete(Message).where(Message.body.like("%venerd%")).execution_options(synchronize_session=False))
    assert await _found(client, headers, "venerdi") == set()
    # A rewritten subject (as the privacy sweep redacts one) is found by its new text only.
    async with runtime(client).db.scope() as session:
        await session.execute(
            update(Ticket).where(Ticket.number == wheel).values(subject="Sedia a rotelle")
            .execution_options(synchronize_session=False)
        )
    assert await _found(client, headers, "rotelle") == {wheel}
    assert await _found(client, headers, "wheelchair") == set()
    for q in [*QUERIES, "rotelle", "redacted", "giovedi", "venerdi"]:
        assert await _found(client, headers, q) == await _reference(client, q), q


async def test_search_pages_keep_filters_and_order(client: httpx.AsyncClient) -> None:
    _, headers = await make_operator(runtime(client), role="supervisor")
    numbers = [await _ticket(client, headers, subject=f"Città numero {i}", priority=("high" if i % 2 else "low")) for i in range(7)]
    await _ticket(client, headers, subject="Altro argomento")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"q": "CITTA", "limit": 2, "priority": "high"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/tickets", params=params, headers=headers)).json()
        seen += [t["number"] for t in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == [n for i, n in reversed(list(enumerate(numbers))) if i % 2]


async def test_both_backends_fold_every_mapped_letter_alike(client: httpx.AsyncClient) -> None:
    assert fold("PERCHÉ Città Zürich ŁÓDŹ Straße") == "perche citta zurich lodz strasse"
    letters = FOLD_FROM + "".join(FOLD_OTHER) + "AZaz09 -%_'"
    async with runtime(client).db.engine.connect() as conn:
        folded = (await conn.execute(select(func.sportello_fold(letters)))).scalar_one()
    assert folded == fold(letters)


async def test_sqlite_planner_statistics_are_refreshed_daily(client: httpx.AsyncClient) -> None:
    rt = runtime(client)
    _, headers = await make_operator(rt, role="supervisor")
    await _ticket(client, headers, subject="Statistiche")
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    ran = await refresh_statistics(rt, now)
    assert ran is rt.db.is_sqlite
    assert await refresh_statistics(rt, now + timedelta(hours=23)) is False
    assert await refresh_statistics(rt, now + timedelta(hours=24)) is rt.db.is_sqlite
    if rt.db.is_sqlite:
        async with rt.db.engine.connect() as conn:
            indexes = {row[0] for row in await conn.execute(text("SELECT idx FROM sqlite_stat1 WHERE tbl = 'tickets'"))}
        assert "ix_tickets_created_at" in indexes
