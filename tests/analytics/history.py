"""A small hand-made history whose report figures are known (see test_reports.py)."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from sportello.conversations.models import Conversation, Message
from sportello.notifications.models import ConversationLink, OutboxMessage
from sportello.queue.models import QueueEntry
from sportello.runtime import Runtime
from sportello.tickets.models import Ticket

_ids = itertools.count(1)


def at(text: str) -> datetime:
    """A UTC instant from 'YYYY-MM-DD HH:MM[:SS]'."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class History:
    """Collects rows, then writes them in one transaction."""

    def __init__(self) -> None:
        self.rows: dict[Any, list[dict[str, Any]]] = {
            Conversation: [], Message: [], QueueEntry: [], Ticket: [], OutboxMessage: [], ConversationLink: [],
        }
        self.seq: dict[uuid.UUID, int] = {}

    def conversation(self, created: str, *, channel: str = "web", language: str = "it", **extra: Any) -> uuid.UUID:
        cid = uuid.uuid4()
        when = at(created)
        self.rows[Conversation].append({
            "id": cid, "token_hash": "0" * 64, "status": "bot", "language": language, "channel": channel,
            "created_at": when, "updated_at": when, "last_activity_at": when, "last_seq": 0,
            "operator_id": None, "priority": None, "rating": None, "rating_comment": None, **extra,
        })
        self.seq[cid] = 0
        return cid

    def message(self, cid: uuid.UUID, sender: str, when: str, body: str = "…", **meta: Any) -> int:
        self.seq[cid] += 1
        msg_id = next(_ids)
        self.rows[Message].append({
            "id": msg_id, "conversation_id": cid, "seq": self.seq[cid], "sender": sender, "body": body,
            "channel": "web", "created_at": at(when), "metadata": meta,
        })
        return msg_id

    def question(self, cid: uuid.UUID, when: str, body: str, *, topic: str | None, candidate: str | None = None) -> None:
        qid = self.message(cid, "visitor", when, body)
        meta: dict[str, Any] = {"intent": "question", "topic_id": topic, "confidence": 0.9 if topic else 0.2, "lang": "it", "in_reply_to": qid}
        if candidate:
            meta["candidate_topic_id"] = candidate
        self.message(cid, "assistant", when, "answer", **meta)

    def ask_person(self, cid: uuid.UUID, when: str) -> None:
        qid = self.message(cid, "visitor", when, "operatore")
        self.message(cid, "assistant", when, "…", intent="operator", in_reply_to=qid)

    def entry(self, cid: uuid.UUID, enqueued: str, *, state: str, priority: str = "medium", language: str = "it",
              operator_id: uuid.UUID | None = None, wait: float = 0, handle: float | None = None) -> None:
        start = at(enqueued)
        assigned = start + timedelta(seconds=wait) if operator_id else None
        ended = (assigned + timedelta(seconds=handle)) if assigned and handle is not None else (None if assigned else start + timedelta(seconds=wait))
        self.rows[QueueEntry].append({
            "id": uuid.uuid4(), "conversation_id": cid, "state": state, "priority": priority, "language": language,
            "skills": [], "lapsed_by": [], "min_tier": 1, "operator_id": operator_id, "enqueued_at": start,
            "rank_at": start, "assigned_at": assigned, "ended_at": ended, "end_reason": state,
        })

    def ticket(self, cid: uuid.UUID | None, created: str, *, priority: str, tier: int = 1, assignee: uuid.UUID | None = None,
               responded_after: float | None = None, resolved_after: float | None = None,
               fr_breached: bool = False, res_breached: bool = False, contact_method: str = "email", language: str = "it") -> None:
        start = at(created)
        n = len(self.rows[Ticket]) + 1

        def later(seconds: float | None) -> datetime | None:
            return None if seconds is None else start + timedelta(seconds=seconds)

        self.rows[Ticket].append({
            "id": uuid.uuid4(), "number": f"T-{uuid.uuid4().hex[:8]}", "seq": n, "subject": "s", "description": "",
            "conversation_id": cid, "status": "open", "priority": priority, "contact_method": contact_method,
            "language": language, "vip": False, "assignee_id": assignee, "tier": tier, "tags": [], "source": "chat",
            "created_at": start, "updated_at": start, "sla_business_hours": False, "first_response_seconds": 60,
            "resolution_seconds": 3600, "sla_pauses": [], "first_responded_at": later(responded_after),
            "resolved_at": later(resolved_after), "first_response_breached_at": start if fr_breached else None,
            "resolution_breached_at": start if res_breached else None, "escalations": 0,
        })

    def notification(self, channel: str, state: str, created: str, language: str = "it") -> None:
        when = at(created)
        self.rows[OutboxMessage].append({
            "idempotency_key": uuid.uuid4().hex, "kind": "ticket_opened", "channel": channel, "recipient": "x",
            "language": language, "payload": {}, "state": state, "attempts": 1, "next_attempt_at": when,
            "created_at": when, "updated_at": when,
        })

    def link(self, cid: uuid.UUID, created: str, *, opened: bool) -> None:
        when = at(created)
        self.rows[ConversationLink].append({
            "nonce": uuid.uuid4().hex, "conversation_id": cid, "purpose": "reopen", "created_at": when,
            "used_at": when + timedelta(hours=1) if opened else None,
        })

    async def write(self, rt: Runtime) -> None:
        async with rt.db.engine.begin() as conn:
            for model, rows in self.rows.items():
                if rows:
                    await conn.execute(insert(model.__table__), rows)
