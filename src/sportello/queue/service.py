"""The handoff decision, the queue and what a waiting visitor is told.

`request_handoff` is the one entry point when a visitor asks for a person: it decides between
the queue and contact collection, posts the visitor-facing message, and starts routing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any, cast

from sqlalchemy import Table, and_, bindparam, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sportello import audit
from sportello.calendar.hours import BusinessCalendar, parse_exceptions, parse_opening_hours
from sportello.config import Settings
from sportello.conversations import service as conversations
from sportello.conversations.models import Conversation, ConversationStatus, Sender
from sportello.errors import Conflict, InvalidInput
from sportello.events import Envelope, emit
from sportello.operators.models import Operator, Presence
from sportello.operators.service import OPERATORS_CHANNEL, operator_channel
from sportello.queue.estimate import (
    LanguageEstimator,
    Pool,
    estimate_by_language,
    handle_for,
    round_estimate,
    typical_duration,
)
from sportello.queue.models import PRIORITY_WEIGHT, EntryState, Priority, QueueEntry
from sportello.queue.texts import describe_wait, text
from sportello.runtime import Runtime
from sportello.timeutil import utc_now

S = ConversationStatus
WITH_OPERATOR = (S.ASSIGNED.value, S.LIVE.value)
IN_HANDOFF = (S.QUEUED.value, S.ASSIGNED.value, S.LIVE.value)
# The queue entry states of a visitor still waiting for an operator (an offer may be pending),
# and the conversation statuses they go with.
WAITING_STATES = (EntryState.WAITING.value, EntryState.OFFERED.value)
WAITING_STATUSES = (S.QUEUED.value, S.ASSIGNED.value)
VISITOR_GONE_EVENT = "queue.visitor_gone"
SAMPLE_DAYS = 7
SAMPLES = 50
LANGUAGE_WINDOW = 4  # × SAMPLES recent chats searched for each language's own sample
PUBLISH_CHUNK = 250


@dataclass(frozen=True)
class HandoffOutcome:
    """What `request_handoff` decided.

    outcome: `queued` (position and estimate set), `closed` (outside business hours;
    `next_opening` set), `no_operator` (nobody online for the visitor's language), or
    `already` (the conversation was already queued or with an operator).
    """

    outcome: str
    status: str
    position: int | None = None
    estimated_wait_seconds: int | None = None
    next_opening: datetime | None = None
    message_seq: int | None = None


@lru_cache(maxsize=16)
def _calendar(hours: str, zone: str, country: str, exceptions: str) -> BusinessCalendar:
    return BusinessCalendar(
        parse_opening_hours(hours),
        tz=zone,
        country_holidays=country or None,
        exceptions=parse_exceptions(exceptions),
    )


def business_calendar(settings: Settings) -> BusinessCalendar:
    return _calendar(settings.opening_hours, settings.timezone, settings.holiday_country, settings.calendar_exceptions)


def _rank_at(enqueued_at: datetime, priority: str, settings: Settings) -> datetime:
    # One priority level is worth `queue_aging_seconds` of waiting: ordering by this instant
    # is ordering by "weight + waited / aging", and it never needs recomputing.
    return enqueued_at - timedelta(seconds=PRIORITY_WEIGHT[priority] * settings.queue_aging_seconds)


async def anyone_online(session: AsyncSession, language: str) -> bool:
    """Whether an active operator speaking `language` is online (capacity aside: they free up)."""
    rows = await session.execute(
        select(Operator.languages).where(Operator.active.is_(True), Operator.presence == Presence.ONLINE.value)
    )
    return any(not langs or language in langs for (langs,) in rows.all())


async def _post(session: AsyncSession, conv: Conversation, body: str, **meta: Any) -> int:
    message, _ = await conversations.append_message(session, conv, sender=Sender.SYSTEM, body=body, meta=meta)
    return message.seq


def _queue_changed(session: AsyncSession) -> None:
    emit(session, OPERATORS_CHANNEL, {"type": "queue.changed"})


async def enqueue(
    session: AsyncSession,
    settings: Settings,
    conv: Conversation,
    *,
    priority: str,
    reason: str | None,
    now: datetime,
    skills: Sequence[str] = (),
    min_tier: int = 1,
    target_operator_id: uuid.UUID | None = None,
    enqueued_at: datetime | None = None,
) -> QueueEntry:
    """Put the conversation in the queue (status `queued`) with its wait deadline."""
    enqueued_at = enqueued_at or now
    entry = QueueEntry(
        id=uuid.uuid4(),
        conversation_id=conv.id,
        state=EntryState.WAITING.value,
        priority=priority,
        language=conv.language,
        skills=list(skills),
        min_tier=min_tier,
        reason=(reason or "")[:200] or None,
        target_operator_id=target_operator_id,
        lapsed_by=[],
        enqueued_at=enqueued_at,
        rank_at=_rank_at(enqueued_at, priority, settings),
        wait_deadline_at=now + timedelta(seconds=settings.queue_wait_seconds),
    )
    session.add(entry)
    conv.priority = priority
    await conversations.transition(session, conv, S.QUEUED, reason=reason)
    audit.record(session, "queue_entry", entry.id, "enqueued", data={"conversation_id": str(conv.id), "priority": priority})
    _queue_changed(session)
    return entry


async def _offer_contact(rt: Runtime, session: AsyncSession, conv: Conversation, reason: str) -> None:
    """Show the contact options at once, when contact collection is installed in this process."""
    offer = rt.extensions.get("contact_collection")
    if offer is not None:
        await offer(session, conv, reason=reason)


async def request_handoff(
    rt: Runtime,
    conversation_id: uuid.UUID,
    *,
    reason: str,
    priority: str | None = None,
    skills: Sequence[str] = (),
    now: datetime | None = None,
) -> HandoffOutcome:
    """A visitor asked for a person: queue them, or send them to contact collection.

    Closed (business calendar) or nobody online for the conversation's language → status
    `awaiting_contact` and a message saying so (with the next opening when closed).
    Otherwise → status `queued` and a message with position and estimated wait; routing
    starts at once. Emits `handoff.requested` on the conversation's channel either way.
    """
    now = now or utc_now()
    priority = priority or Priority.MEDIUM.value
    if priority not in PRIORITY_WEIGHT:
        raise InvalidInput(f"priority must be one of {', '.join(PRIORITY_WEIGHT)}")
    calendar = business_calendar(rt.settings)
    async with rt.db.scope() as session:
        conv = await conversations.get_conversation(session, conversation_id)
        lang = conv.language
        if conv.status in IN_HANDOFF:
            view = await queue_view(session, rt.settings, conv, now=now)
            return HandoffOutcome(
                "already", conv.status,
                view["position"] if view else None, view["estimated_wait_seconds"] if view else None,
            )
        if conv.status == S.CLOSED.value:
            await conversations.transition(session, conv, S.BOT, reason="handoff requested")
        if not calendar.is_open(now):
            opening = calendar.next_opening(now)
            await conversations.transition(session, conv, S.AWAITING_CONTACT, reason="closed")
            seq = await _post(
                session, conv, text("closed", lang, reopen=calendar.describe_next_opening(now, lang)),
                kind="handoff.closed", next_opening=opening.isoformat() if opening else None,
            )
            outcome = HandoffOutcome("closed", conv.status, next_opening=opening, message_seq=seq)
            await _offer_contact(rt, session, conv, "closed")
        elif not await anyone_online(session, lang):
            await conversations.transition(session, conv, S.AWAITING_CONTACT, reason="no operator online")
            seq = await _post(session, conv, text("nobody", lang), kind="handoff.no_operator")
            outcome = HandoffOutcome("no_operator", conv.status, message_seq=seq)
            await _offer_contact(rt, session, conv, "no_operator")
        else:
            entry = await enqueue(session, rt.settings, conv, priority=priority, reason=reason, skills=skills, now=now)
            await session.flush()
            position, wait = await _position_of(session, rt.settings, entry.id, now)
            body = (
                text("queued", lang, position=position, wait=describe_wait(wait, lang))
                if wait is not None
                else text("queued_no_estimate", lang, position=position)
            )
            seq = await _post(session, conv, body, kind="handoff.queued", position=position, estimated_wait_seconds=wait)
            outcome = HandoffOutcome("queued", conv.status, position, wait, message_seq=seq)
        emit(
            session,
            conversations.conversation_channel(conv.id),
            {
                "type": "handoff.requested",
                "conversation_id": str(conv.id),
                "outcome": outcome.outcome,
                "position": outcome.position,
                "estimated_wait_seconds": outcome.estimated_wait_seconds,
            },
        )
        audit.record(session, "conversation", conv.id, "handoff_requested", data={"reason": reason, "outcome": outcome.outcome})
    if outcome.outcome == "queued":
        from sportello.queue.routing import dispatch

        await dispatch(rt)
    return outcome


@dataclass
class Capacity:
    """Who is online to take chats, and how fast chats go (globally and per language)."""

    slots: int = 0
    free: int = 0
    handle: float = 0.0
    accept: float = 0.0
    pools: list[Pool] = field(default_factory=list)
    handle_by_language: dict[str, float] = field(default_factory=dict)

    def estimator(self) -> LanguageEstimator:
        return LanguageEstimator(
            self.pools, handle=self.handle_by_language, default_handle=self.handle, accept=self.accept
        )


@dataclass
class QueueSnapshot:
    entries: list[QueueEntry] = field(default_factory=list)
    waits: list[int | None] = field(default_factory=list)
    capacity: Capacity = field(default_factory=Capacity)


async def operator_loads(session: AsyncSession, operator_ids: Sequence[uuid.UUID] | None = None) -> dict[uuid.UUID, int]:
    """Chats each operator holds (offered or live)."""
    stmt = (
        select(Conversation.operator_id, func.count(Conversation.id))
        .where(Conversation.operator_id.is_not(None), Conversation.status.in_(WITH_OPERATOR))
        .group_by(Conversation.operator_id)
    )
    if operator_ids is not None:
        stmt = stmt.where(Conversation.operator_id.in_(operator_ids))
    return {op_id: int(n) for op_id, n in (await session.execute(stmt)).all() if op_id is not None}


async def measure_capacity(session: AsyncSession, settings: Settings, now: datetime) -> Capacity:
    online = (
        await session.execute(
            select(Operator.id, Operator.max_chats, Operator.languages).where(
                Operator.active.is_(True), Operator.presence == Presence.ONLINE.value
            )
        )
    ).all()
    loads = await operator_loads(session, [op_id for op_id, _, _ in online])
    since = now - timedelta(days=SAMPLE_DAYS)
    # The last SAMPLES chats give the global handle time; a wider window gives each language
    # its own sample, so a language with fewer chats still gets measured.
    finished = (
        await session.execute(
            select(QueueEntry.assigned_at, QueueEntry.ended_at, QueueEntry.language)
            .where(QueueEntry.ended_at > since, QueueEntry.assigned_at.is_not(None))
            .order_by(QueueEntry.ended_at.desc())
            .limit(SAMPLES * LANGUAGE_WINDOW)
        )
    ).all()
    accepted = (
        await session.execute(
            select(QueueEntry.offered_at, QueueEntry.assigned_at)
            .where(QueueEntry.assigned_at > since, QueueEntry.offered_at.is_not(None))
            .order_by(QueueEntry.assigned_at.desc())
            .limit(SAMPLES)
        )
    ).all()
    durations = [(lang, (e - a).total_seconds()) for a, e, lang in finished if a and e]
    handle = typical_duration([d for _, d in durations[:SAMPLES]], settings.default_handle_seconds)
    per_language: dict[str, list[float]] = {}
    for lang, seconds in durations:
        if len(sample := per_language.setdefault(lang, [])) < SAMPLES:
            sample.append(seconds)
    accept = typical_duration(
        [(a - o).total_seconds() for o, a in accepted if o and a], settings.default_accept_seconds
    )
    pools: dict[frozenset[str], list[int]] = {}
    for op_id, max_chats, languages in online:
        pool = pools.setdefault(frozenset(languages or ()), [0, 0])
        pool[0] += max_chats
        pool[1] += max(max_chats - loads.get(op_id, 0), 0)
    return Capacity(
        slots=sum(m for _, m, _ in online),
        free=sum(max(m - loads.get(op_id, 0), 0) for op_id, m, _ in online),
        handle=handle,
        accept=accept,
        pools=[Pool(langs, slots, free) for langs, (slots, free) in pools.items()],
        handle_by_language={lang: handle_for(sample, handle) for lang, sample in per_language.items()},
    )


async def waiting_entries(session: AsyncSession, *, limit: int | None = None) -> list[QueueEntry]:
    """Waiting entries in routing order (priority with aging, then age)."""
    stmt = (
        select(QueueEntry)
        .where(QueueEntry.state == EntryState.WAITING.value)
        .order_by(QueueEntry.rank_at, QueueEntry.enqueued_at, QueueEntry.id)
        .execution_options(populate_existing=True)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return list((await session.execute(stmt)).scalars().all())


def waits_in_order(languages: Sequence[str], capacity: Capacity) -> list[float | None]:
    """Each queue position's estimated wait, given the waiting visitors' languages in order."""
    return estimate_by_language(
        languages, capacity.pools, handle=capacity.handle_by_language,
        default_handle=capacity.handle, accept=capacity.accept,
    )


async def snapshot(session: AsyncSession, settings: Settings, now: datetime) -> QueueSnapshot:
    """The whole waiting queue with each position's estimated wait: O(queue)."""
    entries = await waiting_entries(session)
    capacity = await measure_capacity(session, settings, now)
    waits = waits_in_order([entry.language for entry in entries], capacity)
    return QueueSnapshot(entries, [round_estimate(w) for w in waits], capacity)


async def _position_of(
    session: AsyncSession, settings: Settings, entry_id: uuid.UUID, now: datetime
) -> tuple[int, int | None]:
    """The entry's place in routing order and its estimate: one counting query, not the queue."""
    me = (
        await session.execute(
            select(QueueEntry.rank_at, QueueEntry.enqueued_at, QueueEntry.language).where(
                QueueEntry.id == entry_id, QueueEntry.state == EntryState.WAITING.value
            )
        )
    ).one_or_none()
    if me is None:
        return 1, None
    rank_at, enqueued_at, language = me
    # Those ahead counted per language: the estimate weighs each by how much their operators
    # overlap with this visitor's.
    ahead = {
        str(lang): int(n)
        for lang, n in (
            await session.execute(
                select(QueueEntry.language, func.count()).where(
                    QueueEntry.state == EntryState.WAITING.value,
                    or_(
                        QueueEntry.rank_at < rank_at,
                        and_(
                            QueueEntry.rank_at == rank_at,
                            or_(
                                QueueEntry.enqueued_at < enqueued_at,
                                and_(QueueEntry.enqueued_at == enqueued_at, QueueEntry.id < entry_id),
                            ),
                        ),
                    ),
                ).group_by(QueueEntry.language)
            )
        ).all()
    }
    position = sum(ahead.values()) + 1
    capacity = await measure_capacity(session, settings, now)
    return position, round_estimate(capacity.estimator().wait(language, ahead))


async def lock_entry(session: AsyncSession, entry_id: uuid.UUID, *conditions: Any) -> QueueEntry | None:
    """The entry, row-locked, if it meets `conditions`; None if not, or if another process holds it."""
    stmt = (
        select(QueueEntry)
        .where(QueueEntry.id == entry_id, *conditions)
        .with_for_update(skip_locked=True)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def current_entry(session: AsyncSession, conversation_id: uuid.UUID) -> QueueEntry | None:
    """The conversation's open entry (waiting, offered or assigned and not ended)."""
    stmt = (
        select(QueueEntry)
        .where(
            QueueEntry.conversation_id == conversation_id,
            QueueEntry.state.in_((EntryState.WAITING.value, EntryState.OFFERED.value, EntryState.ASSIGNED.value)),
            QueueEntry.ended_at.is_(None),
        )
        .order_by(QueueEntry.enqueued_at.desc())
        .limit(1)
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def queue_view(
    session: AsyncSession, settings: Settings, conv: Conversation, *, now: datetime | None = None
) -> dict[str, int | bool | None] | None:
    """{"position", "estimated_wait_seconds", "wait_timed_out"} while the visitor waits, else None.

    `wait_timed_out`: the wait time-out fired and the visitor has not yet chosen to keep
    waiting or leave a contact (the ticker clears the entry's wait deadline when it asks).
    """
    now = now or utc_now()
    if conv.status == S.ASSIGNED.value:
        capacity = await measure_capacity(session, settings, now)
        return {"position": 1, "estimated_wait_seconds": round_estimate(capacity.accept), "wait_timed_out": False}
    if conv.status != S.QUEUED.value:
        return None
    entry = await current_entry(session, conv.id)
    if entry is None:
        return None
    position, wait = await _position_of(session, settings, entry.id, now)
    timed_out = entry.state == EntryState.WAITING.value and entry.wait_deadline_at is None
    return {"position": position, "estimated_wait_seconds": wait, "wait_timed_out": timed_out}


async def operator_view(session: AsyncSession, conv: Conversation) -> dict[str, str] | None:
    """{"name"} of the operator in the chat (live, or closed after one), else None."""
    if conv.operator_id is None or conv.status not in (S.LIVE.value, S.CLOSED.value):
        return None
    op = await session.get(Operator, conv.operator_id)
    return {"name": op.name} if op is not None else None


@dataclass(frozen=True)
class _Told:
    """What a waiting visitor was last told (a row of the publishing snapshot)."""

    id: uuid.UUID
    conversation_id: uuid.UUID
    language: str
    position: int | None
    wait: int | None
    at: datetime | None


async def _waiting_told(session: AsyncSession) -> list[_Told]:
    """The waiting entries in routing order, as plain rows: the publisher needs no ORM objects."""
    table = cast(Table, QueueEntry.__table__)
    c = table.c
    rows = await session.execute(
        select(c.id, c.conversation_id, c.language, c.published_position, c.published_wait, c.published_at)
        .where(c.state == EntryState.WAITING.value)
        .order_by(c.rank_at, c.enqueued_at, c.id)
    )
    return [_Told(*row) for row in rows.all()]


async def publish_positions(rt: Runtime, now: datetime | None = None) -> int:
    """Tell each waiting visitor whose position or estimate changed; at most once a second each.

    The conditional update on `published_at` makes this safe with several processes. The
    events go out in chunks, yielding between them, so a long queue never stalls the loop.
    """
    now = now or utc_now()
    table = cast(Table, QueueEntry.__table__)
    pending: list[list[Envelope]] = []
    async with rt.db.scope() as session:
        entries = await _waiting_told(session)
        capacity = await measure_capacity(session, rt.settings, now)
        waits = [round_estimate(w) for w in waits_in_order([entry.language for entry in entries], capacity)]
        cutoff = now - timedelta(seconds=1)
        due = [
            (entry, index + 1, waits[index])
            for index, entry in enumerate(entries)
            if (entry.position, entry.wait) != (index + 1, waits[index])
            and (entry.at is None or entry.at <= cutoff)
        ]
        # Two statements per chunk, not one per visitor: claim the rows nobody published to in
        # the last second (another process may have), then write what each claimed row was told.
        for start in range(0, len(due), PUBLISH_CHUNK):
            chunk = due[start:start + PUBLISH_CHUNK]
            claimed = set(
                (
                    await session.execute(
                        update(table)
                        .where(
                            table.c.id.in_([entry.id for entry, _, _ in chunk]),
                            table.c.state == EntryState.WAITING.value,
                            table.c.published_at.is_(None) | (table.c.published_at <= cutoff),
                        )
                        .values(published_at=now)
                        .returning(table.c.id)
                    )
                ).scalars()
            )
            told = [(entry, position, wait) for entry, position, wait in chunk if entry.id in claimed]
            if not told:
                continue
            await session.execute(
                update(table)
                .where(table.c.id == bindparam("entry_id"))
                .values(published_position=bindparam("position"), published_wait=bindparam("wait")),
                [{"entry_id": entry.id, "position": position, "wait": wait} for entry, position, wait in told],
            )
            pending.append([
                Envelope(
                    conversations.conversation_channel(entry.conversation_id),
                    {
                        "type": "queue.position_changed",
                        "conversation_id": str(entry.conversation_id),
                        "position": position,
                        "estimated_wait_seconds": wait,
                    },
                )
                for entry, position, wait in told
            ])
    # Published after the commit, like `emit`, but a chunk at a time: each chunk wakes its
    # visitors' sockets, and they send before the next chunk is handed out.
    for envelopes in pending:
        await rt.bus.publish_many(envelopes)
        await asyncio.sleep(0)
    return sum(len(envelopes) for envelopes in pending)


async def keep_waiting(rt: Runtime, conv: Conversation, session: AsyncSession, now: datetime) -> None:
    entry = await current_entry(session, conv.id)
    if entry is None or entry.state != EntryState.WAITING.value:
        raise Conflict("the conversation is not waiting in the queue")
    entry.wait_deadline_at = now + timedelta(seconds=rt.settings.queue_wait_seconds)
    audit.record(session, "queue_entry", entry.id, "keep_waiting", actor_type="visitor")


async def leave_queue(
    rt: Runtime,
    session: AsyncSession,
    conv: Conversation,
    *,
    leave_contact: bool,
    now: datetime,
    gone: bool = False,
) -> None:
    """The visitor leaves the queue: recorded as abandonment (or time-out when leaving a contact).

    `gone`: the ticker removes a visitor whose widget stayed closed past the grace period; it is
    an abandonment too, with `end_reason` `visitor_gone`.
    """
    entry = await current_entry(session, conv.id)
    if entry is None or entry.state not in WAITING_STATES:
        raise Conflict("the conversation is not waiting in the queue")
    state = EntryState.TIMED_OUT if leave_contact else EntryState.ABANDONED
    end_reason = "visitor_gone" if gone else state.value
    result = await session.execute(
        update(QueueEntry)
        .where(QueueEntry.id == entry.id, QueueEntry.state.in_(WAITING_STATES))
        .values(
            state=state.value, ended_at=now, end_reason=end_reason,
            offer_deadline_at=None, wait_deadline_at=None, gone_deadline_at=None,
        )
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise Conflict("the conversation is not waiting in the queue")
    if entry.operator_id is not None:
        emit(session, operator_channel(entry.operator_id), {"type": "offer.withdrawn", "conversation_id": str(conv.id), "reason": "visitor left"})
    conv.operator_id = None
    target = S.AWAITING_CONTACT if leave_contact else S.BOT
    actor = "system" if gone else "visitor"
    await conversations.transition(session, conv, target, actor_type=actor, reason=end_reason)
    body = "leave_contact" if leave_contact else ("gone_from_queue" if gone else "left_queue")
    await _post(session, conv, text(body, conv.language), kind=f"queue.{end_reason}")
    audit.record(session, "queue_entry", entry.id, state.value, actor_type=actor, data={"reason": end_reason})
    _queue_changed(session)


async def visitor_returned(session: AsyncSession, conversation_id: uuid.UUID) -> bool:
    """A visitor socket of the conversation is open: cancel the grace period, if one runs.

    Reads first, so the usual case (no grace period running) writes nothing.
    """
    pending = QueueEntry.gone_deadline_at.is_not(None), QueueEntry.ended_at.is_(None)
    mine = QueueEntry.conversation_id == conversation_id
    if (await session.execute(select(QueueEntry.id).where(mine, *pending).limit(1))).first() is None:
        return False
    result = await session.execute(
        update(QueueEntry).where(mine, *pending).values(gone_deadline_at=None).returning(QueueEntry.id)
    )
    returned = list(result.scalars())
    for entry_id in returned:
        audit.record(session, "queue_entry", entry_id, "visitor_returned", actor_type="visitor")
    return bool(returned)


async def visitors_returned(session: AsyncSession, conversation_ids: Sequence[uuid.UUID]) -> None:
    """visitor_returned for sockets opening together, with one read for all of them."""
    pending = QueueEntry.gone_deadline_at.is_not(None), QueueEntry.ended_at.is_(None)
    found = await session.execute(
        select(QueueEntry.conversation_id).where(QueueEntry.conversation_id.in_(set(conversation_ids)), *pending)
    )
    for conversation_id in sorted(set(found.scalars())):
        await visitor_returned(session, conversation_id)


async def visitors_left(
    session: AsyncSession, settings: Settings, departures: Sequence[tuple[uuid.UUID, datetime]]
) -> None:
    """visitor_left for each (conversation, when) of sockets closing together, with one read for all."""
    waiting = (
        QueueEntry.state.in_(WAITING_STATES), QueueEntry.ended_at.is_(None), QueueEntry.gone_deadline_at.is_(None)
    )
    found = set(
        (
            await session.execute(
                select(QueueEntry.conversation_id).where(
                    QueueEntry.conversation_id.in_({conv_id for conv_id, _ in departures}), *waiting
                )
            )
        ).scalars()
    )
    for conversation_id, now in sorted(departures):
        if conversation_id in found:
            await visitor_left(session, settings, conversation_id, now)


async def visitor_left(
    session: AsyncSession, settings: Settings, conversation_id: uuid.UUID, now: datetime
) -> bool:
    """The conversation's last visitor socket in this process closed while it waits in the queue.

    Starts the grace period (`queue_disconnect_grace_seconds`) as a deadline on the entry, which
    the ticker acts on. The internal event lets a socket of this conversation still open in
    another process (a second tab) cancel it at once.
    """
    deadline = now + timedelta(seconds=settings.queue_disconnect_grace_seconds)
    waiting = (
        QueueEntry.conversation_id == conversation_id,
        QueueEntry.state.in_(WAITING_STATES),
        QueueEntry.ended_at.is_(None),
        QueueEntry.gone_deadline_at.is_(None),
    )
    # Most sockets that close are not in the queue: find out with a read, write only if needed.
    if (await session.execute(select(QueueEntry.id).where(*waiting).limit(1))).first() is None:
        return False
    result = await session.execute(
        update(QueueEntry).where(*waiting).values(gone_deadline_at=deadline).returning(QueueEntry.id)
    )
    started = list(result.scalars())
    for entry_id in started:
        audit.record(session, "queue_entry", entry_id, "visitor_disconnected", data={"deadline": deadline.isoformat()})
        emit(
            session,
            conversations.conversation_channel(conversation_id),
            {"type": VISITOR_GONE_EVENT, "conversation_id": str(conversation_id), "internal": True},
        )
    return bool(started)
