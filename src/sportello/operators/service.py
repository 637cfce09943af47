"""Operator accounts, passwords, login sessions and login rate limits.

Services flush, never commit. Ending sessions emits `session.revoked` on the operator's
channel so that every socket of theirs, on any process, closes.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sportello import audit
from sportello.config import Settings
from sportello.errors import Conflict, NotFound
from sportello.events import emit
from sportello.operators.models import LoginFailure, Operator, OperatorSession, Role
from sportello.operators.schemas import OperatorCreate, OperatorUpdate
from sportello.runtime import Runtime
from sportello.timeutil import utc_now

TOKEN_PREFIX = "sop_"
_hasher = PasswordHasher()  # argon2id with the library's recommended parameters
# Verified when the email is unknown, so a wrong email costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

ROLE_RANK = {Role.AGENT.value: 0, Role.SUPERVISOR.value: 1, Role.ADMIN.value: 2}


def operator_channel(operator_id: uuid.UUID | str) -> str:
    return f"operator:{operator_id}"


OPERATORS_CHANNEL = "operators"
SUPERVISORS_CHANNEL = "supervisors"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_operator_token(token: str | None) -> bool:
    return bool(token) and str(token).startswith(TOKEN_PREFIX)


def csrf_token(secret: str, token_hash: str) -> str:
    return hmac.new(secret.encode(), f"csrf:{token_hash}".encode(), hashlib.sha256).hexdigest()[:40]


def normalise_email(email: str) -> str:
    return email.strip().lower()


@dataclass(frozen=True)
class Principal:
    """An authenticated operator, detached from any session."""

    id: uuid.UUID
    name: str
    email: str
    role: str
    tier: int
    languages: tuple[str, ...]
    session_id: uuid.UUID
    token_hash: str

    def has_role(self, role: Role) -> bool:
        return ROLE_RANK.get(self.role, -1) >= ROLE_RANK[role.value]


async def create_operator(
    session: AsyncSession, data: OperatorCreate, *, actor_id: object | None = None
) -> Operator:
    email = normalise_email(data.email)
    existing = await session.execute(select(Operator.id).where(Operator.email == email))
    if existing.first() is not None:
        raise Conflict(f"an operator with email {email} already exists")
    now = utc_now()
    op = Operator(
        id=uuid.uuid4(),
        email=email,
        name=data.name.strip(),
        password_hash=hash_password(data.password),
        role=data.role,
        tier=data.tier,
        languages=list(dict.fromkeys(data.languages)),
        skills=list(dict.fromkeys(data.skills)),
        max_chats=data.max_chats,
        active=True,
        presence="offline",
        presence_choice="online",
        presence_changed_at=now,
        lapsed_offers=0,
        created_at=now,
        updated_at=now,
    )
    session.add(op)
    await session.flush()
    audit.record(
        session, "operator", op.id, "created",
        actor_type="operator" if actor_id else "system", actor_id=actor_id,
        data={"email": email, "role": data.role},
    )
    return op


async def get_operator(session: AsyncSession, operator_id: uuid.UUID | str) -> Operator:
    try:
        op_id = operator_id if isinstance(operator_id, uuid.UUID) else uuid.UUID(str(operator_id))
    except ValueError:
        raise NotFound("operator not found") from None
    op = await session.get(Operator, op_id)
    if op is None:
        raise NotFound("operator not found")
    return op


async def list_operators(session: AsyncSession) -> Sequence[Operator]:
    return (await session.execute(select(Operator).order_by(Operator.name))).scalars().all()


async def update_operator(
    session: AsyncSession, op: Operator, data: OperatorUpdate, *, actor_id: object | None = None
) -> Operator:
    """Apply `data`; a password change or deactivation ends every session of the operator."""
    changes = data.model_dump(exclude_unset=True)
    end_sessions = False
    for name, value in changes.items():
        if name == "password":
            op.password_hash = hash_password(value)
            end_sessions = True
        else:
            setattr(op, name, value)
    if changes.get("active") is False:
        end_sessions = True
        op.presence = "offline"
    op.updated_at = utc_now()
    await session.flush()
    audit.record(
        session, "operator", op.id, "updated", actor_type="operator", actor_id=actor_id,
        data={k: v for k, v in changes.items() if k != "password"} | ({"password": "changed"} if "password" in changes else {}),
    )
    if end_sessions:
        await end_all_sessions(session, op.id, reason="deactivated" if changes.get("active") is False else "password_changed")
    if changes.get("active") is False:
        from sportello.operators.presence import force_offline

        await force_offline(session, op.id)
    return op


async def start_session(
    session: AsyncSession, op: Operator, settings: Settings, *, address: str | None, user_agent: str | None
) -> tuple[str, OperatorSession]:
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = utc_now()
    row = OperatorSession(
        id=uuid.uuid4(),
        operator_id=op.id,
        token_hash=hash_token(token),
        created_at=now,
        expires_at=now + timedelta(hours=settings.operator_session_hours),
        address=(address or "")[:64] or None,
        user_agent=(user_agent or "")[:512] or None,
    )
    session.add(row)
    await session.flush()
    return token, row


async def authenticate(session: AsyncSession, token: str | None) -> Principal | None:
    """The operator whose live session `token` is, or None (unknown, expired, revoked, inactive)."""
    if not is_operator_token(token):
        return None
    assert token is not None
    token_hash = hash_token(token)
    row = (
        await session.execute(
            select(OperatorSession, Operator)
            .join(Operator, Operator.id == OperatorSession.operator_id)
            .where(
                OperatorSession.token_hash == token_hash,
                OperatorSession.revoked_at.is_(None),
                OperatorSession.expires_at > utc_now(),
                Operator.active.is_(True),
            )
        )
    ).first()
    if row is None:
        return None
    sess, op = row
    return Principal(
        id=op.id, name=op.name, email=op.email, role=op.role, tier=op.tier,
        languages=tuple(op.languages or ()), session_id=sess.id, token_hash=token_hash,
    )


async def authenticated_operator(rt: Runtime, token: str | None) -> Principal | None:
    """The operator behind `token` when it is a live operator session token, else None."""
    if not is_operator_token(token):
        return None
    async with rt.db.scope() as session:
        return await authenticate(session, token)


async def end_session(session: AsyncSession, principal: Principal) -> None:
    await session.execute(
        update(OperatorSession)
        .where(OperatorSession.id == principal.session_id, OperatorSession.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )
    emit(
        session,
        operator_channel(principal.id),
        {"type": "session.revoked", "session_ids": [str(principal.session_id)], "reason": "logout"},
    )


async def end_all_sessions(session: AsyncSession, operator_id: uuid.UUID, *, reason: str) -> None:
    await session.execute(
        update(OperatorSession)
        .where(OperatorSession.operator_id == operator_id, OperatorSession.revoked_at.is_(None))
        .values(revoked_at=utc_now())
    )
    emit(session, operator_channel(operator_id), {"type": "session.revoked", "session_ids": "all", "reason": reason})


@dataclass(frozen=True)
class LoginResult:
    operator: Operator | None = None
    token: str | None = None
    session_row: OperatorSession | None = None
    retry_after: int | None = None


async def _recent_failures(session: AsyncSession, key: str, since: datetime) -> tuple[int, datetime | None]:
    count, oldest = (
        await session.execute(
            select(func.count(LoginFailure.id), func.min(LoginFailure.created_at)).where(
                LoginFailure.key == key, LoginFailure.created_at > since
            )
        )
    ).one()
    return int(count), oldest


async def login(
    session: AsyncSession,
    settings: Settings,
    email: str,
    password: str,
    *,
    address: str | None,
    user_agent: str | None,
) -> LoginResult:
    """Check the credentials under the rate limits; failures are recorded in this unit of work.

    Returns a result rather than raising, so the caller's scope commits the recorded failure.
    """
    now = utc_now()
    window = timedelta(seconds=settings.login_window_seconds)
    email = normalise_email(email)
    keys = [(f"acct:{email}", settings.login_max_failures_account)]
    if address:
        keys.append((f"addr:{address}", settings.login_max_failures_address))
    for key, limit in keys:
        count, oldest = await _recent_failures(session, key, now - window)
        if count >= limit and oldest is not None:
            wait = (oldest + window - now).total_seconds()
            return LoginResult(retry_after=max(1, math.ceil(wait)))
    op = (await session.execute(select(Operator).where(Operator.email == email))).scalar_one_or_none()
    ok = verify_password(op.password_hash if op else _DUMMY_HASH, password)
    if op is None or not ok or not op.active:
        for key, _ in keys:
            session.add(LoginFailure(key=key, created_at=now))
        await session.execute(delete(LoginFailure).where(LoginFailure.created_at < now - 4 * window))
        audit.record(session, "operator_login", email, "failed", actor_type="anonymous", data={"address": address})
        return LoginResult()
    if _hasher.check_needs_rehash(op.password_hash):
        op.password_hash = hash_password(password)
    await session.execute(delete(LoginFailure).where(LoginFailure.key == f"acct:{email}"))
    token, row = await start_session(session, op, settings, address=address, user_agent=user_agent)
    audit.record(session, "operator", op.id, "logged_in", actor_type="operator", actor_id=op.id)
    return LoginResult(operator=op, token=token, session_row=row)


async def change_password(
    session: AsyncSession, principal: Principal, current: str, new: str
) -> bool:
    op = await get_operator(session, principal.id)
    if not verify_password(op.password_hash, current):
        return False
    op.password_hash = hash_password(new)
    op.updated_at = utc_now()
    audit.record(session, "operator", op.id, "password_changed", actor_type="operator", actor_id=op.id)
    await end_all_sessions(session, op.id, reason="password_changed")
    return True
