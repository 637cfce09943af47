"""Small read endpoints the dashboard needs and the domain APIs do not offer (yet).

Each calls the owning domain's service and its access function; nothing here writes.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from sportello.conversations import service as conversations
from sportello.conversations.schemas import MessageRead
from sportello.deps import RuntimeDep
from sportello.operators import service as operators
from sportello.operators.deps import CurrentOperator
from sportello.operators.schemas import OperatorRead
from sportello.queue import live
from sportello.tickets import service as tickets

router = APIRouter(prefix="/api/v1/dashboard", tags=["dashboard"])


class DashboardSettings(BaseModel):
    queue_wait_seconds: float
    initial_response_seconds: float
    sla_warn_ratio: float
    languages: list[str]


class DashboardSession(BaseModel):
    operator: OperatorRead
    csrf_token: str
    settings: DashboardSettings


class Colleague(BaseModel):
    """What every operator may know of another: enough to transfer a chat or assign a ticket."""

    id: uuid.UUID
    name: str
    role: str
    tier: int
    languages: list[str]
    presence: str
    active: bool


class ConversationSummary(BaseModel):
    id: uuid.UUID
    status: str
    language: str
    channel: str
    priority: str | None
    customer_ref: str | None
    page_url: str | None
    created_at: datetime
    last_activity_at: datetime


@router.get("/session", response_model=DashboardSession)
async def session_info(rt: RuntimeDep, principal: CurrentOperator) -> DashboardSession:
    """The logged-in operator, the CSRF token of this cookie session, and the numbers the UI shows."""
    async with rt.db.scope() as session:
        op = await operators.get_operator(session, principal.id)
        read = OperatorRead.model_validate(op)
    s = rt.settings
    return DashboardSession(
        operator=read,
        csrf_token=operators.csrf_token(s.resolved_secret_key(), principal.token_hash),
        settings=DashboardSettings(
            queue_wait_seconds=s.queue_wait_seconds,
            initial_response_seconds=s.initial_response_seconds,
            sla_warn_ratio=s.sla_warn_ratio,
            languages=list(s.languages),
        ),
    )


@router.get("/colleagues", response_model=list[Colleague])
async def colleagues(rt: RuntimeDep, _: CurrentOperator) -> list[Colleague]:
    """Active operators with their presence (for transfers and ticket assignment)."""
    async with rt.db.scope() as session:
        return [Colleague.model_validate(op, from_attributes=True) for op in await operators.list_operators(session) if op.active]


@router.get("/conversations/{conversation_id}", response_model=ConversationSummary)
async def conversation_summary(rt: RuntimeDep, principal: CurrentOperator, conversation_id: str) -> ConversationSummary:
    """A conversation the operator holds or held (supervisors: any): channel, page, customer."""
    async with rt.db.scope() as session:
        conv = await live.get_conversation_for_staff(session, conversation_id, principal)
        return ConversationSummary.model_validate(conv, from_attributes=True)


@router.get("/tickets/{number}/messages", response_model=list[MessageRead])
async def ticket_messages(rt: RuntimeDep, principal: CurrentOperator, number: str) -> list[MessageRead]:
    """The whole conversation behind a ticket the operator may see (empty without one)."""
    async with rt.db.scope() as session:
        ticket = await tickets.get_for_operator(session, principal, number)
        if ticket.conversation_id is None:
            return []
        rows = await conversations.list_messages(session, ticket.conversation_id, limit=2000)
        return [MessageRead.model_validate(m) for m in rows]
