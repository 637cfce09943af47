"""The one way a visitor's message enters Sportello, whatever the transport."""

from __future__ import annotations

import uuid

from sportello.conversations.models import Sender
from sportello.conversations.schemas import MessageCreate, MessageRead
from sportello.conversations.service import append_message, get_for_visitor
from sportello.runtime import Runtime


async def receive_visitor_message(
    rt: Runtime, conversation_id: uuid.UUID | str, token: str | None, data: MessageCreate
) -> tuple[MessageRead, bool]:
    """Store the message (once per client id), publish it, then hand it to the assistant.

    The message is committed before anyone hears of it; the assistant and handoff run
    afterwards in their own unit of work, so a slow answer never delays the acknowledgement.
    """
    async with rt.db.scope() as session:
        conv = await get_for_visitor(session, conversation_id, token)
        message, created = await append_message(
            session,
            conv,
            sender=Sender.VISITOR,
            body=data.body,
            client_message_id=data.client_message_id,
        )
        read = MessageRead.model_validate(message)
    if created and rt.visitor_message_handlers:
        rt.spawn(rt.on_visitor_message(read.conversation_id, read.id), name="visitor-message")
    return read, created
