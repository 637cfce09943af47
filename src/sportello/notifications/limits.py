"""Daily limits on what the outbox sends to customers: per recipient, and SMS and email in total.

The limits are counted from the outbox itself over a rolling 24 hours: rows `sent` in the window
plus rows `sending` under a live lease (claimed by some worker, not yet recorded). A claim that
would go over a limit does not send the row: it becomes `held`, with the reason in `last_error`,
is logged and counted in /metrics, and waits for a supervisor to release it from the
undelivered-notifications view (a released row is sent even if the limit is still reached).

Only customer notifications are limited: they are the ones an outsider can make us send (by
typing someone's address or number) and the ones that cost money (SMS, WhatsApp). Operator
notifications go to staff who chose them; holding an SLA alert because customers used up the
day's budget would hide the alert that matters most in a flood.

Several workers (processes) claim at once, so counting and claiming must be one step: the claim
transaction first takes a lock that only claims take (PostgreSQL: a transaction-level advisory
lock; SQLite: the database's write lock, by writing first), so the next claim counts this one's
rows as `sending`.
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Subquery, and_, func, select, text, union_all, update
from sqlalchemy.ext.asyncio import AsyncSession

from sportello.config import Settings
from sportello.notifications.models import ChannelKind, OutboxMessage, OutboxState
from sportello.notifications.render import OPERATOR_KINDS

log = logging.getLogger(__name__)
WINDOW = timedelta(hours=24)
RELEASED = "limits_released"  # payload flag set by a supervisor's release
# Any 64-bit constant works; it only has to be the same in every process of one database.
CLAIM_LOCK_KEY = 0x53504F5254454C4C
# Kinds are written with dots by the services and with underscores in some older rows.
_OPERATOR_KINDS = sorted({*OPERATOR_KINDS, *(k.replace(".", "_") for k in OPERATOR_KINDS)})
_BUDGET = {
    ChannelKind.EMAIL.value: ChannelKind.EMAIL.value,
    ChannelKind.SMS.value: ChannelKind.SMS.value,
    ChannelKind.WHATSAPP.value: ChannelKind.SMS.value,  # both are paid Twilio messages
}
LIMITED_CHANNELS = tuple(_BUDGET)


class HoldReason(enum.StrEnum):
    RECIPIENT = "recipient"
    SMS = "sms"
    EMAIL = "email"


HOLD_MESSAGES = {
    HoldReason.RECIPIENT: "held: the daily limit of notifications to this recipient is reached",
    HoldReason.SMS: "held: the daily limit of SMS and WhatsApp messages is reached",
    HoldReason.EMAIL: "held: the daily limit of emails is reached",
}


def hold_reason(last_error: str | None) -> HoldReason | None:
    """The limit that held a row, read back from its `last_error`."""
    for reason, message in HOLD_MESSAGES.items():
        if last_error == message:
            return reason
    return None


def enabled(settings: Settings) -> bool:
    return (
        settings.limit_notifications_per_recipient_day > 0
        or settings.limit_sms_per_day > 0
        or settings.limit_emails_per_day > 0
    )


def is_customer_kind(kind: str) -> bool:
    return kind not in _OPERATOR_KINDS


async def serialise_claims(session: AsyncSession, is_sqlite: bool) -> None:
    """Make this claim transaction wait for any other worker's claim to commit."""
    if is_sqlite:
        # A write that matches nothing still takes SQLite's write lock, so every read after it
        # sees all committed claims and no other process can claim until this one commits.
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == -1)
            .values(updated_at=OutboxMessage.updated_at)
            .execution_options(synchronize_session=False)
        )
    else:
        await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": CLAIM_LOCK_KEY})


def _counted(now: datetime, *where: ColumnElement[bool]) -> Subquery:
    """Rows that use up a limit: sent in the window, plus those being sent under a live lease.

    One statement, so one snapshot: a row a worker records as sent meanwhile is counted once
    (two statements could miss it as `sending` in the first and as `sent` in the second; records
    do not take the claim lock). A UNION ALL rather than an OR so that each branch is a range on
    the (state, next_attempt_at) index, which SQLite would not use for the OR.
    """
    customer = and_(
        OutboxMessage.channel.in_(LIMITED_CHANNELS), OutboxMessage.kind.not_in(_OPERATOR_KINDS)
    )
    since = now - WINDOW
    sent = and_(
        customer,
        OutboxMessage.state == OutboxState.SENT.value,
        # The claim time, equal to sent_at (worker._lease): it bounds the index scan.
        OutboxMessage.next_attempt_at > since,
        OutboxMessage.sent_at > since,
    )
    sending = and_(
        customer,
        OutboxMessage.state == OutboxState.SENDING.value,
        OutboxMessage.locked_until > now,
    )
    columns = (OutboxMessage.channel, OutboxMessage.recipient)
    return union_all(select(*columns).where(sent, *where), select(*columns).where(sending, *where)).subquery()


@dataclass
class Budget:
    """What is left of each limit for one claim; `admit` spends it row by row."""

    per_recipient: int
    totals: dict[str, int]
    used_by_recipient: dict[str, int] = field(default_factory=dict)
    used_total: dict[str, int] = field(default_factory=dict)

    def admit(self, channel: str, recipient: str) -> HoldReason | None:
        """None (and the row is counted) when the row fits every limit, else the limit it breaks."""
        budget = _BUDGET[channel]
        cap = self.totals.get(budget, 0)
        if cap > 0 and self.used_total.get(budget, 0) >= cap:
            return HoldReason(budget)
        if self.per_recipient > 0 and self.used_by_recipient.get(recipient, 0) >= self.per_recipient:
            return HoldReason.RECIPIENT
        self.used_total[budget] = self.used_total.get(budget, 0) + 1
        self.used_by_recipient[recipient] = self.used_by_recipient.get(recipient, 0) + 1
        return None


@dataclass(frozen=True)
class Held:
    id: int
    channel: str
    reason: HoldReason


async def admit(
    session: AsyncSession, settings: Settings, ids: Sequence[int], now: datetime
) -> tuple[list[int], list[Held]]:
    """Split candidate ids (in claim order) into those to send now and those over a limit.

    Must run after `serialise_claims` in the same transaction.
    """
    rows = (
        await session.execute(
            select(
                OutboxMessage.id,
                OutboxMessage.channel,
                OutboxMessage.recipient,
                OutboxMessage.kind,
                OutboxMessage.payload,
            ).where(OutboxMessage.id.in_(ids))
        )
    ).all()
    limited = {
        r.id: r
        for r in rows
        if r.channel in LIMITED_CHANNELS
        and is_customer_kind(r.kind)
        and not (isinstance(r.payload, dict) and r.payload.get(RELEASED))
    }
    if not limited:
        return list(ids), []
    budget = Budget(
        per_recipient=settings.limit_notifications_per_recipient_day,
        totals={
            ChannelKind.SMS.value: settings.limit_sms_per_day,
            ChannelKind.EMAIL.value: settings.limit_emails_per_day,
        },
    )
    totals = _counted(now)
    for channel, n in await session.execute(select(totals.c.channel, func.count()).group_by(totals.c.channel)):
        key = _BUDGET[channel]
        budget.used_total[key] = budget.used_total.get(key, 0) + int(n)
    if budget.per_recipient > 0:
        recipients = sorted({r.recipient for r in limited.values()})
        mine = _counted(now, OutboxMessage.recipient.in_(recipients))
        for recipient, n in await session.execute(
            select(mine.c.recipient, func.count()).group_by(mine.c.recipient)
        ):
            budget.used_by_recipient[recipient] = int(n)
    admitted: list[int] = []
    held: list[Held] = []
    for row_id in ids:
        row = limited.get(row_id)
        reason = None if row is None else budget.admit(row.channel, row.recipient)
        if reason is None:
            admitted.append(row_id)
        else:
            assert row is not None
            held.append(Held(row_id, row.channel, reason))
    return admitted, held


async def hold(session: AsyncSession, held: Sequence[Held], now: datetime) -> None:
    """Mark rows `held` with the limit that stopped them (not retried until released)."""
    for reason in {h.reason for h in held}:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_([h.id for h in held if h.reason is reason]))
            .values(
                state=OutboxState.HELD.value,
                last_error=HOLD_MESSAGES[reason],
                locked_until=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )


def report(metrics: Any, held: Sequence[Held]) -> None:
    """Log and count held rows (ids and channels only: never the recipient)."""
    for h in held:
        metrics.notifications_held.labels(h.channel, h.reason.value).inc()
        log.warning(
            "notification held by a daily limit",
            extra={"outbox_id": h.id, "channel": h.channel, "limit": h.reason.value},
        )


def release(payload: dict[str, Any] | None) -> dict[str, Any]:
    """The payload of a row a supervisor released: the limits no longer apply to it."""
    return {**(payload or {}), RELEASED: True}
