"""Who gets what: customer notifications on their contact method, operators by preference.

Every function here writes outbox rows (and dashboard events) in the caller's unit of work
and sends nothing itself.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sportello.errors import InvalidInput
from sportello.events import emit
from sportello.notifications import links
from sportello.notifications.models import ChannelKind, NotificationPreference, PushSubscription
from sportello.notifications.outbox import enqueue
from sportello.notifications.render import CUSTOMER_KINDS, OPERATOR_KINDS
from sportello.operators.models import Operator, Presence, Role
from sportello.operators.service import operator_channel

log = logging.getLogger(__name__)
PREFERENCE_CHANNELS = ("dashboard", "email", "push", "slack")
_EMAIL_DEFAULT = {
    "chat.unattended",
    "ticket.assigned",
    "ticket.customer_replied",
    "sla.breached",
    "ticket.escalated",
}
_PUSH_DEFAULT = {
    "chat.waiting",
    "chat.unattended",
    "chat.offered",
    "chat.assigned",
    "chat.unanswered",
    "ticket.customer_replied",
    "sla.warning",
    "sla.breached",
}
_SLACK_DEFAULT = {"chat.unattended", "sla.breached", "ticket.escalated"}


def is_chat_kind(kind: str) -> bool:
    """Chat events matter for the next minutes: they follow the operator's presence."""
    return kind.startswith("chat.")


def default_preference(event_kind: str, channel: str) -> bool:
    """What an operator gets when they never chose: the dashboard always, the rest by urgency."""
    if channel == "dashboard":
        return True
    if channel == "email":
        return event_kind in _EMAIL_DEFAULT
    if channel == "push":
        return event_kind in _PUSH_DEFAULT
    return event_kind in _SLACK_DEFAULT


async def preferences(session: AsyncSession, operator_id: uuid.UUID) -> dict[str, dict[str, bool]]:
    """The full matrix event kind → channel → enabled, defaults filled in."""
    matrix = {k: {c: default_preference(k, c) for c in PREFERENCE_CHANNELS} for k in OPERATOR_KINDS}
    rows = await session.execute(
        select(NotificationPreference).where(NotificationPreference.operator_id == operator_id)
    )
    for pref in rows.scalars():
        if pref.event_kind in matrix and pref.channel in PREFERENCE_CHANNELS:
            matrix[pref.event_kind][pref.channel] = pref.enabled
    return matrix


async def set_preferences(
    session: AsyncSession, operator_id: uuid.UUID, changes: Mapping[str, Mapping[str, bool]]
) -> dict[str, dict[str, bool]]:
    """Apply the given cells of the matrix (unknown kinds or channels are ignored by the schema)."""
    existing = {
        (p.event_kind, p.channel): p
        for p in (
            await session.execute(
                select(NotificationPreference).where(
                    NotificationPreference.operator_id == operator_id
                )
            )
        ).scalars()
    }
    for kind, cells in changes.items():
        for channel, enabled in cells.items():
            row = existing.get((kind, channel))
            if row is None:
                session.add(
                    NotificationPreference(
                        operator_id=operator_id, event_kind=kind, channel=channel, enabled=enabled
                    )
                )
            else:
                row.enabled = enabled
    await session.flush()
    return await preferences(session, operator_id)


def _language(op: Operator) -> str:
    for lang in op.languages or []:
        if lang in ("it", "en"):
            return str(lang)
    return "it"


async def notify_operators(
    session: AsyncSession,
    *,
    kind: str,
    operator_ids: Sequence[uuid.UUID] = (),
    supervisors: bool = False,
    context: Mapping[str, Any],
    key: str,
) -> int:
    """Tell operators about `kind` on the channels each chose; returns the outbox rows written.

    `key` identifies the event: each (operator, channel) derives its idempotency key from it,
    so calling twice for the same event writes nothing new. Slack gets one team message per
    event when any recipient wants Slack. Chat events are emailed only to operators with no
    dashboard open (presence offline): whoever is online or away sees them there already.
    """
    ids = set(operator_ids)
    stmt = select(Operator).where(Operator.active.is_(True))
    if supervisors:
        stmt = stmt.where(
            Operator.id.in_(ids) | Operator.role.in_([Role.SUPERVISOR.value, Role.ADMIN.value])
        )
    else:
        stmt = stmt.where(Operator.id.in_(ids))
    ops = list((await session.execute(stmt)).scalars())
    payload = {
        k: v for k, v in context.items() if isinstance(v, str | int | float | bool) or v is None
    }
    written = 0
    slack_lang: str | None = None
    for op in ops:
        prefs = (await preferences(session, op.id)).get(kind) or {
            c: default_preference(kind, c) for c in PREFERENCE_CHANNELS
        }
        lang = _language(op)
        if prefs["dashboard"]:
            emit(
                session,
                operator_channel(op.id),
                {"type": "notification", "kind": kind, "data": payload},
            )
        wants_email = prefs["email"] and (
            not is_chat_kind(kind) or op.presence == Presence.OFFLINE.value
        )
        if wants_email:
            written += await _enqueue_or_log(
                session,
                kind=kind,
                channel=ChannelKind.EMAIL.value,
                recipient=op.email,
                payload=payload,
                idempotency_key=f"{key}:op:{op.id}:email",
                language=lang,
            )
        if prefs["push"]:
            subs = await session.execute(
                select(PushSubscription.id).where(PushSubscription.operator_id == op.id)
            )
            for sub_id in subs.scalars():
                written += await _enqueue_or_log(
                    session,
                    kind=kind,
                    channel=ChannelKind.PUSH.value,
                    recipient=str(sub_id),
                    payload=payload,
                    idempotency_key=f"{key}:op:{op.id}:push:{sub_id}",
                    language=lang,
                )
        if prefs["slack"] and slack_lang is None:
            slack_lang = lang
    if slack_lang is not None:
        written += await _enqueue_or_log(
            session,
            kind=kind,
            channel=ChannelKind.SLACK.value,
            recipient="team",
            payload=payload,
            idempotency_key=f"{key}:slack",
            language=slack_lang,
        )
    return written


async def _enqueue_or_log(session: AsyncSession, **fields: Any) -> int:
    """1 when the row is written; 0 (logged) when the address is unusable.

    A bad stored address must not undo the caller's work (a ticket, a customer's reply).
    """
    try:
        await enqueue(session, **fields)
    except InvalidInput as exc:
        log.warning(
            "notification not queued",
            extra={
                "kind": fields.get("kind"),
                "channel": fields.get("channel"),
                "reason": exc.message,
            },
        )
        return 0
    return 1


def customer_channel(
    contact_method: str, email: str | None, phone: str | None
) -> tuple[str, str] | None:
    """(channel, address) for a customer's contact method, or None when there is none to use."""
    if contact_method in ("sms", "whatsapp") and phone:
        return contact_method, phone
    if email:
        return ChannelKind.EMAIL.value, email
    if contact_method == "phone" and phone:
        return ChannelKind.SMS.value, phone
    return None


async def notify_customer(
    session: AsyncSession,
    *,
    kind: str,
    contact_method: str,
    email: str | None,
    phone: str | None,
    language: str,
    conversation_id: uuid.UUID | None,
    context: Mapping[str, Any],
    key: str,
) -> bool:
    """Tell the customer on their contact method, with reopen (and rating) links; False if no way.

    Customer kinds: ticket.opened, ticket.replied, ticket.waiting_user, ticket.resolved. A
    WhatsApp message carries the email as a fallback for when WhatsApp refuses it.
    """
    target = customer_channel(contact_method, email, phone)
    if target is None:
        return False
    channel, address = target
    payload: dict[str, Any] = {
        k: v for k, v in context.items() if isinstance(v, str | int | float | bool) or v is None
    }
    if conversation_id is not None and kind in CUSTOMER_KINDS:
        payload["reopen_nonce"] = await links.create_link(
            session, conversation_id, links.Purpose.REOPEN
        )
        if kind == "ticket.resolved":
            payload["rating_nonce"] = await links.create_link(
                session, conversation_id, links.Purpose.RATE
            )
    if channel == ChannelKind.WHATSAPP and email:
        payload["fallback_email"] = email
    return bool(
        await _enqueue_or_log(
            session,
            kind=kind,
            channel=channel,
            recipient=address,
            payload=payload,
            idempotency_key=key,
            language=language,
            conversation_id=conversation_id,
        )
    )


async def ticket_notifier(
    session: AsyncSession,
    kind: str,
    ticket: Any,
    *,
    operator_ids: Sequence[uuid.UUID],
    supervisors: bool,
    customer: bool,
    data: Mapping[str, Any],
) -> None:
    """The `tickets.notify.Notifier` that writes outbox rows (installed by `notifications.install`)."""
    event = data.get("event_id") or data.get("message_id") or uuid.uuid4().hex
    key = f"{kind}:{ticket.id}:{event}"
    context: dict[str, Any] = {
        "number": ticket.number,
        "subject": ticket.subject,
        "ticket_id": str(ticket.id),
        "tier": ticket.tier,
        **{k: v for k, v in data.items() if v is not None},
    }
    if kind == "ticket.replied" and "message_id" in data and ticket.conversation_id is not None:
        context.update(await _reply_context(session, ticket.conversation_id, data["message_id"]))
    if customer:
        await notify_customer(
            session,
            kind=kind,
            contact_method=ticket.contact_method,
            email=ticket.email,
            phone=ticket.phone,
            language=ticket.language,
            conversation_id=ticket.conversation_id,
            context=context,
            key=f"{key}:customer",
        )
    if operator_ids or supervisors:
        if kind == "ticket.customer_replied" and "message_id" in data and ticket.conversation_id:
            reply = await _reply_context(session, ticket.conversation_id, data["message_id"])
            context["preview"] = reply.get("reply", "")[:140]
        await notify_operators(
            session,
            kind=kind,
            operator_ids=operator_ids,
            supervisors=supervisors,
            context=context,
            key=key,
        )


async def _reply_context(
    session: AsyncSession, conversation_id: uuid.UUID, message_id: Any
) -> dict[str, Any]:
    from sportello.conversations.models import Message

    try:
        msg = await session.get(Message, int(message_id))
    except (TypeError, ValueError):
        return {}
    if msg is None or msg.conversation_id != conversation_id:
        return {}
    meta = msg.meta or {}
    return {"reply": msg.body, "operator_name": meta.get("operator_name") or ""}
