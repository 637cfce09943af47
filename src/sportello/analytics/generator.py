"""A realistic season of history for the reports: `sportello demo --history DAYS`.

Lucine di Natale runs from late November to early January: traffic peaks on December evenings
and weekends, the rest of the year is quiet. Each conversation gets its messages (visitor
questions, assistant answers, operator replies), queue entries, tickets with SLA outcomes,
ratings, notifications and reopen links, written with Core bulk inserts in a few transactions.
The rollups are then built by the same code the reports use (`facts.refresh`).
"""

from __future__ import annotations

import random
import secrets
import time as time_module
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from sportello.analytics import facts
from sportello.assistant.cli import demo_kb_text
from sportello.assistant.kb import load_kb_yaml
from sportello.config import Settings
from sportello.conversations.models import Conversation, Message
from sportello.db import Database
from sportello.notifications.models import ConversationLink, OutboxMessage
from sportello.operators.models import Operator
from sportello.queue.models import QueueEntry
from sportello.sla.clock import DEFAULT_POLICIES
from sportello.tickets.models import Ticket

CHUNK = 5000  # conversations per transaction
MISSED = {
    "it": ["posso portare il drone?", "c'è il wifi gratis?", "fate sconti per i nonni?", "si può fare una proposta di matrimonio?", "vendete vin brulè analcolico?"],
    "en": ["can I fly a drone?", "is there free wifi?", "any discount for grandparents?", "can I propose to my girlfriend there?", "do you sell alcohol-free mulled wine?"],
}
ASK_PERSON = {"it": "vorrei parlare con un operatore", "en": "I'd like to talk to a person"}
OPERATOR_LINES = {
    "it": ["Buonasera, sono qui per aiutarla.", "Ho verificato: è tutto a posto.", "Le invio subito la conferma."],
    "en": ["Good evening, I'm here to help.", "I've checked: everything is fine.", "I'm sending you the confirmation now."],
}
COMMENTS = {
    5: ["Gentilissimi, grazie!", "Very helpful, thank you"],
    4: ["Risposta rapida", "Good, a bit slow at first"],
    3: ["Ok ma ho aspettato molto"],
    2: ["Attesa troppo lunga"],
    1: ["Non hanno risolto il problema"],
}
SEASON_HOURS = [1, 0, 0, 0, 0, 0, 1, 2, 3, 4, 5, 6, 6, 6, 7, 8, 10, 14, 18, 20, 18, 12, 6, 3]
OFF_HOURS = [0, 0, 0, 0, 0, 0, 0, 1, 2, 4, 5, 5, 4, 4, 5, 5, 4, 3, 2, 2, 1, 1, 0, 0]


@dataclass
class Batch:
    conversations: list[dict[str, Any]] = field(default_factory=list)
    messages: list[dict[str, Any]] = field(default_factory=list)
    entries: list[dict[str, Any]] = field(default_factory=list)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    outbox: list[dict[str, Any]] = field(default_factory=list)
    links: list[dict[str, Any]] = field(default_factory=list)


def day_weight(d: date) -> float:
    in_season = (d.month == 11 and d.day >= 22) or d.month == 12 or (d.month == 1 and d.day <= 10)
    if not in_season:
        return 2.0 if d.month in (10, 11) else 1.0
    weight = 18.0 if d.month == 12 else 11.0
    if d.weekday() >= 5 or (d.month, d.day) in ((12, 8), (12, 26), (1, 6)):
        weight *= 1.7
    if (d.month, d.day) in ((12, 24), (12, 25), (12, 31)):
        weight *= 0.4
    return weight


class Generator:
    def __init__(self, db: Database, *, days: int, conversations: int, zone: str, end: date, seed: int) -> None:
        self.db = db
        self.days = days
        self.total = conversations
        self.zone = ZoneInfo(zone)
        self.end = end
        self.rng = random.Random(seed)
        topics = load_kb_yaml(demo_kb_text())
        self.topics = [(t.id, {lang: list(tx.questions) for lang, tx in t.texts.items()}) for t in topics]
        self.operators: list[uuid.UUID] = []
        self.next_message_id = 1
        self.ticket_seq = 0

    async def run(self) -> dict[str, int]:
        counts = {"conversations": 0, "messages": 0, "queue_entries": 0, "tickets": 0, "notifications": 0}
        async with self.db.engine.begin() as conn:
            await self._operators(conn)
            self.next_message_id = int((await conn.scalar(select(func.max(Message.id)))) or 0) + 1
            self.ticket_seq = int((await conn.scalar(select(func.count()).select_from(Ticket))) or 0)
        starts = sorted(self._start_times())
        for offset in range(0, len(starts), CHUNK):
            batch = Batch()
            for started in starts[offset : offset + CHUNK]:
                self._conversation(batch, started)
            async with self.db.engine.begin() as conn:
                await self._write(conn, batch)
            counts["conversations"] += len(batch.conversations)
            counts["messages"] += len(batch.messages)
            counts["queue_entries"] += len(batch.entries)
            counts["tickets"] += len(batch.tickets)
            counts["notifications"] += len(batch.outbox)
        if self.db.engine.dialect.name == "postgresql":
            async with self.db.engine.begin() as conn:
                await conn.execute(text("SELECT setval(pg_get_serial_sequence('messages', 'id'), (SELECT max(id) FROM messages))"))
        counts["facts"] = await facts.refresh(self.db, full=True)
        return counts

    async def _operators(self, conn: AsyncConnection) -> None:
        existing = (await conn.execute(select(Operator.id).where(Operator.email.like("history-%@demo.invalid")))).scalars().all()
        if existing:
            self.operators = list(existing)
            return
        names = ["Giulia Rossi", "Marco Bianchi", "Sara Colombo", "Luca Ferrari", "Elena Romano", "Paolo Greco",
                 "Chiara Conti", "Davide Marino", "Anna Gallo", "Matteo Costa", "Laura Fontana", "Stefano Rizzo"]
        now = datetime.now(UTC)
        rows = []
        for i, name in enumerate(names):
            op_id = uuid.uuid4()
            self.operators.append(op_id)
            rows.append({
                "id": op_id, "email": f"history-{i + 1}@demo.invalid", "name": name,
                "password_hash": "!", "role": "supervisor" if i < 2 else "agent", "tier": 3 if i == 0 else 2 if i < 4 else 1,
                "languages": ["it", "en"] if i % 3 else ["it"], "skills": [], "max_chats": 3, "active": True,
                "presence": "offline", "presence_choice": "online", "presence_changed_at": now,
                "lapsed_offers": 0, "created_at": now, "updated_at": now,
            })
        await conn.execute(insert(_table(Operator)), rows)

    def _start_times(self) -> Iterator[datetime]:
        days = [self.end - timedelta(days=i) for i in range(self.days)]
        chosen = self.rng.choices(days, weights=[day_weight(d) for d in days], k=self.total)
        latest = datetime.now(UTC) - timedelta(hours=2)
        for d in chosen:
            season = day_weight(d) > 2
            hours = SEASON_HOURS if season else OFF_HOURS
            hour = self.rng.choices(range(24), weights=hours)[0]
            local = datetime.combine(d, time(hour), self.zone) + timedelta(seconds=self.rng.randrange(3600))
            moment = local.astimezone(UTC)
            # History is the past: a moment still to come today moves back a day.
            yield moment if moment < latest else moment - timedelta(days=1)

    def _message(self, b: Batch, conv: dict[str, Any], sender: str, body: str, at: datetime, meta: dict[str, Any] | None = None) -> int:
        conv["last_seq"] += 1
        msg_id = self.next_message_id
        self.next_message_id += 1
        b.messages.append({
            "id": msg_id, "conversation_id": conv["id"], "seq": conv["last_seq"], "sender": sender, "body": body,
            "channel": conv["channel"], "created_at": at, "metadata": meta or {}, "client_message_id": None,
        })
        conv["last_activity_at"] = at
        return msg_id

    def _conversation(self, b: Batch, at: datetime) -> None:
        rng = self.rng
        local = at.astimezone(self.zone)
        lang = "it" if rng.random() < 0.8 else "en"
        channel = rng.choices(["web", "whatsapp", "sms", "email"], weights=[85, 8, 3, 4])[0]
        conv: dict[str, Any] = {
            "id": uuid.uuid4(), "token_hash": secrets.token_hex(32), "status": "bot", "language": lang, "channel": channel,
            "page_url": None, "user_agent": None, "customer_ref": None, "last_seq": 0, "created_at": at,
            "updated_at": at, "last_activity_at": at, "operator_id": None, "priority": None,
            "silence_deadline_at": None, "inactivity_deadline_at": None, "rating": None, "rating_comment": None,
        }
        b.conversations.append(conv)
        now = at
        for _ in range(rng.choices([1, 2, 3], weights=[60, 30, 10])[0]):
            now += timedelta(seconds=rng.randint(5, 90))
            if rng.random() < 0.18:
                question, topic, candidate = rng.choice(MISSED[lang]), None, rng.choice(self.topics)[0] if rng.random() < 0.7 else None
                confidence = round(rng.uniform(0.1, 0.45), 3)
            else:
                topic, questions = rng.choices(self.topics, weights=[len(self.topics) - i for i in range(len(self.topics))])[0]
                question, candidate, confidence = rng.choice(questions[lang]), topic, round(rng.uniform(0.55, 0.98), 3)
            qid = self._message(b, conv, "visitor", question, now)
            now += timedelta(seconds=rng.uniform(0.5, 3))
            meta: dict[str, Any] = {"intent": "question", "topic_id": topic, "confidence": confidence, "lang": lang, "runners_up": [], "in_reply_to": qid}
            if topic is None and candidate:
                meta["candidate_topic_id"] = candidate
            self._message(b, conv, "assistant", "…", now, meta)
        if rng.random() >= (0.36 if local.month == 12 else 0.28):
            conv["status"] = "bot"
            conv["updated_at"] = now
            return
        now += timedelta(seconds=rng.randint(5, 60))
        qid = self._message(b, conv, "visitor", ASK_PERSON[lang], now)
        self._message(b, conv, "assistant", "…", now + timedelta(seconds=1), {"intent": "operator", "lang": lang, "in_reply_to": qid})
        now += timedelta(seconds=2)
        priority = rng.choices(["low", "medium", "high", "urgent"], weights=[15, 60, 20, 5])[0]
        conv["priority"] = priority
        if not 9 <= local.hour < 22:
            if rng.random() < 0.8:
                self._ticket(b, conv, now, priority, lang)
            else:
                conv["status"] = "bot"
            conv["updated_at"] = now
            return
        busy = 1.0 + (2.5 if local.month == 12 and local.hour >= 17 else 0.0) + (1.0 if local.weekday() >= 5 else 0.0)
        wait = rng.expovariate(1 / (35 * busy))
        fate = rng.random()
        entry: dict[str, Any] = {
            "id": uuid.uuid4(), "conversation_id": conv["id"], "state": "assigned", "priority": priority, "language": lang,
            "skills": [], "min_tier": 1, "reason": None, "operator_id": None, "target_operator_id": None, "lapsed_by": [],
            "enqueued_at": now, "rank_at": now, "offered_at": None, "offer_deadline_at": None, "wait_deadline_at": None,
            "assigned_at": None, "ended_at": None, "end_reason": None, "published_position": None, "published_wait": None,
            "published_at": None,
        }
        b.entries.append(entry)
        if fate < 0.1 + 0.03 * busy:
            entry.update(state="abandoned", ended_at=now + timedelta(seconds=wait), end_reason="abandoned")
            conv.update(status="bot", updated_at=now + timedelta(seconds=wait))
            return
        if fate < 0.16 + 0.03 * busy:
            gone = now + timedelta(seconds=wait)
            entry.update(state="timed_out", ended_at=gone, end_reason="timed_out")
            self._ticket(b, conv, gone, priority, lang)
            return
        op = rng.choice(self.operators)
        assigned = now + timedelta(seconds=wait)
        entry.update(operator_id=op, assigned_at=assigned, offered_at=assigned)
        t = assigned
        for i in range(rng.randint(1, 3)):
            t += timedelta(seconds=rng.randint(10, 120) if i else rng.randint(5, 40))
            self._message(b, conv, "operator", rng.choice(OPERATOR_LINES[lang]), t, {"operator_id": str(op)})
            t += timedelta(seconds=rng.randint(20, 120))
            self._message(b, conv, "visitor", "ok", t)
        ended = t + timedelta(seconds=rng.randint(10, 60))
        entry.update(ended_at=ended, end_reason="ended")
        conv.update(status="closed", operator_id=op, updated_at=ended)
        if rng.random() < 0.55:
            score = rng.choices([1, 2, 3, 4, 5], weights=[4, 5, 10, 30, 51] if busy < 2 else [8, 10, 17, 30, 35])[0]
            conv["rating"] = score
            if rng.random() < 0.2:
                conv["rating_comment"] = rng.choice(COMMENTS[score])
        if rng.random() < 0.3:
            b.outbox.append(self._notification("push", "chat_offered", lang, now, conv["id"], f"op:{op}"))

    def _ticket(self, b: Batch, conv: dict[str, Any], at: datetime, priority: str, lang: str) -> None:
        rng = self.rng
        self.ticket_seq += 1
        method = rng.choices(["email", "whatsapp", "sms", "phone"], weights=[60, 25, 8, 7])[0]
        policy = DEFAULT_POLICIES[priority]  # type: ignore[index]
        fr_due = at + timedelta(seconds=policy.first_response_seconds * (2.5 if policy.business_hours else 1))
        res_due = at + timedelta(seconds=policy.resolution_seconds * (2.5 if policy.business_hours else 1))
        responded = at + timedelta(seconds=rng.lognormvariate(0, 0.8) * policy.first_response_seconds * 0.8)
        resolved = responded + timedelta(seconds=rng.lognormvariate(0, 0.9) * policy.resolution_seconds * 0.7)
        fr_breach = fr_due if responded > fr_due else None
        res_breach = res_due if resolved > res_due else None
        op = rng.choice(self.operators)
        b.tickets.append({
            "id": uuid.uuid4(), "number": f"HIS-{self.ticket_seq:07d}", "seq": self.ticket_seq,
            "subject": "Richiesta dal sito" if lang == "it" else "Request from the website", "description": "",
            "conversation_id": conv["id"], "status": "closed", "priority": priority, "contact_method": method,
            "email": None, "phone": None, "callback_at": None, "consent_at": at, "language": lang, "customer_ref": None,
            "vip": False, "assignee_id": op, "tier": 2 if (fr_breach or res_breach) and rng.random() < 0.5 else 1,
            "tags": [], "source": "chat", "created_at": at, "updated_at": resolved, "sla_business_hours": policy.business_hours,
            "first_response_seconds": round(policy.first_response_seconds), "resolution_seconds": round(policy.resolution_seconds),
            "sla_pauses": [], "first_responded_at": responded, "resolved_at": resolved, "closed_at": resolved,
            "first_response_due_at": fr_due, "first_response_warn_at": None, "first_response_warned_at": None,
            "first_response_breached_at": fr_breach, "resolution_due_at": res_due, "resolution_warn_at": None,
            "resolution_warned_at": None, "resolution_breached_at": res_breach, "sla_due_at": None, "sla_warn_at": None,
            "sla_check_at": None, "escalations": 1 if fr_breach else 0,
        })
        conv.update(status="ticketed", updated_at=at)
        channel = {"email": "email", "whatsapp": "whatsapp", "sms": "sms", "phone": "sms"}[method]
        b.outbox.append(self._notification(channel, "ticket_opened", lang, at, conv["id"], "customer"))
        b.outbox.append(self._notification("email", "ticket_replied", lang, responded, conv["id"], "customer"))
        b.outbox.append(self._notification("slack", "ticket_assigned", lang, at, conv["id"], "team"))
        b.links.append({
            "nonce": secrets.token_urlsafe(24), "conversation_id": conv["id"], "purpose": "reopen", "created_at": responded,
            "used_at": responded + timedelta(hours=rng.uniform(1, 48)) if rng.random() < 0.22 else None,
        })

    def _notification(self, channel: str, kind: str, lang: str, at: datetime, conv_id: uuid.UUID, to: str) -> dict[str, Any]:
        state = self.rng.choices(["sent", "failed", "dead"], weights={"email": [95, 3, 2], "sms": [90, 7, 3]}.get(channel, [93, 4, 3]))[0]
        return {
            "idempotency_key": f"history:{uuid.uuid4().hex}", "kind": kind, "channel": channel, "recipient": to,
            "language": lang, "payload": {}, "conversation_id": conv_id, "state": state,
            "attempts": 1 if state != "dead" else 8, "next_attempt_at": at, "locked_until": None,
            "last_error": None if state == "sent" else "refused", "provider_message_id": None, "delivery_status": None,
            "created_at": at, "updated_at": at, "sent_at": at if state == "sent" else None,
        }

    async def _write(self, conn: AsyncConnection, b: Batch) -> None:
        for table, rows in (
            (Conversation, b.conversations), (Message, b.messages), (QueueEntry, b.entries),
            (Ticket, b.tickets), (OutboxMessage, b.outbox), (ConversationLink, b.links),
        ):
            if rows:
                await conn.execute(insert(_table(table)), rows)


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


async def generate_history(
    db: Database, *, days: int, conversations: int, timezone: str = "Europe/Rome", end: date | None = None, seed: int = 8
) -> dict[str, int]:
    """Write `conversations` conversations spread over the `days` days ending `end` (default today)."""
    end = end or datetime.now(ZoneInfo(timezone)).date()
    return await Generator(db, days=days, conversations=conversations, zone=timezone, end=end, seed=seed).run()


async def history_command(settings: Settings, days: int, conversations: int | None) -> str:
    """`sportello demo --history DAYS [--conversations N]`: write the history, time it, summarise."""
    db = Database(settings.resolved_database_url)
    started = time_module.perf_counter()
    try:
        n = conversations if conversations is not None else days * 550
        counts = await generate_history(db, days=days, conversations=n, timezone=settings.timezone)
    finally:
        await db.dispose()
    took = time_module.perf_counter() - started
    return f"history: {', '.join(f'{v} {k}' for k, v in counts.items())} in {took:.1f}s"
