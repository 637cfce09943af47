"""The knowledge base in the database, and the assistant's turn in a conversation."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sportello import audit
from sportello.assistant.engine import Assistant, AssistantReply, build_assistant, canned
from sportello.assistant.intent import detect_intent
from sportello.assistant.kb import Topic, TopicText
from sportello.assistant.llm import LLMSettings, TokenBudget, rewrite_answer
from sportello.assistant.models import KBTopic
from sportello.assistant.text import LANGS
from sportello.conversations import service as conversations
from sportello.conversations.models import ConversationStatus, Message, Sender
from sportello.errors import DomainError, NotFound
from sportello.groupcommit import GroupCommit
from sportello.queue.service import request_handoff
from sportello.runtime import Runtime, VisitorTurn
from sportello.timeutil import utc_now

log = logging.getLogger(__name__)

REPLY_WRITER_KEY = "assistant.reply_writer"
QUICK_REPLY_OPERATOR = {
    "it": {"label": "Parla con un operatore", "text": "Vorrei parlare con un operatore"},
    "en": {"label": "Talk to a person", "text": "I would like to talk to a person"},
}


def topic_from_row(row: KBTopic) -> Topic:
    texts = {
        lang: TopicText(title=t["title"], questions=tuple(t["questions"]), answer=t["answer"])
        for lang, t in row.texts.items()
    }
    return Topic(id=row.id, tags=tuple(row.tags), texts=texts)


def _texts_json(topic: Topic) -> dict[str, Any]:
    return {
        lang: {"title": t.title, "questions": list(t.questions), "answer": t.answer}
        for lang, t in topic.texts.items()
    }


async def load_topics(session: AsyncSession) -> list[Topic]:
    rows = (await session.execute(select(KBTopic).order_by(KBTopic.position, KBTopic.id))).scalars()
    return [topic_from_row(r) for r in rows]


KBVersion = tuple[int, str]


async def kb_version(session: AsyncSession) -> KBVersion:
    """Changes whenever a topic is added, removed or edited."""
    count, latest = (
        await session.execute(select(func.count(KBTopic.id), func.max(KBTopic.updated_at)))
    ).one()
    return int(count), str(latest)


async def replace_topics(
    session: AsyncSession, topics: Sequence[Topic], *, actor_type: str = "system", actor_id: object = None
) -> dict[str, int]:
    """Make the knowledge base exactly `topics` in one unit of work; returns what changed."""
    existing = {r.id: r for r in (await session.execute(select(KBTopic))).scalars()}
    now = utc_now()
    added = updated = 0
    for position, topic in enumerate(topics):
        texts = _texts_json(topic)
        row = existing.pop(topic.id, None)
        if row is None:
            session.add(
                KBTopic(id=topic.id, position=position, tags=list(topic.tags), texts=texts, updated_at=now)
            )
            added += 1
        elif row.texts != texts or row.tags != list(topic.tags) or row.position != position:
            row.texts, row.tags, row.position, row.updated_at = texts, list(topic.tags), position, now
            updated += 1
    removed = len(existing)
    if existing:
        await session.execute(delete(KBTopic).where(KBTopic.id.in_(list(existing))))
    summary = {"added": added, "updated": updated, "removed": removed, "total": len(topics)}
    audit.record(session, "knowledge_base", "kb", "imported", actor_type=actor_type, actor_id=actor_id, data=summary)
    return summary


class AssistantCache:
    """One built Assistant per knowledge-base version, rebuilt off the event loop on change."""

    def __init__(self, default_lang: str, semantic: bool | None, threshold: float | None) -> None:
        self.default_lang = default_lang
        self.semantic = semantic
        self.threshold = threshold
        self._version: KBVersion | None = None
        self._assistant: Assistant | None = None
        self._lock = asyncio.Lock()
        # Questions waiting for or holding the embedder; only the event loop changes it.
        self.embedding_queue = 0

    async def get(self, rt: Runtime) -> Assistant | None:
        async with rt.db.scope() as session:
            version = await kb_version(session)
        return (await self.for_version(rt, version))[1]

    async def latest(self, rt: Runtime) -> tuple[KBVersion, Assistant | None]:
        """The assistant built last and its knowledge-base version (built now if there is none yet)."""
        if self._version is None:
            await self.get(rt)
        assert self._version is not None
        return self._version, self._assistant

    async def for_version(self, rt: Runtime, version: KBVersion) -> tuple[KBVersion, Assistant | None]:
        """The assistant for `version` (read by the caller), or for a later one if the topics changed again."""
        if version == self._version:
            return version, self._assistant
        async with rt.db.scope() as session:
            version = await kb_version(session)
            topics = await load_topics(session)
        async with self._lock:
            if version != self._version:
                self._assistant = (
                    await asyncio.to_thread(
                        build_assistant, topics, self.default_lang, self.threshold, self.semantic
                    )
                    if topics
                    else None
                )
                self._version = version
            return self._version, self._assistant


@dataclass(frozen=True)
class Turn:
    reply: AssistantReply
    message_id: int


def reply_metadata(reply: AssistantReply, in_reply_to: int) -> dict[str, Any]:
    meta: dict[str, Any] = {
        "intent": reply.intent,
        "topic_id": reply.topic_id,
        "confidence": reply.confidence,
        "lang": reply.lang,
        "runners_up": [{"topic_id": r.topic_id, "score": r.score} for r in reply.runners_up],
        "in_reply_to": in_reply_to,
    }
    if reply.intent == "question" and reply.topic_id is None and reply.candidate_topic_id:
        meta["candidate_topic_id"] = reply.candidate_topic_id
    if reply.offer_operator and reply.intent != "operator":
        meta["quick_replies"] = [QUICK_REPLY_OPERATOR.get(reply.lang, QUICK_REPLY_OPERATOR["en"])]
    return meta


@dataclass(frozen=True)
class _ReplyWrite:
    """An assistant reply to store, if the knowledge base is still at `version` (None: nothing to store)."""

    version: KBVersion
    message: conversations.NewMessage | None

    def order(self) -> str:
        return str(self.message.conversation_id) if self.message is not None else ""


@dataclass(frozen=True)
class _Stale:
    """The knowledge base changed since the reply was ranked: rank again on `version`."""

    version: KBVersion


async def _write_replies(
    session: AsyncSession, writes: list[_ReplyWrite]
) -> list[conversations.StoredMessage | _Stale | DomainError | None]:
    """Store the replies ranked on the current knowledge base; one version read for the batch."""
    version = await kb_version(session)
    current = [w.message for w in writes if w.version == version and w.message is not None]
    stored = iter(await conversations.store_messages(session, current))
    return [
        _Stale(version) if w.version != version else None if w.message is None else next(stored)
        for w in writes
    ]


def reply_writer(rt: Runtime) -> GroupCommit[_ReplyWrite, conversations.StoredMessage | _Stale | None]:
    """The process's group commit of assistant replies (a burst of questions shares each transaction)."""
    found = rt.extensions.get(REPLY_WRITER_KEY)
    if found is None:
        found = rt.extensions[REPLY_WRITER_KEY] = GroupCommit(
            rt, "assistant-reply-writer", _write_replies, order=_ReplyWrite.order
        )
    return cast(GroupCommit[_ReplyWrite, conversations.StoredMessage | _Stale | None], found)


async def answer_visitor_message(rt: Runtime, turn: VisitorTurn) -> None:
    """The assistant's turn: answer a visitor message while the conversation is with the bot.

    Runs after the visitor's message is committed, from what that commit saw (status, language,
    body): no read of its own. The reply is stored only if the conversation is still with the
    bot and the knowledge base is still the one it was ranked on (both checked in the reply's
    transaction; after a change it is ranked again). An operator request hands the conversation
    to the handoff step after the assistant's acknowledgement is stored.
    """
    if turn.status != ConversationStatus.BOT:
        return
    cache: AssistantCache = rt.extensions["assistant"]
    version, assistant = await cache.latest(rt)
    while True:
        if assistant is None:
            outcome = await reply_writer(rt).submit(_ReplyWrite(version, None))
            if isinstance(outcome, _Stale):
                version, assistant = await cache.for_version(rt, outcome.version)
                continue
            # No knowledge base yet: nothing to answer from, but a request for a person still counts.
            log.warning("knowledge base is empty; the assistant can only hand off")
            if detect_intent(turn.body).name == "operator":
                await request_handoff(rt, turn.conversation_id, reason="visitor_request")
            return
        reply, shed = await _reply(rt, cache, assistant, turn.body, turn.language)
        answer, llm_meta = reply.answer, dict[str, Any]()
        if rt.settings.llm_base_url and reply.topic_id is not None:
            answer, llm_meta = await _rewrite_with_llm(rt, turn.conversation_id, turn.body, reply, assistant)
        meta = {**reply_metadata(reply, turn.message_id), **llm_meta}
        if shed:
            meta["embeddings"] = "shed"
        message = conversations.NewMessage(
            turn.conversation_id, answer, f"assistant-{turn.message_id}", sender=Sender.ASSISTANT.value,
            status=ConversationStatus.BOT.value, language=reply.lang, meta=meta,
        )
        try:
            outcome = await reply_writer(rt).submit(_ReplyWrite(version, message))
        except NotFound:
            return  # no longer with the bot (an operator or the queue has it): the reply is not sent
        if not isinstance(outcome, _Stale):
            break
        version, assistant = await cache.for_version(rt, outcome.version)
    if reply.intent == "operator":
        # Its own unit of work (never inside an open scope: SQLite has one connection).
        await request_handoff(rt, turn.conversation_id, reason="visitor_request")


async def _reply(
    rt: Runtime, cache: AssistantCache, assistant: Assistant, text: str, lang_hint: str
) -> tuple[AssistantReply, bool]:
    """The assistant's reply, and whether embeddings were skipped because too many queries were queued.

    A query embedding costs ~20 ms of CPU against ~4 ms for the rest of the reply, so a burst
    of questions would queue for the embedder far longer than the answer is worth waiting for.
    """
    limit = rt.settings.assistant_embedding_queue
    semantic = assistant.retriever.semantic
    shed = semantic and 0 < limit <= cache.embedding_queue
    if shed:
        rt.metrics.embeddings_shed.inc()
    embeds = semantic and not shed
    cache.embedding_queue += embeds
    try:
        # Off the event loop: ranking (and the query embedding, which releases the GIL) must not
        # stall every other socket of the process.
        reply = await asyncio.to_thread(assistant.reply, text, lang_hint, not shed)
    except Exception:
        # A fault in ranking must not leave the visitor without any answer: say so, offer a person.
        log.exception("the assistant failed to rank a message; replying that it cannot answer")
        lang = lang_hint if lang_hint in LANGS else assistant.default_lang
        reply = AssistantReply("question", lang, canned("failed", lang), offer_operator=True)
    finally:
        cache.embedding_queue -= embeds
    return reply, shed


async def _rewrite_with_llm(
    rt: Runtime, conversation_id: uuid.UUID, text: str, reply: AssistantReply, assistant: Assistant
) -> tuple[str, dict[str, Any]]:
    """The LLM's rewrite of the retrieved answer, within the conversation's token budget.

    The budget is counted from the tokens recorded on the conversation's earlier assistant
    messages, so it holds across restarts and processes. Any failure keeps the retrieval answer.
    """
    s = rt.settings
    async with rt.db.scope() as session:
        metas = (
            await session.execute(
                select(Message.meta).where(
                    Message.conversation_id == conversation_id, Message.sender == Sender.ASSISTANT.value
                )
            )
        ).scalars()
        used = sum(int(m.get("llm_tokens", 0)) for m in metas if isinstance(m, dict))
    budget = TokenBudget(limit=s.llm_token_budget, used=used)
    ids = [reply.topic_id, *(r.topic_id for r in reply.runners_up[:2])]
    topics = [assistant.topics[i] for i in ids if i in assistant.topics]
    settings = LLMSettings(
        base_url=s.llm_base_url or "", api_key=s.llm_api_key, model=s.llm_model,
        timeout=s.llm_timeout, budget_tokens=s.llm_token_budget,
    )
    try:
        answer, rewritten = await rewrite_answer(settings, budget, text, topics, reply.lang, reply.answer)
    except Exception:
        log.warning("LLM rewrite failed; the retrieval answer stands", exc_info=True)
        return reply.answer, {"llm": "failed"}
    return answer, {"llm": "rewritten" if rewritten else "kept", "llm_tokens": sum(budget.history)}


def install(rt: Runtime) -> None:
    """Make the assistant answer visitor messages in this process."""
    s = rt.settings
    cache = AssistantCache(s.default_language, s.assistant_semantic, s.assistant_threshold)
    rt.extensions["assistant"] = cache
    rt.visitor_message_handlers.append(answer_visitor_message)


async def warm_up(rt: Runtime) -> None:
    """Build the assistant before the first visitor needs it."""
    cache: AssistantCache = rt.extensions["assistant"]
    await cache.get(rt)
