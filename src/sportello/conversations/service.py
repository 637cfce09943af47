"""Conversation use cases: create, access, append messages, change status.

Services flush, never commit: the caller's session scope commits once and then publishes
the events emitted here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from sportello import audit
from sportello.conversations.models import (
    Channel,
    Conversation,
    ConversationStatus,
    Message,
    Sender,
)
from sportello.conversations.schemas import ConversationCreate, MessageRead
from sportello.errors import Conflict, DomainError, NotFound
from sportello.events import emit
from sportello.timeutil import utc_now

S = ConversationStatus
TRANSITIONS: dict[str, frozenset[str]] = {
    S.BOT: frozenset({S.QUEUED, S.AWAITING_CONTACT, S.CLOSED}),
    S.QUEUED: frozenset({S.ASSIGNED, S.AWAITING_CONTACT, S.BOT, S.CLOSED}),
    S.ASSIGNED: frozenset({S.LIVE, S.QUEUED, S.AWAITING_CONTACT, S.BOT, S.CLOSED}),
    S.LIVE: frozenset({S.CLOSED, S.QUEUED, S.AWAITING_CONTACT}),
    S.AWAITING_CONTACT: frozenset({S.TICKETED, S.BOT, S.QUEUED, S.CLOSED}),
    S.TICKETED: frozenset({S.BOT, S.QUEUED, S.CLOSED}),
    S.CLOSED: frozenset({S.BOT}),
}
NOT_FOUND = "conversation not found"
CONVERSATIONS = cast(Table, Conversation.__table__)


def conversation_channel(conversation_id: uuid.UUID | str) -> str:
    return f"conv:{conversation_id}"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_conversation(
    session: AsyncSession,
    data: ConversationCreate,
    *,
    language: str,
    user_agent: str | None,
    channel: str = Channel.WEB,
) -> tuple[Conversation, str]:
    """A new conversation and its access token (returned once, stored only as a hash)."""
    token = secrets.token_urlsafe(32)
    now = utc_now()
    conv = Conversation(
        id=uuid.uuid4(),
        token_hash=hash_token(token),
        status=S.BOT.value,
        language=data.language or language,
        channel=channel,
        page_url=data.page_url,
        user_agent=(user_agent or "")[:512] or None,
        customer_ref=data.customer_ref,
        last_seq=0,
        created_at=now,
        updated_at=now,
        last_activity_at=now,
    )
    session.add(conv)
    await session.flush()
    audit.record(session, "conversation", conv.id, "created", actor_type="visitor")
    return conv, token


def _parse_id(raw: uuid.UUID | str) -> uuid.UUID:
    if isinstance(raw, uuid.UUID):
        return raw
    try:
        return uuid.UUID(raw)
    except (ValueError, TypeError, AttributeError):
        raise NotFound(NOT_FOUND) from None


async def get_for_visitor(
    session: AsyncSession, conversation_id: uuid.UUID | str, token: str | None
) -> Conversation:
    """The conversation if `token` opens it; otherwise NotFound, never saying which part failed."""
    conv_id = _parse_id(conversation_id)
    conv = await session.get(Conversation, conv_id)
    if conv is None:
        raise NotFound(NOT_FOUND)
    if not token:
        raise NotFound(NOT_FOUND)
    if not hmac.compare_digest(conv.token_hash, hash_token(token)):
        raise NotFound(NOT_FOUND)
    return conv


async def get_conversation(session: AsyncSession, conversation_id: uuid.UUID | str) -> Conversation:
    conv = await session.get(Conversation, _parse_id(conversation_id))
    if conv is None:
        raise NotFound(NOT_FOUND)
    return conv


def _insert_for(session: AsyncSession) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    return pg_insert if dialect == "postgresql" else sqlite_insert


async def store_message(
    session: AsyncSession,
    access: ColumnElement[bool],
    *,
    sender: Sender | str,
    body: str,
    channel: str | None = None,
    meta: dict[str, Any] | None = None,
    client_message_id: str | None = None,
) -> StoredMessage:
    """Store a message in the conversation matched by `access`, with the next sequence number.

    Three statements on the hot path: the atomic increment of the conversation's sequence (which
    also checks access and locks the row, so commits happen in sequence order and a later number
    is never visible before an earlier one), the insert, and the commit by the caller's scope.
    A repeated `client_message_id` returns the stored message and creates nothing.
    Raises NotFound when `access` matches no conversation.
    """
    now = utc_now()
    # Core statements on the tables (not ORM-enabled DML): no identity-map synchronisation,
    # which the profile showed costing more than the SQL itself.
    conv_t = CONVERSATIONS
    bumped = (
        await session.execute(
            update(conv_t)
            .where(access)
            .values(last_seq=conv_t.c.last_seq + 1, last_activity_at=now, updated_at=now)
            .returning(conv_t.c.id, conv_t.c.last_seq, conv_t.c.status, conv_t.c.channel)
        )
    ).one_or_none()
    if bumped is None:
        raise NotFound(NOT_FOUND)
    conv_id, seq, status, conv_channel = bumped
    values = {
        "conversation_id": conv_id,
        "seq": seq,
        "sender": str(sender),
        "body": body,
        "channel": channel or conv_channel,
        "created_at": now,
        "metadata": meta or {},
        "client_message_id": client_message_id,
    }
    table = Message.__table__
    stmt = _insert_for(session)(table).values(**values)
    if client_message_id:
        stmt = stmt.on_conflict_do_nothing(index_elements=["conversation_id", "client_message_id"])
    new_id = (await session.execute(stmt.returning(table.c.id))).scalar_one_or_none()
    if new_id is None:
        # A retry of a stored message: give the number back (this transaction holds the row lock,
        # so nobody took a later one) and return what was stored the first time.
        await session.execute(
            update(conv_t).where(conv_t.c.id == conv_id).values(last_seq=conv_t.c.last_seq - 1)
        )
        row = (
            await session.execute(
                select(table).where(
                    table.c.conversation_id == conv_id, table.c.client_message_id == client_message_id
                )
            )
        ).one()
        return StoredMessage(MessageRead.model_validate(dict(row._mapping)), False, status)
    read = MessageRead.model_validate({**values, "id": new_id})
    emit(session, conversation_channel(conv_id), {"type": "message.created", "message": read.model_dump(mode="json")})
    return StoredMessage(read, True, status)


@dataclass(frozen=True)
class StoredMessage:
    message: MessageRead
    created: bool
    conversation_status: str


@dataclass(frozen=True)
class VisitorMessage:
    """A visitor's message waiting to be stored with others (see store_visitor_messages)."""

    conversation_id: uuid.UUID | str
    token: str | None
    body: str
    client_message_id: str | None


async def store_visitor_messages(
    session: AsyncSession, requests: Sequence[VisitorMessage]
) -> list[StoredMessage | DomainError]:
    """Store each visitor message as store_message would, in order, in the session's transaction.

    A request's own failure (wrong token: NotFound) is returned in its place and touches no row.
    On SQLite the statements of the whole batch and its commit run in one call on the database
    thread: through the async adapter every statement costs four round trips to that thread,
    which the profile showed to be most of a message's cost. That commit ends the session's
    transaction, so the session must hold nothing else (the writer's unit of work holds only
    the batch). On PostgreSQL the batch is one pipelined round trip of
    one statement per message, sent on asyncpg directly: building and compiling two SQLAlchemy
    statements per message cost ~850 µs of CPU, more than everything else on the path.
    """
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect == "sqlite":
        return await _store_visitor_messages_sqlite(session, requests)
    if dialect == "postgresql":
        driver = await _asyncpg_in_transaction(session)
        if driver is not None:
            return await _store_visitor_messages_pg(session, driver, requests)
    out: list[StoredMessage | DomainError] = []
    for r in requests:
        try:
            out.append(
                await store_message(
                    session, visitor_access(r.conversation_id, r.token), sender=Sender.VISITOR,
                    body=r.body, client_message_id=r.client_message_id,
                )
            )
        except DomainError as exc:
            out.append(exc)
    return out


_SQLITE_BUMP = (
    "UPDATE conversations SET last_seq = last_seq + 1, last_activity_at = ?, updated_at = ? "
    "WHERE id = ? AND token_hash = ? RETURNING last_seq, status, channel"
)
_SQLITE_INSERT = (
    "INSERT INTO messages (conversation_id, seq, sender, body, channel, created_at, metadata, client_message_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (conversation_id, client_message_id) DO NOTHING RETURNING id"
)
_SQLITE_GIVE_BACK = "UPDATE conversations SET last_seq = last_seq - 1 WHERE id = ?"
_SQLITE_STORED = (
    "SELECT id, seq, sender, body, channel, created_at, metadata, client_message_id FROM messages "
    "WHERE conversation_id = ? AND client_message_id = ?"
)


def _sqlite_batch(conn: Any, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...] | None]:
    """Runs on the database thread and commits there: one round trip for the batch and its commit.

    Per row: None if no access, else (id, seq, status, channel, stored), where `stored` is the
    earlier message's row when the client id was already stored (and id is None). All the writer
    needs is read before the commit, so nothing can fail once the batch is committed (a failure
    after it would make the writer store the batch again); an error before it leaves the open
    transaction to the session's rollback.
    """
    out: list[tuple[Any, ...] | None] = []
    for conv_key, token_hash, when, sender, body, meta, cmid in rows:
        bumped = conn.execute(_SQLITE_BUMP, (when, when, conv_key, token_hash)).fetchone()
        if bumped is None:
            out.append(None)
            continue
        seq, status, channel = bumped
        new = conn.execute(_SQLITE_INSERT, (conv_key, seq, sender, body, channel, when, meta, cmid)).fetchone()
        stored = None
        if new is None:
            conn.execute(_SQLITE_GIVE_BACK, (conv_key,))
            stored = conn.execute(_SQLITE_STORED, (conv_key, cmid)).fetchone()
        out.append((new[0] if new else None, seq, status, channel, stored))
    conn.commit()
    return out


async def _store_visitor_messages_sqlite(
    session: AsyncSession, requests: Sequence[VisitorMessage]
) -> list[StoredMessage | DomainError]:
    conn = await session.connection()
    dialect = conn.dialect
    uuid_bind = CONVERSATIONS.c.id.type.bind_processor(dialect)
    time_bind = Message.__table__.c.created_at.type.bind_processor(dialect)
    json_bind = Message.__table__.c.metadata.type.bind_processor(dialect)
    now = utc_now()
    when = time_bind(now) if time_bind else now
    empty_meta = json_bind({}) if json_bind else "{}"
    out: list[StoredMessage | DomainError | None] = []
    rows = []
    conv_ids: list[uuid.UUID] = []
    for r in requests:
        try:
            conv_id = _parse_id(r.conversation_id)
        except DomainError as exc:
            out.append(exc)
            continue
        out.append(None)
        conv_ids.append(conv_id)
        rows.append((
            uuid_bind(conv_id) if uuid_bind else conv_id.hex, hash_token(r.token or ""), when,
            Sender.VISITOR.value, r.body, empty_meta, r.client_message_id,
        ))
    driver: Any = (await conn.get_raw_connection()).driver_connection
    # aiosqlite runs a callable on its connection thread: one round trip for the batch and its
    # commit (the session's own commit then finds no open transaction and skips the round trip).
    results = await driver._execute(lambda: _sqlite_batch(driver._conn, rows))
    pending = iter(zip(requests, conv_ids, results, strict=False))
    done: list[StoredMessage | DomainError] = []
    for slot in out:
        if slot is not None:
            done.append(slot)
            continue
        r, conv_id, result = next(pending)
        if result is None:
            done.append(NotFound(NOT_FOUND))
            continue
        new_id, seq, status, channel, stored = result
        if new_id is None:
            done.append(StoredMessage(_sqlite_message_row(dialect, conv_id, stored), False, status))
        else:
            done.append(_stored_visitor_message(session, conv_id, new_id, seq, status, channel, r.body, now, r.client_message_id))
    return done


def _sqlite_message_row(dialect: Any, conv_id: uuid.UUID, row: tuple[Any, ...]) -> MessageRead:
    """A raw `_SQLITE_STORED` row read through the columns' own result processors."""
    columns = Message.__table__.c
    time_result = columns.created_at.type.dialect_impl(dialect).result_processor(dialect, None)
    json_result = columns.metadata.type.dialect_impl(dialect).result_processor(dialect, None)
    msg_id, seq, sender, body, channel, created_at, meta, cmid = row
    return MessageRead(
        id=msg_id, conversation_id=conv_id, seq=seq, sender=sender, body=body, channel=channel,
        created_at=time_result(created_at) if time_result else created_at,
        metadata=json_result(meta) if json_result else meta, client_message_id=cmid,
    )


# One statement per message, so a batch goes to PostgreSQL as one pipelined round trip: lock the
# conversation row (FOR UPDATE returns its latest committed version, so the sequence is current
# even after waiting for another process's batch), insert with the next number unless the client
# id is already stored, and move `last_seq` only when a row went in. Always one result row.
_PG_STORE = """
WITH conv AS MATERIALIZED (
    SELECT id, last_seq, status, channel FROM conversations
    WHERE id = $1 AND token_hash = $2
    FOR UPDATE
), ins AS (
    INSERT INTO messages (conversation_id, seq, sender, body, channel, created_at, metadata, client_message_id)
    SELECT id, last_seq + 1, $3::varchar, $4::text, channel, $5::timestamptz, $6::jsonb, $7::varchar FROM conv
    ON CONFLICT (conversation_id, client_message_id) DO NOTHING
    RETURNING id, seq
), bump AS (
    UPDATE conversations SET last_seq = ins.seq, last_activity_at = $5::timestamptz, updated_at = $5::timestamptz
    FROM ins WHERE conversations.id = $1
)
SELECT conv.id IS NOT NULL AS found, conv.status, conv.channel, ins.id, ins.seq
FROM (SELECT 1) AS one LEFT JOIN conv ON true LEFT JOIN ins ON true
"""


async def _asyncpg_in_transaction(session: AsyncSession) -> Any | None:
    """The session's asyncpg connection with its transaction begun, or None if not reachable.

    SQLAlchemy's asyncpg adapter sends BEGIN lazily with the first statement; statements sent
    on the driver directly must find it open, or they would commit on their own.
    """
    conn = await session.connection()
    adapter: Any = (await conn.get_raw_connection()).dbapi_connection
    if not hasattr(adapter, "_start_transaction") or not hasattr(adapter, "_transaction"):
        return None
    if adapter._transaction is None:
        await adapter._start_transaction()
    return adapter.driver_connection if adapter._transaction is not None else None


async def _store_visitor_messages_pg(
    session: AsyncSession, driver: Any, requests: Sequence[VisitorMessage]
) -> list[StoredMessage | DomainError]:
    now = utc_now()
    out: list[StoredMessage | DomainError | None] = []
    args = []
    conv_ids: list[uuid.UUID] = []
    for r in requests:
        try:
            conv_id = _parse_id(r.conversation_id)
        except DomainError as exc:
            out.append(exc)
            continue
        out.append(None)
        conv_ids.append(conv_id)
        args.append((conv_id, hash_token(r.token or ""), Sender.VISITOR.value, r.body, now, "{}", r.client_message_id))
    # asyncpg pipelines the statements of fetchmany: one round trip for the whole batch.
    results = await driver.fetchmany(_PG_STORE, args) if args else []
    pending = iter(zip(requests, conv_ids, results, strict=False))
    done: list[StoredMessage | DomainError] = []
    for slot in out:
        if slot is not None:
            done.append(slot)
            continue
        r, conv_id, (found, status, channel, new_id, seq) = next(pending)
        if not found:
            done.append(NotFound(NOT_FOUND))
        elif new_id is None:
            done.append(StoredMessage(await _stored_by_client_id(session, conv_id, r.client_message_id), False, status))
        else:
            done.append(_stored_visitor_message(session, conv_id, new_id, seq, status, channel, r.body, now, r.client_message_id))
    return done


async def _stored_by_client_id(session: AsyncSession, conv_id: uuid.UUID, client_message_id: str | None) -> MessageRead:
    table = Message.__table__
    row = (
        await session.execute(
            select(table).where(table.c.conversation_id == conv_id, table.c.client_message_id == client_message_id)
        )
    ).one()
    return MessageRead.model_validate(dict(row._mapping))


def _stored_visitor_message(
    session: AsyncSession, conv_id: uuid.UUID, new_id: int, seq: int, status: str, channel: str,
    body: str, now: datetime, client_message_id: str | None,
) -> StoredMessage:
    read = MessageRead(
        id=new_id, conversation_id=conv_id, seq=seq, sender=Sender.VISITOR.value, body=body,
        channel=channel, created_at=now, metadata={}, client_message_id=client_message_id,
    )
    emit(session, conversation_channel(conv_id), {"type": "message.created", "message": read.model_dump(mode="json")})
    return StoredMessage(read, True, status)


def visitor_access(conversation_id: uuid.UUID | str, token: str | None) -> ColumnElement[bool]:
    """The condition under which a visitor holding `token` may use a conversation."""
    conv_id = _parse_id(conversation_id)
    return and_(CONVERSATIONS.c.id == conv_id, CONVERSATIONS.c.token_hash == hash_token(token or ""))


async def append_message(
    session: AsyncSession,
    conv: Conversation,
    *,
    sender: Sender | str,
    body: str,
    channel: str | None = None,
    meta: dict[str, Any] | None = None,
    client_message_id: str | None = None,
) -> tuple[Message, bool]:
    """Store a message in `conv` (see store_message); (message, created)."""
    stored = await store_message(
        session,
        CONVERSATIONS.c.id == conv.id,
        sender=sender,
        body=body,
        channel=channel,
        meta=meta,
        client_message_id=client_message_id,
    )
    m = stored.message
    if stored.created:
        # Keep the loaded instance in step without marking it dirty (no second UPDATE).
        set_committed_value(conv, "last_seq", m.seq)
        set_committed_value(conv, "last_activity_at", m.created_at)
    message = Message(
        id=m.id,
        conversation_id=m.conversation_id,
        seq=m.seq,
        sender=m.sender,
        body=m.body,
        channel=m.channel,
        created_at=m.created_at,
        meta=m.metadata,
        client_message_id=m.client_message_id,
    )
    return message, stored.created


async def list_messages(
    session: AsyncSession, conversation_id: uuid.UUID, *, after: int = 0, limit: int = 500
) -> Sequence[Message]:
    stmt = (
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.seq > after)
        .order_by(Message.seq)
        .limit(limit)
    )
    return (await session.execute(stmt)).scalars().all()


async def transition(
    session: AsyncSession,
    conv: Conversation,
    new_status: ConversationStatus,
    *,
    actor_type: str = "system",
    actor_id: object | None = None,
    reason: str | None = None,
) -> None:
    """Move the conversation to `new_status` if the state machine allows it (else 409)."""
    old = conv.status
    if new_status.value == old:
        return
    if new_status.value not in TRANSITIONS[S(old)]:
        raise Conflict(f"a conversation cannot go from '{old}' to '{new_status.value}'")
    conv.status = new_status.value
    conv.updated_at = utc_now()
    await session.flush()
    audit.record(
        session,
        "conversation",
        conv.id,
        "status_changed",
        actor_type=actor_type,
        actor_id=actor_id,
        data={"from": old, "to": new_status.value, "reason": reason},
    )
    emit(
        session,
        conversation_channel(conv.id),
        {
            "type": "conversation.status_changed",
            "conversation_id": str(conv.id),
            "from": old,
            "status": new_status.value,
        },
    )

