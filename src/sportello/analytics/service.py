"""One function per measure, over a range of local days, read from the rollups and source tables.

Queries return compact aggregates (per UTC hour, per priority...) or single float columns;
turning UTC hours into local days and weekday-hours, and percentiles, happen here in Python.
"""

from __future__ import annotations

import math
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sportello.analytics import schemas as s
from sportello.analytics.facts import OUTCOMES
from sportello.analytics.models import AssistantAnswer, ConversationFact
from sportello.assistant.service import load_topics
from sportello.conversations.models import Conversation, Message
from sportello.notifications.models import ConversationLink, OutboxMessage
from sportello.operators.models import Operator
from sportello.queue.models import EntryState, QueueEntry
from sportello.tickets.models import Ticket

F = ConversationFact
TOP = 10
LATEST = 50
PRIORITIES = ("urgent", "high", "medium", "low")
WAIT_BUCKETS = (
    (30, "<30s"),
    (60, "30s-1m"),
    (120, "1-2m"),
    (300, "2-5m"),
    (600, "5-10m"),
    (math.inf, "10m+"),
)


@dataclass(frozen=True)
class Filters:
    """A report's range of local days (both included) in `timezone`, and its optional filters."""

    start: date
    end: date
    timezone: str = "Europe/Rome"
    channel: str | None = None
    language: str | None = None
    priority: str | None = None
    operator_id: uuid.UUID | None = None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def bounds(self) -> tuple[datetime, datetime]:
        """[first local midnight, the midnight after the last day) as UTC instants."""
        first = datetime.combine(self.start, time(0), self.zone).astimezone(UTC)
        after = datetime.combine(self.end + timedelta(days=1), time(0), self.zone).astimezone(UTC)
        return first, after

    def period(self) -> s.Period:
        return s.Period(
            start=self.start,
            end=self.end,
            timezone=self.timezone,
            channel=self.channel,
            language=self.language,
            priority=self.priority,
            operator_id=self.operator_id,
        )

    def days(self) -> list[date]:
        return [self.start + timedelta(days=i) for i in range((self.end - self.start).days + 1)]


def _facts_where(f: Filters) -> list[ColumnElement[bool]]:
    lo, hi = f.bounds()
    # Local midnights are whole UTC hours, so the range is exactly a range of `hour`.
    where = [F.hour >= int(lo.timestamp()) // 3600, F.hour < int(hi.timestamp()) // 3600]
    if f.channel:
        where.append(F.channel == f.channel)
    if f.language:
        where.append(F.language == f.language)
    if f.priority:
        where.append(F.priority == f.priority)
    if f.operator_id:
        where.append(F.operator_id == f.operator_id)
    return where


def _ratio(part: int | float, whole: int | float) -> float | None:
    return round(part / whole, 4) if whole else None


def seconds_between(session: AsyncSession, later: Any, earlier: Any) -> Any:
    """Seconds from `earlier` to `later`, as SQL on either backend."""
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", later - earlier)
    return (func.julianday(later) - func.julianday(earlier)) * 86400.0


def durations(values: list[float]) -> s.Durations:
    """Average, nearest-rank p50/p90 and max of `values` (seconds, rounded to 0.1)."""
    if not values:
        return s.Durations()
    ordered = sorted(values)
    n = len(ordered)

    def rank(q: float) -> float:
        return round(ordered[max(0, math.ceil(q * n) - 1)], 1)

    return s.Durations(
        count=n,
        average=round(sum(ordered) / n, 1),
        p50=rank(0.5),
        p90=rank(0.9),
        max=round(ordered[-1], 1),
    )


def counted_durations(pairs: list[tuple[float, int]]) -> s.Durations:
    """`durations` of values given with their multiplicities."""
    if not pairs:
        return s.Durations()
    ordered = sorted(pairs)
    n = sum(c for _, c in ordered)

    def rank(q: float) -> float:
        target, seen = max(1, math.ceil(q * n)), 0
        for value, count in ordered:
            seen += count
            if seen >= target:
                return round(value, 1)
        return round(ordered[-1][0], 1)

    total = sum(v * c for v, c in ordered)
    return s.Durations(
        count=n, average=round(total / n, 1), p50=rank(0.5), p90=rank(0.9), max=round(ordered[-1][0], 1)
    )


class LocalHours:
    """Maps UTC epoch hours to local (day, weekday, hour), memoised (a year is 8,760 hours)."""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._cache: dict[int, datetime] = {}

    def __call__(self, epoch_hour: int) -> datetime:
        local = self._cache.get(epoch_hour)
        if local is None:
            local = datetime.fromtimestamp(epoch_hour * 3600, self.zone)
            self._cache[epoch_hour] = local
        return local


async def outcomes(session: AsyncSession, f: Filters) -> s.OutcomesReport:
    rows = await session.execute(
        select(F.hour, F.outcome, func.count()).where(*_facts_where(f)).group_by(F.hour, F.outcome)
    )
    local = LocalHours(f.zone)
    per_day: dict[date, Counter[str]] = defaultdict(Counter)
    totals: Counter[str] = Counter()
    for hour, outcome, n in rows:
        per_day[local(hour).date()][outcome] += n
        totals[outcome] += n
    total = sum(totals.values())
    return s.OutcomesReport(
        period=f.period(),
        total=total,
        containment_rate=_ratio(totals["assistant"], total),
        outcomes=[
            s.OutcomeCount(outcome=o, conversations=totals[o], share=_ratio(totals[o], total))
            for o in OUTCOMES
        ],
        days=[s.OutcomeDay(day=d, **{o: per_day[d][o] for o in OUTCOMES}) for d in f.days()],
    )


async def assistant(session: AsyncSession, f: Filters) -> s.AssistantReport:
    lo, hi = f.bounds()
    A = AssistantAnswer
    where: list[ColumnElement[bool]] = [A.created_at >= lo, A.created_at < hi]
    if f.channel:
        where.append(A.channel == f.channel)
    if f.language:
        where.append(A.language == f.language)
    if f.priority or f.operator_id:
        where.append(A.conversation_id.in_(select(F.conversation_id).where(*_facts_where(f))))
    answered = (
        await session.execute(
            select(A.topic_id, func.count())
            .where(*where, A.answered.is_(True))
            .group_by(A.topic_id)
            .order_by(func.count().desc(), A.topic_id)
        )
    ).all()
    missed = (
        await session.execute(
            select(A.candidate_topic_id, func.count())
            .where(*where, A.answered.is_(False))
            .group_by(A.candidate_topic_id)
            .order_by(func.count().desc(), A.candidate_topic_id)
        )
    ).all()
    latest = (
        await session.execute(
            select(A.created_at, A.language, A.candidate_topic_id, A.confidence, Message.body)
            .join(Message, Message.id == A.question_message_id)
            .where(*where, A.answered.is_(False))
            .order_by(A.created_at.desc(), A.message_id.desc())
            .limit(LATEST)
        )
    ).all()
    facts = (
        await session.execute(
            select(func.count(), _count(F.outcome == "assistant")).where(*_facts_where(f))
        )
    ).one()
    titles = await _topic_titles(session, f.language)
    n_answered = sum(n for _, n in answered)
    n_missed = sum(n for _, n in missed)
    zone = f.zone
    return s.AssistantReport(
        period=f.period(),
        conversations=facts[0],
        containment_rate=_ratio(facts[1] or 0, facts[0]),
        questions=n_answered + n_missed,
        answered=n_answered,
        missed=n_missed,
        answer_rate=_ratio(n_answered, n_answered + n_missed),
        top_answered=[
            s.TopicCount(topic_id=t, title=titles.get(t or ""), answers=n)
            for t, n in answered[:TOP]
        ],
        top_missed=[
            s.TopicCount(topic_id=t, title=titles.get(t or ""), answers=n) for t, n in missed[:TOP]
        ],
        missed_questions=[
            s.MissedQuestion(
                asked_at=at.astimezone(zone).isoformat(timespec="seconds"),
                language=lang,
                candidate_topic_id=cand,
                confidence=conf,
                question=body,
            )
            for at, lang, cand, conf, body in latest
        ],
    )


async def _topic_titles(session: AsyncSession, language: str | None) -> dict[str, str]:
    titles: dict[str, str] = {}
    for topic in await load_topics(session):
        text = (
            topic.texts.get(language or "it")
            or topic.texts.get("it")
            or next(iter(topic.texts.values()), None)
        )
        if text is not None:
            titles[topic.id] = text.title
    return titles


def _entries_where(f: Filters, column: Any = None) -> list[ColumnElement[bool]]:
    lo, hi = f.bounds()
    Q = QueueEntry
    at = Q.enqueued_at if column is None else column
    where = [at >= lo, at < hi]
    if f.language:
        where.append(Q.language == f.language)
    if f.priority:
        where.append(Q.priority == f.priority)
    if f.operator_id:
        where.append(Q.operator_id == f.operator_id)
    if f.channel:
        # Correlated: one primary-key probe per entry in the range (an IN list of every
        # conversation of the channel costs far more on SQLite).
        where.append(
            select(Conversation.id)
            .where(Conversation.id == Q.conversation_id, Conversation.channel == f.channel)
            .exists()
        )
    return where


async def queue(session: AsyncSession, f: Filters) -> s.QueueReport:
    """Waits are grouped to the whole second in SQL: a year is a few thousand rows, not 60,000."""
    Q = QueueEntry
    waited = func.round(seconds_between(session, func.coalesce(Q.assigned_at, Q.ended_at), Q.enqueued_at))
    stmt = (
        select(Q.state, Q.assigned_at.is_not(None), waited, func.count())
        .where(*_entries_where(f))
        .group_by(Q.state, Q.assigned_at.is_not(None), waited)
    )
    served: list[tuple[float, int]] = []
    gave_up: list[tuple[float, int]] = []
    states: Counter[str] = Counter()
    for state, was_served, seconds, n in await session.execute(stmt):
        if was_served:
            states["served"] += n
            served.append((float(seconds), n))
        elif state in (EntryState.WAITING.value, EntryState.OFFERED.value):
            states["waiting"] += n
        elif state == EntryState.TIMED_OUT.value:
            states["left_contact"] += n
        else:
            states["abandoned"] += n
            if seconds is not None:
                gave_up.append((float(seconds), n))
    histogram: Counter[str] = Counter()
    for seconds, n in served:
        histogram[next(label for limit, label in WAIT_BUCKETS if seconds < limit)] += n
    ended = states["served"] + states["abandoned"] + states["left_contact"]
    return s.QueueReport(
        period=f.period(),
        entries=sum(states.values()),
        served=states["served"],
        abandoned=states["abandoned"],
        left_contact=states["left_contact"],
        waiting=states["waiting"],
        abandonment_rate=_ratio(states["abandoned"], ended),
        wait=counted_durations(served),
        wait_before_abandoning=counted_durations(gave_up),
        wait_histogram=[s.WaitBucket(bucket=label, entries=histogram[label]) for _, label in WAIT_BUCKETS],
    )


def _tickets_where(f: Filters, column: Any = None) -> list[ColumnElement[bool]]:
    lo, hi = f.bounds()
    T = Ticket
    at = T.created_at if column is None else column
    where = [at >= lo, at < hi]
    if f.channel:
        # A ticket's "channel" is how the customer is reached; the web chat is `chat` there.
        where.append(T.contact_method == ("chat" if f.channel == "web" else f.channel))
    if f.language:
        where.append(T.language == f.language)
    if f.priority:
        where.append(T.priority == f.priority)
    if f.operator_id:
        where.append(T.assignee_id == f.operator_id)
    return where


async def response_times(session: AsyncSession, f: Filters) -> s.ResponseTimesReport:
    T = Ticket
    chat = (
        await session.execute(
            select(F.first_response_seconds).where(
                *_facts_where(f), F.first_response_seconds.is_not(None)
            )
        )
    ).scalars()
    first = (
        await session.execute(
            select(seconds_between(session, T.first_responded_at, T.created_at)).where(
                *_tickets_where(f), T.first_responded_at.is_not(None)
            )
        )
    ).scalars()
    resolved = (
        await session.execute(
            select(seconds_between(session, T.resolved_at, T.created_at)).where(
                *_tickets_where(f), T.resolved_at.is_not(None)
            )
        )
    ).scalars()
    return s.ResponseTimesReport(
        period=f.period(),
        chat_first_response=durations([float(v) for v in chat if v is not None]),
        ticket_first_response=durations([max(0.0, float(v)) for v in first]),
        ticket_resolution=durations([max(0.0, float(v)) for v in resolved]),
    )


def _count(condition: ColumnElement[bool]) -> Any:
    return func.count().filter(condition)


async def sla(session: AsyncSession, f: Filters) -> s.SlaReport:
    """A clock counts once it stopped in time (met) or breached; running clocks count in neither."""
    T = Ticket
    fr_breached = T.first_response_breached_at.is_not(None)
    res_breached = T.resolution_breached_at.is_not(None)
    rows = await session.execute(
        select(
            T.priority,
            func.count(),
            _count(and_(T.first_responded_at.is_not(None), ~fr_breached)),
            _count(fr_breached),
            _count(and_(T.resolved_at.is_not(None), ~res_breached)),
            _count(res_breached),
        )
        .where(*_tickets_where(f))
        .group_by(T.priority)
    )
    by_priority = {r[0]: r for r in rows}
    tiers = await session.execute(
        select(T.tier, func.count(), _count(fr_breached | res_breached))
        .where(*_tickets_where(f))
        .group_by(T.tier)
        .order_by(T.tier)
    )
    priorities = []
    for name in [*PRIORITIES, *sorted(set(by_priority) - set(PRIORITIES))]:
        r = by_priority.get(name, (name, 0, 0, 0, 0, 0))
        priorities.append(
            s.SlaPriority(
                priority=name,
                tickets=r[1],
                first_response_met=r[2],
                first_response_breached=r[3],
                first_response_compliance=_ratio(r[2], r[2] + r[3]),
                resolution_met=r[4],
                resolution_breached=r[5],
                resolution_compliance=_ratio(r[4], r[4] + r[5]),
            )
        )
    return s.SlaReport(
        period=f.period(),
        priorities=priorities,
        tiers=[s.SlaTier(tier=t, tickets=n, breaches=b) for t, n, b in tiers],
    )


async def operators(session: AsyncSession, f: Filters) -> s.OperatorsReport:
    """Chats by the queue entries an operator was assigned in the range (a transfer counts for both)."""
    Q, T = QueueEntry, Ticket
    entry_where = [*_entries_where(f, Q.assigned_at), Q.operator_id.is_not(None)]
    handle = seconds_between(session, Q.ended_at, Q.assigned_at)
    chats = {
        op: (n, avg)
        for op, n, avg in await session.execute(
            select(Q.operator_id, func.count(), func.avg(handle))
            .where(*entry_where)
            .group_by(Q.operator_id)
        )
    }
    fact_rows = {
        op: (fr, n, avg)
        for op, fr, n, avg in await session.execute(
            select(
                F.operator_id,
                func.avg(F.first_response_seconds),
                func.count(F.rating),
                func.avg(F.rating),
            )
            .where(*_facts_where(f), F.operator_id.is_not(None))
            .group_by(F.operator_id)
        )
    }
    tickets = {
        op: (n, avg)
        for op, n, avg in await session.execute(
            select(
                T.assignee_id,
                func.count(),
                func.avg(seconds_between(session, T.first_responded_at, T.created_at)),
            )
            .where(*_tickets_where(f, T.resolved_at), T.assignee_id.is_not(None))
            .group_by(T.assignee_id)
        )
    }
    ids = set(chats) | set(fact_rows) | set(tickets)
    names = (
        dict(
            (
                await session.execute(
                    select(Operator.id, Operator.name).where(Operator.id.in_(ids))
                )
            ).all()
        )
        if ids
        else {}
    )

    def r1(v: Any) -> float | None:
        return None if v is None else round(float(v), 1)

    rows = [
        s.OperatorRow(
            operator_id=op,
            name=names.get(op, str(op)[:8]),
            chats=chats.get(op, (0, None))[0],
            handle_average_seconds=r1(chats.get(op, (0, None))[1]),
            first_response_average_seconds=r1(fact_rows.get(op, (None, 0, None))[0]),
            ratings=fact_rows.get(op, (None, 0, None))[1],
            rating_average=None
            if fact_rows.get(op, (None, 0, None))[2] is None
            else round(float(fact_rows[op][2]), 2),
            tickets_resolved=tickets.get(op, (0, None))[0],
            ticket_first_response_average_seconds=r1(tickets.get(op, (0, None))[1]),
        )
        for op in ids
    ]
    rows.sort(key=lambda r: (-r.chats, -r.tickets_resolved, r.name))
    return s.OperatorsReport(period=f.period(), operators=rows)


async def satisfaction(session: AsyncSession, f: Filters) -> s.SatisfactionReport:
    where = _facts_where(f)
    dist: dict[int, int] = {
        int(r or 0): n
        for r, n in await session.execute(
            select(F.rating, func.count()).where(*where, F.rating.is_not(None)).group_by(F.rating)
        )
    }
    chats = (
        await session.execute(
            select(func.count()).where(
                *where, F.outcome.in_(("operator", "ticket")), F.operator_id.is_not(None)
            )
        )
    ).scalar_one()
    comments = (
        await session.execute(
            select(
                F.conversation_id,
                F.created_at,
                F.rating,
                F.language,
                F.operator_id,
                Conversation.rating_comment,
            )
            .join(Conversation, Conversation.id == F.conversation_id)
            .where(*where, F.has_comment.is_(True))
            .order_by(F.hour.desc(), F.created_at.desc())
            .limit(LATEST)
        )
    ).all()
    rated = sum(dist.values())
    zone = f.zone
    return s.SatisfactionReport(
        period=f.period(),
        rated=rated,
        operator_chats=chats,
        response_rate=_ratio(rated, chats),
        average=round(sum(k * v for k, v in dist.items()) / rated, 2) if rated else None,
        distribution=[s.RatingCount(rating=k, conversations=dist.get(k, 0)) for k in range(1, 6)],
        comments=[
            s.RatingComment(
                conversation_id=cid,
                day=at.astimezone(zone).date(),
                rating=rating,
                language=lang,
                operator_id=op,
                comment=text or "",
            )
            for cid, at, rating, lang, op, text in comments
        ],
    )


async def channels(session: AsyncSession, f: Filters) -> s.ChannelsReport:
    """Notifications created in the range by channel and state; links sent and opened by purpose."""
    lo, hi = f.bounds()
    Out, L = OutboxMessage, ConversationLink
    where: list[ColumnElement[bool]] = [Out.created_at >= lo, Out.created_at < hi]
    if f.channel:
        where.append(Out.channel == f.channel)
    if f.language:
        where.append(Out.language == f.language)
    per: dict[str, Counter[str]] = defaultdict(Counter)
    for channel, state, n in await session.execute(
        select(Out.channel, Out.state, func.count()).where(*where).group_by(Out.channel, Out.state)
    ):
        per[channel][state] += n
    rows = []
    for channel in sorted(per):
        c = per[channel]
        total = sum(c.values())
        rows.append(
            s.ChannelRow(
                channel=channel,
                total=total,
                delivered=c["sent"],
                failed=c["failed"],
                dead=c["dead"],
                pending=c["pending"] + c["sending"] + c["held"],  # held: not delivered yet either
                delivery_rate=_ratio(c["sent"], total),
            )
        )
    link_where: list[ColumnElement[bool]] = [L.created_at >= lo, L.created_at < hi]
    if f.language:
        link_where.append(
            L.conversation_id.in_(
                select(Conversation.id).where(Conversation.language == f.language)
            )
        )
    links = [
        s.LinkRow(purpose=purpose, sent=n, opened=opened, open_rate=_ratio(opened, n))
        for purpose, n, opened in await session.execute(
            select(L.purpose, func.count(), func.count(L.used_at))
            .where(*link_where)
            .group_by(L.purpose)
            .order_by(L.purpose)
        )
    ]
    return s.ChannelsReport(period=f.period(), channels=rows, links=links)


async def volume(session: AsyncSession, f: Filters) -> s.VolumeReport:
    rows = await session.execute(
        select(F.hour, func.count()).where(*_facts_where(f)).group_by(F.hour)
    )
    local = LocalHours(f.zone)
    per_day: Counter[date] = Counter()
    cells: Counter[tuple[int, int]] = Counter()
    for hour, n in rows:
        moment = local(hour)
        per_day[moment.date()] += n
        cells[(moment.weekday(), moment.hour)] += n
    return s.VolumeReport(
        period=f.period(),
        total=sum(per_day.values()),
        days=[s.VolumeDay(day=d, conversations=per_day[d]) for d in f.days()],
        heatmap=[
            s.HeatCell(weekday=w, hour=h, conversations=cells[(w, h)])
            for w in range(7)
            for h in range(24)
        ],
    )


MEASURES = {
    "outcomes": outcomes,
    "assistant": assistant,
    "queue": queue,
    "response-times": response_times,
    "sla": sla,
    "operators": operators,
    "satisfaction": satisfaction,
    "channels": channels,
    "volume": volume,
}
