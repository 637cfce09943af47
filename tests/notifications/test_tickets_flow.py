"""End to end with the tickets domain: ticket opened by SMS, the customer's reply comes back."""

from __future__ import annotations

import httpx
from sqlalchemy import select

from sportello.conversations.models import Message
from sportello.notifications.models import OutboxMessage
from sportello.notifications.worker import deliver_due
from sportello.tickets import service as tickets
from tests.fixtures.http_fakes import FakeTwilio
from tests.fixtures.smtp_server import SmtpServer
from tests.notifications.conftest import new_operator, runtime_of
from tests.notifications.test_twilio import PHONE, _post_inbound


async def test_ticket_sms_and_reply_reach_the_assignee(
    api: httpx.AsyncClient, twilio: FakeTwilio, smtp: SmtpServer
) -> None:
    rt = runtime_of(api)
    op_id, _ = await new_operator(rt)
    async with rt.db.scope() as session:
        ticket = await tickets.create_ticket(
            session,
            rt.settings,
            tickets.NewTicket(
                contact_method="sms",
                subject="Luci rotte",
                phone=PHONE,
                language="it",
                assignee_id=op_id,
            ),
        )
        number, conv_id = ticket.number, ticket.conversation_id
    await deliver_due(rt)
    [sms] = twilio.messages()
    assert sms["To"] == PHONE and number in sms["Body"] and "http://testserver/r/" in sms["Body"]
    resp = await _post_inbound(
        api, twilio, {"MessageSid": "SMt1", "From": PHONE, "Body": "Sono ancora rotte"}
    )
    assert resp.status_code == 200, resp.text
    async with rt.db.scope() as session:
        bodies = [
            m.body
            for m in (
                await session.execute(select(Message).where(Message.conversation_id == conv_id))
            ).scalars()
        ]
        kinds = [
            (r.kind, r.channel)
            for r in (
                await session.execute(select(OutboxMessage).order_by(OutboxMessage.id))
            ).scalars()
        ]
    assert "Sono ancora rotte" in bodies
    assert ("ticket.customer_replied", "email") in kinds
    await deliver_due(rt)
    assert any(number in m.message["Subject"] for m in smtp.messages)
