"""The one way a visitor's message enters Sportello, whatever the transport."""

from __future__ import annotations

import uuid
from typing import cast

from sportello.conversations.models import ConversationStatus
from sportello.conversations.schemas import MessageCreate, MessageRead
from sportello.conversations.service import NewMessage, StoredMessage, store_messages
from sportello.groupcommit import GroupCommit
from sportello.ratelimit import Limit
from sportello.runtime import Runtime, VisitorTurn

# While an operator has the chat, nothing automated answers the visitor.
WITH_OPERATOR = frozenset({ConversationStatus.ASSIGNED.value, ConversationStatus.LIVE.value})
WRITER_KEY = "conversations.visitor_message_writer"


def writer(rt: Runtime) -> GroupCommit[NewMessage, StoredMessage]:
    """The process's group commit of visitor messages: a burst of them shares each transaction."""
    found = rt.extensions.get(WRITER_KEY)
    if found is None:
        found = rt.extensions[WRITER_KEY] = GroupCommit(
            rt, "visitor-message-writer", store_messages, order=lambda m: str(m.conversation_id)
        )
    return cast(GroupCommit[NewMessage, StoredMessage], found)


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
    stored = await writer(rt).submit(NewMessage(conversation_id, data.body, data.client_message_id, token=token))
    message = stored.message
    if stored.created and stored.conversation_status not in WITH_OPERATOR and rt.visitor_message_handlers:
        turn = VisitorTurn(
            message.conversation_id, message.id, message.body, stored.conversation_status, stored.conversation_language
        )
        rt.spawn(rt.on_visitor_message(turn), name="visitor-message")
    return message, stored.created
