"""`CurrentOperator` and role dependencies: bearer token or signed session cookie."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request
from itsdangerous import BadSignature, URLSafeSerializer
from starlette.requests import HTTPConnection

from sportello.config import Settings
from sportello.deps import BearerToken, RuntimeDep
from sportello.errors import Forbidden, Unauthorized
from sportello.operators.models import Role
from sportello.operators.service import Principal, authenticate, csrf_token, is_operator_token

SESSION_COOKIE = "sportello_session"
CSRF_HEADER = "x-csrf-token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _serializer(settings: Settings) -> URLSafeSerializer:
    return URLSafeSerializer(settings.resolved_secret_key(), salt="sportello-operator-session")


def sign_cookie(settings: Settings, token: str) -> str:
    return str(_serializer(settings).dumps(token))


def cookie_token(conn: HTTPConnection, settings: Settings) -> str | None:
    raw = conn.cookies.get(SESSION_COOKIE)
    if not raw:
        return None
    try:
        token = _serializer(settings).loads(raw)
    except BadSignature:
        return None
    return token if isinstance(token, str) else None


def operator_token(conn: HTTPConnection, settings: Settings, bearer: str | None) -> tuple[str | None, bool]:
    """(token, from_cookie): a bearer operator token wins over the cookie."""
    if is_operator_token(bearer):
        return bearer, False
    return cookie_token(conn, settings), True


async def current_operator(request: Request, rt: RuntimeDep, bearer: BearerToken) -> Principal:
    token, from_cookie = operator_token(request, rt.settings, bearer)
    async with rt.db.scope() as session:
        principal = await authenticate(session, token)
    if principal is None:
        raise Unauthorized("log in first: the operator session is missing, expired or ended")
    if from_cookie and request.method not in SAFE_METHODS:
        expected = csrf_token(rt.settings.resolved_secret_key(), principal.token_hash)
        if request.headers.get(CSRF_HEADER) != expected:
            raise Forbidden("cookie-authenticated requests must carry the X-CSRF-Token from login")
    return principal


CurrentOperator = Annotated[Principal, Depends(current_operator)]


def require_role(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    async def check(principal: CurrentOperator) -> Principal:
        if not principal.has_role(role):
            raise Forbidden(f"this needs the {role.value} role")
        return principal

    return check


CurrentSupervisor = Annotated[Principal, Depends(require_role(Role.SUPERVISOR))]
CurrentAdmin = Annotated[Principal, Depends(require_role(Role.ADMIN))]
