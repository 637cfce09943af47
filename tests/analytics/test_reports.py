"""Every report on a small hand-made history whose answers are known, through the HTTP API."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from sportello.runtime import Runtime
from tests.analytics.history import History
from tests.operators.helpers import login, make_operator

RANGE = {"from": "2026-10-24", "to": "2026-10-26"}


def runtime(client: httpx.AsyncClient) -> Runtime:
    rt: Runtime = client.app.state.runtime  # type: ignore[attr-defined]
    return rt


async def build(rt: Runtime) -> dict[str, uuid.UUID]:
    """The history (Europe/Rome; DST ends on Sunday 25 October 2026 at 01:00 UTC).

    c1 assistant  25 Oct 01:30 UTC = 02:30 CET Sunday; answered 'dates'
    c2 operator   24 Oct 22:30 UTC = 00:30 CEST Sunday 25; missed (candidate 'hours'), served by A
                  after 60 s, first operator message 90 s after enqueue, handled 540 s, rated 4 'bene'
    c3 abandoned  24 Oct 10:00 UTC = 12:00 CEST Saturday; whatsapp; left the queue after 120 s
    c4 ticket     26 Oct 08:00 UTC = 09:00 CET Monday; high, responded 30 min, resolved 5 h, by A
    c5 ticket     26 Oct 09:00 UTC = 10:00 CET Monday; urgent, tier 2, first response breached, B
    outside       23 Oct 21:30 UTC (23:30 CEST Friday 23), 26 Oct 23:30 UTC (00:30 CET Tuesday 27)
    silent        a conversation where the visitor never wrote
    """
    a = await make_operator(rt, "anna@example.com", name="Anna")
    b = await make_operator(rt, "bruno@example.com", name="Bruno")
    h = History()
    c1 = h.conversation("2026-10-25 01:30")
    h.question(c1, "2026-10-25 01:30:10", "quando aprite?", topic="dates")
    c2 = h.conversation("2026-10-24 22:30", language="en", status="closed", operator_id=a, rating=4, rating_comment="bene")
    h.question(c2, "2026-10-24 22:30:10", "is there wifi?", topic=None, candidate="hours")
    h.ask_person(c2, "2026-10-24 22:30:50")
    h.entry(c2, "2026-10-24 22:31:00", state="assigned", language="en", operator_id=a, wait=60, handle=540)
    h.message(c2, "operator", "2026-10-24 22:32:30", "hello", operator_id=str(a))
    c3 = h.conversation("2026-10-24 10:00", channel="whatsapp")
    h.question(c3, "2026-10-24 10:00:10", "quando aprite?", topic="dates")
    h.ask_person(c3, "2026-10-24 10:00:30")
    h.entry(c3, "2026-10-24 10:01:00", state="abandoned", wait=120)
    c4 = h.conversation("2026-10-26 08:00", status="ticketed", priority="high")
    h.message(c4, "visitor", "2026-10-26 08:00:05", "problema")
    h.ticket(c4, "2026-10-26 08:05", priority="high", assignee=a, responded_after=1800, resolved_after=18000)
    c5 = h.conversation("2026-10-26 09:00", status="ticketed", priority="urgent")
    h.message(c5, "visitor", "2026-10-26 09:00:05", "urgente")
    h.ticket(c5, "2026-10-26 09:05", priority="urgent", tier=2, assignee=b, fr_breached=True, contact_method="whatsapp")
    for outside in ("2026-10-23 21:30", "2026-10-26 23:30"):
        cid = h.conversation(outside)
        h.question(cid, outside, "ciao?", topic="dates")
    h.conversation("2026-10-25 12:00")  # silent
    for state in ("sent", "failed", "dead"):
        h.notification("email", state, "2026-10-25 12:00")
    h.notification("sms", "sent", "2026-10-26 12:00")
    h.notification("sms", "sent", "2026-10-27 12:00")  # outside
    h.link(c4, "2026-10-26 09:00", opened=True)
    h.link(c5, "2026-10-26 10:00", opened=False)
    await h.write(rt)
    return {"a": a, "b": b, "c2": c2}


async def supervisor(client: httpx.AsyncClient) -> dict[str, str]:
    await make_operator(runtime(client), "sup@example.com", role="supervisor")
    return {"Authorization": f"Bearer {await login(client, 'sup@example.com')}"}


async def report(client: httpx.AsyncClient, headers: dict[str, str], name: str, **params: Any) -> dict[str, Any]:
    r = await client.get(f"/api/v1/reports/{name}", params={**RANGE, **params}, headers=headers)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


async def test_every_measure_on_a_known_history(client: httpx.AsyncClient) -> None:
    ids = await build(runtime(client))
    hdr = await supervisor(client)

    out = await report(client, hdr, "outcomes")
    assert out["total"] == 5 and out["containment_rate"] == 0.2
    assert {o["outcome"]: o["conversations"] for o in out["outcomes"]} == {
        "assistant": 1, "operator": 1, "ticket": 2, "abandoned": 1, "in_queue": 0,
    }
    days = {d["day"]: d for d in out["days"]}
    assert list(days) == ["2026-10-24", "2026-10-25", "2026-10-26"]
    assert days["2026-10-24"]["abandoned"] == 1 and days["2026-10-24"]["operator"] == 0
    assert days["2026-10-25"]["assistant"] == 1 and days["2026-10-25"]["operator"] == 1
    assert days["2026-10-26"]["ticket"] == 2

    asst = await report(client, hdr, "assistant")
    assert (asst["questions"], asst["answered"], asst["missed"]) == (3, 2, 1)
    assert asst["top_answered"] == [{"topic_id": "dates", "title": None, "answers": 2}]
    assert [t["topic_id"] for t in asst["top_missed"]] == ["hours"]
    assert [q["question"] for q in asst["missed_questions"]] == ["is there wifi?"]
    assert asst["missed_questions"][0]["asked_at"] == "2026-10-25T00:30:10+02:00"

    q = await report(client, hdr, "queue")
    assert (q["entries"], q["served"], q["abandoned"], q["abandonment_rate"]) == (2, 1, 1, 0.5)
    assert q["wait"] == {"count": 1, "average": 60.0, "p50": 60.0, "p90": 60.0, "max": 60.0}
    assert q["wait_before_abandoning"]["max"] == 120.0
    assert {b["bucket"]: b["entries"] for b in q["wait_histogram"]}["1-2m"] == 1

    rt_ = await report(client, hdr, "response-times")
    assert rt_["chat_first_response"]["p50"] == 90.0
    assert rt_["ticket_first_response"] == {"count": 1, "average": 1800.0, "p50": 1800.0, "p90": 1800.0, "max": 1800.0}
    assert rt_["ticket_resolution"]["max"] == 18000.0

    sla = await report(client, hdr, "sla")
    pr = {p["priority"]: p for p in sla["priorities"]}
    assert pr["high"]["first_response_met"] == 1 and pr["high"]["first_response_compliance"] == 1.0
    assert pr["urgent"]["first_response_breached"] == 1 and pr["urgent"]["first_response_compliance"] == 0.0
    assert pr["low"]["tickets"] == 0 and pr["low"]["first_response_compliance"] is None
    assert sla["tiers"] == [{"tier": 1, "tickets": 1, "breaches": 0}, {"tier": 2, "tickets": 1, "breaches": 1}]

    ops = (await report(client, hdr, "operators"))["operators"]
    anna = next(o for o in ops if o["operator_id"] == str(ids["a"]))
    assert anna == {
        "operator_id": str(ids["a"]), "name": "Anna", "chats": 1, "handle_average_seconds": 540.0,
        "first_response_average_seconds": 90.0, "ratings": 1, "rating_average": 4.0,
        "tickets_resolved": 1, "ticket_first_response_average_seconds": 1800.0,
    }
    assert [o["name"] for o in ops] == ["Anna"]  # Bruno resolved nothing and chatted with nobody

    sat = await report(client, hdr, "satisfaction")
    assert (sat["rated"], sat["operator_chats"], sat["average"]) == (1, 1, 4.0)
    assert [d["conversations"] for d in sat["distribution"]] == [0, 0, 0, 1, 0]
    assert [(c["comment"], c["day"], c["conversation_id"]) for c in sat["comments"]] == [("bene", "2026-10-25", str(ids["c2"]))]

    ch = await report(client, hdr, "channels")
    assert ch["channels"] == [
        {"channel": "email", "total": 3, "delivered": 1, "failed": 1, "dead": 1, "pending": 0, "delivery_rate": 0.3333},
        {"channel": "sms", "total": 1, "delivered": 1, "failed": 0, "dead": 0, "pending": 0, "delivery_rate": 1.0},
    ]
    assert ch["links"] == [{"purpose": "reopen", "sent": 2, "opened": 1, "open_rate": 0.5}]

    vol = await report(client, hdr, "volume")
    cells = {(c["weekday"], c["hour"]): c["conversations"] for c in vol["heatmap"] if c["conversations"]}
    assert cells == {(6, 2): 1, (6, 0): 1, (5, 12): 1, (0, 9): 1, (0, 10): 1}
    assert len(vol["heatmap"]) == 7 * 24 and vol["total"] == 5

    # Filters narrow every measure the same way.
    assert (await report(client, hdr, "outcomes", language="en"))["total"] == 1
    assert (await report(client, hdr, "outcomes", channel="whatsapp"))["outcomes"][3] == {"outcome": "abandoned", "conversations": 1, "share": 1.0}
    assert (await report(client, hdr, "outcomes", operator_id=str(ids["a"])))["total"] == 1
    assert (await report(client, hdr, "outcomes", priority="urgent"))["total"] == 1
    assert (await report(client, hdr, "queue", channel="whatsapp"))["entries"] == 1
    assert (await report(client, hdr, "sla", channel="whatsapp"))["tiers"] == [{"tier": 2, "tickets": 1, "breaches": 1}]


async def test_local_days_across_the_end_of_summer_time(client: httpx.AsyncClient) -> None:
    """25 October 2026 lasts 25 hours in Rome: from 24 Oct 22:00 UTC to 25 Oct 23:00 UTC."""
    h = History()
    for moment in ("2026-10-24 21:59", "2026-10-24 22:00", "2026-10-25 00:30", "2026-10-25 01:30", "2026-10-25 22:59", "2026-10-25 23:00"):
        cid = h.conversation(moment)
        h.message(cid, "visitor", moment, "ciao")
    await h.write(runtime(client))
    hdr = await supervisor(client)
    vol = await report(client, hdr, "volume", **{"from": "2026-10-25", "to": "2026-10-25"})
    assert vol["total"] == 4 and vol["days"] == [{"day": "2026-10-25", "conversations": 4}]
    cells = {(c["weekday"], c["hour"]): c["conversations"] for c in vol["heatmap"] if c["conversations"]}
    # 00:00 CEST, 02:30 CEST and 02:30 CET (the hour that happens twice), 23:59 CET.
    assert cells == {(6, 0): 1, (6, 2): 2, (6, 23): 1}
    both = await report(client, hdr, "volume", **{"from": "2026-10-24", "to": "2026-10-26"})
    assert [d["conversations"] for d in both["days"]] == [1, 4, 1]


async def test_csv_matches_the_json(client: httpx.AsyncClient) -> None:
    await build(runtime(client))
    hdr = await supervisor(client)
    for name in ("outcomes", "assistant", "queue", "response-times", "sla", "operators", "satisfaction", "channels", "volume"):
        data = await report(client, hdr, name)
        r = await client.get(f"/api/v1/reports/{name}", params={**RANGE, "format": "csv"}, headers=hdr)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        assert "attachment" in r.headers["content-disposition"]
        rows = list(csv.DictReader(io.StringIO(r.text)))
        for key, value in data.items():
            if isinstance(value, list):
                got = [row for row in rows if row["table"] == key]
                assert len(got) == len(value), (name, key)
                for item, row in zip(value, got, strict=True):
                    for k, v in _flat(item).items():
                        assert row[k] == _text(v), (name, key, k)
            elif isinstance(value, dict):
                (row,) = [row for row in rows if row["table"] == key]
                for k, v in _flat(value).items():
                    assert row[k] == _text(v), (name, key, k)
            else:
                (row,) = [row for row in rows if row["table"] == "summary"]
                assert row[key] == _text(value), (name, key)


def _flat(value: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in value.items():
        out.update(_flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v})
    return out


def _text(value: Any) -> str:
    return "" if value is None else str(value)


async def test_reports_are_for_supervisors_and_admins(client: httpx.AsyncClient) -> None:
    rt = runtime(client)
    assert (await client.get("/api/v1/reports/outcomes")).status_code == 401
    await make_operator(rt, "agent@example.com")
    await make_operator(rt, "admin@example.com", role="admin")
    agent = {"Authorization": f"Bearer {await login(client, 'agent@example.com')}"}
    admin = {"Authorization": f"Bearer {await login(client, 'admin@example.com')}"}
    client.cookies.clear()
    assert (await client.get("/api/v1/reports/outcomes", headers=agent)).status_code == 403
    assert (await client.get("/api/v1/reports/outcomes", params={"format": "csv"}, headers=agent)).status_code == 403
    ok = await client.get("/api/v1/reports/outcomes", headers=admin)
    assert ok.status_code == 200 and len(ok.json()["days"]) == 30
    bad = await client.get("/api/v1/reports/outcomes", params={"from": "2026-10-26", "to": "2026-10-24"}, headers=admin)
    assert bad.status_code == 422
    schema = (await client.get("/openapi.json")).json()
    for name in ("outcomes", "assistant", "queue", "response-times", "sla", "operators", "satisfaction", "channels", "volume"):
        op = schema["paths"][f"/api/v1/reports/{name}"]["get"]
        assert "text/csv" in op["responses"]["200"]["content"] and op["tags"] == ["reports"]


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
async def test_rollup_follows_later_changes(client: httpx.AsyncClient) -> None:
    """A conversation rolled up as the assistant's becomes an operator's when it is handed over."""
    from sqlalchemy import update

    from sportello.conversations.models import Conversation
    from sportello.timeutil import utc_now

    rt = runtime(client)
    h = History()
    now = utc_now().strftime("%Y-%m-%d %H:%M:%S")
    cid = h.conversation(now)
    h.question(cid, now, "quando?", topic="dates")
    await h.write(rt)
    hdr = await supervisor(client)
    # The shop's day, not UTC's: between 23:00 and 24:00 UTC they differ in Rome.
    local = datetime.now(ZoneInfo(rt.settings.timezone)).date().isoformat()
    today = {"from": local, "to": local}
    first = await client.get("/api/v1/reports/outcomes", params={**today}, headers=hdr)
    assert first.json()["outcomes"][0]["conversations"] == 1
    op = await make_operator(rt, "x@example.com")
    h2 = History()
    h2.entry(cid, now, state="assigned", operator_id=op, wait=5, handle=60)
    await h2.write(rt)
    async with rt.db.scope() as session:
        await session.execute(update(Conversation).where(Conversation.id == cid).values(status="closed", updated_at=utc_now()))
    again = (await client.get("/api/v1/reports/outcomes", params={**today}, headers=hdr)).json()
    assert {o["outcome"]: o["conversations"] for o in again["outcomes"]}["operator"] == 1
