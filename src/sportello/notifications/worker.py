"""The outbox worker: claims due rows, delivers them at least once, retries, dead-letters.

A pass claims up to `outbox_batch_size` due rows in one short transaction (PostgreSQL: `FOR
UPDATE SKIP LOCKED`, so several workers share the work; SQLite has one writer and the claim is
a conditional update either way): each becomes `sending` with a lease (`locked_until`) and one
more attempt counted. Delivery happens outside any transaction; each outcome is then recorded
in its own unit of work. A worker killed mid-delivery leaves `sending` rows whose lease runs
out, and the next pass claims them again: delivery is at least once, and every attempt carries
the row's idempotency key (the email Message-ID is derived from it; Twilio gets it in the status
callback URL, and a report for a message the dead worker never recorded marks its row sent).

Channels with nothing configured are not claimed: their rows wait in the outbox. Customer
notifications over a daily limit are not claimed either: they become `held` (`limits`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sportello.config import Settings
from sportello.notifications import limits, links
from sportello.notifications.channels import (
    Delivery,
    Job,
    PermanentError,
    TransientError,
    email,
    slack,
    twilio_sms,
)
from sportello.notifications.models import (
    ChannelKind,
    NotificationRecipient,
    OutboxMessage,
    OutboxState,
    PushSubscription,
    RecipientState,
)
from sportello.notifications.outbox import (
    OUTBOX_CHANNEL,
    backoff_delay,
    enqueue,
    mark_sent,
    set_recipient_state,
)
from sportello.notifications.render import Rendered, render
from sportello.runtime import Runtime
from sportello.timeutil import utc_now

log = logging.getLogger(__name__)
WHATSAPP_WINDOW = timedelta(hours=24)
VAPID = "notifications.vapid"


def active_channels(settings: Settings) -> list[str]:
    """The channels this process can deliver on now (the others' rows wait)."""
    on = []
    if email.configured(settings):
        on.append(ChannelKind.EMAIL.value)
    if twilio_sms.configured(settings, "sms"):
        on.append(ChannelKind.SMS.value)
    if twilio_sms.configured(settings, "whatsapp"):
        on.append(ChannelKind.WHATSAPP.value)
    if slack.configured(settings):
        on.append(ChannelKind.SLACK.value)
    on.append(ChannelKind.PUSH.value)  # the VAPID key is always there (generated at setup)
    return on


@dataclass(frozen=True)
class Claimed:
    job: Job
    recipient_state: str | None
    last_inbound_at: datetime | None
    subscription: dict[str, Any] | None


def _due(now: datetime) -> Any:
    return or_(
        and_(
            OutboxMessage.state == OutboxState.PENDING.value, OutboxMessage.next_attempt_at <= now
        ),
        and_(OutboxMessage.state == OutboxState.SENDING.value, OutboxMessage.locked_until <= now),
    )


async def claim(rt: Runtime, now: datetime, limit: int) -> list[Claimed]:
    """Mark up to `limit` due rows as `sending` under a lease; one attempt more each.

    With daily limits on, claims of all workers are serialised and rows over a limit become
    `held` instead (see `limits`).
    """
    settings = rt.settings
    guarded = limits.enabled(settings)
    held: list[limits.Held] = []
    due = and_(OutboxMessage.channel.in_(active_channels(settings)), _due(now))
    async with rt.db.scope() as session:
        if guarded:
            # An idle pass takes no lock; a busy one looks again under the lock.
            if (await session.execute(select(OutboxMessage.id).where(due).limit(1))).first() is None:
                return []
            await limits.serialise_claims(session, rt.db.is_sqlite)
        stmt = (
            select(OutboxMessage.id)
            .where(due)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
        )
        if not rt.db.is_sqlite:
            stmt = stmt.with_for_update(skip_locked=True)
        ids = list((await session.execute(stmt)).scalars())
        if guarded and ids:
            ids, held = await limits.admit(session, settings, ids, now)
            await limits.hold(session, held, now)
        claimed = await _lease(session, settings, ids, now) if ids else []
    limits.report(rt.metrics, held)  # after the commit: what is reported did happen
    return claimed


async def _lease(
    session: AsyncSession, settings: Settings, ids: list[int], now: datetime
) -> list[Claimed]:
    lease = now + timedelta(seconds=settings.outbox_lease_seconds)
    # Repeating the due condition makes the claim a compare-and-set on every backend.
    # `next_attempt_at` becomes the claim time (a sending row is due by its lease, not by it):
    # a sent row then has it equal to `sent_at`, and the daily limits count the window's rows
    # through the (state, next_attempt_at) index instead of every row ever sent.
    await session.execute(
        update(OutboxMessage)
        .where(OutboxMessage.id.in_(ids), _due(now))
        .values(
            state=OutboxState.SENDING.value,
            locked_until=lease,
            attempts=OutboxMessage.attempts + 1,
            next_attempt_at=now,
            updated_at=now,
        )
    )
    rows = (
        (
            await session.execute(
                select(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.locked_until == lease)
                .execution_options(populate_existing=True)
            )
        )
        .scalars()
        .all()
    )
    return [await _detach(session, row) for row in rows]


async def _detach(session: AsyncSession, row: OutboxMessage) -> Claimed:
    job = Job(
        id=row.id,
        idempotency_key=row.idempotency_key,
        kind=row.kind,
        channel=row.channel,
        recipient=row.recipient,
        language=row.language,
        payload=dict(row.payload or {}),
        attempts=row.attempts,
    )
    state = inbound = None
    subscription = None
    if row.channel in (ChannelKind.SMS, ChannelKind.WHATSAPP):
        rec = await session.get(NotificationRecipient, (row.channel, row.recipient))
        if rec is not None:
            state, inbound = rec.state, rec.last_inbound_at
    if row.channel == ChannelKind.PUSH:
        sub = await session.get(PushSubscription, _uuid(row.recipient))
        if sub is not None:
            subscription = {
                "endpoint": sub.endpoint,
                "keys": {"p256dh": sub.p256dh, "auth": sub.auth},
            }
    return Claimed(job, state, inbound, subscription)


def _uuid(value: str) -> Any:
    import uuid

    try:
        return uuid.UUID(value)
    except ValueError:
        return uuid.UUID(int=0)


def _context(settings: Settings, job: Job) -> dict[str, Any]:
    ctx = dict(job.payload)
    if ctx.get("expected_answer_at") and not ctx.get("expected"):
        ctx["expected"] = format_expected(
            str(ctx["expected_answer_at"]), settings.timezone, job.language
        )
    for field, url_field in (("reopen_nonce", "reopen_url"), ("rating_nonce", "rating_url")):
        nonce = ctx.get(field)
        if isinstance(nonce, str) and nonce:
            ctx[url_field] = links.link_url(settings, nonce)
    return ctx


def _expired(payload: dict[str, Any], now: datetime) -> bool:
    """Whether the notification is about a moment that has passed (an offer that lapsed)."""
    value = payload.get("expires_at")
    if not isinstance(value, str):
        return False
    try:
        return datetime.fromisoformat(value) <= now
    except ValueError:
        return False


def format_expected(iso: str, tz: str, lang: str) -> str:
    """'by 12/01/2026 10:30' in the business time zone, in the customer's language."""
    try:
        when = datetime.fromisoformat(iso).astimezone(ZoneInfo(tz))
    except (ValueError, KeyError):
        return ""
    if lang == "it":
        return f"entro il {when:%d/%m/%Y} alle {when:%H:%M}"
    return f"by {when:%d %b %Y}, {when:%H:%M}"


async def deliver(rt: Runtime, claimed: Claimed, now: datetime) -> Delivery:
    """Send one claimed row on its channel (no database work); raises the channel's errors."""
    settings = rt.settings
    job = claimed.job
    if claimed.recipient_state == RecipientState.OPTED_OUT:
        raise PermanentError("the recipient opted out (STOP); suppressed until they send START")
    if claimed.recipient_state == RecipientState.INVALID:
        raise PermanentError("the number is known to be invalid")
    if _expired(job.payload, now):
        raise PermanentError("expired before it could be delivered (the moment has passed)")
    job = replace(job, payload=_context(settings, job))
    rendered: Rendered = render(job.kind, job.language, job.payload)
    if job.channel == ChannelKind.EMAIL:
        return await email.send(settings, job, rendered)
    if job.channel == ChannelKind.SMS:
        return await twilio_sms.send(settings, job, rendered)
    if job.channel == ChannelKind.WHATSAPP:
        in_window = (
            claimed.last_inbound_at is not None and now - claimed.last_inbound_at < WHATSAPP_WINDOW
        )
        use_template = bool(job.payload.get("use_template")) or not in_window
        return await twilio_sms.send(settings, job, rendered, use_template=use_template)
    if job.channel == ChannelKind.SLACK:
        return await slack.send(settings, job, rendered)
    if job.channel == ChannelKind.PUSH:
        from sportello.notifications.channels import webpush

        if claimed.subscription is None:
            raise PermanentError("the push subscription no longer exists")
        return await webpush.send(
            settings, job, rendered, vapid=_vapid(rt), subscription=claimed.subscription
        )
    raise PermanentError(f"unknown channel '{job.channel}'")


def _vapid(rt: Runtime) -> Any:
    vapid = rt.extensions.get(VAPID)
    if vapid is None:
        from sportello.notifications.vapid import load_vapid

        vapid = rt.extensions[VAPID] = load_vapid(rt.settings)
    return vapid


async def record(
    rt: Runtime, claimed: Claimed, outcome: Delivery | Exception, now: datetime
) -> str:
    """Write the outcome of one attempt; returns the row's new state."""
    job = claimed.job
    settings = rt.settings
    async with rt.db.scope() as session:
        row = await session.get(OutboxMessage, job.id, populate_existing=True)
        if row is None or row.state != OutboxState.SENDING.value or row.attempts != job.attempts:
            return row.state if row is not None else "gone"  # another worker took over
        if isinstance(outcome, Delivery):
            mark_sent(row, outcome.provider_message_id, outcome.status, now)
            return row.state
        row.locked_until = None
        row.updated_at = now
        if isinstance(outcome, PermanentError):
            await _apply_permanent(session, settings, row, outcome)
        else:
            row.last_error = _describe(outcome)
            if row.attempts >= settings.outbox_max_attempts:
                row.state = OutboxState.DEAD.value
                log.warning("notification dead-lettered", extra={"outbox_id": row.id})
            else:
                row.state = OutboxState.PENDING.value
                row.next_attempt_at = now + backoff_delay(
                    row.attempts,
                    settings.outbox_backoff_base,
                    settings.outbox_backoff_max,
                    random.random(),
                )
        return row.state


def _describe(exc: Exception) -> str:
    if isinstance(exc, TransientError):
        return str(exc)[:1000]
    return f"{type(exc).__name__}: {exc}"[:1000]


async def _apply_permanent(
    session: AsyncSession, settings: Settings, row: OutboxMessage, exc: PermanentError
) -> None:
    row.state = OutboxState.FAILED.value
    row.last_error = str(exc)[:1000]
    effect = exc.consequence
    if effect.recipient_state is RecipientState.INVALID:
        for channel in (ChannelKind.SMS.value, ChannelKind.WHATSAPP.value):
            await set_recipient_state(
                session, channel, row.recipient, RecipientState.INVALID, "twilio 21211"
            )
    elif effect.recipient_state is RecipientState.OPTED_OUT:
        await set_recipient_state(
            session, row.channel, row.recipient, RecipientState.OPTED_OUT, "twilio 21610"
        )
    if effect.drop_subscription:
        await session.execute(
            delete(PushSubscription).where(PushSubscription.id == _uuid(row.recipient))
        )
    if effect.fallback:
        await _fall_back(session, settings, row)


async def _fall_back(session: AsyncSession, settings: Settings, row: OutboxMessage) -> None:
    """WhatsApp outside the 24-hour window: an approved template if there is one, else email."""
    payload = dict(row.payload or {})
    if not payload.get("use_template") and twilio_sms.template_sid(settings, row.kind):
        payload["use_template"] = True
        row.payload = payload
        row.state = OutboxState.PENDING.value
        row.next_attempt_at = utc_now()
        row.last_error = f"{row.last_error}; retrying with the approved template"
        return
    fallback_email = payload.get("fallback_email")
    if isinstance(fallback_email, str) and fallback_email:
        await enqueue(
            session,
            kind=row.kind,
            channel=ChannelKind.EMAIL.value,
            recipient=fallback_email,
            payload={k: v for k, v in payload.items() if k != "use_template"},
            idempotency_key=f"{row.idempotency_key}:email"[:200],
            language=row.language,
            conversation_id=row.conversation_id,
        )
        row.last_error = f"{row.last_error}; sent by email instead"


async def deliver_due(
    rt: Runtime, now: datetime | None = None, limit: int | None = None
) -> dict[str, int]:
    """One pass: claim due rows, deliver them concurrently, record each outcome; counts by state."""
    now = now or utc_now()
    batch = await claim(rt, now, limit or rt.settings.outbox_batch_size)
    counts: dict[str, int] = {}
    if not batch:
        return counts

    async def one(claimed: Claimed) -> str:
        outcome: Delivery | Exception
        try:
            outcome = await deliver(rt, claimed, now)
        except (TransientError, PermanentError) as exc:
            outcome = exc
        except Exception as exc:
            log.exception("notification delivery crashed", extra={"outbox_id": claimed.job.id})
            outcome = exc
        return await record(rt, claimed, outcome, now)

    for state in await asyncio.gather(*(one(c) for c in batch)):
        counts[state] = counts.get(state, 0) + 1
    return counts


async def run(rt: Runtime) -> None:
    """Deliver forever: a pass whenever something is enqueued, and every poll interval anyway."""
    sub = rt.bus.subscribe(OUTBOX_CHANNEL)
    try:
        while True:
            try:
                counts = await deliver_due(rt)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox pass failed")
                counts = {}
            if any(counts.values()):
                continue  # there may be more due rows
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(rt.settings.outbox_poll_interval):
                    await sub.get()
    finally:
        sub.close()


async def list_dead(session: AsyncSession, limit: int = 100) -> list[OutboxMessage]:
    """Rows waiting for a person: dead letters and rows held by a daily limit, newest first."""
    stmt = (
        select(OutboxMessage)
        .where(OutboxMessage.state.in_((OutboxState.DEAD.value, OutboxState.HELD.value)))
        .order_by(OutboxMessage.updated_at.desc())
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


RETRYABLE = (OutboxState.DEAD.value, OutboxState.FAILED.value, OutboxState.HELD.value)


async def retry_dead(session: AsyncSession, outbox_id: int) -> OutboxMessage | None:
    """Put a dead, failed or held row back in the queue with a fresh attempt count.

    A held row is released: the daily limits no longer apply to it (a person decided).
    """
    row = await session.get(OutboxMessage, outbox_id)
    if row is None or row.state not in RETRYABLE:
        return None
    now = utc_now()
    if row.state == OutboxState.HELD.value:
        row.payload = limits.release(row.payload)
        row.last_error = None
    row.state = OutboxState.PENDING.value
    row.attempts = 0
    row.next_attempt_at = now
    row.updated_at = now
    await session.flush()
    from sportello.events import emit

    emit(session, OUTBOX_CHANNEL, {"type": "outbox.enqueued", "id": row.id})
    return row
