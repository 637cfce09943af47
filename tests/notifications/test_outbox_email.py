"""The outbox with email: same-transaction writes, outages, idempotency, dead letters, templates."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from sportello.errors import InvalidInput
from sportello.notifications import outbox, service
from sportello.notifications.models import OutboxMessage
from sportello.notifications.worker import deliver_due
from sportello.runtime import Runtime
from sportello.timeutil import utc_now
from tests.fixtures.smtp_server import SmtpServer
from tests.notifications.conftest import new_conversation


async def _count(rt: Runtime) -> int:
    async with rt.db.scope() as session:
        return int(
            (await session.execute(select(func.count()).select_from(OutboxMessage))).scalar_one()
        )


async def _row(rt: Runtime, key: str) -> OutboxMessage:
    async with rt.db.scope() as session:
        row = await outbox.get_by_key(session, key)
        assert row is not None
        return row


async def test_rolled_back_transaction_sends_nothing(rt: Runtime, smtp: SmtpServer) -> None:
    with pytest.raises(RuntimeError):
        async with rt.db.scope() as session:
            await outbox.enqueue(
                session,
                kind="message",
                channel="email",
                recipient="anna@example.com",
                payload={"subject": "Hi", "text": "Hello"},
                idempotency_key="rollback-1",
            )
            raise RuntimeError("the caller's work failed")
    assert await _count(rt) == 0
    assert await deliver_due(rt) == {}
    assert smtp.messages == []


async def test_ticket_opened_email_in_both_languages(rt: Runtime, smtp: SmtpServer) -> None:
    conv_id = await new_conversation(rt)
    async with rt.db.scope() as session:
        for lang, addr in (("it", "anna@example.com"), ("en", "john@example.com")):
            await service.notify_customer(
                session,
                kind="ticket.opened",
                contact_method="email",
                email=addr,
                phone=None,
                language=lang,
                conversation_id=conv_id,
                context={
                    "number": "T-000042",
                    "subject": "Ordine <b>rotto</b>",
                    "expected_answer_at": "2026-01-12T09:30:00+00:00",
                },
                key=f"opened-{lang}",
            )
    assert await deliver_due(rt) == {"sent": 2}
    by_to = {m.recipients[0]: m for m in smtp.messages}
    it, en = by_to["anna@example.com"], by_to["john@example.com"]
    assert it.message["Subject"] == "Abbiamo ricevuto la tua richiesta T-000042"
    assert en.message["Subject"] == "Your request T-000042 has been received"
    assert "entro il 12/01/2026 alle 10:30" in it.body("plain")  # Europe/Rome
    assert "by 12 Jan 2026, 10:30" in en.body("plain")
    assert "Ordine &lt;b&gt;rotto&lt;/b&gt;" in it.body("html")  # escaped in HTML only
    assert "Ordine <b>rotto</b>" in it.body("plain")
    for received in (it, en):
        assert "http://testserver/r/" in received.body("plain")
        assert 'href="http://testserver/r/' in received.body("html")
    assert it.message["Content-Language"] == "it"


async def test_smtp_down_delays_then_delivers_once(rt: Runtime, smtp: SmtpServer) -> None:
    smtp.stop()
    async with rt.db.scope() as session:
        await outbox.enqueue(
            session,
            kind="message",
            channel="email",
            recipient="anna@example.com",
            payload={"subject": "Ciao", "text": "Testo"},
            idempotency_key="outage-1",
        )
    assert await deliver_due(rt) == {"pending": 1}
    row = await _row(rt, "outage-1")
    assert row.attempts == 1 and "SMTP unreachable" in (row.last_error or "")
    assert row.next_attempt_at > utc_now() + timedelta(seconds=10)  # backoff, not a hot loop
    assert await deliver_due(rt) == {}  # not due yet
    smtp.start()
    later = utc_now() + timedelta(hours=1)
    assert await deliver_due(rt, now=later) == {"sent": 1}
    assert await deliver_due(rt, now=later + timedelta(hours=1)) == {}
    assert len(smtp.messages) == 1
    assert list(smtp.by_message_id().values()) == [1]


async def test_same_idempotency_key_is_one_notification(rt: Runtime, smtp: SmtpServer) -> None:
    for _ in range(2):
        async with rt.db.scope() as session:
            await outbox.enqueue(
                session,
                kind="message",
                channel="email",
                recipient="anna@example.com",
                payload={"subject": "Ciao", "text": "Testo"},
                idempotency_key="same-key",
            )
    assert await _count(rt) == 1
    await deliver_due(rt)
    assert len(smtp.messages) == 1


async def test_worker_killed_mid_delivery_is_redelivered_after_lease(
    rt: Runtime, smtp: SmtpServer
) -> None:
    from sportello.notifications.worker import claim

    async with rt.db.scope() as session:
        await outbox.enqueue(
            session,
            kind="message",
            channel="email",
            recipient="anna@example.com",
            payload={"subject": "Ciao", "text": "Testo"},
            idempotency_key="killed-1",
        )
    now = utc_now()
    claimed = await claim(rt, now, 10)  # the worker claimed it, then died before sending
    assert len(claimed) == 1
    assert await deliver_due(rt, now=now) == {}  # leased: nobody else takes it
    after_lease = now + timedelta(seconds=rt.settings.outbox_lease_seconds + 1)
    assert await deliver_due(rt, now=after_lease) == {"sent": 1}
    assert len(smtp.messages) == 1
    assert (await _row(rt, "killed-1")).attempts == 2


async def test_dead_letter_after_max_attempts_and_supervisor_retry(
    rt: Runtime, smtp: SmtpServer
) -> None:
    smtp.stop()
    async with rt.db.scope() as session:
        await outbox.enqueue(
            session,
            kind="message",
            channel="email",
            recipient="anna@example.com",
            payload={"subject": "Ciao", "text": "Testo"},
            idempotency_key="dead-1",
        )
    when = utc_now()
    states = []
    for _ in range(rt.settings.outbox_max_attempts):
        states.append(await deliver_due(rt, now=when))
        when += timedelta(days=1)
    assert states[-1] == {"dead": 1} and states[0] == {"pending": 1}
    assert await deliver_due(rt, now=when + timedelta(days=1)) == {}
    from sportello.notifications.worker import list_dead, retry_dead

    async with rt.db.scope() as session:
        dead = await list_dead(session)
        assert [d.idempotency_key for d in dead] == ["dead-1"]
        await retry_dead(session, dead[0].id)
    smtp.start()
    assert await deliver_due(rt) == {"sent": 1}
    assert len(smtp.messages) == 1


async def test_header_injection_is_refused(rt: Runtime, smtp: SmtpServer) -> None:
    async with rt.db.scope() as session:
        with pytest.raises(InvalidInput):
            await outbox.enqueue(
                session,
                kind="message",
                channel="email",
                recipient="anna@example.com\r\nBcc: evil@example.com",
                payload={},
                idempotency_key="inject-1",
            )
        # A subject built from customer text cannot add headers either.
        await outbox.enqueue(
            session,
            kind="message",
            channel="email",
            recipient="anna@example.com",
            payload={"subject": "Help\r\nBcc: evil@example.com", "text": "x"},
            idempotency_key="inject-2",
        )
    assert await deliver_due(rt) == {"sent": 1}
    [mail] = smtp.messages
    assert mail.recipients == ["anna@example.com"]
    assert mail.message["Bcc"] is None
    assert mail.message["Subject"] == "Help Bcc: evil@example.com"


async def test_unconfigured_channel_waits_in_outbox(rt: Runtime, smtp: SmtpServer) -> None:
    rt.settings.smtp_host = None
    async with rt.db.scope() as session:
        await outbox.enqueue(
            session,
            kind="message",
            channel="email",
            recipient="anna@example.com",
            payload={"subject": "s", "text": "t"},
            idempotency_key="off-1",
        )
    assert await deliver_due(rt) == {}
    assert (await _row(rt, "off-1")).state == "pending"
