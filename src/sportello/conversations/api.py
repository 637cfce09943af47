"""Public widget API: conversations and their messages."""

from __future__ import annotations

from typing import Annotated, Any, cast

from fastapi import APIRouter, Query, Request, Response, status

from sportello.conversations import service
from sportello.conversations.intake import receive_visitor_message
from sportello.conversations.schemas import (
    ConversationCreate,
    ConversationCreated,
    ConversationRead,
    MessageCreate,
    MessageRead,
    OperatorName,
    QueueStatus,
)
from sportello.deps import BearerToken, RuntimeDep, preferred_language
from sportello.groupcommit import GroupCommit
from sportello.operators.service import authenticated_operator
from sportello.privacy.identity import verified_customer_ref
from sportello.queue import service as queue_service
from sportello.queue.live import send_operator_message
from sportello.ratelimit import Limit
from sportello.runtime import Runtime

router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])

CREATOR_KEY = "conversations.creator"
NOT_FOUND_DOC: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown conversation or wrong token (never says which)."}}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ConversationCreated,
    responses={429: {"description": "Too many new conversations from this address (Retry-After)."}},
)
async def create_conversation(
    rt: RuntimeDep, request: Request, data: ConversationCreate | None = None
) -> ConversationCreated:
    """Open a conversation; the response carries its secret token, shown only this once."""
    data = data or ConversationCreate()
    address = request.client.host if request.client else "unknown"
    await rt.limiter.check(
        Limit("conversations-per-address", rt.settings.limit_conversations_per_address_hour, 3600),
        address,
        "too many new conversations from this address; please try again later",
    )
    lang = preferred_language(request, rt.settings.languages, rt.settings.default_language)
    # Only a reference the shop signed is stored: a typed-in one would open someone else's identity.
    ref = verified_customer_ref(rt.settings.widget_identity_secret, data.customer_ref, data.customer_hmac)
    data = data.model_copy(update={"customer_ref": ref, "customer_hmac": None})
    read, token = await creator(rt).submit(
        service.NewConversation(data, lang, request.headers.get("user-agent"))
    )
    return ConversationCreated(**read.model_dump(), token=token)


def creator(rt: Runtime) -> GroupCommit[service.NewConversation, tuple[ConversationRead, str]]:
    """The process's group commit of new widget conversations: a burst of visitors shares each insert."""
    found = rt.extensions.get(CREATOR_KEY)
    if found is None:
        found = rt.extensions[CREATOR_KEY] = GroupCommit(rt, "conversation-creator", service.create_conversations)
    return cast(GroupCommit[service.NewConversation, tuple[ConversationRead, str]], found)


@router.get("/{conversation_id}", response_model=ConversationRead, responses=NOT_FOUND_DOC)
async def read_conversation(
    rt: RuntimeDep, conversation_id: str, token: BearerToken
) -> ConversationRead:
    """The conversation's state, with `Authorization: Bearer <token>`."""
    async with rt.db.scope() as session:
        conv = await service.get_for_visitor(session, conversation_id, token)
        read = ConversationRead.model_validate(conv, from_attributes=True)
        view = await queue_service.queue_view(session, rt.settings, conv)
        operator = await queue_service.operator_view(session, conv)
        read.queue = QueueStatus.model_validate(view) if view else None
        read.operator = OperatorName.model_validate(operator) if operator else None
        return read


@router.post(
    "/{conversation_id}/messages",
    status_code=status.HTTP_201_CREATED,
    response_model=MessageRead,
    responses={
        **NOT_FOUND_DOC,
        200: {"description": "A retry with a known `client_message_id`: the stored message."},
        413: {"description": "Request body larger than the limit."},
        429: {"description": "Too many messages in a minute (Retry-After)."},
        422: {"description": "Blank body, body over the maximum length, or a bad field."},
    },
)
async def post_message(
    rt: RuntimeDep,
    conversation_id: str,
    data: MessageCreate,
    token: BearerToken,
    response: Response,
) -> MessageRead:
    """Send a message; a retried send with the same `client_message_id` is stored once.

    With the conversation's token it is the visitor's message. With an operator's session
    token it is that operator's message, accepted only in their own live chat (else 404).
    """
    operator = await authenticated_operator(rt, token)
    if operator is not None:
        message, created = await send_operator_message(rt, conversation_id, operator, data)
    else:
        message, created = await receive_visitor_message(rt, conversation_id, token, data)
    if not created:
        response.status_code = status.HTTP_200_OK
    return message


@router.get("/{conversation_id}/messages", response_model=list[MessageRead], responses=NOT_FOUND_DOC)
async def list_messages(
    rt: RuntimeDep,
    conversation_id: str,
    token: BearerToken,
    after: Annotated[int, Query(ge=0, description="Return messages with sequence > after.")] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 500,
) -> list[MessageRead]:
    """Messages after sequence number `after`, oldest first."""
    async with rt.db.scope() as session:
        conv = await service.get_for_visitor(session, conversation_id, token)
        rows = await service.list_messages(session, conv.id, after=after, limit=limit)
        return [MessageRead.model_validate(m) for m in rows]
