"""Messages and delivery reports from Twilio: signature check, dedup, STOP/START, reply routing.

A customer's SMS or WhatsApp reply goes to the conversation of their most recent open ticket
with that phone number (through the tickets service, which tells the assignee). When no ticket
matches, `conversation_for_phone` picks the conversation of the most recent notification we
sent to that number, and the reply is appended there (its operator, if any, is told).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.request_validator import RequestValidator

from sportello.config import Settings
from sportello.conversations import service as conversations
from sportello.conversations.models import Sender
from sportello.notifications.channels import Consequence, PermanentError
from sportello.notifications.models import (
    ChannelKind,
    InboundMessage,
    NotificationRecipient,
    OutboxMessage,
    OutboxState,
    RecipientState,
)
from sportello.notifications.outbox import (
    insert_for,
    key_digest,
    mark_sent,
    set_recipient_state,
)
from sportello.runtime import Runtime
from sportello.timeutil import utc_now

log = logging.getLogger(__name__)
# Rows a status callback may adopt as sent: waiting for a retry, in flight, or given up on.
ADOPTABLE = (OutboxState.PENDING.value, OutboxState.SENDING.value, OutboxState.DEAD.value)
STOP_WORDS = frozenset(
    {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout"}
)
START_WORDS = frozenset({"start", "yes", "unstop"})
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
STATUS_RANK = {
    "accepted": 0,
    "scheduled": 0,
    "queued": 1,
    "sending": 2,
    "sent": 3,
    "delivered": 4,
    "read": 5,
    "undelivered": 6,
    "failed": 6,
    "canceled": 6,
}


def signature_valid(
    settings: Settings, path_and_query: str, params: Any, signature: str | None
) -> bool:
    """True when `signature` is Twilio's for the public URL of this request and its form."""
    if not (settings.twilio_auth_token and settings.public_url and signature):
        return False
    url = settings.public_url.rstrip("/") + path_and_query
    return bool(RequestValidator(settings.twilio_auth_token).validate(url, params, signature))


def split_address(raw: str) -> tuple[str, str]:
    """('whatsapp'|'sms', '+E164') from Twilio's From field."""
    if raw.startswith("whatsapp:"):
        return ChannelKind.WHATSAPP.value, raw.removeprefix("whatsapp:")
    return ChannelKind.SMS.value, raw


async def conversation_for_phone(session: AsyncSession, phone: str) -> uuid.UUID | None:
    """The conversation of the most recent SMS/WhatsApp notification sent to `phone`, if any."""
    stmt = (
        select(OutboxMessage.conversation_id)
        .where(
            OutboxMessage.recipient == phone,
            OutboxMessage.channel.in_([ChannelKind.SMS.value, ChannelKind.WHATSAPP.value]),
            OutboxMessage.conversation_id.is_not(None),
        )
        .order_by(OutboxMessage.created_at.desc(), OutboxMessage.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def _ticket_for_phone(session: AsyncSession, phone: str) -> Any:
    from sportello.tickets.models import Ticket, TicketStatus

    stmt = (
        select(Ticket)
        .where(
            Ticket.phone == phone,
            Ticket.status != TicketStatus.CLOSED.value,
            Ticket.conversation_id.is_not(None),
        )
        .order_by(Ticket.created_at.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def receive(rt: Runtime, form: Mapping[str, str]) -> str:
    """Handle one verified inbound message once per MessageSid; returns what was done."""
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    if not sid:
        return "ignored"
    channel, phone = split_address(form.get("From", ""))
    body = (form.get("Body") or "").strip()
    now = utc_now()
    async with rt.db.scope() as session:
        inserted = (
            await session.execute(
                insert_for(session)(InboundMessage)
                .values(
                    message_sid=sid[:64],
                    channel=channel,
                    from_address=phone[:64],
                    body=body,
                    outcome="received",
                    received_at=now,
                )
                .on_conflict_do_nothing(index_elements=["message_sid"])
                .returning(InboundMessage.message_sid)
            )
        ).scalar_one_or_none()
        if inserted is None:
            return "duplicate"
        record = await session.get(InboundMessage, sid[:64])
        assert record is not None
        keyword = body.lower().strip(" .!")
        if keyword in STOP_WORDS:
            await set_recipient_state(
                session, channel, phone, RecipientState.OPTED_OUT, "STOP", inbound_at=now
            )
            record.outcome = "opted_out"
            return record.outcome
        known = await session.get(NotificationRecipient, (channel, phone))
        if keyword in START_WORDS:
            await set_recipient_state(
                session, channel, phone, RecipientState.OK, "START", inbound_at=now
            )
            record.outcome = "opted_in"
            return record.outcome
        # Any message opens WhatsApp's 24-hour window; an opt-out stays until START.
        await set_recipient_state(
            session,
            channel,
            phone,
            RecipientState(known.state) if known is not None else RecipientState.OK,
            known.reason if known is not None else None,
            inbound_at=now,
        )
        if not body:
            record.outcome = "empty"
            return record.outcome
        record.conversation_id, record.outcome = await _append(
            rt, session, channel, phone, body, sid
        )
        return record.outcome


async def _append(
    rt: Runtime, session: AsyncSession, channel: str, phone: str, body: str, sid: str
) -> tuple[uuid.UUID | None, str]:
    from sportello.sla.service import sla_config
    from sportello.tickets import service as tickets

    ticket = await _ticket_for_phone(session, phone)
    if ticket is not None:
        await tickets.append_customer_message(
            session, ticket, body, sla_config(rt.settings), channel=channel, client_message_id=sid
        )
        return ticket.conversation_id, "appended_to_ticket"
    conv_id = await conversation_for_phone(session, phone)
    if conv_id is None:
        return None, "unmatched"
    conv = await conversations.get_conversation(session, conv_id)
    _, created = await conversations.append_message(
        session, conv, sender=Sender.VISITOR, body=body, channel=channel, client_message_id=sid
    )
    if created and conv.operator_id is not None:
        from sportello.notifications.service import notify_operators

        await notify_operators(
            session,
            kind="ticket.customer_replied",
            operator_ids=[conv.operator_id],
            context={"number": "", "preview": body[:140], "conversation_id": str(conv.id)},
            key=f"inbound:{sid}",
        )
    return conv.id, "appended"


async def _reported_row(
    session: AsyncSession, sid: str, query: Mapping[str, str]
) -> OutboxMessage | None:
    """The row a report is about: by MessageSid, or by the row and key named in the callback URL.

    The second way finds a row whose worker died after Twilio accepted the message and before
    it recorded the MessageSid: Twilio has the message, so the row is adopted as `sent` and is
    not sent again when its lease runs out.
    """
    if not sid:
        return None
    row = (
        await session.execute(select(OutboxMessage).where(OutboxMessage.provider_message_id == sid))
    ).scalar_one_or_none()
    outbox_id = query.get("outbox", "")
    if row is not None or not (outbox_id.isascii() and outbox_id.isdigit() and len(outbox_id) < 19):
        return row
    row = await session.get(OutboxMessage, int(outbox_id), with_for_update=True)
    if row is None or key_digest(row.idempotency_key) != query.get("key"):
        return None
    if row.provider_message_id is not None:
        # Another attempt was accepted too: Twilio has the notification twice (at least once).
        log.warning(
            "Twilio accepted a notification twice", extra={"outbox_id": row.id, "sid": sid[:64]}
        )
        return None
    if row.state in ADOPTABLE:
        mark_sent(row, sid[:64], None, utc_now())
        log.info("notification adopted from a status callback", extra={"outbox_id": row.id})
    else:
        row.provider_message_id = sid[:64]
    return row


async def status_callback(
    rt: Runtime, form: Mapping[str, str], query: Mapping[str, str] | None = None
) -> str:
    """Record a delivery report (never moving a status backwards); act on failures by meaning.

    `query` is the callback URL's query (`outbox`, `key`), which Sportello set when sending.
    """
    sid = form.get("MessageSid") or form.get("SmsSid") or ""
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    error_code = form.get("ErrorCode")
    if status not in STATUS_RANK:
        return "ignored"
    async with rt.db.scope() as session:
        row = await _reported_row(session, sid, query or {})
        if row is None:
            return "ignored"
        if STATUS_RANK[status] < STATUS_RANK.get(row.delivery_status or "", -1):
            return "stale"
        row.delivery_status = status
        row.updated_at = utc_now()
        if status in ("failed", "undelivered") and error_code:
            row.last_error = f"Twilio delivery {status}: error {error_code}"
            code = int(error_code) if error_code.isdigit() else 0
            effect = {
                21211: Consequence(RecipientState.INVALID),
                21610: Consequence(RecipientState.OPTED_OUT),
                63016: Consequence(fallback=True),
            }.get(code)
            if effect is not None:
                from sportello.notifications.worker import _apply_permanent

                await _apply_permanent(
                    session,
                    rt.settings,
                    row,
                    PermanentError(row.last_error, code=code, consequence=effect),
                )
        return status
