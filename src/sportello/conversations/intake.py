"""The one way a visitor's message enters Sportello, whatever the transport."""

from __future__ import annotations

import asyncio
import logging
import uuid
from dataclasses import dataclass, field

from sportello.conversations.models import ConversationStatus
from sportello.conversations.schemas import MessageCreate, MessageRead
from sportello.conversations.service import StoredMessage, VisitorMessage, store_visitor_messages
from sportello.errors import DomainError
from sportello.ratelimit import Limit
from sportello.runtime import Runtime

log = logging.getLogger(__name__)

# While an operator has the chat, nothing automated answers the visitor.
WITH_OPERATOR = frozenset({ConversationStatus.ASSIGNED.value, ConversationStatus.LIVE.value})
WRITER_KEY = "conversations.visitor_message_writer"
BATCH = 128


@dataclass
class _Pending:
    conversation_id: uuid.UUID | str
    token: str | None
    data: MessageCreate
    result: asyncio.Future[StoredMessage] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    def sort_key(self) -> str:
        return str(self.conversation_id)


class VisitorMessageWriter:
    """Group commit: visitor messages arriving together are stored in one transaction.

    Under load most of a message's cost was the unit of work around it (session, pool
    checkout, commit, each a round trip to the database thread or server), not its two
    statements; sharing one commit among the messages that queued up meanwhile keeps the
    latency of a lone message unchanged and divides that cost under a burst. A message is
    still committed before anyone hears of it. Rows are locked in conversation order so two
    processes' batches never deadlock; a batch that fails for any reason other than a
    message's own domain error is retried one message per transaction.
    """

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._queue: list[_Pending] = []
        self._task: asyncio.Task[None] | None = None

    async def store(self, conversation_id: uuid.UUID | str, token: str | None, data: MessageCreate) -> StoredMessage:
        item = _Pending(conversation_id, token, data)
        self._queue.append(item)
        if self._task is None:
            self._task = self.rt.spawn(self._drain(), name="visitor-message-writer")
        return await item.result

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
                try:
                    await self._write(sorted(batch, key=_Pending.sort_key))
                except asyncio.CancelledError:
                    for item in batch:
                        item.result.cancel()
                    raise
        finally:
            self._task = None
            for item in self._queue:
                item.result.cancel()
            self._queue = []

    async def _write(self, batch: list[_Pending]) -> None:
        try:
            async with self.rt.db.scope() as session:
                outcomes = await store_visitor_messages(
                    session,
                    [VisitorMessage(i.conversation_id, i.token, i.data.body, i.data.client_message_id) for i in batch],
                )
        except Exception as exc:
            if len(batch) == 1:
                batch[0].result.set_exception(exc)
                return
            log.warning("message batch failed; storing one by one", extra={"size": len(batch)})
            for item in batch:
                await self._write([item])
            return
        for item, outcome in zip(batch, outcomes, strict=True):
            if item.result.done():
                continue
            if isinstance(outcome, DomainError):
                item.result.set_exception(outcome)
            else:
                item.result.set_result(outcome)


def writer(rt: Runtime) -> VisitorMessageWriter:
    found = rt.extensions.get(WRITER_KEY)
    if found is None:
        found = rt.extensions[WRITER_KEY] = VisitorMessageWriter(rt)
    assert isinstance(found, VisitorMessageWriter)
    return found


async def receive_visitor_message(
    rt: Runtime, conversation_id: uuid.UUID | str, token: str | None, data: MessageCreate
) -> tuple[MessageRead, bool]:
    """Store the message (once per client id), publish it, then hand it to the automated steps.

    The message is committed before anyone hears of it; the assistant (or contact collection)
    runs afterwards in its own unit of work, so a slow answer never delays the acknowledgement.
    A wrong token or unknown conversation is NotFound.
    """
    await rt.limiter.check(
        Limit("messages-per-conversation", rt.settings.limit_messages_per_conversation_minute, 60),
        str(conversation_id),
        "too many messages in a minute; please slow down",
    )
    stored = await writer(rt).store(conversation_id, token, data)
    message = stored.message
    if stored.created and stored.conversation_status not in WITH_OPERATOR and rt.visitor_message_handlers:
        rt.spawn(rt.on_visitor_message(message.conversation_id, message.id), name="visitor-message")
    return message, stored.created
