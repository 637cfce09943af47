"""Chat events reach operators beyond the dashboard: by preference, by presence, once each."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import datetime, timedelta
from typing import Any

import http_ece
from sqlalchemy import select

from sportello.conversations import service as conversations
from sportello.conversations.models import Sender
from sportello.notifications import service
from sportello.notifications.models import OutboxMessage, PushSubscription
from sportello.notifications.worker import deliver_due
from sportello.operators import presence
from sportello.operators.models import Operator
from sportello.operators.service import operator_channel
from sportello.queue import routing
from sportello.queue import service as queue
from sportello.queue.alerts import waiting_alerts
from sportello.runtime import Runtime
from sportello.ticker import operator_silence
from sportello.timeutil import utc_now
from tests.fixtures.http_fakes import FakePushService, FakeSlack
from tests.fixtures.smtp_server import SmtpServer
from tests.notifications.conftest import new_conversation
from tests.notifications.test_links_push_slack import _browser_keys
from tests.operators.helpers import go_online, make_operator


async def _operator(
    rt: Runtime, name: str, *, role: str = "agent", languages: tuple[str, ...] = ("it",)
) -> uuid.UUID:
    return await make_operator(
        rt, f"{name}@shop.test", name=name.title(), role=role, languages=languages
    )


async def _want(rt: Runtime, op_id: uuid.UUID, kind: str, **cells: bool) -> None:
    async with rt.db.scope() as session:
        await service.set_preferences(session, op_id, {kind: cells})


async def _away(rt: Runtime, op_id: uuid.UUID) -> None:
    await go_online(rt, op_id)
    async with rt.db.scope() as session:
        await presence.set_choice(
            session, op_id, "away", presence_timeout=rt.settings.presence_timeout_seconds
        )


async def _subscribe_push(rt: Runtime, op_id: uuid.UUID, push: FakePushService) -> Any:
    """A browser's push subscription for the operator; returns the browser's private key."""
    key, p256dh, auth, auth_b64 = _browser_keys()
    async with rt.db.scope() as session:
        session.add(
            PushSubscription(
                id=uuid.uuid4(),
                operator_id=op_id,
                endpoint=f"{push.base_url}/push/{op_id}",
                p256dh=p256dh,
                auth=auth_b64,
            )
        )
    return key, auth


def _pushed(push: FakePushService, op_id: uuid.UUID, browser: Any) -> list[dict[str, Any]]:
    key, auth = browser
    return [
        json.loads(http_ece.decrypt(r.body, private_key=key, auth_secret=auth, version="aes128gcm"))
        for r in push.requests
        if r.path == f"/push/{op_id}"
    ]


async def _queue_visitor(rt: Runtime, at: datetime, language: str = "it") -> uuid.UUID:
    conv_id = await new_conversation(rt, language=language)
    async with rt.db.scope() as session:
        conv = await conversations.get_conversation(session, conv_id)
        await queue.enqueue(session, rt.settings, conv, priority="medium", reason="test", now=at)
    return conv_id


async def _rows(rt: Runtime) -> list[tuple[str, str, str]]:
    async with rt.db.scope() as session:
        rows = (await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars()
        return [(r.kind, r.channel, r.recipient) for r in rows]


async def _email_of(rt: Runtime, op_id: uuid.UUID) -> str:
    async with rt.db.scope() as session:
        op = await session.get(Operator, op_id)
        assert op is not None
        return op.email


async def _next_notification(sub: Any, kind: str) -> dict[str, Any]:
    async with asyncio.timeout(5):
        while True:
            event = await sub.get()
            if event.get("type") == "notification" and event.get("kind") == kind:
                return event


async def test_nobody_online_alerts_offline_agents_and_supervisors_once(
    rt: Runtime, smtp: SmtpServer, slack_hook: FakeSlack, push_service: FakePushService
) -> None:
    bruno = await _operator(rt, "bruno")  # offline agent who wants waiting chats by email
    await _want(rt, bruno, "chat.waiting", email=True)
    carla = await _operator(rt, "carla")  # away: the dashboard is open, so no email
    await _want(rt, carla, "chat.waiting", email=True)
    await _away(rt, carla)
    dario = await _operator(rt, "dario", languages=("en",))  # cannot take an Italian chat
    await _want(rt, dario, "chat.waiting", email=True)
    sofia = await _operator(rt, "sofia", role="supervisor")  # offline, defaults
    sofia_browser = await _subscribe_push(rt, sofia, push_service)
    t0 = utc_now()
    await _queue_visitor(rt, t0)

    assert await waiting_alerts(rt, t0 + timedelta(seconds=60)) == 0  # not long enough yet
    assert await waiting_alerts(rt, t0 + timedelta(seconds=130)) == 1
    assert await waiting_alerts(rt, t0 + timedelta(seconds=200)) == 0  # once per visitor

    sofia_mail, bruno_mail = await _email_of(rt, sofia), await _email_of(rt, bruno)
    assert sorted(await _rows(rt)) == sorted(
        [
            ("chat.waiting", "email", bruno_mail),
            ("chat.waiting", "push", (await _subscription_id(rt, sofia))),
            ("chat.unattended", "email", sofia_mail),
            ("chat.unattended", "push", (await _subscription_id(rt, sofia))),
            ("chat.unattended", "slack", "team"),
        ]
    )
    assert await deliver_due(rt) == {"sent": 5}
    by_to = {m.recipients[0]: m for m in smtp.messages}
    assert set(by_to) == {bruno_mail, sofia_mail}
    assert "aspetta da 2 min" in by_to[bruno_mail].message["Subject"]
    assert "nessuno che possa prenderlo è online" in by_to[bruno_mail].body("plain")
    assert by_to[sofia_mail].message["Subject"].startswith("[Sportello] Coda senza operatori")
    [slack] = slack_hook.requests
    assert slack.json()["text"].startswith("Coda senza operatori: un visitatore (IT)")
    pushed = _pushed(push_service, sofia, sofia_browser)
    assert sorted(p["kind"] for p in pushed) == ["chat.unattended", "chat.waiting"]
    assert all(p["url"] == "http://testserver/dashboard" for p in pushed)
    assert await deliver_due(rt, now=utc_now() + timedelta(days=1)) == {}


async def _subscription_id(rt: Runtime, op_id: uuid.UUID) -> str:
    async with rt.db.scope() as session:
        sub = (
            await session.execute(
                select(PushSubscription.id).where(PushSubscription.operator_id == op_id)
            )
        ).scalar_one()
        return str(sub)


async def test_with_someone_online_only_the_waiting_alert_goes_out(
    rt: Runtime, smtp: SmtpServer, slack_hook: FakeSlack
) -> None:
    anna = await _operator(rt, "anna")  # online, but busy elsewhere: she sees the queue
    await _want(rt, anna, "chat.waiting", email=True)
    await go_online(rt, anna)
    marco = await _operator(rt, "marco", role="supervisor")  # online supervisor
    await _want(rt, marco, "chat.waiting", email=True)
    await go_online(rt, marco)
    bruno = await _operator(rt, "bruno")
    await _want(rt, bruno, "chat.waiting", email=True)
    sub = rt.bus.subscribe(operator_channel(marco), operator_channel(anna))
    t0 = utc_now()
    await _queue_visitor(rt, t0)
    assert await waiting_alerts(rt, t0 + timedelta(seconds=121)) == 1
    # Marco is online: the dashboard tells him, email would only repeat it later.
    notice = await _next_notification(sub, "chat.waiting")
    assert notice["data"]["nobody_online"] is False and notice["data"]["language"] == "it"
    sub.close()
    assert await _rows(rt) == [("chat.waiting", "email", await _email_of(rt, bruno))]
    assert await deliver_due(rt) == {"sent": 1}
    [mail] = smtp.messages
    assert mail.message["Subject"] == (
        "[Sportello] Un visitatore (IT) aspetta da 2 min e nessun operatore l'ha ancora preso."
    )
    assert slack_hook.requests == []


async def test_offer_is_pushed_until_it_lapses_and_never_emailed_to_the_online_operator(
    rt: Runtime, smtp: SmtpServer, push_service: FakePushService
) -> None:
    giulia = await _operator(rt, "giulia", languages=("en", "it"))
    await _want(rt, giulia, "chat.offered", email=True)
    browser = await _subscribe_push(rt, giulia, push_service)
    await go_online(rt, giulia)
    t0 = utc_now()
    first = await _queue_visitor(rt, t0, language="en")
    second = await _queue_visitor(rt, t0 + timedelta(seconds=1))
    assert await routing.dispatch(rt, now=t0) == 2
    rows = await _rows(rt)
    assert [r[:2] for r in rows] == [("chat.offered", "push"), ("chat.offered", "push")]
    # The first offer is pushed at once; its lifetime bounds how long the push service keeps it.
    assert await deliver_due(rt, now=utc_now(), limit=1) == {"sent": 1}
    [seen] = push_service.requests
    assert 0 < int(seen.headers["ttl"]) <= rt.settings.initial_response_seconds
    [payload] = _pushed(push_service, giulia, browser)
    assert payload["tag"] == f"offer-{first}"
    assert payload["body"] == "New chat request (EN): accept it within 60 seconds."
    # The second one could only go out after the offer lapsed: it is dropped, not sent late.
    late = t0 + timedelta(seconds=rt.settings.initial_response_seconds + 1)
    assert await deliver_due(rt, now=late) == {"failed": 1}
    async with rt.db.scope() as session:
        row = (
            await session.execute(select(OutboxMessage).where(OutboxMessage.state == "failed"))
        ).scalar_one()
        assert row.payload["tag"] == f"offer-{second}"
        assert "expired" in (row.last_error or "")
    assert len(push_service.requests) == 1 and smtp.messages == []
    # The same offer routed again writes nothing new (the key is the event).
    assert await routing.dispatch(rt, now=t0) == 0
    assert len(await _rows(rt)) == 2


async def test_unanswered_visitor_alerts_supervisors_once_per_message(
    rt: Runtime, smtp: SmtpServer
) -> None:
    giulia = await _operator(rt, "giulia")
    sofia = await _operator(rt, "sofia", role="supervisor")
    await _want(rt, sofia, "chat.unanswered", email=True)
    silence = timedelta(seconds=rt.settings.operator_silence_seconds)
    conv_id = await new_conversation(
        rt, status="live", operator_id=giulia, silence_deadline_at=utc_now()
    )
    async with rt.db.scope() as session:
        conv = await conversations.get_conversation(session, conv_id)
        await conversations.append_message(
            session, conv, sender=Sender.VISITOR, body="C'è qualcuno?"
        )
    later = utc_now() + silence + timedelta(seconds=1)
    assert await operator_silence(rt, later) == 1
    # Still unanswered one period later: the dashboard is reminded, the mailbox is not.
    assert await operator_silence(rt, later + silence + timedelta(seconds=1)) == 1
    assert await deliver_due(rt, now=later + 3 * silence) == {"sent": 1}
    [mail] = smtp.messages
    assert mail.recipients == [await _email_of(rt, sofia)]
    assert "nella chat di Giulia" in mail.message["Subject"]
    assert "da 10 min" in mail.message["Subject"]



async def test_a_transfer_to_a_colleague_is_pushed_as_a_handover(
    rt: Runtime, smtp: SmtpServer, push_service: FakePushService
) -> None:
    from sportello.operators.service import Principal
    from sportello.queue.live import transfer

    giulia = await _operator(rt, "giulia")
    teo = await _operator(rt, "teo")
    await _want(rt, teo, "chat.assigned", email=True)  # online: email is held back anyway
    teo_browser = await _subscribe_push(rt, teo, push_service)
    await go_online(rt, giulia)
    conv_id = await _queue_visitor(rt, utc_now())
    assert await routing.dispatch(rt) == 1  # to Giulia, the only one online
    async with rt.db.scope() as session:
        op = await session.get(Operator, giulia)
        assert op is not None
        me = Principal(op.id, op.name, op.email, op.role, op.tier, ("it",), uuid.uuid4(), "x")
        await routing.accept(session, rt.settings, conv_id, me, utc_now())
    await go_online(rt, teo)
    await transfer(rt, conv_id, me, operator_id=teo)
    assert [r[:2] for r in await _rows(rt)] == [("chat.assigned", "push")]
    assert await deliver_due(rt) == {"sent": 1}
    [handover] = _pushed(push_service, teo, teo_browser)
    assert handover["kind"] == "chat.assigned"
    assert handover["body"] == "Un collega ti ha trasferito una chat (IT): accettala entro 60 secondi."
    assert handover["tag"] == f"offer-{conv_id}"
    assert smtp.messages == []
