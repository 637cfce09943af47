"""Reopen links, web push with VAPID to a local push service, Slack webhook, operator APIs."""

from __future__ import annotations

import base64
import json
import os
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import http_ece
import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid01
from sqlalchemy import update

from sportello.notifications import links, outbox, service
from sportello.notifications.models import ConversationLink, OutboxMessage
from sportello.notifications.worker import deliver_due
from sportello.runtime import Runtime
from sportello.timeutil import utc_now
from tests.fixtures.http_fakes import FakePushService, FakeSlack
from tests.notifications.conftest import new_conversation, new_operator, runtime_of


async def _link(rt: Runtime, conv_id: object, purpose: links.Purpose = links.Purpose.REOPEN) -> str:
    async with rt.db.scope() as session:
        nonce = await links.create_link(session, conv_id, purpose)  # type: ignore[arg-type]
    return urlparse(links.link_url(rt.settings, nonce)).path


async def test_reopen_link_resumes_once(api: httpx.AsyncClient) -> None:
    rt = runtime_of(api)
    conv_id = await new_conversation(rt, status="ticketed")
    path = await _link(rt, conv_id)
    resp = await api.get(path)
    assert resp.status_code == 303
    target = urlparse(resp.headers["location"])
    params = parse_qs(target.query)
    assert target.path == "/" and params["sportello_resume"] == [str(conv_id)]
    token = params["sportello_token"][0]
    # The fresh token opens the conversation with its history; the state went back to the bot.
    read = await api.get(
        f"/api/v1/conversations/{conv_id}", headers={"Authorization": f"Bearer {token}"}
    )
    assert read.status_code == 200 and read.json()["status"] == "bot"
    again = await api.get(path, headers={"Accept-Language": "en"})
    assert again.status_code == 410 and "already been opened" not in again.text
    assert "già stato aperto" in again.text  # the conversation's language, not the browser's


async def test_expired_forged_and_other_links(api: httpx.AsyncClient) -> None:
    rt = runtime_of(api)
    conv_a = await new_conversation(rt)
    conv_b = await new_conversation(rt)
    expired = await _link(rt, conv_a)
    async with rt.db.scope() as session:
        await session.execute(
            update(ConversationLink).values(created_at=utc_now() - timedelta(days=30))
        )
    resp = await api.get(expired)
    assert resp.status_code == 410 and "scaduto" in resp.text
    valid = await _link(rt, conv_b)
    token = valid.rsplit("/", 1)[1]
    forged = token[:-2] + ("AA" if token[-2:] != "AA" else "BB")
    resp = await api.get(f"/r/{forged}", headers={"Accept-Language": "en"})
    assert resp.status_code == 404 and "not valid" in resp.text
    resp = await api.get("/r/not-a-token")
    assert resp.status_code == 404 and "<h1>" in resp.text
    # The valid link opens B and only B.
    resp = await api.get(valid)
    assert parse_qs(urlparse(resp.headers["location"]).query)["sportello_resume"] == [str(conv_b)]


async def test_rating_link_in_resolved_email(api: httpx.AsyncClient, smtp: object) -> None:
    rt = runtime_of(api)
    conv_id = await new_conversation(rt)
    async with rt.db.scope() as session:
        await service.notify_customer(
            session,
            kind="ticket.resolved",
            contact_method="email",
            email="anna@example.com",
            phone=None,
            language="en",
            conversation_id=conv_id,
            context={"number": "T-000009"},
            key="resolved-1",
        )
    await deliver_due(rt)
    text = smtp.messages[0].body("plain")  # type: ignore[attr-defined]
    urls = [line for line in text.splitlines() if "/r/" in line]
    assert len(urls) == 2  # rating and reopen
    rating = urlparse(urls[0]).path
    resp = await api.get(rating)
    assert parse_qs(urlparse(resp.headers["location"]).query)["sportello_rate"] == ["1"]


def _browser_keys() -> tuple[ec.EllipticCurvePrivateKey, str, bytes, str]:
    key = ec.generate_private_key(ec.SECP256R1())
    public = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    auth = os.urandom(16)
    b64 = lambda raw: base64.urlsafe_b64encode(raw).rstrip(b"=").decode()  # noqa: E731
    return key, b64(public), auth, b64(auth)


async def test_web_push_with_vapid_to_push_service(
    api: httpx.AsyncClient, push_service: FakePushService
) -> None:
    rt = runtime_of(api)
    op_id, token = await new_operator(rt, languages=["en"])
    headers = {"Authorization": f"Bearer {token}"}
    server_key = (await api.get("/api/v1/notifications/push/key", headers=headers)).json()[
        "application_server_key"
    ]
    browser_key, p256dh, auth, auth_b64 = _browser_keys()
    resp = await api.post(
        "/api/v1/notifications/push/subscriptions",
        headers=headers,
        json={
            "endpoint": f"{push_service.base_url}/push/abc",
            "keys": {"p256dh": p256dh, "auth": auth_b64},
        },
    )
    assert resp.status_code == 201
    async with rt.db.scope() as session:
        written = await service.notify_operators(
            session,
            kind="chat.waiting",
            operator_ids=[op_id],
            context={"language": "it"},
            key="wait-1",
        )
    assert written == 1  # push on by default for a waiting chat; email off
    assert await deliver_due(rt) == {"sent": 1}
    [seen] = push_service.requests
    assert seen.path == "/push/abc"
    scheme, _, params = seen.headers["authorization"].partition(" ")
    assert scheme == "vapid"
    fields = dict(p.strip().split("=", 1) for p in params.split(","))
    assert fields["k"] == server_key
    Vapid01.verify(fields["k"], f"vapid t={fields['t']},k={fields['k']}")
    claims = json.loads(base64.urlsafe_b64decode(fields["t"].split(".")[1] + "=="))
    assert claims["aud"] == push_service.base_url and claims["sub"].startswith("mailto:")
    assert seen.headers["content-encoding"] == "aes128gcm"
    plain = http_ece.decrypt(
        seen.body, private_key=browser_key, auth_secret=auth, version="aes128gcm"
    )
    assert json.loads(plain)["body"] == "A visitor (IT) is waiting and no operator has taken them yet."


async def test_gone_push_subscription_is_dropped(
    api: httpx.AsyncClient, push_service: FakePushService
) -> None:
    from tests.fixtures.http_fakes import Answer

    rt = runtime_of(api)
    op_id, token = await new_operator(rt)
    _, p256dh, _, auth_b64 = _browser_keys()
    await api.post(
        "/api/v1/notifications/push/subscriptions",
        headers={"Authorization": f"Bearer {token}"},
        json={
            "endpoint": f"{push_service.base_url}/push/gone",
            "keys": {"p256dh": p256dh, "auth": auth_b64},
        },
    )
    push_service.script.append(Answer(410, b"gone"))
    async with rt.db.scope() as session:
        await service.notify_operators(
            session, kind="chat.offered", operator_ids=[op_id], context={}, key="o-1"
        )
    assert await deliver_due(rt) == {"failed": 1}
    async with rt.db.scope() as session:
        assert (
            await service.notify_operators(
                session, kind="chat.offered", operator_ids=[op_id], context={}, key="o-2"
            )
            == 0
        )


async def test_slack_team_alert_and_preferences_api(
    api: httpx.AsyncClient, slack_hook: FakeSlack
) -> None:
    rt = runtime_of(api)
    op_id, token = await new_operator(rt)
    headers = {"Authorization": f"Bearer {token}"}
    prefs = (await api.get("/api/v1/notifications/preferences", headers=headers)).json()
    assert prefs["preferences"]["sla.breached"]["slack"] is True
    assert prefs["preferences"]["chat.waiting"]["email"] is False
    resp = await api.put(
        "/api/v1/notifications/preferences",
        headers=headers,
        json={
            "preferences": {
                "sla.breached": {"slack": False, "email": False},
                "chat.waiting": {"slack": True},
            }
        },
    )
    assert resp.status_code == 200 and resp.json()["preferences"]["chat.waiting"]["slack"] is True
    bad = await api.put(
        "/api/v1/notifications/preferences",
        headers=headers,
        json={"preferences": {"x": {"slack": True}}},
    )
    assert bad.status_code == 422
    async with rt.db.scope() as session:
        assert (
            await service.notify_operators(
                session,
                kind="sla.breached",
                operator_ids=[op_id],
                context={"number": "T-1"},
                key="b-1",
            )
            == 0
        )
        assert (
            await service.notify_operators(
                session, kind="chat.waiting", operator_ids=[op_id], context={}, key="w-1"
            )
            == 1
        )
    assert await deliver_due(rt) == {"sent": 1}
    [seen] = slack_hook.requests
    assert seen.path == "/services/T000/B000/XXXX"
    assert seen.json() == {"text": "Un visitatore aspetta e nessun operatore l'ha ancora preso."}


async def test_dead_letters_api_is_for_supervisors(
    api: httpx.AsyncClient, slack_hook: FakeSlack
) -> None:
    from tests.fixtures.http_fakes import Answer

    rt = runtime_of(api)
    _, agent = await new_operator(rt)
    _, supervisor = await new_operator(rt, role="supervisor")
    for _ in range(rt.settings.outbox_max_attempts):
        slack_hook.script.append(Answer(503, b"unavailable", "text/plain"))
    async with rt.db.scope() as session:
        await outbox.enqueue(
            session,
            kind="message",
            channel="slack",
            recipient="team",
            payload={"subject": "s", "text": "Alert"},
            idempotency_key="slack-dead",
        )
    when = utc_now()
    for _ in range(rt.settings.outbox_max_attempts):
        await deliver_due(rt, now=when)
        when += timedelta(days=1)
    assert (
        await api.get(
            "/api/v1/notifications/dead-letters", headers={"Authorization": f"Bearer {agent}"}
        )
    ).status_code == 403
    sup = {"Authorization": f"Bearer {supervisor}"}
    [dead] = (await api.get("/api/v1/notifications/dead-letters", headers=sup)).json()
    assert dead["state"] == "dead" and dead["attempts"] == rt.settings.outbox_max_attempts
    assert "503" in dead["last_error"]
    channels = {
        c["channel"]: c
        for c in (await api.get("/api/v1/notifications/channels", headers=sup)).json()
    }
    assert channels["slack"]["dead"] == 1 and channels["slack"]["configured"] is True
    retried = await api.post(f"/api/v1/notifications/dead-letters/{dead['id']}/retry", headers=sup)
    assert retried.status_code == 200 and retried.json()["state"] == "pending"
    assert await deliver_due(rt) == {"sent": 1}
    async with rt.db.scope() as session:
        row = await session.get(OutboxMessage, dead["id"])
        assert row is not None and row.state == "sent"
    assert (
        await api.post("/api/v1/notifications/dead-letters/999999/retry", headers=sup)
    ).status_code == 404
