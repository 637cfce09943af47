"""Ticket API for operators, VIP list for admins, and the widget's contact form."""

from __future__ import annotations

from typing import Annotated, Any, get_args

from fastapi import APIRouter, Query, Request, status
from fastapi.responses import JSONResponse, Response

from sportello.conversations import contact
from sportello.deps import BearerToken, RuntimeDep
from sportello.errors import InvalidInput
from sportello.operators.deps import CurrentAdmin, CurrentOperator, CurrentSupervisor
from sportello.sla import service as sla
from sportello.tickets import service
from sportello.tickets.contactinfo import (
    ContactError,
    check_callback_slot,
    check_email,
    check_phone,
)
from sportello.tickets.schemas import (
    ContactAccepted,
    ContactOptionsRead,
    ContactRejected,
    ContactSubmit,
    HistoryEntry,
    NoteCreate,
    NoteRead,
    PriorityName,
    ReplyCreate,
    SlaStateName,
    SortKey,
    Status,
    TicketCreate,
    TicketPage,
    TicketRead,
    TicketTierChange,
    TicketUpdate,
    VipCustomerCreate,
    VipCustomerRead,
)

router = APIRouter(prefix="/api/v1/tickets", tags=["tickets"])
vip_router = APIRouter(prefix="/api/v1/vip-customers", tags=["tickets"])
contact_router = APIRouter(prefix="/api/v1/conversations", tags=["conversations"])

NOT_FOUND_DOC: dict[int | str, dict[str, Any]] = {
    404: {"description": "No such ticket, or not one this operator may see (never says which)."}
}
AUTH_DOC: dict[int | str, dict[str, Any]] = {
    401: {"description": "Not logged in."},
    422: {"description": "A field is wrong; the message names it."},
}


def _split(value: str | None, allowed: tuple[str, ...], name: str) -> list[str]:
    if not value:
        return []
    parts = [p.strip() for p in value.split(",") if p.strip()]
    for part in parts:
        if part not in allowed:
            raise InvalidInput(f"{name}: {part!r} is not one of {', '.join(allowed)}")
    return parts


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=TicketRead,
    responses={**AUTH_DOC, 404: {"description": "Unknown conversation."}},
)
async def create_ticket(rt: RuntimeDep, principal: CurrentOperator, data: TicketCreate) -> TicketRead:
    """Open a ticket: from a chat (`conversation_id`) or directly, e.g. for a phone call.

    The contact details required depend on `contact_method`: `email` needs `email`; `whatsapp`
    and `sms` need a mobile `phone`; `phone` needs `phone` (and may give `callback_at`); `chat`
    needs `conversation_id`. Phone numbers are stored in E.164 (default region IT).
    """
    now = contact.clock(rt)
    config = sla.sla_config(rt.settings)
    email = phone = None
    if data.contact_method == "email" and not data.email:
        raise InvalidInput("email: required when contact_method is email")
    if data.contact_method in ("whatsapp", "sms", "phone") and not data.phone:
        raise InvalidInput(f"phone: required when contact_method is {data.contact_method}")
    try:
        email = check_email(data.email, "en") if data.email else None
    except ContactError as exc:
        raise InvalidInput(f"email: {exc}") from None
    try:
        mobile = data.contact_method in ("whatsapp", "sms")
        phone = check_phone(data.phone, "en", mobile=mobile) if data.phone else None
    except ContactError as exc:
        raise InvalidInput(f"phone: {exc}") from None
    if data.callback_at is not None and data.contact_method != "phone":
        raise InvalidInput("callback_at: a call-back time is only for contact_method phone")
    if data.callback_at is not None:
        try:
            check_callback_slot(
                data.callback_at, config.calendar, now, "en",
                horizon_days=rt.settings.callback_horizon_days,
            )
        except ContactError as exc:
            raise InvalidInput(f"callback_at: {exc}") from None
    if data.contact_method == "chat" and data.conversation_id is None:
        raise InvalidInput("conversation_id: required when contact_method is chat")
    if data.conversation_id is None and not data.subject:
        raise InvalidInput("subject: required when the ticket has no conversation")
    draft = service.NewTicket(
        contact_method=data.contact_method,
        subject=data.subject,
        description=data.description,
        conversation_id=data.conversation_id,
        priority=data.priority,
        email=email,
        phone=phone,
        callback_at=data.callback_at,
        customer_ref=data.customer_ref,
        language=data.language,
        tags=data.tags,
        assignee_id=data.assignee_id,
        source="operator",
    )
    async with rt.db.scope() as session:
        ticket = await service.create_ticket(
            session, rt.settings, draft, actor_type="operator", actor_id=principal.id, now=now
        )
        return service.to_read(ticket, now)


@router.get("", response_model=TicketPage, responses=AUTH_DOC)
async def list_tickets(
    rt: RuntimeDep,
    principal: CurrentOperator,
    status_: Annotated[
        str | None,
        Query(alias="status", description="One or more of " + ", ".join(get_args(Status)) + ", comma-separated."),
    ] = None,
    priority: Annotated[
        str | None, Query(description="One or more of low, medium, high, urgent, comma-separated.")
    ] = None,
    assignee: Annotated[
        str | None, Query(description="An operator id, `me`, or `none` (unassigned).")
    ] = None,
    tier: Annotated[int | None, Query(ge=1, le=3)] = None,
    tag: Annotated[str | None, Query(max_length=40)] = None,
    sla_state: SlaStateName | None = None,
    callback: Annotated[
        bool | None, Query(description="`true`: only phone call-backs with a promised slot.")
    ] = None,
    q: Annotated[
        str | None,
        Query(max_length=200, description="Text in the number, subject, description or messages."),
    ] = None,
    sort: Annotated[
        SortKey,
        Query(description="`-created_at` (newest first, default), `priority` (urgent first), "
              "`sla_due_at` (soonest due first), `callback_at` (soonest promised call-back first), "
              "`created_at`, `updated_at`, `-updated_at`."),
    ] = "-created_at",
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> TicketPage:
    """The tickets this operator may see, filtered, sorted, one page at a time.

    Agents see tickets assigned to them and tickets at or below their tier; supervisors and
    admins see all. Pages are stable: tickets created meanwhile never repeat or skip entries.
    """
    now = contact.clock(rt)
    filters = service.TicketFilters(
        status=_split(status_, get_args(Status), "status"),
        priority=_split(priority, get_args(PriorityName), "priority"),
        assignee=assignee,
        tier=tier,
        tag=tag,
        sla_state=sla_state,
        callback=bool(callback),
        q=q,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    async with rt.db.scope() as session:
        rows, next_cursor = await service.list_tickets(session, principal, filters, now=now)
        return TicketPage(items=[service.to_read(t, now) for t in rows], next_cursor=next_cursor)


@router.get("/{number}", response_model=TicketRead, responses={**AUTH_DOC, **NOT_FOUND_DOC})
async def read_ticket(rt: RuntimeDep, principal: CurrentOperator, number: str) -> TicketRead:
    """One ticket by number (e.g. `LDN-000123`), with its SLA state."""
    async with rt.db.scope() as session:
        ticket = await service.get_for_operator(session, principal, number)
        return service.to_read(ticket, contact.clock(rt))


@router.patch(
    "/{number}",
    response_model=TicketRead,
    responses={
        **AUTH_DOC,
        **NOT_FOUND_DOC,
        409: {"description": "An illegal status move, or an assignment the role does not allow."},
    },
)
async def update_ticket(
    rt: RuntimeDep, principal: CurrentOperator, number: str, data: TicketUpdate
) -> TicketRead:
    """Change status, priority, assignee or tags; every change lands in the audit trail.

    Status moves: open → in_progress | resolved | closed; in_progress → waiting_user | resolved |
    closed; waiting_user → in_progress | resolved | closed; resolved → closed | in_progress
    (reopen); closed → in_progress (reopen). Anything else is 409.
    """
    now = contact.clock(rt)
    config = sla.sla_config(rt.settings)
    changes = data.model_dump(exclude_unset=True)
    async with rt.db.scope() as session:
        ticket = await service.get_for_operator(session, principal, number, lock=True)
        await service.update_ticket(session, principal, ticket, changes, config, now=now)
        return service.to_read(ticket, now)


@router.patch(
    "/{number}/tier",
    response_model=TicketRead,
    responses={
        **AUTH_DOC,
        **NOT_FOUND_DOC,
        403: {"description": "Agents may not move tickets between tiers."},
    },
)
async def change_tier(
    rt: RuntimeDep, principal: CurrentSupervisor, number: str, data: TicketTierChange
) -> TicketRead:
    """Move the ticket to another tier's pool (supervisors and admins), e.g. to hand it to a manager.

    An assignee below the new tier is released so that the new tier's operators pick it up;
    priority and SLA targets do not change. The move is in the history (`tier_changed`) and
    the dashboard hears `ticket.tier_changed`. Setting the tier it already has changes nothing.
    """
    now = contact.clock(rt)
    async with rt.db.scope() as session:
        ticket = await service.get_for_operator(session, principal, number, lock=True)
        await service.change_tier(session, principal, ticket, data.tier, reason=data.reason, now=now)
        return service.to_read(ticket, now)


@router.post(
    "/{number}/notes",
    status_code=status.HTTP_201_CREATED,
    response_model=NoteRead,
    responses={**AUTH_DOC, **NOT_FOUND_DOC},
)
async def add_note(
    rt: RuntimeDep, principal: CurrentOperator, number: str, data: NoteCreate
) -> NoteRead:
    """An internal note, for operators only: never sent to the customer."""
    async with rt.db.scope() as session:
        ticket = await service.get_for_operator(session, principal, number)
        note = await service.add_note(session, principal, ticket, data.body)
        return NoteRead.model_validate(note)


@router.get("/{number}/notes", response_model=list[NoteRead], responses={**AUTH_DOC, **NOT_FOUND_DOC})
async def list_notes(rt: RuntimeDep, principal: CurrentOperator, number: str) -> list[NoteRead]:
    """The ticket's internal notes, oldest first."""
    async with rt.db.scope() as session:
        ticket = await service.get_for_operator(session, principal, number)
        return [NoteRead.model_validate(n) for n in await service.list_notes(session, ticket)]


@router.post(
    "/{number}/replies",
    status_code=status.HTTP_201_CREATED,
    responses={**AUTH_DOC, **NOT_FOUND_DOC, 409: {"description": "The ticket is closed."}},
)
async def reply(
    rt: RuntimeDep, principal: CurrentOperator, number: str, data: ReplyCreate
) -> dict[str, Any]:
    """Answer the customer: the message joins the ticket's conversation (and counts as first response)."""
    now = contact.clock(rt)
    config = sla.sla_config(rt.settings)
    async with rt.db.scope() as session:
        ticket = await service.get_for_operator(session, principal, number, lock=True)
        message = await service.reply(session, principal, ticket, data.body, config, now=now)
        return {"message_id": message.id, "seq": message.seq, "ticket": service.to_read(ticket, now)}


@router.get(
    "/{number}/history", response_model=list[HistoryEntry], responses={**AUTH_DOC, **NOT_FOUND_DOC}
)
async def ticket_history(rt: RuntimeDep, principal: CurrentOperator, number: str) -> list[HistoryEntry]:
    """The audit trail: every change to the ticket, who made it and when."""
    async with rt.db.scope() as session:
        ticket = await service.get_for_operator(session, principal, number)
        return [
            HistoryEntry(
                action=e.action, actor_type=e.actor_type, actor_id=e.actor_id, data=e.data,
                created_at=e.created_at,
            )
            for e in await service.history(session, ticket)
        ]


@vip_router.get("", response_model=list[VipCustomerRead])
async def list_vips(rt: RuntimeDep, _: CurrentAdmin) -> list[VipCustomerRead]:
    """Shop customer references whose tickets start one priority step higher (admins)."""
    async with rt.db.scope() as session:
        return [VipCustomerRead.model_validate(v) for v in await service.list_vips(session)]


@vip_router.post(
    "", status_code=status.HTTP_201_CREATED, response_model=VipCustomerRead,
    responses={409: {"description": "Already VIP."}},
)
async def add_vip(rt: RuntimeDep, principal: CurrentAdmin, data: VipCustomerCreate) -> VipCustomerRead:
    """Mark a shop customer as VIP (admins)."""
    async with rt.db.scope() as session:
        row = await service.add_vip(session, data.customer_ref, data.note, actor_id=principal.id)
        return VipCustomerRead.model_validate(row)


@vip_router.delete("/{customer_ref}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_vip(rt: RuntimeDep, principal: CurrentAdmin, customer_ref: str) -> Response:
    """Remove a VIP mark (admins)."""
    async with rt.db.scope() as session:
        await service.remove_vip(session, customer_ref, actor_id=principal.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@contact_router.post(
    "/{conversation_id}/contact",
    status_code=status.HTTP_201_CREATED,
    response_model=ContactAccepted,
    responses={
        404: {"description": "Unknown conversation or wrong token (never says which)."},
        409: {"description": "The conversation is with an operator, queued, or already has a ticket."},
        422: {"model": ContactRejected, "description": "One sentence per wrong field, in the conversation's language."},
    },
)
async def submit_contact(
    rt: RuntimeDep, conversation_id: str, data: ContactSubmit, token: BearerToken, request: Request
) -> Any:
    """The widget's contact form (visitor token): opens a ticket and says when we will answer.

    `method` is `email`, `whatsapp`, `sms` or `phone` (a call back at `callback_slot`, inside
    business hours); `consent` must be true. The confirmation is also posted in the chat.
    """
    form = contact.ContactForm(
        method=data.method.strip().lower(), email=data.email, phone=data.phone,
        callback_slot=data.callback_slot, consent=data.consent, language=data.language,
    )
    try:
        result = await contact.submit_contact(rt, conversation_id, token, form)
    except contact.ContactFieldErrors as exc:
        it = exc.lang.startswith("it")
        body = ContactRejected(
            error="invalid_input",
            message=("Controlla i campi evidenziati." if it else "Please check the highlighted fields."),
            fields=exc.fields,
        )
        return JSONResponse(body.model_dump(), status_code=422)
    return ContactAccepted(
        ticket_number=result.ticket.number,
        expected_answer_at=result.expected_answer_at,
        expected_answer_text=result.expected_answer_text,
        message=result.message,
        contact_method=result.contact_method,
        contact=result.contact,
        confirmation_via=result.confirmation_via,
        time_zone=result.time_zone,
    )


@contact_router.get(
    "/{conversation_id}/contact",
    response_model=ContactOptionsRead,
    responses={404: {"description": "Unknown conversation or wrong token (never says which)."}},
)
async def contact_form_options(rt: RuntimeDep, conversation_id: str, token: BearerToken) -> ContactOptionsRead:
    """What the widget's contact form offers (visitor token): methods and call-back slots."""
    options = await contact.contact_options(rt, conversation_id, token)
    return ContactOptionsRead(
        methods=list(options.methods), callback_slots=options.callback_slots, time_zone=options.time_zone
    )
