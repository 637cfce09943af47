"""Queue, handoff and live-chat endpoints (operators by session, visitors by conversation token)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from sqlalchemy import select

from sportello.conversations import service as conversations
from sportello.conversations.schemas import MessageRead
from sportello.deps import BearerToken, RuntimeDep
from sportello.operators.deps import CurrentOperator, CurrentSupervisor
from sportello.queue import live, routing, service
from sportello.queue.models import CannedReply
from sportello.queue.schemas import (
    CannedReplyCreate,
    CannedReplyRead,
    ChatRead,
    HandoffRead,
    HandoffRequest,
    LeaveQueue,
    NoteCreate,
    NoteRead,
    QueueItem,
    RatingCreate,
    TransferRequest,
)
from sportello.timeutil import utc_now

router = APIRouter(tags=["queue and live chat"])
CONV = "/api/v1/conversations/{conversation_id}"
NOT_YOURS: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown conversation, or not your live chat."}}


@router.get("/api/v1/queue", response_model=list[QueueItem])
async def read_queue(rt: RuntimeDep, _: CurrentOperator) -> list[QueueItem]:
    """The waiting conversations in routing order, with their estimated waits."""
    now = utc_now()
    async with rt.db.scope() as session:
        snap = await service.snapshot(session, rt.settings, now)
    return [
        QueueItem(
            conversation_id=e.conversation_id, position=i + 1, priority=e.priority, language=e.language,
            reason=e.reason, skills=list(e.skills or ()), min_tier=e.min_tier, enqueued_at=e.enqueued_at,
            waited_seconds=int((now - e.enqueued_at).total_seconds()), estimated_wait_seconds=snap.waits[i],
        )
        for i, e in enumerate(snap.entries)
    ]


@router.post(
    f"{CONV}/accept",
    response_model=ChatRead,
    responses={404: {"description": "Not offered to you."}, 409: {"description": "Already accepted."}},
)
async def accept(rt: RuntimeDep, principal: CurrentOperator, conversation_id: str) -> ChatRead:
    """Accept the conversation offered to you (within the initial-response time)."""
    async with rt.db.scope() as session:
        conv = await routing.accept(session, rt.settings, conversation_id, principal, utc_now())
        return ChatRead.model_validate(conv, from_attributes=True)


@router.post(f"{CONV}/handoff", response_model=HandoffRead, responses={404: {"description": "Unknown conversation or wrong token."}})
async def handoff(rt: RuntimeDep, conversation_id: str, token: BearerToken, data: HandoffRequest | None = None) -> HandoffRead:
    """The visitor asks for a person (the widget's button; the assistant does the same)."""
    async with rt.db.scope() as session:
        conv = await conversations.get_for_visitor(session, conversation_id, token)
    outcome = await service.request_handoff(rt, conv.id, reason=(data or HandoffRequest()).reason)
    return HandoffRead(
        outcome=outcome.outcome,
        status=outcome.status, position=outcome.position,
        estimated_wait_seconds=outcome.estimated_wait_seconds, next_opening=outcome.next_opening,
    )


@router.post(f"{CONV}/queue/keep-waiting", status_code=status.HTTP_204_NO_CONTENT)
async def keep_waiting(rt: RuntimeDep, conversation_id: str, token: BearerToken) -> None:
    """After the wait time-out: stay in the queue (the wait clock restarts)."""
    async with rt.db.scope() as session:
        conv = await conversations.get_for_visitor(session, conversation_id, token)
        await service.keep_waiting(rt, conv, session, utc_now())


@router.post(f"{CONV}/queue/leave", status_code=status.HTTP_204_NO_CONTENT)
async def leave_queue(rt: RuntimeDep, conversation_id: str, token: BearerToken, data: LeaveQueue | None = None) -> None:
    """Leave the queue (recorded as abandonment), or leave a contact instead (`leave_contact`)."""
    async with rt.db.scope() as session:
        conv = await conversations.get_for_visitor(session, conversation_id, token)
        await service.leave_queue(rt, session, conv, leave_contact=(data or LeaveQueue()).leave_contact, now=utc_now())
    await routing.dispatch(rt)


@router.post(f"{CONV}/rating", status_code=status.HTTP_204_NO_CONTENT, responses={409: {"description": "Not an ended chat, or rated already."}})
async def rate(rt: RuntimeDep, conversation_id: str, token: BearerToken, data: RatingCreate) -> None:
    """The visitor rates the ended chat, 1-5 with an optional comment."""
    async with rt.db.scope() as session:
        conv = await conversations.get_for_visitor(session, conversation_id, token)
        await live.rate(session, conv, data.rating, data.comment)


@router.post(f"{CONV}/notes", response_model=NoteRead, status_code=status.HTTP_201_CREATED, responses=NOT_YOURS)
async def add_note(rt: RuntimeDep, principal: CurrentOperator, conversation_id: str, data: NoteCreate) -> NoteRead:
    """An internal note on your chat: operators see it, the visitor never does."""
    return NoteRead.model_validate(await live.add_note(rt, conversation_id, principal, data.body))


@router.get(f"{CONV}/notes", response_model=list[NoteRead], responses=NOT_YOURS)
async def list_notes(rt: RuntimeDep, principal: CurrentOperator, conversation_id: str) -> list[NoteRead]:
    async with rt.db.scope() as session:
        conv = await live.get_conversation_for_staff(session, conversation_id, principal)
        return [NoteRead.model_validate(n) for n in await live.list_notes(session, conv.id)]


@router.post(f"{CONV}/typing", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_YOURS)
async def typing(rt: RuntimeDep, principal: CurrentOperator, conversation_id: str) -> None:
    """Show the visitor that you are typing."""
    await live.operator_typing(rt, conversation_id, principal)


@router.post(f"{CONV}/transfer", status_code=status.HTTP_204_NO_CONTENT, responses={**NOT_YOURS, 409: {"description": "Target operator not free."}})
async def transfer(rt: RuntimeDep, principal: CurrentOperator, conversation_id: str, data: TransferRequest) -> None:
    """Transfer your chat to an operator (offered to them) or to a tier (queued, high priority)."""
    await live.transfer(rt, conversation_id, principal, operator_id=data.operator_id, tier=data.tier)


@router.post(f"{CONV}/end", status_code=status.HTTP_204_NO_CONTENT, responses=NOT_YOURS)
async def end(rt: RuntimeDep, principal: CurrentOperator, conversation_id: str) -> None:
    """End your chat; the visitor is asked for a rating."""
    await live.end_chat(rt, conversation_id, principal)


@router.get("/api/v1/operator/chats", response_model=list[ChatRead], tags=["operator"])
async def my_chats(rt: RuntimeDep, principal: CurrentOperator) -> list[ChatRead]:
    """Your offered and live chats."""
    async with rt.db.scope() as session:
        return [ChatRead.model_validate(c, from_attributes=True) for c in await live.chats_of(session, principal.id)]


@router.get("/api/v1/operator/chats/{conversation_id}/messages", response_model=list[MessageRead], tags=["operator"], responses=NOT_YOURS)
async def chat_messages(
    rt: RuntimeDep,
    principal: CurrentOperator,
    conversation_id: str,
    after: Annotated[int, Query(ge=0)] = 0,
) -> list[MessageRead]:
    """Messages of a chat you hold (supervisors: any conversation), after sequence `after`."""
    async with rt.db.scope() as session:
        conv = await live.get_conversation_for_staff(session, conversation_id, principal)
        rows = await conversations.list_messages(session, conv.id, after=after, limit=1000)
        return [MessageRead.model_validate(m) for m in rows]


@router.get("/api/v1/canned-replies", response_model=list[CannedReplyRead], tags=["operator"])
async def canned_replies(rt: RuntimeDep, _: CurrentOperator, language: str | None = None) -> list[CannedReplyRead]:
    async with rt.db.scope() as session:
        stmt = select(CannedReply).order_by(CannedReply.shortcut)
        if language:
            stmt = stmt.where(CannedReply.language == language)
        return [CannedReplyRead.model_validate(r) for r in (await session.execute(stmt)).scalars()]


@router.post("/api/v1/canned-replies", response_model=CannedReplyRead, status_code=status.HTTP_201_CREATED, tags=["operator"])
async def add_canned_reply(rt: RuntimeDep, _: CurrentSupervisor, data: CannedReplyCreate) -> CannedReplyRead:
    """Add a canned reply (supervisors and admins)."""
    async with rt.db.scope() as session:
        row = CannedReply(**data.model_dump(), created_at=utc_now())
        session.add(row)
        await session.flush()
        return CannedReplyRead.model_validate(row)

