"""SMS and WhatsApp through the twilio SDK against a local Twilio emulator; inbound webhooks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from sportello.conversations.models import Message
from sportello.notifications import outbox
from sportello.notifications.models import InboundMessage, NotificationRecipient, OutboxMessage
from sportello.notifications.worker import claim, deliver, deliver_due, record
from sportello.runtime import Runtime
from sportello.timeutil import utc_now
from tests.fixtures.http_fakes import FakeTwilio
from tests.fixtures.smtp_server import SmtpServer
from tests.notifications.conftest import PUBLIC_URL, new_conversation, runtime_of

PHONE = "+393331234567"


async def _enqueue(rt: Runtime, key: str, channel: str = "sms", **extra: Any) -> None:
    async with rt.db.scope() as session:
        await outbox.enqueue(
            session,
            kind="ticket.opened",
            channel=channel,
            recipient=PHONE,
            payload={"number": "T-000007", **extra.pop("payload", {})},
            idempotency_key=key,
            **extra,
        )


async def _row(rt: Runtime, key: str) -> OutboxMessage:
    async with rt.db.scope() as session:
        row = await outbox.get_by_key(session, key)
        assert row is not None
        return row


async def _recipient(rt: Runtime, channel: str) -> NotificationRecipient | None:
    async with rt.db.scope() as session:
        return await session.get(NotificationRecipient, (channel, PHONE))


async def test_sms_sent_with_status_callback(rt: Runtime, twilio: FakeTwilio) -> None:
    await _enqueue(rt, "sms-1")
    assert await deliver_due(rt) == {"sent": 1}
    [sent] = twilio.messages()
    assert sent["To"] == PHONE and sent["From"] == "+15005550006"
    assert sent["Body"].startswith("Richiesta T-000007 ricevuta")
    row = await _row(rt, "sms-1")
    # The callback URL names the row and carries its idempotency key (Twilio takes none).
    assert sent["StatusCallback"] == (
        f"{PUBLIC_URL}/api/v1/channels/twilio/status?outbox={row.id}&key={outbox.key_digest('sms-1')}"
    )
    assert row.provider_message_id and row.provider_message_id.startswith("SM")
    assert row.delivery_status == "queued"


async def test_twilio_500_and_20429_are_retried(rt: Runtime, twilio: FakeTwilio) -> None:
    twilio.fail(20500, status=500, message="Internal Server Error")
    twilio.fail(20429, status=429, message="Too Many Requests")
    await _enqueue(rt, "sms-retry")
    now = utc_now()
    assert await deliver_due(rt, now=now) == {"pending": 1}
    assert await deliver_due(rt, now=now + timedelta(hours=1)) == {"pending": 1}
    assert await deliver_due(rt, now=now + timedelta(hours=3)) == {"sent": 1}
    assert len(twilio.messages()) == 3
    assert (await _row(rt, "sms-retry")).attempts == 3


async def test_21211_marks_the_number_invalid(rt: Runtime, twilio: FakeTwilio) -> None:
    twilio.fail(21211, message="The 'To' number is not a valid phone number.")
    await _enqueue(rt, "sms-invalid")
    assert await deliver_due(rt) == {"failed": 1}
    assert (await _recipient(rt, "sms")).state == "invalid"  # type: ignore[union-attr]
    assert (await _recipient(rt, "whatsapp")).state == "invalid"  # type: ignore[union-attr]
    await _enqueue(rt, "sms-invalid-2")
    assert await deliver_due(rt) == {"failed": 1}
    assert len(twilio.messages()) == 1  # the second was never attempted


async def test_21610_suppresses_until_start(api: httpx.AsyncClient, twilio: FakeTwilio) -> None:
    rt = runtime_of(api)
    twilio.fail(21610, message="Attempt to send to unsubscribed recipient")
    await _enqueue(rt, "sms-stop")
    assert await deliver_due(rt) == {"failed": 1}
    assert (await _recipient(rt, "sms")).state == "opted_out"  # type: ignore[union-attr]
    await _enqueue(rt, "sms-stop-2")
    assert await deliver_due(rt) == {"failed": 1}
    assert len(twilio.messages()) == 1
    resp = await _post_inbound(
        api, twilio, {"MessageSid": "SMstart1", "From": PHONE, "Body": "START"}
    )
    assert resp.status_code == 200
    assert (await _recipient(rt, "sms")).state == "ok"  # type: ignore[union-attr]
    await _enqueue(rt, "sms-stop-3")
    assert await deliver_due(rt) == {"sent": 1}


async def test_whatsapp_outside_window_uses_template(rt: Runtime, twilio: FakeTwilio) -> None:
    await _enqueue(rt, "wa-template", channel="whatsapp")
    assert await deliver_due(rt) == {"sent": 1}
    [sent] = twilio.messages()
    assert sent["To"] == f"whatsapp:{PHONE}" and sent["From"] == "whatsapp:+14155238886"
    assert sent["ContentSid"] == "HX" + "1" * 32
    assert "Body" not in sent and '"1": "T-000007"' in sent["ContentVariables"]


async def test_whatsapp_63016_falls_back_to_template_then_email(
    api: httpx.AsyncClient, twilio: FakeTwilio, smtp: SmtpServer
) -> None:
    rt = runtime_of(api)
    # The customer wrote recently, so a free-form message is tried first.
    resp = await _post_inbound(
        api, twilio, {"MessageSid": "SMwin1", "From": f"whatsapp:{PHONE}", "Body": "ciao"}
    )
    assert resp.status_code == 200
    twilio.fail(
        63016, message="Failed to send freeform message because you are outside the allowed window."
    )
    await _enqueue(rt, "wa-fallback", channel="whatsapp")
    assert await deliver_due(rt) == {"pending": 1}  # back in the queue, now with the template
    assert await deliver_due(rt) == {"sent": 1}
    first, second = twilio.messages()
    assert "Body" in first and "ContentSid" in second
    # No template for this kind: straight to email.
    twilio.fail(63016, message="outside the allowed window")
    async with rt.db.scope() as session:
        await outbox.enqueue(
            session,
            kind="ticket.replied",
            channel="whatsapp",
            recipient=PHONE,
            payload={"number": "T-000007", "reply": "Eccoci", "fallback_email": "anna@example.com"},
            idempotency_key="wa-email",
            language="it",
        )
    assert await deliver_due(rt) == {"failed": 1}
    assert await deliver_due(rt) == {"sent": 1}
    [mail] = smtp.messages
    assert mail.recipients == ["anna@example.com"] and "Eccoci" in mail.body("plain")


def _sign(twilio: FakeTwilio, path: str, form: dict[str, str]) -> str:
    return str(RequestValidator(twilio.auth_token).compute_signature(f"{PUBLIC_URL}{path}", form))


async def _post_inbound(
    api: httpx.AsyncClient, twilio: FakeTwilio, form: dict[str, str], signature: str | None = None
) -> httpx.Response:
    path = "/api/v1/channels/twilio/inbound"
    form = {"AccountSid": twilio.account_sid, "To": "+15005550006", "NumMedia": "0", **form}
    sig = signature if signature is not None else _sign(twilio, path, form)
    return await api.post(path, data=form, headers={"X-Twilio-Signature": sig})


async def _inbound_rows(rt: Runtime) -> list[InboundMessage]:
    async with rt.db.scope() as session:
        return list((await session.execute(select(InboundMessage))).scalars())


async def test_inbound_with_bad_signature_is_403_and_writes_nothing(
    api: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    rt = runtime_of(api)
    form = {"MessageSid": "SMbad1", "From": PHONE, "Body": "STOP"}
    good = _sign(
        twilio,
        "/api/v1/channels/twilio/inbound",
        {"AccountSid": twilio.account_sid, "To": "+15005550006", "NumMedia": "0", **form},
    )
    tampered = {**form, "Body": "START"}
    for sig, data in (("", form), ("bm90IGEgc2lnbmF0dXJl", form), (good, tampered)):
        resp = await _post_inbound(api, twilio, data, signature=sig)
        assert resp.status_code == 403
    assert await _inbound_rows(rt) == []
    assert await _recipient(rt, "sms") is None


async def test_inbound_reply_appended_once_even_when_retried(
    api: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    rt = runtime_of(api)
    conv_id = await new_conversation(rt)
    # We texted this number about the conversation: that is how the reply finds it.
    await _enqueue(rt, "sms-conv", conversation_id=conv_id)
    form = {"MessageSid": "SMreply1", "From": PHONE, "Body": "Il pacco è arrivato rotto"}
    for _ in range(3):  # Twilio retries a webhook it thinks failed
        resp = await _post_inbound(api, twilio, form)
        assert resp.status_code == 200 and "<Response>" in resp.text
    async with rt.db.scope() as session:
        messages = list(
            (
                await session.execute(select(Message).where(Message.conversation_id == conv_id))
            ).scalars()
        )
    assert [(m.body, m.channel, m.sender) for m in messages] == [
        ("Il pacco è arrivato rotto", "sms", "visitor")
    ]
    [row] = await _inbound_rows(rt)
    assert row.outcome == "appended" and row.conversation_id == conv_id


async def test_stop_then_start(api: httpx.AsyncClient, twilio: FakeTwilio) -> None:
    rt = runtime_of(api)
    await _post_inbound(api, twilio, {"MessageSid": "SMs1", "From": PHONE, "Body": "STOP"})
    assert (await _recipient(rt, "sms")).state == "opted_out"  # type: ignore[union-attr]
    await _enqueue(rt, "after-stop")
    assert await deliver_due(rt) == {"failed": 1}
    assert twilio.messages() == []
    await _post_inbound(api, twilio, {"MessageSid": "SMs2", "From": PHONE, "Body": "start"})
    assert (await _recipient(rt, "sms")).state == "ok"  # type: ignore[union-attr]
    await _enqueue(rt, "after-start")
    assert await deliver_due(rt) == {"sent": 1}


async def test_status_callback_updates_delivery_state(
    api: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    rt = runtime_of(api)
    await _enqueue(rt, "sms-status")
    await deliver_due(rt)
    sid = (await _row(rt, "sms-status")).provider_message_id
    assert sid
    path = "/api/v1/channels/twilio/status"

    async def report(status: str, **extra: str) -> int:
        form = {
            "MessageSid": sid,
            "MessageStatus": status,
            "AccountSid": twilio.account_sid,
            **extra,
        }
        resp = await api.post(
            path, data=form, headers={"X-Twilio-Signature": _sign(twilio, path, form)}
        )
        return resp.status_code

    assert await report("sent") == 204
    assert await report("delivered") == 204
    assert await report("sent") == 204  # late and out of order: ignored
    assert (await _row(rt, "sms-status")).delivery_status == "delivered"
    bad = await api.post(
        path,
        data={"MessageSid": sid, "MessageStatus": "failed"},
        headers={"X-Twilio-Signature": "x"},
    )
    assert bad.status_code == 403
    assert (await _row(rt, "sms-status")).delivery_status == "delivered"


async def test_status_callback_adopts_a_message_the_worker_never_recorded(
    api: httpx.AsyncClient, twilio: FakeTwilio
) -> None:
    rt = runtime_of(api)
    await _enqueue(rt, "sms-adopt")
    now = utc_now()
    # The worker claims the row and Twilio accepts the message; the worker dies before recording.
    [claimed] = await claim(rt, now, 10)
    delivery = await deliver(rt, claimed, now)
    [sent] = twilio.messages()
    callback = urlsplit(sent["StatusCallback"])
    path = f"{callback.path}?{callback.query}"

    async def report(sid: str, status: str, path: str = path) -> int:
        form = {"MessageSid": sid, "MessageStatus": status, "AccountSid": twilio.account_sid}
        resp = await api.post(
            path, data=form, headers={"X-Twilio-Signature": _sign(twilio, path, form)}
        )
        return resp.status_code

    # A report naming the row with another key is not about it.
    forged = path.replace(f"key={outbox.key_digest('sms-adopt')}", "key=" + "0" * 40)
    assert await report(str(delivery.provider_message_id), "sent", forged) == 204
    assert (await _row(rt, "sms-adopt")).state == "sending"
    assert await report(str(delivery.provider_message_id), "sent") == 204
    row = await _row(rt, "sms-adopt")
    assert (row.state, row.provider_message_id, row.delivery_status, row.attempts) == (
        "sent",
        delivery.provider_message_id,
        "sent",
        1,
    )
    after_lease = now + timedelta(seconds=rt.settings.outbox_lease_seconds + 1)
    assert await deliver_due(rt, now=after_lease) == {}  # not sent again
    assert len(twilio.messages()) == 1
    # The dead worker's outcome, were it recorded late, would change nothing.
    assert await record(rt, claimed, delivery, now) == "sent"
