"""Ticket use cases: numbering, creation, the status machine, updates, notes, replies, lists.

Services flush, never commit. Every change writes an audit row and emits its event in the
caller's unit of work; `transition` is the only way a ticket's status changes.

Access (one rule, `visible_clause` in SQL and `can_see` in Python): supervisors and admins see
every ticket; an agent sees the tickets assigned to them and every ticket whose tier is at or
below their own (tier 1 sees tier 1, tier 2 sees tiers 1-2, managers see all). A ticket an
operator cannot see is "not found" to them.
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    and_,
    case,
    func,
    literal_column,
    or_,
    select,
    true,
    type_coerce,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from sportello import audit
from sportello.audit import AuditEvent
from sportello.config import Settings
from sportello.conversations import service as conversations
from sportello.conversations.models import (
    Channel,
    Conversation,
    ConversationStatus,
    Message,
    Sender,
)
from sportello.conversations.schemas import ConversationCreate
from sportello.db import UTCDateTime
from sportello.errors import Conflict, InvalidInput, NotFound
from sportello.events import emit
from sportello.operators import service as operators
from sportello.operators.models import Role
from sportello.operators.service import Principal
from sportello.sla import service as sla
from sportello.sla.clock import PRIORITIES, raise_priority
from sportello.tickets import search
from sportello.tickets.models import (
    ContactMethod,
    Ticket,
    TicketCounter,
    TicketNote,
    TicketStatus,
    VipCustomer,
)
from sportello.tickets.notify import notify
from sportello.tickets.schemas import TicketRead
from sportello.timeutil import utc_now

T = TicketStatus
TRANSITIONS: dict[str, frozenset[str]] = {
    T.OPEN: frozenset({T.IN_PROGRESS, T.RESOLVED, T.CLOSED}),
    T.IN_PROGRESS: frozenset({T.WAITING_USER, T.RESOLVED, T.CLOSED}),
    T.WAITING_USER: frozenset({T.IN_PROGRESS, T.RESOLVED, T.CLOSED}),
    T.RESOLVED: frozenset({T.CLOSED, T.IN_PROGRESS}),
    T.CLOSED: frozenset({T.IN_PROGRESS}),
}
WHY_NOT: dict[str, str] = {
    T.OPEN: "a ticket never goes back to open; reopen it to in_progress instead",
    T.WAITING_USER: "only a ticket in progress can wait for the customer",
    T.RESOLVED: "a closed ticket must be reopened (in_progress) before it is resolved again",
    T.CLOSED: "the ticket is already closed",
    T.IN_PROGRESS: "the ticket is already in progress",
}
TICKETS_CHANNEL = "tickets"
COUNTER = "tickets"
NOT_FOUND = "ticket not found"
SUBJECT_MAX = 80
CHANNEL_OF_METHOD = {
    ContactMethod.EMAIL: Channel.EMAIL,
    ContactMethod.WHATSAPP: Channel.WHATSAPP,
    ContactMethod.SMS: Channel.SMS,
    ContactMethod.PHONE: Channel.PHONE,
    ContactMethod.CHAT: Channel.WEB,
}


def format_number(prefix: str, seq: int) -> str:
    return f"{prefix}-{seq:06d}"


async def next_number(session: AsyncSession, prefix: str) -> tuple[int, str]:
    """The next ticket sequence and number, unique under concurrency on SQLite and PostgreSQL.

    One upsert increments the counter row; on PostgreSQL concurrent transactions queue on its
    row lock, on SQLite the database lock serialises writers, so no two callers get one value.
    """
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    stmt = (
        insert(TicketCounter)
        .values(name=COUNTER, value=1)
        .on_conflict_do_update(
            index_elements=[TicketCounter.name], set_={"value": TicketCounter.value + 1}
        )
        .returning(TicketCounter.value)
    )
    seq = int((await session.execute(stmt)).scalar_one())
    return seq, format_number(prefix, seq)


# Access


def can_see(principal: Principal, ticket: Ticket) -> bool:
    if principal.has_role(Role.SUPERVISOR):
        return True
    if ticket.assignee_id == principal.id:
        return True
    return ticket.tier <= principal.tier


def visible_clause(principal: Principal) -> ColumnElement[bool]:
    if principal.has_role(Role.SUPERVISOR):
        return true()
    return or_(Ticket.assignee_id == principal.id, Ticket.tier <= principal.tier)


async def get_by_number(session: AsyncSession, number: str, *, lock: bool = False) -> Ticket:
    stmt = select(Ticket).where(Ticket.number == number.strip().upper())
    if lock:
        stmt = stmt.with_for_update()
    ticket = (await session.execute(stmt)).scalar_one_or_none()
    if ticket is None:
        raise NotFound(NOT_FOUND)
    return ticket


async def get_for_operator(
    session: AsyncSession, principal: Principal, number: str, *, lock: bool = False
) -> Ticket:
    """The ticket if `principal` may see it; NotFound otherwise (never says which)."""
    ticket = await get_by_number(session, number, lock=lock)
    if not can_see(principal, ticket):
        raise NotFound(NOT_FOUND)
    return ticket


async def ticket_for_conversation(
    session: AsyncSession, conversation_id: uuid.UUID
) -> Ticket | None:
    """The most recent ticket opened from `conversation_id`."""
    stmt = (
        select(Ticket)
        .where(Ticket.conversation_id == conversation_id)
        .order_by(Ticket.created_at.desc(), Ticket.seq.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


# VIP customers


async def is_vip(session: AsyncSession, settings: Settings, customer_ref: str | None) -> bool:
    if not customer_ref:
        return False
    if customer_ref in settings.vip_customer_refs:
        return True
    return await session.get(VipCustomer, customer_ref) is not None


async def list_vips(session: AsyncSession) -> Sequence[VipCustomer]:
    return (await session.execute(select(VipCustomer).order_by(VipCustomer.customer_ref))).scalars().all()


async def add_vip(
    session: AsyncSession, customer_ref: str, note: str | None, *, actor_id: uuid.UUID
) -> VipCustomer:
    ref = customer_ref.strip()
    if await session.get(VipCustomer, ref) is not None:
        raise Conflict(f"customer {ref} is already VIP")
    row = VipCustomer(customer_ref=ref, note=note, created_at=utc_now())
    session.add(row)
    await session.flush()
    audit.record(session, "vip_customer", ref, "added", actor_type="operator", actor_id=actor_id)
    return row


async def remove_vip(session: AsyncSession, customer_ref: str, *, actor_id: uuid.UUID) -> None:
    row = await session.get(VipCustomer, customer_ref)
    if row is None:
        raise NotFound("no such VIP customer")
    await session.delete(row)
    audit.record(
        session, "vip_customer", customer_ref, "removed", actor_type="operator", actor_id=actor_id
    )


# Creation


@dataclass
class NewTicket:
    """What opening a ticket needs, whoever opens it (the chat's contact flow or an operator)."""

    contact_method: str
    subject: str | None = None
    description: str = ""
    conversation_id: uuid.UUID | None = None
    priority: str | None = None
    email: str | None = None
    phone: str | None = None
    callback_at: datetime | None = None
    consent_at: datetime | None = None
    customer_ref: str | None = None
    language: str | None = None
    tags: list[str] = field(default_factory=list)
    assignee_id: uuid.UUID | None = None
    source: str = "chat"


async def derive_subject_and_description(
    session: AsyncSession, conv: Conversation
) -> tuple[str, str]:
    """A subject from the visitor's first real question, and the chat transcript as description.

    The first question is the first visitor message the assistant took as a question (not a
    greeting or a request for a person); failing that, the first visitor message.
    """
    messages = await conversations.list_messages(session, conv.id, limit=500)
    questions = {
        m.meta.get("in_reply_to")
        for m in messages
        if m.sender == Sender.ASSISTANT and m.meta.get("intent") == "question"
    }
    visitor = [m for m in messages if m.sender == Sender.VISITOR]
    first = next((m for m in visitor if m.id in questions), visitor[0] if visitor else None)
    italian = conv.language.startswith("it")
    subject = _shorten(first.body) if first else ""
    if not subject:
        subject = "Richiesta di contatto dalla chat" if italian else "Contact request from the chat"
    lines = [
        f"[{m.created_at.astimezone(UTC):%Y-%m-%d %H:%M} UTC] {m.sender}: {m.body}"
        for m in messages
        if m.sender in (Sender.VISITOR, Sender.ASSISTANT, Sender.OPERATOR)
    ]
    description = "\n".join(lines)
    if len(description) > 20000:
        description = "…\n" + description[-19990:]
    return subject, description


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= SUBJECT_MAX:
        return text
    cut = text[: SUBJECT_MAX - 1].rsplit(" ", 1)[0]
    return cut + "…"


async def create_ticket(
    session: AsyncSession,
    settings: Settings,
    draft: NewTicket,
    *,
    actor_type: str = "system",
    actor_id: uuid.UUID | None = None,
    now: datetime | None = None,
) -> Ticket:
    """Open a ticket with its number and SLA clocks; the conversation becomes `ticketed`.

    Without a conversation a new one is opened on the contact method's channel, so that every
    customer message, whatever the channel, lands in the ticket's conversation.
    """
    now = now or utc_now()
    config = sla.sla_config(settings)
    conv: Conversation | None = None
    if draft.conversation_id is not None:
        conv = await conversations.get_conversation(session, draft.conversation_id)
    language = draft.language or (conv.language if conv else settings.default_language)
    customer_ref = draft.customer_ref or (conv.customer_ref if conv else None)
    subject, description = draft.subject, draft.description
    if conv is not None and (not subject or not description):
        derived_subject, transcript = await derive_subject_and_description(session, conv)
        subject = subject or derived_subject
        description = description or transcript
    if not subject:
        raise InvalidInput("subject: give a subject when the ticket has no conversation")
    if conv is None:
        conv, _token = await conversations.create_conversation(
            session,
            ConversationCreate(language=None, customer_ref=customer_ref),
            language=language,
            user_agent=None,
            channel=CHANNEL_OF_METHOD[ContactMethod(draft.contact_method)].value,
        )
        await conversations.transition(session, conv, ConversationStatus.AWAITING_CONTACT)
    if draft.assignee_id is not None:
        await _check_assignee(session, draft.assignee_id)
    vip = await is_vip(session, settings, customer_ref)
    priority = sla.as_priority(draft.priority or "medium")
    if vip and draft.priority is None:
        priority = raise_priority(priority)
    seq, number = await next_number(session, settings.ticket_number_prefix)
    ticket = Ticket(
        id=uuid.uuid4(),
        number=number,
        seq=seq,
        subject=subject[:200],
        description=description,
        conversation_id=conv.id,
        status=T.OPEN.value,
        priority=priority,
        contact_method=draft.contact_method,
        email=draft.email,
        phone=draft.phone,
        callback_at=draft.callback_at,
        consent_at=draft.consent_at,
        language=language,
        customer_ref=customer_ref,
        vip=vip,
        assignee_id=draft.assignee_id,
        tier=1,
        tags=list(draft.tags),
        source=draft.source,
        created_at=now,
        updated_at=now,
        escalations=0,
    )
    sla.start_clocks(ticket, config, now)
    session.add(ticket)
    await session.flush()
    if conv.status == ConversationStatus.AWAITING_CONTACT:
        await conversations.transition(
            session, conv, ConversationStatus.TICKETED, actor_type=actor_type, actor_id=actor_id,
            reason=f"ticket {number}",
        )
    audit.record(
        session, "ticket", ticket.id, "created", actor_type=actor_type, actor_id=actor_id,
        data={
            "number": number, "priority": priority, "vip": vip, "contact_method": draft.contact_method,
            "conversation_id": str(conv.id), "source": draft.source,
        },
    )
    _emit(session, ticket, "ticket.created")
    await notify(
        session, "ticket.opened", ticket, customer=True, supervisors=False,
        operator_ids=[ticket.assignee_id],
        # A call-back's promise is the slot itself; otherwise the first-response due time.
        data={"expected_answer_at": _iso(ticket.callback_at or ticket.first_response_due_at)},
    )
    return ticket


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _emit(session: AsyncSession, ticket: Ticket, kind: str, **extra: Any) -> None:
    """Tell the dashboard (and the assignee) that a ticket changed; payloads carry ids."""
    event = {
        "type": kind,
        "ticket_id": str(ticket.id),
        "number": ticket.number,
        "status": ticket.status,
        "tier": ticket.tier,
        "assignee_id": str(ticket.assignee_id) if ticket.assignee_id else None,
        **extra,
    }
    emit(session, TICKETS_CHANNEL, event)
    if ticket.assignee_id is not None:
        emit(session, operators.operator_channel(ticket.assignee_id), event)


async def _check_assignee(session: AsyncSession, operator_id: uuid.UUID) -> None:
    try:
        op = await operators.get_operator(session, operator_id)
    except NotFound:
        raise InvalidInput(f"assignee_id: no operator has id {operator_id}") from None
    if not op.active:
        raise InvalidInput(f"assignee_id: operator {op.name} is deactivated")


# The status machine


async def transition(
    session: AsyncSession,
    ticket: Ticket,
    new_status: TicketStatus | str,
    config: sla.SlaConfig,
    *,
    actor_type: str = "system",
    actor_id: uuid.UUID | None = None,
    reason: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Move the ticket to `new_status` if the machine allows it (409 otherwise); False if already there.

    Keeps the SLA clocks in step: leaving `open` is the first response, `waiting_user` pauses
    the clocks, `resolved` meets the resolution target, a reopen resumes the resolution clock
    with the resolved span left out.
    """
    now = now or utc_now()
    new = T(new_status)
    old = ticket.status
    if new.value == old:
        return False
    if new.value not in TRANSITIONS[T(old)]:
        raise Conflict(
            f"ticket {ticket.number} cannot go from '{old}' to '{new.value}': {WHY_NOT[new]}"
        )
    if old == T.OPEN and ticket.first_responded_at is None:
        ticket.first_responded_at = now
    if old == T.WAITING_USER:
        sla.resume(ticket, now)
    if new == T.WAITING_USER:
        sla.pause(ticket, now)
    if new in (T.RESOLVED, T.CLOSED) and ticket.resolved_at is None:
        ticket.resolved_at = now
    if new == T.CLOSED:
        ticket.closed_at = now
    reopened = old in (T.RESOLVED, T.CLOSED) and new == T.IN_PROGRESS
    if reopened:
        spans = list(ticket.sla_pauses or [])
        if ticket.resolved_at is not None:
            spans.append([ticket.resolved_at.astimezone(UTC).isoformat(), now.isoformat()])
        ticket.sla_pauses = spans
        ticket.resolved_at = None
        ticket.closed_at = None
    ticket.status = new.value
    ticket.updated_at = now
    sla.refresh(ticket, config, now)
    await session.flush()
    audit.record(
        session, "ticket", ticket.id, "reopened" if reopened else "status_changed",
        actor_type=actor_type, actor_id=actor_id,
        data={"from": old, "to": new.value, "reason": reason},
    )
    _emit(session, ticket, "ticket.status_changed", **{"from": old})
    if new == T.WAITING_USER:
        await notify(session, "ticket.waiting_user", ticket, customer=True)
    elif new == T.RESOLVED:
        await notify(session, "ticket.resolved", ticket, customer=True)
    return True


# Operator changes


async def update_ticket(
    session: AsyncSession,
    principal: Principal,
    ticket: Ticket,
    changes: dict[str, Any],
    config: sla.SlaConfig,
    *,
    now: datetime | None = None,
) -> Ticket:
    """Apply a PATCH by `principal`: status (through `transition`), priority, assignee, tags.

    Agents may assign a ticket only to themselves, or unassign it when it is theirs;
    supervisors and admins may assign anyone. A priority change applies the new priority's
    SLA targets to the clocks still running (measured from the ticket's creation).
    """
    now = now or utc_now()
    if "assignee_id" in changes:
        await _assign(session, principal, ticket, changes["assignee_id"], now)
    if "priority" in changes and changes["priority"] != ticket.priority:
        old = ticket.priority
        ticket.priority = sla.as_priority(changes["priority"])
        sla.apply_policy(ticket, config)
        sla.refresh(ticket, config, now)
        ticket.updated_at = now
        audit.record(
            session, "ticket", ticket.id, "priority_changed",
            actor_type="operator", actor_id=principal.id,
            data={"from": old, "to": ticket.priority},
        )
        _emit(session, ticket, "ticket.updated", fields=["priority"])
    if "tags" in changes and list(changes["tags"]) != list(ticket.tags or []):
        old_tags = list(ticket.tags or [])
        ticket.tags = list(changes["tags"])
        ticket.updated_at = now
        audit.record(
            session, "ticket", ticket.id, "tags_changed",
            actor_type="operator", actor_id=principal.id,
            data={"from": old_tags, "to": ticket.tags},
        )
        _emit(session, ticket, "ticket.updated", fields=["tags"])
    if "status" in changes:
        await transition(
            session, ticket, changes["status"], config, now=now,
            actor_type="operator", actor_id=principal.id,
        )
    await session.flush()
    return ticket


async def change_tier(
    session: AsyncSession,
    principal: Principal,
    ticket: Ticket,
    tier: int,
    *,
    reason: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Move the ticket to `tier`'s pool by hand (the caller checked the role); False if already there.

    As with an escalation, an assignee below the new tier is released so that the new tier's
    operators take it; priority and SLA targets stay as they are.
    """
    now = now or utc_now()
    if tier not in (1, 2, 3):
        raise InvalidInput("tier: 1 (agents), 2 or 3 (manager)")
    if tier == ticket.tier:
        return False
    old_tier, previous = ticket.tier, ticket.assignee_id
    ticket.tier = tier
    ticket.updated_at = now
    if previous is not None and await operator_tier(session, previous) < tier:
        ticket.assignee_id = None
        emit(
            session,
            operators.operator_channel(previous),
            {"type": "ticket.unassigned", "ticket_id": str(ticket.id), "number": ticket.number},
        )
    change = {
        "tier": [old_tier, tier],
        "assignee_id": [
            str(previous) if previous else None,
            str(ticket.assignee_id) if ticket.assignee_id else None,
        ],
        "reason": reason,
    }
    audit.record(
        session, "ticket", ticket.id, "tier_changed", actor_type="operator", actor_id=principal.id,
        data=change,
    )
    _emit(session, ticket, "ticket.tier_changed", **{"from": old_tier, "fields": ["tier"]})
    await session.flush()
    return True


async def operator_tier(session: AsyncSession, operator_id: uuid.UUID) -> int:
    """The operator's tier; 0 for one that no longer exists."""
    try:
        return (await operators.get_operator(session, operator_id)).tier
    except NotFound:
        return 0


async def _assign(
    session: AsyncSession,
    principal: Principal,
    ticket: Ticket,
    assignee_id: uuid.UUID | None,
    now: datetime,
) -> None:
    if assignee_id == ticket.assignee_id:
        return
    if not principal.has_role(Role.SUPERVISOR):
        if assignee_id is not None and assignee_id != principal.id:
            raise Conflict("an agent can assign a ticket only to themselves; ask a supervisor")
        if assignee_id is None and ticket.assignee_id != principal.id:
            raise Conflict("an agent can unassign only their own tickets; ask a supervisor")
        if assignee_id == principal.id and ticket.assignee_id is not None:
            raise Conflict("the ticket is assigned to someone else; ask a supervisor to move it")
    if assignee_id is not None:
        await _check_assignee(session, assignee_id)
    old = ticket.assignee_id
    if old is not None:
        emit(
            session,
            operators.operator_channel(old),
            {"type": "ticket.unassigned", "ticket_id": str(ticket.id), "number": ticket.number},
        )
    ticket.assignee_id = assignee_id
    ticket.updated_at = now
    audit.record(
        session, "ticket", ticket.id, "assigned" if assignee_id else "unassigned",
        actor_type="operator", actor_id=principal.id,
        data={"from": str(old) if old else None, "to": str(assignee_id) if assignee_id else None},
    )
    _emit(session, ticket, "ticket.assigned" if assignee_id else "ticket.updated", fields=["assignee_id"])
    if assignee_id is not None and assignee_id != principal.id:
        await notify(session, "ticket.assigned", ticket, operator_ids=[assignee_id])


async def add_note(
    session: AsyncSession, principal: Principal, ticket: Ticket, body: str
) -> TicketNote:
    """An internal note: stored apart from the conversation, so no channel ever sends it."""
    note = TicketNote(ticket_id=ticket.id, operator_id=principal.id, body=body, created_at=utc_now())
    session.add(note)
    await session.flush()
    audit.record(
        session, "ticket", ticket.id, "note_added", actor_type="operator", actor_id=principal.id,
        data={"note_id": note.id},
    )
    _emit(session, ticket, "ticket.note_added", note_id=note.id)
    return note


async def list_notes(session: AsyncSession, ticket: Ticket) -> Sequence[TicketNote]:
    stmt = select(TicketNote).where(TicketNote.ticket_id == ticket.id).order_by(TicketNote.id)
    return (await session.execute(stmt)).scalars().all()


async def history(session: AsyncSession, ticket: Ticket) -> Sequence[AuditEvent]:
    """The ticket's audit trail, oldest first: who did what, when."""
    stmt = (
        select(AuditEvent)
        .where(AuditEvent.subject_type == "ticket", AuditEvent.subject_id == str(ticket.id))
        .order_by(AuditEvent.id)
    )
    return (await session.execute(stmt)).scalars().all()


async def reply(
    session: AsyncSession,
    principal: Principal,
    ticket: Ticket,
    body: str,
    config: sla.SlaConfig,
    *,
    now: datetime | None = None,
) -> Message:
    """An operator's answer, appended to the ticket's conversation; an open ticket goes in progress.

    The answer counts as the first response. Delivery on the ticket's contact method is the
    notifier's job (`ticket.replied`).
    """
    now = now or utc_now()
    if ticket.status == T.CLOSED:
        raise Conflict(f"ticket {ticket.number} is closed; reopen it before replying")
    if ticket.conversation_id is None:
        raise Conflict(f"ticket {ticket.number} has no conversation to reply in")
    conv = await conversations.get_conversation(session, ticket.conversation_id)
    message, _ = await conversations.append_message(
        session, conv, sender=Sender.OPERATOR, body=body,
        meta={
            "ticket": ticket.number,
            "operator_id": str(principal.id),
            "operator_name": principal.name,
        },
    )
    if ticket.status == T.OPEN:
        await transition(
            session, ticket, T.IN_PROGRESS, config, actor_type="operator",
            actor_id=principal.id, reason="replied", now=now,
        )
    elif ticket.first_responded_at is None:
        ticket.first_responded_at = now
        sla.refresh(ticket, config, now)
    ticket.updated_at = now
    audit.record(
        session, "ticket", ticket.id, "replied", actor_type="operator", actor_id=principal.id,
        data={"message_id": message.id},
    )
    await notify(session, "ticket.replied", ticket, customer=True, data={"message_id": message.id})
    return message


async def customer_wrote(
    session: AsyncSession,
    ticket: Ticket,
    message_id: int,
    config: sla.SlaConfig,
    *,
    now: datetime | None = None,
) -> None:
    """The customer's message (already in the ticket's conversation) reached the ticket.

    A ticket waiting for the customer, or resolved, goes back in progress; the assignee (or,
    unassigned, the dashboard) hears of it. A closed ticket stays closed.
    """
    now = now or utc_now()
    if ticket.status in (T.WAITING_USER, T.RESOLVED):
        await transition(
            session, ticket, T.IN_PROGRESS, config, actor_type="customer",
            reason="customer replied", now=now,
        )
    ticket.updated_at = now
    audit.record(
        session, "ticket", ticket.id, "customer_replied", actor_type="customer",
        data={"message_id": message_id},
    )
    _emit(session, ticket, "ticket.customer_replied", message_id=message_id)
    await notify(
        session, "ticket.customer_replied", ticket, operator_ids=[ticket.assignee_id],
        data={"message_id": message_id},
    )


async def append_customer_message(
    session: AsyncSession,
    ticket: Ticket,
    body: str,
    config: sla.SlaConfig,
    *,
    channel: str,
    client_message_id: str | None = None,
    now: datetime | None = None,
) -> Message:
    """A customer message from another channel (email, SMS, WhatsApp) into the ticket's conversation."""
    if ticket.conversation_id is None:
        raise Conflict(f"ticket {ticket.number} has no conversation")
    conv = await conversations.get_conversation(session, ticket.conversation_id)
    message, created = await conversations.append_message(
        session, conv, sender=Sender.VISITOR, body=body, channel=channel,
        client_message_id=client_message_id, meta={"ticket": ticket.number},
    )
    if created:
        await customer_wrote(session, ticket, message.id, config, now=now)
    return message


# Reading and listing


def to_read(ticket: Ticket, now: datetime | None = None) -> TicketRead:
    now = now or utc_now()
    return TicketRead(
        id=ticket.id,
        number=ticket.number,
        subject=ticket.subject,
        description=ticket.description,
        status=ticket.status,
        priority=ticket.priority,
        contact_method=ticket.contact_method,
        email=ticket.email,
        phone=ticket.phone,
        callback_at=ticket.callback_at,
        consent_at=ticket.consent_at,
        language=ticket.language,
        customer_ref=ticket.customer_ref,
        vip=ticket.vip,
        assignee_id=ticket.assignee_id,
        tier=ticket.tier,
        tags=list(ticket.tags or []),
        conversation_id=ticket.conversation_id,
        source=ticket.source,
        created_at=ticket.created_at,
        updated_at=ticket.updated_at,
        first_responded_at=ticket.first_responded_at,
        resolved_at=ticket.resolved_at,
        first_response_due_at=ticket.first_response_due_at,
        resolution_due_at=ticket.resolution_due_at,
        sla_state=sla.ticket_sla_state(ticket, now),
        escalations=ticket.escalations,
    )


@dataclass
class TicketFilters:
    status: list[str] = field(default_factory=list)
    priority: list[str] = field(default_factory=list)
    assignee: str | None = None  # an operator id, "me" or "none"
    tier: int | None = None
    tag: str | None = None
    sla_state: str | None = None
    callback: bool = False  # only call-backs with a promised slot
    q: str | None = None
    sort: str = "-created_at"
    cursor: str | None = None
    limit: int = 50


_FAR = datetime(9000, 1, 1, tzinfo=UTC)
# "No due time" sorts last, as this literal: written out (not bound) so the expression is the
# one indexed by ix_tickets_sla_due_order (migration 0007) and the list walks that index.
_FAR_LITERAL = {
    "postgresql": "'9000-01-01 00:00:00+00'::timestamptz",
    "sqlite": "'9000-01-01 00:00:00.000000'",
}
_PRIORITY_RANK = case({p: i for i, p in enumerate(PRIORITIES)}, value=Ticket.priority, else_=-1)


def _sort_key(sort: str, dialect: str) -> tuple[Any, bool, str]:
    """(SQL expression, descending, cursor value kind) of a sort."""
    if sort in ("created_at", "-created_at"):
        return Ticket.created_at, sort.startswith("-"), "time"
    if sort in ("updated_at", "-updated_at"):
        return Ticket.updated_at, sort.startswith("-"), "time"
    if sort == "priority":
        return _PRIORITY_RANK, True, "int"
    if sort == "callback_at":
        far_slot = type_coerce(literal_column(_FAR_LITERAL.get(dialect, _FAR_LITERAL["sqlite"])), UTCDateTime)
        return func.coalesce(Ticket.callback_at, far_slot), False, "time"
    if sort == "sla_due_at":
        far = type_coerce(literal_column(_FAR_LITERAL.get(dialect, _FAR_LITERAL["sqlite"])), UTCDateTime)
        return func.coalesce(Ticket.sla_due_at, far), False, "time"
    raise InvalidInput(f"sort: unknown sort {sort!r}")


def _encode_cursor(sort: str, value: Any, ticket_id: uuid.UUID) -> str:
    raw = json.dumps([sort, value.isoformat() if isinstance(value, datetime) else value, str(ticket_id)])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode_cursor(cursor: str, sort: str, kind: str) -> tuple[Any, uuid.UUID]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        cursor_sort, value, ticket_id = json.loads(raw)
        if cursor_sort != sort:
            raise ValueError("sort changed")
        parsed: Any = datetime.fromisoformat(value) if kind == "time" else int(value)
        return parsed, uuid.UUID(ticket_id)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise InvalidInput("cursor: not a cursor from this list (or the sort changed)") from None


async def list_tickets(
    session: AsyncSession,
    principal: Principal,
    filters: TicketFilters,
    *,
    now: datetime | None = None,
) -> tuple[list[Ticket], str | None]:
    """One page of the tickets `principal` may see, filtered and sorted, and the next cursor.

    Keyset pagination on (sort key, id): a ticket inserted or changed between two requests never
    makes a page repeat or skip one that was already in the order.
    """
    now = now or utc_now()
    stmt = select(Ticket).where(visible_clause(principal))
    if filters.status:
        stmt = stmt.where(Ticket.status.in_(filters.status))
    if filters.priority:
        stmt = stmt.where(Ticket.priority.in_(filters.priority))
    if filters.assignee == "me":
        stmt = stmt.where(Ticket.assignee_id == principal.id)
    elif filters.assignee == "none":
        stmt = stmt.where(Ticket.assignee_id.is_(None))
    elif filters.assignee:
        try:
            assignee = uuid.UUID(filters.assignee)
        except ValueError:
            raise InvalidInput("assignee: give an operator id, 'me' or 'none'") from None
        stmt = stmt.where(Ticket.assignee_id == assignee)
    if filters.tier is not None:
        stmt = stmt.where(Ticket.tier == filters.tier)
    if filters.tag:
        stmt = stmt.where(_has_tag(session, filters.tag.strip().lower()))
    if filters.sla_state:
        stmt = stmt.where(sla.state_clause(filters.sla_state, now))  # type: ignore[arg-type]
    if filters.callback:
        stmt = stmt.where(Ticket.callback_at.is_not(None))
    key, descending, kind = _sort_key(filters.sort, _dialect(session))
    if filters.cursor:
        value, last_id = _decode_cursor(filters.cursor, filters.sort, kind)
        if descending:
            stmt = stmt.where(or_(key < value, and_(key == value, Ticket.id < last_id)))
        else:
            stmt = stmt.where(or_(key > value, and_(key == value, Ticket.id > last_id)))
    if filters.q and filters.q.strip():
        rows = await search.page(
            session, _dialect(session), stmt, key, descending, filters.limit + 1, filters.q.strip()
        )
    else:
        order = [key.desc(), Ticket.id.desc()] if descending else [key.asc(), Ticket.id.asc()]
        rows = list((await session.execute(stmt.order_by(*order).limit(filters.limit + 1))).scalars().all())
    next_cursor = None
    if len(rows) > filters.limit:
        rows = rows[: filters.limit]
        last = rows[-1]
        next_cursor = _encode_cursor(filters.sort, _key_value(last, filters.sort), last.id)
    return rows, next_cursor


def _key_value(ticket: Ticket, sort: str) -> Any:
    if sort.endswith("created_at"):
        return ticket.created_at
    if sort.endswith("updated_at"):
        return ticket.updated_at
    if sort == "priority":
        return PRIORITIES.index(sla.as_priority(ticket.priority))
    return ticket.sla_due_at or _FAR


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "sqlite"


def _has_tag(session: AsyncSession, tag: str) -> ColumnElement[bool]:
    """Tickets whose JSON tag list holds `tag` (JSONB containment, or SQLite's json_each)."""
    if _dialect(session) == "postgresql":
        return type_coerce(Ticket.tags, JSONB).contains([tag])
    each = func.json_each(Ticket.tags).table_valued("value")
    return select(each.c.value).where(each.c.value == tag).exists()
