"""Conversation use cases: create, access, append messages, change status.

Services flush, never commit: the caller's session scope commits once and then publishes
the events emitted here.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, insert, select, update
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
from sportello.conversations.schemas import ConversationCreate, ConversationRead, MessageRead
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


def _new_conversation_row(
    data: ConversationCreate, *, language: str, user_agent: str | None, channel: str, now: datetime
) -> tuple[dict[str, Any], str]:
    """The columns of a new conversation, and its access token (stored only as a hash)."""
    token = secrets.token_urlsafe(32)
    row = {
        "id": uuid.uuid4(),
        "token_hash": hash_token(token),
        "status": S.BOT.value,
        "language": data.language or language,
        "channel": str(channel),
        "page_url": data.page_url,
        "user_agent": (user_agent or "")[:512] or None,
        "customer_ref": data.customer_ref,
        "last_seq": 0,
        "created_at": now,
        "updated_at": now,
        "last_activity_at": now,
    }
    return row, token


async def create_conversation(
    session: AsyncSession,
    data: ConversationCreate,
    *,
    language: str,
    user_agent: str | None,
    channel: str = Channel.WEB,
) -> tuple[Conversation, str]:
    """A new conversation and its access token (returned once, stored only as a hash)."""
    row, token = _new_conversation_row(data, language=language, user_agent=user_agent, channel=channel, now=utc_now())
    conv = Conversation(**row)
    session.add(conv)
    await session.flush()
    audit.record(session, "conversation", conv.id, "created", actor_type="visitor")
    return conv, token


@dataclass(frozen=True)
class NewConversation:
    """A widget visitor's conversation waiting to be created with others (see create_conversations)."""

    data: ConversationCreate
    language: str
    user_agent: str | None


async def create_conversations(
    session: AsyncSession, requests: Sequence[NewConversation]
) -> list[tuple[ConversationRead, str]]:
    """Web conversations as create_conversation makes them, with two Core statements for all.

    Visitors arriving together share them: through the ORM each conversation cost a unit of
    work's flush of two instances, more than the inserts themselves.
    """
    now = utc_now()
    made = [
        _new_conversation_row(r.data, language=r.language, user_agent=r.user_agent, channel=Channel.WEB, now=now)
        for r in requests
    ]
    rows = [row for row, _ in made]
    await session.execute(insert(CONVERSATIONS), rows)
    await audit.record_many(session, "conversation", [row["id"] for row in rows], "created", actor_type="visitor")
    return [(ConversationRead.model_validate(row), token) for row, token in made]


def parse_id(raw: uuid.UUID | str) -> uuid.UUID:
    """A conversation id from a path or payload; NotFound if it is not one."""
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
    conv_id = parse_id(conversation_id)
    conv = await session.get(Conversation, conv_id)
    if conv is None:
        raise NotFound(NOT_FOUND)
    if not token:
        raise NotFound(NOT_FOUND)
    if not hmac.compare_digest(conv.token_hash, hash_token(token)):
        raise NotFound(NOT_FOUND)
    return conv


async def visitor_last_seqs(
    session: AsyncSession, requests: Sequence[tuple[uuid.UUID, str | None]]
) -> list[int | None]:
    """For each (conversation, token): its last sequence number if the token opens it, else None.

    One Core statement for all of them (sockets opening together share it), checked as
    get_for_visitor checks one.
    """
    ids = {conv_id for conv_id, _ in requests}
    rows = await session.execute(
        select(CONVERSATIONS.c.id, CONVERSATIONS.c.token_hash, CONVERSATIONS.c.last_seq).where(
            CONVERSATIONS.c.id.in_(ids)
        )
    )
    found = {conv_id: (token_hash, last_seq) for conv_id, token_hash, last_seq in rows}
    out: list[int | None] = []
    for conv_id, token in requests:
        token_hash, last_seq = found.get(conv_id, ("", None))
        opens = bool(token) and hmac.compare_digest(token_hash, hash_token(token or ""))
        out.append(int(last_seq) if opens and last_seq is not None else None)
    return out


async def get_conversation(session: AsyncSession, conversation_id: uuid.UUID | str) -> Conversation:
    conv = await session.get(Conversation, parse_id(conversation_id))
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
    language: str | None = None,
) -> StoredMessage:
    """Store a message in the conversation matched by `access`, with the next sequence number.

    Three statements on the hot path: the atomic increment of the conversation's sequence (which
    also checks access and locks the row, so commits happen in sequence order and a later number
    is never visible before an earlier one), the insert, and the commit by the caller's scope.
    A repeated `client_message_id` returns the stored message and creates nothing. `language`,
    if given, becomes the conversation's language. Raises NotFound when `access` matches no
    conversation.
    """
    now = utc_now()
    # Core statements on the tables (not ORM-enabled DML): no identity-map synchronisation,
    # which the profile showed costing more than the SQL itself.
    conv_t = CONVERSATIONS
    changes: dict[str, Any] = {"last_seq": conv_t.c.last_seq + 1, "last_activity_at": now, "updated_at": now}
    if language is not None:
        changes["language"] = language
    bumped = (
        await session.execute(
            update(conv_t)
            .where(access)
            .values(**changes)
            .returning(conv_t.c.id, conv_t.c.last_seq, conv_t.c.status, conv_t.c.channel, conv_t.c.language)
        )
    ).one_or_none()
    if bumped is None:
        raise NotFound(NOT_FOUND)
    conv_id, seq, status, conv_channel, conv_language = bumped
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
        return StoredMessage(MessageRead.model_validate(dict(row._mapping)), False, status, conv_language)
    read = MessageRead.model_validate({**values, "id": new_id})
    emit(session, conversation_channel(conv_id), {"type": "message.created", "message": read.model_dump(mode="json")})
    return StoredMessage(read, True, status, conv_language)


@dataclass(frozen=True)
class StoredMessage:
    """A stored message, with the conversation's status and language as its store statement left them."""

    message: MessageRead
    created: bool
    conversation_status: str
    conversation_language: str


@dataclass(frozen=True)
class NewMessage:
    """A message waiting to be stored with others (see store_messages).

    A visitor's message is stored only with the conversation's token. Any other sender's
    (an automated reply) is stored only while the conversation still has `status`; `language`,
    if given, becomes the conversation's language in the same statement.
    """

    conversation_id: uuid.UUID | str
    body: str
    client_message_id: str | None
    token: str | None = None
    sender: str = Sender.VISITOR.value
    status: str | None = None
    language: str | None = None
    meta: dict[str, Any] | None = None

    def access_args(self) -> tuple[str | None, str | None]:
        """(token hash, status) for the store statements; None means "not checked"."""
        if self.sender == Sender.VISITOR.value:
            return hash_token(self.token or ""), None
        if self.status is None:
            raise ValueError("an automated message must name the status the conversation must have")
        return None, self.status

    def access(self) -> ColumnElement[bool]:
        token_hash, status = self.access_args()
        condition = CONVERSATIONS.c.id == parse_id(self.conversation_id)
        if token_hash is not None:
            condition = and_(condition, CONVERSATIONS.c.token_hash == token_hash)
        if status is not None:
            condition = and_(condition, CONVERSATIONS.c.status == status)
        return condition


async def store_messages(
    session: AsyncSession, requests: Sequence[NewMessage]
) -> list[StoredMessage | DomainError]:
    """Store each message as store_message would, in order, in the session's transaction.

    A request's own failure (wrong token, or the conversation no longer in the status named:
    NotFound) is returned in its place and touches no row.
    On SQLite the statements of the whole batch run in one call on the database thread: through
    the async adapter every statement costs four round trips to that thread, which the profile
    showed to be most of a message's cost. On PostgreSQL the batch is one pipelined round trip of
    one statement per message, sent on asyncpg directly: building and compiling two SQLAlchemy
    statements per message cost ~850 µs of CPU, more than everything else on the path.
    """
    dialect = session.bind.dialect.name if session.bind is not None else ""
    if dialect == "sqlite":
        return await _store_messages_sqlite(session, requests)
    if dialect == "postgresql":
        driver = await _asyncpg_in_transaction(session)
        if driver is not None:
            return await _store_messages_pg(session, driver, requests)
    out: list[StoredMessage | DomainError] = []
    for r in requests:
        try:
            out.append(
                await store_message(
                    session, r.access(), sender=r.sender, body=r.body, meta=r.meta,
                    client_message_id=r.client_message_id, language=r.language,
                )
            )
        except DomainError as exc:
            out.append(exc)
    return out


# A NULL token hash or status is "not checked" (see NewMessage.access_args).
_SQLITE_BUMP = (
    "UPDATE conversations SET last_seq = last_seq + 1, last_activity_at = ?, updated_at = ?, "
    "language = coalesce(?, language) "
    "WHERE id = ? AND (? IS NULL OR token_hash = ?) AND (? IS NULL OR status = ?) "
    "RETURNING last_seq, status, channel, language"
)
_SQLITE_INSERT = (
    "INSERT INTO messages (conversation_id, seq, sender, body, channel, created_at, metadata, client_message_id) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (conversation_id, client_message_id) DO NOTHING RETURNING id"
)
_SQLITE_GIVE_BACK = "UPDATE conversations SET last_seq = last_seq - 1 WHERE id = ?"


def _sqlite_batch(conn: Any, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...] | None]:
    """Runs on the database thread: (id | None, seq, status, channel, language) per row, None if no access."""
    out: list[tuple[Any, ...] | None] = []
    for conv_key, token_hash, status, language, when, sender, body, meta, cmid in rows:
        bumped = conn.execute(
            _SQLITE_BUMP, (when, when, language, conv_key, token_hash, token_hash, status, status)
        ).fetchone()
        if bumped is None:
            out.append(None)
            continue
        seq, conv_status, channel, conv_language = bumped
        new = conn.execute(_SQLITE_INSERT, (conv_key, seq, sender, body, channel, when, meta, cmid)).fetchone()
        if new is None:
            conn.execute(_SQLITE_GIVE_BACK, (conv_key,))
        out.append((new[0] if new else None, seq, conv_status, channel, conv_language))
    return out


async def _store_messages_sqlite(
    session: AsyncSession, requests: Sequence[NewMessage]
) -> list[StoredMessage | DomainError]:
    conn = await session.connection()
    dialect = conn.dialect
    uuid_bind = CONVERSATIONS.c.id.type.bind_processor(dialect)
    time_bind = Message.__table__.c.created_at.type.bind_processor(dialect)
    json_bind = Message.__table__.c.metadata.type.bind_processor(dialect)
    now = utc_now()
    when = time_bind(now) if time_bind else now
    out: list[StoredMessage | DomainError | None] = []
    rows = []
    parsed: list[tuple[NewMessage, uuid.UUID]] = []
    for r in requests:
        try:
            conv_id = parse_id(r.conversation_id)
        except DomainError as exc:
            out.append(exc)
            continue
        out.append(None)
        parsed.append((r, conv_id))
        meta = r.meta or {}
        rows.append((
            uuid_bind(conv_id) if uuid_bind else conv_id.hex, *r.access_args(), r.language, when,
            r.sender, r.body, json_bind(meta) if json_bind else json.dumps(meta), r.client_message_id,
        ))
    driver: Any = (await conn.get_raw_connection()).driver_connection
    # aiosqlite runs a callable on its connection thread: one round trip for the batch.
    results = await driver._execute(lambda: _sqlite_batch(driver._conn, rows))
    # Only the requests whose id parsed have a result: a bad id earlier in the batch must not shift them.
    pending = iter(zip(parsed, results, strict=True))
    done: list[StoredMessage | DomainError] = []
    for slot in out:
        if slot is not None:
            done.append(slot)
            continue
        (r, conv_id), result = next(pending)
        if result is None:
            done.append(NotFound(NOT_FOUND))
            continue
        new_id, seq, status, channel, language = result
        if new_id is None:
            stored = await _stored_by_client_id(session, conv_id, r.client_message_id)
            done.append(StoredMessage(stored, False, status, language))
        else:
            done.append(_stored_new_message(session, r, conv_id, new_id, seq, status, channel, language, now))
    return done


# One statement per message, so a batch goes to PostgreSQL as one pipelined round trip: lock the
# conversation row (FOR UPDATE returns its latest committed version, so the sequence is current
# even after waiting for another process's batch, and the access condition is checked on it),
# insert with the next number unless the client id is already stored, and move `last_seq` (and
# the language, if given) only when a row went in. Always one result row. A NULL token hash or
# status is "not checked" (see NewMessage.access_args).
_PG_STORE = """
WITH conv AS MATERIALIZED (
    SELECT id, last_seq, status, channel, language FROM conversations
    WHERE id = $1 AND ($2::varchar IS NULL OR token_hash = $2::varchar)
        AND ($8::varchar IS NULL OR status = $8::varchar)
    FOR UPDATE
), ins AS (
    INSERT INTO messages (conversation_id, seq, sender, body, channel, created_at, metadata, client_message_id)
    SELECT id, last_seq + 1, $3::varchar, $4::text, channel, $5::timestamptz, $6::jsonb, $7::varchar FROM conv
    ON CONFLICT (conversation_id, client_message_id) DO NOTHING
    RETURNING id, seq
), bump AS (
    UPDATE conversations SET last_seq = ins.seq, last_activity_at = $5::timestamptz, updated_at = $5::timestamptz,
        language = coalesce($9::varchar, conversations.language)
    FROM ins WHERE conversations.id = $1
)
SELECT conv.id IS NOT NULL AS found, conv.status, conv.channel, coalesce($9::varchar, conv.language), ins.id, ins.seq
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


async def _store_messages_pg(
    session: AsyncSession, driver: Any, requests: Sequence[NewMessage]
) -> list[StoredMessage | DomainError]:
    json_bind = Message.__table__.c.metadata.type.bind_processor(session.get_bind().dialect)
    now = utc_now()
    out: list[StoredMessage | DomainError | None] = []
    args = []
    parsed: list[tuple[NewMessage, uuid.UUID]] = []
    for r in requests:
        try:
            conv_id = parse_id(r.conversation_id)
        except DomainError as exc:
            out.append(exc)
            continue
        out.append(None)
        parsed.append((r, conv_id))
        token_hash, status = r.access_args()
        meta = r.meta or {}
        args.append((
            conv_id, token_hash, r.sender, r.body, now, json_bind(meta) if json_bind else json.dumps(meta),
            r.client_message_id, status, r.language,
        ))
    # asyncpg pipelines the statements of fetchmany: one round trip for the whole batch.
    results = await driver.fetchmany(_PG_STORE, args) if args else []
    # Only the requests whose id parsed have a result: a bad id earlier in the batch must not shift them.
    pending = iter(zip(parsed, results, strict=True))
    done: list[StoredMessage | DomainError] = []
    for slot in out:
        if slot is not None:
            done.append(slot)
            continue
        (r, conv_id), (found, status, channel, language, new_id, seq) = next(pending)
        if not found:
            done.append(NotFound(NOT_FOUND))
        elif new_id is None:
            stored = await _stored_by_client_id(session, conv_id, r.client_message_id)
            done.append(StoredMessage(stored, False, status, language))
        else:
            done.append(_stored_new_message(session, r, conv_id, new_id, seq, status, channel, language, now))
    return done


async def _stored_by_client_id(session: AsyncSession, conv_id: uuid.UUID, client_message_id: str | None) -> MessageRead:
    table = Message.__table__
    row = (
        await session.execute(
            select(table).where(table.c.conversation_id == conv_id, table.c.client_message_id == client_message_id)
        )
    ).one()
    return MessageRead.model_validate(dict(row._mapping))


def _stored_new_message(
    session: AsyncSession, r: NewMessage, conv_id: uuid.UUID, new_id: int, seq: int, status: str,
    channel: str, language: str, now: datetime,
) -> StoredMessage:
    read = MessageRead(
        id=new_id, conversation_id=conv_id, seq=seq, sender=r.sender, body=r.body,
        channel=channel, created_at=now, metadata=r.meta or {}, client_message_id=r.client_message_id,
    )
    emit(session, conversation_channel(conv_id), {"type": "message.created", "message": read.model_dump(mode="json")})
    return StoredMessage(read, True, status, language)


def visitor_access(conversation_id: uuid.UUID | str, token: str | None) -> ColumnElement[bool]:
    """The condition under which a visitor holding `token` may use a conversation."""
    conv_id = parse_id(conversation_id)
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

