"""Reopen and rating links: signed, expiring, single-use, tied to one conversation.

A link is a row (`ConversationLink`, keyed by a random nonce) plus a URL `/r/<token>` whose
token is the nonce signed with the secret key (itsdangerous, timestamped). Opening it checks
the signature, the lifetime (`reopen_link_ttl_hours` from the row's creation) and that it was
never used; then it marks the row used, gives the conversation a fresh visitor token (the old
one stops working: the link is now the way in) and redirects to the shop page with
`?sportello_resume=<conversation id>&sportello_token=<token>`, from which the widget resumes.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from enum import StrEnum
from urllib.parse import urlencode

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from sportello import audit
from sportello.config import Settings
from sportello.conversations import service as conversations
from sportello.conversations.models import Conversation, ConversationStatus
from sportello.notifications.models import ConversationLink
from sportello.timeutil import utc_now

SALT = "sportello.conversation-link"
ReopenHook = Callable[[AsyncSession, Conversation], Awaitable[None]]
REOPEN_HOOKS = "notifications.reopen_hooks"


class Purpose(StrEnum):
    REOPEN = "reopen"
    RATE = "rate"


class LinkProblem(StrEnum):
    INVALID = "invalid"
    EXPIRED = "expired"
    USED = "used"


class LinkError(Exception):
    def __init__(self, problem: LinkProblem, language: str | None = None) -> None:
        super().__init__(problem.value)
        self.problem = problem
        self.language = language


def _serializer(settings: Settings) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.resolved_secret_key(), salt=SALT)


def ttl(settings: Settings) -> timedelta:
    return timedelta(hours=settings.reopen_link_ttl_hours)


async def create_link(session: AsyncSession, conversation_id: uuid.UUID, purpose: Purpose) -> str:
    """A new unused link for the conversation, in the caller's unit of work; returns its nonce."""
    nonce = secrets.token_urlsafe(24)
    session.add(
        ConversationLink(
            nonce=nonce,
            conversation_id=conversation_id,
            purpose=purpose.value,
            created_at=utc_now(),
        )
    )
    await session.flush()
    return nonce


def link_url(settings: Settings, nonce: str) -> str:
    token = _serializer(settings).dumps(nonce)
    return f"{settings.public_url.rstrip('/')}/r/{token}"


def resume_url(settings: Settings, conversation_id: uuid.UUID, token: str, purpose: str) -> str:
    params = {"sportello_resume": str(conversation_id), "sportello_token": token}
    if purpose == Purpose.RATE:
        params["sportello_rate"] = "1"
    return f"{settings.public_url.rstrip('/')}/?{urlencode(params)}"


async def open_link(
    session: AsyncSession,
    settings: Settings,
    token: str,
    hooks: list[ReopenHook] | None = None,
) -> tuple[Conversation, str, str]:
    """Consume the link: (conversation, fresh visitor token, purpose), or LinkError.

    A reopen link with no hook installed moves a ticketed or closed conversation back to
    `bot`; the tickets domain installs hooks (in `rt.extensions[REOPEN_HOOKS]`) that move the
    ticket to in_progress, tell the assignee and queue the visitor.
    """
    lifetime = ttl(settings)
    try:
        nonce = _serializer(settings).loads(token, max_age=int(lifetime.total_seconds()) + 3600)
    except SignatureExpired:
        raise LinkError(LinkProblem.EXPIRED) from None
    except BadSignature:
        raise LinkError(LinkProblem.INVALID) from None
    if not isinstance(nonce, str):
        raise LinkError(LinkProblem.INVALID)
    row = await session.get(ConversationLink, nonce)
    if row is None:
        raise LinkError(LinkProblem.INVALID)
    conv = await conversations.get_conversation(session, row.conversation_id)
    now = utc_now()
    if row.used_at is not None:
        raise LinkError(LinkProblem.USED, conv.language)
    if row.created_at + lifetime < now:
        raise LinkError(LinkProblem.EXPIRED, conv.language)
    # The conditional update makes two concurrent opens consume the link once.
    used = await session.execute(
        update(ConversationLink)
        .where(ConversationLink.nonce == nonce, ConversationLink.used_at.is_(None))
        .values(used_at=now)
    )
    if getattr(used, "rowcount", 0) != 1:
        raise LinkError(LinkProblem.USED, conv.language)
    visitor_token = secrets.token_urlsafe(32)
    conv.token_hash = conversations.hash_token(visitor_token)
    await session.flush()
    audit.record(
        session, "conversation", conv.id, f"link_{row.purpose}_opened", actor_type="visitor"
    )
    if row.purpose == Purpose.REOPEN:
        if hooks:
            for hook in hooks:
                await hook(session, conv)
        elif conv.status in (ConversationStatus.TICKETED, ConversationStatus.CLOSED):
            await conversations.transition(
                session, conv, ConversationStatus.BOT, actor_type="visitor", reason="reopen_link"
            )
    return conv, visitor_token, row.purpose
