"""Data-subject requests: everything held about an email address or phone number, exported or erased.

A person is found by what they gave us: tickets and contact requests with their email or phone,
the conversations behind those, conversations where the visitor typed the address or number,
inbound messages from the number and notifications sent to either. Those rows are the person's
and an erasure deletes them. Anything else that merely mentions the address or number (another
visitor's message, an audit row, a notification payload to operators) is redacted in place by a
sweep over every string and JSON column of every table, so a table added later is covered too.
Internal notes that mention the person are deleted and never exported (notes never reach a
customer). The audit row of a request holds a keyed hash of the identifier and counts, nothing
else. Operator accounts are staff records managed by admins and are left alone.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import phonenumbers
from sqlalchemy import (
    JSON,
    ColumnElement,
    String,
    Table,
    Text,
    cast,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession

from sportello import audit
from sportello.audit import AuditEvent
from sportello.conversations.models import Conversation, Message, Sender
from sportello.db import Base
from sportello.errors import InvalidInput
from sportello.notifications.models import (
    InboundMessage,
    NotificationRecipient,
    OutboxMessage,
    PushSubscription,
)
from sportello.operators.models import Operator
from sportello.queue.models import ConversationNote
from sportello.tickets.models import ContactRequest, Ticket, TicketNote, VipCustomer
from sportello.timeutil import utc_now

REDACTED = "[erased]"
# Staff accounts are not customer data; admins manage them (and the schema bookkeeping).
SWEEP_SKIP = frozenset({"operators", "alembic_version"})


@dataclass(frozen=True)
class Subject:
    """A data subject: a normalised email address and/or an E.164 phone number."""

    email: str | None
    phone: str | None
    national: str | None = None

    @property
    def needles(self) -> list[str]:
        """Substrings that identify the person inside free text (case-insensitive)."""
        return [n for n in (self.email, self.national or self.phone) if n]

    def digest(self, secret: str) -> str:
        """A keyed hash of the identifiers: lets two audit rows be matched, reveals nothing."""
        ident = f"email:{self.email or ''}|phone:{self.phone or ''}"
        return hmac.new(secret.encode(), ident.encode(), hashlib.sha256).hexdigest()


def parse_subject(email: str | None, phone: str | None, *, region: str = "IT") -> Subject:
    """The subject for an email and/or phone; InvalidInput when neither is usable."""
    norm_email = (email or "").strip().lower() or None
    if norm_email is not None and (norm_email.count("@") != 1 or len(norm_email) > 254 or len(norm_email) < 3):
        raise InvalidInput("email: not an email address")
    e164 = national = None
    if phone and phone.strip():
        try:
            number = phonenumbers.parse(phone.strip(), region)
        except phonenumbers.NumberParseException:
            raise InvalidInput("phone: not a phone number") from None
        if not phonenumbers.is_possible_number(number):
            raise InvalidInput("phone: not a phone number")
        e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
        national = str(number.national_number)
        if len(national) < 6:
            raise InvalidInput("phone: too short to identify anyone")
    if norm_email is None and e164 is None:
        raise InvalidInput("give an email address or a phone number")
    return Subject(norm_email, e164, national)


def _like(needle: str) -> str:
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _mentions(column: Any, subject: Subject) -> ColumnElement[bool]:
    return or_(*(cast(column, Text).ilike(_like(n), escape="\\") for n in subject.needles))


def _redact_text(value: str, subject: Subject) -> str:
    for needle in subject.needles:
        value = re.sub(re.escape(needle), REDACTED, value, flags=re.IGNORECASE)
    return value


def _redact_json(value: Any, subject: Subject) -> Any:
    if isinstance(value, str):
        return _redact_text(value, subject)
    if isinstance(value, list):
        return [_redact_json(v, subject) for v in value]
    if isinstance(value, dict):
        return {_redact_text(str(k), subject): _redact_json(v, subject) for k, v in value.items()}
    return value


@dataclass
class Footprint:
    """The rows that are the person's (ids), gathered once for an export or an erasure."""

    conversation_ids: set[uuid.UUID] = field(default_factory=set)
    ticket_ids: set[uuid.UUID] = field(default_factory=set)
    customer_refs: set[str] = field(default_factory=set)
    operator_id: uuid.UUID | None = None


async def _ids(session: AsyncSession, stmt: Any) -> set[Any]:
    return {v for v in (await session.execute(stmt)).scalars() if v is not None}


def _in(column: Any, values: Iterable[Any]) -> ColumnElement[bool]:
    return column.in_(sorted(values, key=str))


async def footprint(session: AsyncSession, subject: Subject) -> Footprint:
    """Find the person's tickets and conversations (see the module docstring for the rule)."""
    fp = Footprint()
    ticket_match: list[ColumnElement[bool]] = []
    contact_match: list[ColumnElement[bool]] = []
    if subject.email:
        ticket_match.append(func.lower(Ticket.email) == subject.email)
        contact_match.append(func.lower(ContactRequest.email) == subject.email)
    if subject.phone:
        ticket_match.append(Ticket.phone == subject.phone)
        contact_match.append(ContactRequest.phone == subject.phone)
    fp.ticket_ids = await _ids(session, select(Ticket.id).where(or_(*ticket_match)))
    fp.conversation_ids |= await _ids(session, select(Ticket.conversation_id).where(or_(*ticket_match)))
    fp.conversation_ids |= await _ids(session, select(ContactRequest.conversation_id).where(or_(*contact_match)))
    fp.conversation_ids |= await _ids(
        session,
        select(Message.conversation_id).where(Message.sender == Sender.VISITOR.value, _mentions(Message.body, subject)),
    )
    if subject.national:
        fp.conversation_ids |= await _ids(
            session, select(InboundMessage.conversation_id).where(_mentions(InboundMessage.from_address, subject))
        )
    fp.conversation_ids |= await _ids(
        session,
        select(OutboxMessage.conversation_id).where(_mentions(OutboxMessage.recipient, subject)),
    )
    if fp.conversation_ids:
        # Tickets opened from the person's conversations are theirs too.
        fp.ticket_ids |= await _ids(session, select(Ticket.id).where(_in(Ticket.conversation_id, fp.conversation_ids)))
        fp.customer_refs |= await _ids(
            session, select(Conversation.customer_ref).where(_in(Conversation.id, fp.conversation_ids))
        )
    if fp.ticket_ids:
        fp.customer_refs |= await _ids(session, select(Ticket.customer_ref).where(_in(Ticket.id, fp.ticket_ids)))
    if subject.email:
        fp.operator_id = (
            await session.execute(select(Operator.id).where(func.lower(Operator.email) == subject.email))
        ).scalar_one_or_none()
    return fp


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def export(session: AsyncSession, subject: Subject, *, actor_type: str, actor_id: object | None, secret: str) -> dict[str, Any]:
    """Everything held about the subject as JSON-ready data (internal notes only counted)."""
    fp = await footprint(session, subject)
    conversations: list[dict[str, Any]] = []
    if fp.conversation_ids:
        convs = (
            await session.execute(
                select(Conversation).where(_in(Conversation.id, fp.conversation_ids)).order_by(Conversation.created_at)
            )
        ).scalars().all()
        messages = (
            await session.execute(
                select(Message).where(_in(Message.conversation_id, fp.conversation_ids)).order_by(Message.conversation_id, Message.seq)
            )
        ).scalars().all()
        by_conv: dict[uuid.UUID, list[dict[str, Any]]] = {}
        for m in messages:
            by_conv.setdefault(m.conversation_id, []).append(
                {"seq": m.seq, "sender": m.sender, "channel": m.channel, "body": m.body, "created_at": _iso(m.created_at)}
            )
        conversations = [
            {
                "id": str(c.id), "status": c.status, "channel": c.channel, "language": c.language,
                "page_url": c.page_url, "user_agent": c.user_agent, "customer_ref": c.customer_ref,
                "created_at": _iso(c.created_at), "last_activity_at": _iso(c.last_activity_at),
                "rating": c.rating, "rating_comment": c.rating_comment, "messages": by_conv.get(c.id, []),
            }
            for c in convs
        ]
    tickets = (
        (await session.execute(select(Ticket).where(_in(Ticket.id, fp.ticket_ids)).order_by(Ticket.created_at))).scalars().all()
        if fp.ticket_ids else []
    )
    contact_where = [_in(ContactRequest.conversation_id, fp.conversation_ids)] if fp.conversation_ids else []
    if subject.email:
        contact_where.append(func.lower(ContactRequest.email) == subject.email)
    if subject.phone:
        contact_where.append(ContactRequest.phone == subject.phone)
    contacts = (await session.execute(select(ContactRequest).where(or_(*contact_where)))).scalars().all()
    outbox = (
        await session.execute(select(OutboxMessage).where(_mentions(OutboxMessage.recipient, subject)).order_by(OutboxMessage.id))
    ).scalars().all()
    inbound_where = [_mentions(InboundMessage.from_address, subject)]
    if fp.conversation_ids:
        inbound_where.append(_in(InboundMessage.conversation_id, fp.conversation_ids))
    inbound = (await session.execute(select(InboundMessage).where(or_(*inbound_where)))).scalars().all()
    recipients = (
        await session.execute(select(NotificationRecipient).where(_mentions(NotificationRecipient.address, subject)))
    ).scalars().all()
    mentions = (
        await session.execute(
            select(Message)
            .where(_mentions(Message.body, subject), ~_in(Message.conversation_id, fp.conversation_ids))
            .order_by(Message.id)
            .limit(1000)
        )
    ).scalars().all()
    vips = (
        (await session.execute(select(VipCustomer.customer_ref).where(_in(VipCustomer.customer_ref, fp.customer_refs)))).scalars().all()
        if fp.customer_refs else []
    )
    counts_notes = await _count_notes(session, subject, fp)
    data: dict[str, Any] = {
        "subject": {"email": subject.email, "phone": subject.phone},
        "generated_at": utc_now().isoformat(),
        "conversations": conversations,
        "tickets": [
            {
                "number": t.number, "subject": t.subject, "description": t.description, "status": t.status,
                "priority": t.priority, "contact_method": t.contact_method, "email": t.email, "phone": t.phone,
                "callback_at": _iso(t.callback_at), "consent_at": _iso(t.consent_at), "language": t.language,
                "customer_ref": t.customer_ref, "created_at": _iso(t.created_at), "closed_at": _iso(t.closed_at),
            }
            for t in tickets
        ],
        "contact_requests": [
            {
                "conversation_id": str(c.conversation_id), "method": c.method, "email": c.email, "phone": c.phone,
                "callback_at": _iso(c.callback_at), "consent_at": _iso(c.consent_at), "consent_text": c.consent_text,
                "created_at": _iso(c.created_at),
            }
            for c in contacts
        ],
        "notifications": [
            {
                "kind": o.kind, "channel": o.channel, "recipient": o.recipient, "state": o.state,
                "created_at": _iso(o.created_at), "sent_at": _iso(o.sent_at), "content": o.payload,
            }
            for o in outbox
        ],
        "inbound_messages": [
            {"channel": i.channel, "from": i.from_address, "body": i.body, "received_at": _iso(i.received_at)}
            for i in inbound
        ],
        "recipient_status": [
            {"channel": r.channel, "address": r.address, "state": r.state, "updated_at": _iso(r.updated_at)} for r in recipients
        ],
        "vip_customer_refs": sorted(vips),
        "other_messages_mentioning": [
            {"conversation_id": str(m.conversation_id), "seq": m.seq, "sender": m.sender, "body": m.body, "created_at": _iso(m.created_at)}
            for m in mentions
        ],
        "internal_notes_held": counts_notes,
    }
    audit.record(
        session, "data_subject", subject.digest(secret), "exported", actor_type=actor_type, actor_id=actor_id,
        data={"conversations": len(conversations), "tickets": len(tickets), "notifications": len(outbox)},
    )
    return data


def _note_clause(model: type[TicketNote] | type[ConversationNote], subject: Subject, owner: ColumnElement[bool] | None) -> ColumnElement[bool]:
    clause = _mentions(model.body, subject)
    return or_(clause, owner) if owner is not None else clause


async def _count_notes(session: AsyncSession, subject: Subject, fp: Footprint) -> int:
    t_owner = _in(TicketNote.ticket_id, fp.ticket_ids) if fp.ticket_ids else None
    c_owner = _in(ConversationNote.conversation_id, fp.conversation_ids) if fp.conversation_ids else None
    total = 0
    for model, owner in ((TicketNote, t_owner), (ConversationNote, c_owner)):
        total += int((await session.execute(select(func.count()).select_from(model).where(_note_clause(model, subject, owner)))).scalar_one())
    return total


async def _delete(session: AsyncSession, stmt: Any) -> int:
    result = await session.execute(stmt.execution_options(synchronize_session=False))
    return int(getattr(result, "rowcount", 0) or 0)


def _text_columns(table: Table) -> list[Any]:
    return [c for c in table.columns if isinstance(c.type, String | JSON)]


async def sweep(session: AsyncSession, subject: Subject) -> int:
    """Redact the subject from every string/JSON column of every table; a key column deletes its row."""
    touched = 0
    for table in Base.metadata.sorted_tables:
        if table.name in SWEEP_SKIP:
            continue
        pk = list(table.primary_key.columns)
        for column in _text_columns(table):
            rows = (await session.execute(select(*pk, column).where(_mentions(column, subject)))).all()
            for row in rows:
                key = {c.name: row[i] for i, c in enumerate(pk)}
                where = [c == key[c.name] for c in pk]
                if column.primary_key:
                    await session.execute(delete(table).where(*where))
                else:
                    value = row[len(pk)]
                    new = _redact_json(value, subject) if isinstance(column.type, JSON) else _redact_text(str(value), subject)
                    await session.execute(update(table).where(*where).values({column.name: new}))
                touched += 1
    return touched


async def erase(session: AsyncSession, subject: Subject, *, actor_type: str, actor_id: object | None, secret: str) -> dict[str, int]:
    """Delete the person's rows and redact every other mention; returns counts (no personal data)."""
    fp = await footprint(session, subject)
    conv_ids, ticket_ids = fp.conversation_ids, fp.ticket_ids
    counts: dict[str, int] = {}
    t_owner = _in(TicketNote.ticket_id, ticket_ids) if ticket_ids else None
    c_owner = _in(ConversationNote.conversation_id, conv_ids) if conv_ids else None
    counts["notes"] = await _delete(session, delete(TicketNote).where(_note_clause(TicketNote, subject, t_owner)))
    counts["notes"] += await _delete(session, delete(ConversationNote).where(_note_clause(ConversationNote, subject, c_owner)))
    outbox_where = [_mentions(OutboxMessage.recipient, subject)]
    inbound_where = [_mentions(InboundMessage.from_address, subject)]
    if conv_ids:
        outbox_where.append(_in(OutboxMessage.conversation_id, conv_ids))
        inbound_where.append(_in(InboundMessage.conversation_id, conv_ids))
    counts["notifications"] = await _delete(session, delete(OutboxMessage).where(or_(*outbox_where)))
    counts["inbound_messages"] = await _delete(session, delete(InboundMessage).where(or_(*inbound_where)))
    counts["recipient_status"] = await _delete(
        session, delete(NotificationRecipient).where(_mentions(NotificationRecipient.address, subject))
    )
    contact_where: list[ColumnElement[bool]] = []
    if subject.email:
        contact_where.append(func.lower(ContactRequest.email) == subject.email)
    if subject.phone:
        contact_where.append(ContactRequest.phone == subject.phone)
    if conv_ids:
        contact_where.append(_in(ContactRequest.conversation_id, conv_ids))
    counts["contact_requests"] = await _delete(session, delete(ContactRequest).where(or_(*contact_where)))
    counts["tickets"] = await _delete(session, delete(Ticket).where(_in(Ticket.id, ticket_ids))) if ticket_ids else 0
    if conv_ids:
        # Children first: explicit deletes do not depend on the backend enforcing cascades.
        counts["messages"] = await _delete(session, delete(Message).where(_in(Message.conversation_id, conv_ids)))
        await _cascade_conversations(session, conv_ids)
        counts["conversations"] = await _delete(session, delete(Conversation).where(_in(Conversation.id, conv_ids)))
    else:
        counts["messages"] = counts["conversations"] = 0
    counts["vip_entries"] = (
        await _delete(session, delete(VipCustomer).where(_in(VipCustomer.customer_ref, fp.customer_refs)))
        if fp.customer_refs else 0
    )
    subject_ids = [str(i) for i in (*conv_ids, *ticket_ids)]
    if subject_ids:
        await _delete(
            session,
            delete(AuditEvent).where(AuditEvent.subject_type.in_(("conversation", "ticket")), AuditEvent.subject_id.in_(subject_ids)),
        )
    counts["push_subscriptions"] = (
        await _delete(session, delete(PushSubscription).where(PushSubscription.operator_id == fp.operator_id))
        if fp.operator_id is not None else 0
    )
    counts["redacted_values"] = await sweep(session, subject)
    audit.record(session, "data_subject", subject.digest(secret), "erased", actor_type=actor_type, actor_id=actor_id, data=counts)
    return counts


async def _cascade_conversations(session: AsyncSession, conv_ids: set[uuid.UUID]) -> None:
    """Delete every row that points at these conversations by a `conversation_id` column."""
    for table in reversed(Base.metadata.sorted_tables):
        if table.name in ("conversations", "messages"):
            continue
        column = table.columns.get("conversation_id")
        if column is None:
            continue
        if table.name == "tickets":
            await session.execute(update(table).where(_in(column, conv_ids)).values(conversation_id=None))
        else:
            await session.execute(delete(table).where(_in(column, conv_ids)))


async def last_audit(session: AsyncSession, reference: str, action: str) -> AuditEvent:
    """The newest audit row of a data-subject request (this transaction's own, once flushed)."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.subject_type == "data_subject", AuditEvent.subject_id == reference, AuditEvent.action == action)
        .order_by(AuditEvent.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one()


def dumps(data: dict[str, Any]) -> str:
    return json.dumps(data, ensure_ascii=False, indent=2, sort_keys=False)


def summary(counts: dict[str, int]) -> Sequence[str]:
    return [f"{k}: {v}" for k, v in counts.items()]
