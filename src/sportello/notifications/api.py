"""Notification endpoints: Twilio webhooks, reopen links, preferences, push, dead letters."""

from __future__ import annotations

import html
import uuid
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response, status
from fastapi.responses import HTMLResponse, RedirectResponse
from pydantic import BaseModel, Field
from sqlalchemy import delete, func, select

from sportello.deps import RuntimeDep, preferred_language
from sportello.errors import Forbidden, NotFound
from sportello.notifications import inbound, limits, links, worker
from sportello.notifications.models import OutboxMessage, OutboxState, PushSubscription
from sportello.notifications.render import OPERATOR_KINDS
from sportello.notifications.service import PREFERENCE_CHANNELS, preferences, set_preferences
from sportello.notifications.vapid import application_server_key
from sportello.operators.deps import CurrentOperator, CurrentSupervisor

router = APIRouter(tags=["notifications"])
TWIML = "application/xml"


async def _verified_form(request: Request, rt: Any) -> dict[str, str]:
    form = await request.form()
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if not inbound.signature_valid(
        rt.settings, path, form, request.headers.get("x-twilio-signature")
    ):
        raise Forbidden("the request is not signed by Twilio for this URL")
    return {k: v for k, v in form.items() if isinstance(v, str)}


@router.post("/api/v1/channels/twilio/inbound", responses={403: {"description": "Bad signature."}})
async def twilio_inbound(rt: RuntimeDep, request: Request) -> Response:
    """An SMS or WhatsApp message from a customer (Twilio's Messaging webhook)."""
    form = await _verified_form(request, rt)
    await inbound.receive(rt, form)
    return Response(inbound.EMPTY_TWIML, media_type=TWIML)


@router.post("/api/v1/channels/twilio/status", responses={403: {"description": "Bad signature."}})
async def twilio_status(rt: RuntimeDep, request: Request) -> Response:
    """A delivery report for a message we sent (Twilio's status callback)."""
    form = await _verified_form(request, rt)
    await inbound.status_callback(rt, form, dict(request.query_params))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


_LINK_PAGES = {
    "it": {
        links.LinkProblem.EXPIRED: (
            "Link scaduto",
            "Questo link è scaduto. Scrivici di nuovo dalla chat e riprenderemo da dove eravamo.",
        ),
        links.LinkProblem.USED: (
            "Link già usato",
            "Questo link è già stato aperto. Riapri la chat dal browser in cui l'hai usato, oppure scrivici di nuovo.",
        ),
        links.LinkProblem.INVALID: (
            "Link non valido",
            "Questo link non è valido. Controlla di averlo copiato per intero.",
        ),
    },
    "en": {
        links.LinkProblem.EXPIRED: (
            "Link expired",
            "This link has expired. Write to us again in the chat and we will pick up where we left off.",
        ),
        links.LinkProblem.USED: (
            "Link already used",
            "This link has already been opened. Reopen the chat in the browser where you used it, or write to us again.",
        ),
        links.LinkProblem.INVALID: (
            "Invalid link",
            "This link is not valid. Check that you copied all of it.",
        ),
    },
}


def _link_page(problem: links.LinkProblem, lang: str) -> HTMLResponse:
    title, text = _LINK_PAGES.get(lang, _LINK_PAGES["it"])[problem]
    body = (
        f'<!doctype html><html lang="{lang}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)}</title></head>"
        f'<body style="font-family: system-ui, sans-serif; max-width: 32rem; margin: 3rem auto;">'
        f"<h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>"
        f'<p><a href="/">{"Torna al negozio" if lang == "it" else "Back to the shop"}</a></p></body></html>'
    )
    code = 404 if problem is links.LinkProblem.INVALID else 410
    return HTMLResponse(body, status_code=code)


@router.get("/r/{token}", include_in_schema=False)
async def open_link(
    rt: RuntimeDep, request: Request, token: Annotated[str, Path(max_length=512)]
) -> Response:
    """A reopen or rating link: resume the conversation in the widget, or a page saying why not."""
    hooks = rt.extensions.get(links.REOPEN_HOOKS) or []
    try:
        async with rt.db.scope() as session:
            conv, visitor_token, purpose = await links.open_link(session, rt.settings, token, hooks)
    except links.LinkError as exc:
        lang = exc.language or preferred_language(
            request, rt.settings.languages, rt.settings.default_language
        )
        return _link_page(exc.problem, lang if lang in ("it", "en") else "it")
    except NotFound:
        lang = preferred_language(request, rt.settings.languages, rt.settings.default_language)
        return _link_page(links.LinkProblem.INVALID, lang if lang in ("it", "en") else "it")
    target = links.resume_url(rt.settings, conv.id, visitor_token, purpose)
    return RedirectResponse(
        target,
        status_code=status.HTTP_303_SEE_OTHER,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


PreferenceMatrix = dict[str, dict[str, bool]]


class PreferencesRead(BaseModel):
    event_kinds: list[str]
    channels: list[str]
    preferences: PreferenceMatrix


@router.get("/api/v1/notifications/preferences", response_model=PreferencesRead)
async def read_preferences(rt: RuntimeDep, op: CurrentOperator) -> PreferencesRead:
    """The operator's matrix: event kind → channel (dashboard, email, push, Slack) → on/off."""
    async with rt.db.scope() as session:
        matrix = await preferences(session, op.id)
    return PreferencesRead(
        event_kinds=list(OPERATOR_KINDS), channels=list(PREFERENCE_CHANNELS), preferences=matrix
    )


class PreferencesUpdate(BaseModel):
    preferences: PreferenceMatrix = Field(description="Only the cells to change.")


@router.put("/api/v1/notifications/preferences", response_model=PreferencesRead)
async def update_preferences(
    rt: RuntimeDep, op: CurrentOperator, data: PreferencesUpdate
) -> PreferencesRead:
    """Change some cells of the operator's matrix; unknown kinds or channels are a 422."""
    from sportello.errors import InvalidInput

    for kind, cells in data.preferences.items():
        if kind not in OPERATOR_KINDS:
            raise InvalidInput(f"unknown event kind '{kind}'")
        for channel in cells:
            if channel not in PREFERENCE_CHANNELS:
                raise InvalidInput(f"unknown channel '{channel}'")
    async with rt.db.scope() as session:
        matrix = await set_preferences(session, op.id, data.preferences)
    return PreferencesRead(
        event_kinds=list(OPERATOR_KINDS), channels=list(PREFERENCE_CHANNELS), preferences=matrix
    )


class PushKeys(BaseModel):
    p256dh: str = Field(min_length=16, max_length=200)
    auth: str = Field(min_length=8, max_length=64)


class PushSubscriptionCreate(BaseModel):
    endpoint: str = Field(min_length=8, max_length=2048, pattern=r"^https?://")
    keys: PushKeys


class PushSubscriptionRead(BaseModel):
    id: uuid.UUID
    endpoint: str
    created_at: datetime


@router.get("/api/v1/notifications/push/key")
async def push_key(rt: RuntimeDep, op: CurrentOperator) -> dict[str, str]:
    """The VAPID public key for `pushManager.subscribe({applicationServerKey})`."""
    return {"application_server_key": application_server_key(worker._vapid(rt))}


@router.post(
    "/api/v1/notifications/push/subscriptions", status_code=201, response_model=PushSubscriptionRead
)
async def subscribe_push(
    rt: RuntimeDep, op: CurrentOperator, request: Request, data: PushSubscriptionCreate
) -> PushSubscriptionRead:
    """Register (or move to this operator) one browser's push subscription."""
    async with rt.db.scope() as session:
        row = (
            await session.execute(
                select(PushSubscription).where(PushSubscription.endpoint == data.endpoint)
            )
        ).scalar_one_or_none()
        if row is None:
            row = PushSubscription(id=uuid.uuid4(), operator_id=op.id, endpoint=data.endpoint)
            session.add(row)
        row.operator_id = op.id
        row.p256dh = data.keys.p256dh
        row.auth = data.keys.auth
        row.user_agent = (request.headers.get("user-agent") or "")[:512] or None
        await session.flush()
        return PushSubscriptionRead(id=row.id, endpoint=row.endpoint, created_at=row.created_at)


class PushUnsubscribe(BaseModel):
    endpoint: str = Field(max_length=2048)


@router.post("/api/v1/notifications/push/unsubscribe", status_code=204)
async def unsubscribe_push(rt: RuntimeDep, op: CurrentOperator, data: PushUnsubscribe) -> Response:
    """Forget one of the operator's browsers."""
    async with rt.db.scope() as session:
        await session.execute(
            delete(PushSubscription).where(
                PushSubscription.endpoint == data.endpoint, PushSubscription.operator_id == op.id
            )
        )
    return Response(status_code=204)


class OutboxRead(BaseModel):
    id: int
    kind: str
    channel: str
    recipient: str
    state: str
    attempts: int
    last_error: str | None
    held_by: limits.HoldReason | None = Field(
        default=None, description="For a `held` row: the daily limit that stopped it."
    )
    delivery_status: str | None
    created_at: datetime
    updated_at: datetime


def _read(row: OutboxMessage) -> OutboxRead:
    return OutboxRead(
        id=row.id,
        kind=row.kind,
        channel=row.channel,
        recipient=row.recipient,
        state=row.state,
        attempts=row.attempts,
        last_error=row.last_error,
        held_by=limits.hold_reason(row.last_error) if row.state == OutboxState.HELD.value else None,
        delivery_status=row.delivery_status,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


@router.get("/api/v1/notifications/dead-letters", response_model=list[OutboxRead])
async def dead_letters(rt: RuntimeDep, op: CurrentSupervisor) -> list[OutboxRead]:
    """Notifications waiting for a person: given up (`dead`) or over a daily limit (`held`)."""
    async with rt.db.scope() as session:
        return [_read(r) for r in await worker.list_dead(session)]


@router.post("/api/v1/notifications/dead-letters/{outbox_id}/retry", response_model=OutboxRead)
async def retry_dead_letter(rt: RuntimeDep, op: CurrentSupervisor, outbox_id: int) -> OutboxRead:
    """Queue a dead or failed notification again, or release a held one past the daily limits."""
    from sportello import audit

    async with rt.db.scope() as session:
        before = await session.get(OutboxMessage, outbox_id)
        was_held = before is not None and before.state == OutboxState.HELD.value
        row = await worker.retry_dead(session, outbox_id)
        if row is None:
            raise NotFound("no dead, failed or held notification with that id")
        action = "released" if was_held else "retried"
        audit.record(session, "notification", row.id, action, actor_type="operator", actor_id=op.id)
        return _read(row)


class ChannelStatus(BaseModel):
    channel: str
    configured: bool
    pending: int
    dead: int
    held: int


@router.get("/api/v1/notifications/channels", response_model=list[ChannelStatus])
async def channel_status(rt: RuntimeDep, op: CurrentOperator) -> list[ChannelStatus]:
    """Each channel: on (configured) or off, and how many of its notifications wait, died or are held."""
    active = set(worker.active_channels(rt.settings))
    async with rt.db.scope() as session:
        counts = (
            await session.execute(
                select(OutboxMessage.channel, OutboxMessage.state, func.count())
                .where(
                    OutboxMessage.state.in_(
                        [OutboxState.PENDING.value, OutboxState.DEAD.value, OutboxState.HELD.value]
                    )
                )
                .group_by(OutboxMessage.channel, OutboxMessage.state)
            )
        ).all()
    by = {(c, s): n for c, s, n in counts}
    return [
        ChannelStatus(
            channel=c,
            configured=c in active,
            pending=by.get((c, OutboxState.PENDING.value), 0),
            dead=by.get((c, OutboxState.DEAD.value), 0),
            held=by.get((c, OutboxState.HELD.value), 0),
        )
        for c in ("email", "sms", "whatsapp", "push", "slack")
    ]
