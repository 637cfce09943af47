"""The one way a visitor's message enters Sportello, whatever the transport."""

from __future__ import annotations

import uuid

from sportello.conversations.models import ConversationStatus, Sender
from sportello.conversations.schemas import MessageCreate, MessageRead
from sportello.conversations.service import store_message, visitor_access
from sportello.ratelimit import Limit
from sportello.runtime import Runtime

# While an operator has the chat, nothing automated answers the visitor.
WITH_OPERATOR = frozenset({ConversationStatus.ASSIGNED.value, ConversationStatus.LIVE.value})


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
    async with rt.db.scope() as session:
        stored = await store_message(
            session,
            visitor_access(conversation_id, token),
            sender=Sender.VISITOR,
            body=data.body,
            client_message_id=data.client_message_id,
        )
    message = stored.message
    if stored.created and stored.conversation_status not in WITH_OPERATOR and rt.visitor_message_handlers:
        rt.spawn(rt.on_visitor_message(message.conversation_id, message.id), name="visitor-message")
    return message, stored.created
