"""Routing and offers: best operator, accept once, lapses, capacity; then timeouts."""

from __future__ import annotations

import uuid
from datetime import timedelta

import httpx
from sqlalchemy import func, select

from sportello import ticker
from sportello.audit import AuditEvent
from sportello.operators.models import Operator
from sportello.queue.models import QueueEntry
from sportello.queue.routing import dispatch
from sportello.runtime import Runtime
from sportello.timeutil import utc_now
from tests.fixtures.clients import auth, open_conversation
from tests.operators.helpers import bearer, go_online, login, make_operator


def runtime(client: httpx.AsyncClient) -> Runtime:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return rt


async def handoff(client: httpx.AsyncClient, language: str = "it") -> dict[str, str]:
    conv = await open_conversation(client, language=language)
    r = await client.post(f"/api/v1/conversations/{conv['id']}/handoff", headers=auth(conv["token"]))
    assert r.json()["outcome"] == "queued", r.text
    return conv


async def status_of(client: httpx.AsyncClient, conv: dict[str, str]) -> dict[str, object]:
    data: dict[str, object] = (await client.get(f"/api/v1/conversations/{conv['id']}", headers=auth(conv["token"]))).json()
    return data


async def offered_to(rt: Runtime, conv: dict[str, str]) -> object:
    # Routing yields a row another routing pass holds (the background ticker routes too) and
    # leaves it to the next pass; run that pass now, as the ticker would within a second.
    await dispatch(rt)
    async with rt.db.scope() as session:
        return (
            await session.execute(select(QueueEntry.operator_id).where(QueueEntry.conversation_id == uuid.UUID(conv["id"]), QueueEntry.state == "offered"))
        ).scalar_one_or_none()


async def test_best_operator_accept_once_and_capacity(client: httpx.AsyncClient) -> None:
    rt = runtime(client)
    busy = await make_operator(rt, "nina@example.com", max_chats=2, skills=["biglietti"])
    english = await make_operator(rt, "olly@example.com", languages=["en"], max_chats=2)
    for op in (busy, english):
        await go_online(rt, op)
    nina, olly = await login(client, "nina@example.com"), await login(client, "olly@example.com")
    client.cookies.clear()

    first = await handoff(client)
    assert await offered_to(rt, first) == busy  # the only Italian speaker
    assert (await client.post(f"/api/v1/conversations/{first['id']}/accept", headers=bearer(olly))).status_code == 404
    r = await client.post(f"/api/v1/conversations/{first['id']}/accept", headers=bearer(nina))
    assert r.status_code == 200 and r.json()["status"] == "live"
    again = await client.post(f"/api/v1/conversations/{first['id']}/accept", headers=bearer(nina))
    assert again.status_code == 409
    state = await status_of(client, first)
    assert state["status"] == "live" and state["operator"] == {"name": "Nina"} and state["queue"] is None

    second = await handoff(client)
    third = await handoff(client)
    assert await offered_to(rt, second) == busy
    assert await offered_to(rt, third) is None  # Nina is at max_chats=2; Olly speaks no Italian
    queue = (await status_of(client, third))["queue"]
    assert queue == {"position": 1, "estimated_wait_seconds": queue["estimated_wait_seconds"], "wait_timed_out": False}  # type: ignore[index]
    english_conv = await handoff(client, "en")
    assert await offered_to(rt, english_conv) == english


async def test_offer_lapses_to_next_operator_and_two_lapses_set_away(client: httpx.AsyncClient) -> None:
    rt = runtime(client)
    rt.settings.presence_timeout_seconds = 3600  # the clock jumps; presence must not expire
    a = await make_operator(rt, "piero@example.com")
    await go_online(rt, a)
    conv = await handoff(client)
    assert await offered_to(rt, conv) == a
    b = await make_operator(rt, "quinto@example.com")
    await go_online(rt, b)
    later = utc_now() + timedelta(seconds=rt.settings.initial_response_seconds + 1)
    counts = await ticker.tick(rt, now=later)
    assert counts["offers_lapsed"] == 1
    assert await offered_to(rt, conv) == b  # the one who let it lapse comes last
    counts = await ticker.tick(rt, now=later + timedelta(seconds=rt.settings.initial_response_seconds + 1))
    assert await offered_to(rt, conv) == a
    async with rt.db.scope() as session:
        assert (await session.get(Operator, b)).lapsed_offers == 1  # type: ignore[union-attr]
    # Piero lets a second offer lapse: set away, and the chat goes back to Quinto.
    await ticker.tick(rt, now=later + timedelta(seconds=3 * rt.settings.initial_response_seconds))
    async with rt.db.scope() as session:
        piero = await session.get(Operator, a, populate_existing=True)
        assert piero is not None and piero.presence == "away"
    assert await offered_to(rt, conv) == b
    assert (await status_of(client, conv))["status"] == "assigned"


async def test_timeouts_fire_once(client: httpx.AsyncClient) -> None:
    rt = runtime(client)
    rt.settings.presence_timeout_seconds = 3600  # the clock jumps; presence must not expire
    op = await make_operator(rt, "rita@example.com", max_chats=1, role="supervisor")
    await go_online(rt, op)
    token = await login(client, "rita@example.com")
    client.cookies.clear()
    live = await handoff(client)
    waiting = await handoff(client, "en")
    assert (await client.post(f"/api/v1/conversations/{live['id']}/accept", headers=bearer(token))).status_code == 200
    assert (await status_of(client, waiting))["queue"]["wait_timed_out"] is False

    sub = rt.bus.subscribe("supervisors")
    await client.post(f"/api/v1/conversations/{live['id']}/messages", json={"body": "ci siete?"}, headers=auth(live["token"]))
    start = utc_now()
    # Queue wait: one message offering to keep waiting or leave a contact, fired once.
    for minutes in (6, 7):
        await ticker.tick(rt, now=start + timedelta(minutes=minutes))
    msgs = (await client.get(f"/api/v1/conversations/{waiting['id']}/messages", headers=auth(waiting["token"]))).json()
    assert [m["metadata"].get("kind") for m in msgs].count("queue.wait_timeout") == 1
    assert "keep waiting" in msgs[-1]["body"]
    # The question stays open for a widget that reloads until the visitor answers it.
    assert (await status_of(client, waiting))["queue"]["wait_timed_out"] is True
    assert (await client.post(f"/api/v1/conversations/{waiting['id']}/queue/keep-waiting", headers=auth(waiting["token"]))).status_code == 204
    assert (await status_of(client, waiting))["queue"]["wait_timed_out"] is False
    await ticker.tick(rt, now=start + timedelta(minutes=12, seconds=30))
    msgs = (await client.get(f"/api/v1/conversations/{waiting['id']}/messages", headers=auth(waiting["token"]))).json()
    assert [m["metadata"].get("kind") for m in msgs].count("queue.wait_timeout") == 2

    # Operator silence: the visitor wrote and nobody answered for 10 minutes: one alert.
    for minutes in (11, 12):
        await ticker.tick(rt, now=start + timedelta(minutes=minutes))
    alerts = []
    while not sub.queue.empty():
        alerts.append(sub.queue.get_nowait())
    sub.close()
    assert [a["type"] for a in alerts] == ["alert.operator_silence"]
    async with rt.db.scope() as session:
        n = (await session.execute(select(func.count()).where(AuditEvent.action == "operator_silence_alert"))).scalar_one()
    assert n == 1

    # Visitor inactivity: closed with a message after 30 minutes of silence.
    for minutes in (41, 42):
        await ticker.tick(rt, now=start + timedelta(minutes=minutes))
    msgs = (await client.get(f"/api/v1/conversations/{live['id']}/messages", headers=auth(live["token"]))).json()
    assert [m["metadata"].get("kind") for m in msgs].count("chat.visitor_inactive") == 1
    assert (await status_of(client, live))["status"] == "closed"
    # The freed slot goes to the visitor still waiting.
    assert await offered_to(rt, waiting) == op
