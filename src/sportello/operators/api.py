"""Operator API: login and sessions, presence, and the admin's operator management."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response, status

from sportello.deps import RuntimeDep
from sportello.errors import TooManyRequests, Unauthorized
from sportello.operators import presence, service
from sportello.operators.deps import (
    SESSION_COOKIE,
    CurrentAdmin,
    CurrentOperator,
    CurrentSupervisor,
    sign_cookie,
)
from sportello.operators.schemas import (
    LoginRequest,
    LoginResponse,
    OperatorCreate,
    OperatorRead,
    OperatorUpdate,
    PasswordChange,
    PresenceUpdate,
)
from sportello.queue.routing import dispatch

auth_router = APIRouter(prefix="/api/v1/auth", tags=["operator auth"])
router = APIRouter(prefix="/api/v1/operators", tags=["operators"])
me_router = APIRouter(prefix="/api/v1/operator", tags=["operator"])

BAD_CREDENTIALS = "wrong email or password"


@auth_router.post(
    "/login",
    response_model=LoginResponse,
    responses={401: {"description": "Wrong email or password."}, 429: {"description": "Too many failed logins; see Retry-After."}},
)
async def login(rt: RuntimeDep, data: LoginRequest, request: Request, response: Response) -> LoginResponse:
    """Log in: a bearer token in the body and the same session as an HttpOnly cookie."""
    address = request.client.host if request.client else None
    async with rt.db.scope() as session:
        result = await service.login(
            session, rt.settings, data.email, data.password, address=address, user_agent=request.headers.get("user-agent")
        )
        if result.operator is not None and result.token is not None and result.session_row is not None:
            body = LoginResponse(
                token=result.token,
                csrf_token=service.csrf_token(rt.settings.resolved_secret_key(), result.session_row.token_hash),
                expires_at=result.session_row.expires_at,
                operator=OperatorRead.model_validate(result.operator),
            )
        else:
            body = None
    if result.retry_after is not None:
        raise TooManyRequests(
            "too many failed logins; try again later", headers={"Retry-After": str(result.retry_after)}
        )
    if body is None:
        raise Unauthorized(BAD_CREDENTIALS)
    response.set_cookie(
        SESSION_COOKIE,
        sign_cookie(rt.settings, body.token),
        max_age=int(rt.settings.operator_session_hours * 3600),
        httponly=True,
        samesite="lax",
        secure=rt.settings.public_url.startswith("https://"),
        path="/",
    )
    return body


@auth_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(rt: RuntimeDep, principal: CurrentOperator, response: Response) -> Response:
    """End this session (its sockets close)."""
    async with rt.db.scope() as session:
        await service.end_session(session, principal)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@auth_router.get("/me", response_model=OperatorRead)
async def me(rt: RuntimeDep, principal: CurrentOperator) -> OperatorRead:
    async with rt.db.scope() as session:
        return OperatorRead.model_validate(await service.get_operator(session, principal.id))


@auth_router.post("/password", status_code=status.HTTP_204_NO_CONTENT, responses={401: {"description": "Current password is wrong."}})
async def change_password(rt: RuntimeDep, principal: CurrentOperator, data: PasswordChange) -> Response:
    """Change your password; every session of yours ends (log in again)."""
    async with rt.db.scope() as session:
        ok = await service.change_password(session, principal, data.current_password, data.new_password)
    if not ok:
        raise Unauthorized("the current password is wrong")
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@me_router.put("/presence", response_model=OperatorRead)
async def set_presence(rt: RuntimeDep, principal: CurrentOperator, data: PresenceUpdate) -> OperatorRead:
    """Choose online or away. You are shown online only while a dashboard socket is open."""
    async with rt.db.scope() as session:
        await presence.set_choice(session, principal.id, data.status, presence_timeout=rt.settings.presence_timeout_seconds)
        read = OperatorRead.model_validate(await service.get_operator(session, principal.id))
    await dispatch(rt)
    return read


@router.get("", response_model=list[OperatorRead])
async def list_operators(rt: RuntimeDep, _: CurrentSupervisor) -> list[OperatorRead]:
    """All operators with their presence (supervisors and admins)."""
    async with rt.db.scope() as session:
        return [OperatorRead.model_validate(op) for op in await service.list_operators(session)]


@router.post("", response_model=OperatorRead, status_code=status.HTTP_201_CREATED, responses={409: {"description": "Email taken."}})
async def create_operator(rt: RuntimeDep, principal: CurrentAdmin, data: OperatorCreate) -> OperatorRead:
    async with rt.db.scope() as session:
        return OperatorRead.model_validate(await service.create_operator(session, data, actor_id=principal.id))


@router.patch("/{operator_id}", response_model=OperatorRead)
async def update_operator(rt: RuntimeDep, principal: CurrentAdmin, operator_id: uuid.UUID, data: OperatorUpdate) -> OperatorRead:
    """Change an operator; a new password or `active: false` ends all their sessions."""
    async with rt.db.scope() as session:
        op = await service.get_operator(session, operator_id)
        return OperatorRead.model_validate(await service.update_operator(session, op, data, actor_id=principal.id))


@router.post("/{operator_id}/deactivate", response_model=OperatorRead)
async def deactivate_operator(rt: RuntimeDep, principal: CurrentAdmin, operator_id: uuid.UUID) -> OperatorRead:
    """Deactivate: sessions end, sockets close, pending offers return to the queue."""
    async with rt.db.scope() as session:
        op = await service.get_operator(session, operator_id)
        read = OperatorRead.model_validate(
            await service.update_operator(session, op, OperatorUpdate(active=False), actor_id=principal.id)
        )
    await dispatch(rt)
    return read
