"""Engine, session factory and the session scopes: only a scope commits."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Integer, MetaData, event, exc
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from sportello import textfold
from sportello.events import EventBus, MemoryBus, take_pending
from sportello.sqlite_onehop import use_one_hop_cursors
from sportello.timeutil import as_utc

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes on every backend (SQLite hands back naive strings)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = as_utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else as_utc(value)


JSONType = JSON().with_variant(JSONB(), "postgresql")
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")


def make_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine tuned per backend: SQLite gets WAL, foreign keys and one writer connection."""
    if url.startswith("sqlite"):
        # One connection serialises writers inside the process instead of letting them
        # collide on SQLite's file lock; transactions are kept short so this is cheap.
        engine = create_async_engine(
            url, pool_size=1, max_overflow=0, pool_timeout=60, pool_reset_on_return=None, **kwargs
        )

        @event.listens_for(engine.sync_engine, "reset")
        def _reset(dbapi_conn: Any, _: Any, state: Any) -> None:
            # The pool's usual reset is a ROLLBACK on every return, a trip to the database thread
            # even right after a commit; only a connection still in a transaction needs one.
            if state.asyncio_safe and not state.terminate_only and dbapi_conn.driver_connection._conn.in_transaction:
                dbapi_conn.rollback()

        _commit_only_open_transactions(engine)

        @event.listens_for(engine.sync_engine, "connect")
        def _pragmas(dbapi_conn: Any, _: Any) -> None:
            use_one_hop_cursors(dbapi_conn)
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=15000")
            cur.close()
            # The ticket search triggers (migration 0007) fold text with the application's map.
            dbapi_conn.create_function(textfold.SQL_NAME, 1, textfold.fold, deterministic=True)

        return engine
    engine = create_async_engine(url, pool_size=10, max_overflow=20, **kwargs)
    _check_connections_on_checkout(engine)
    return engine


def _commit_only_open_transactions(engine: AsyncEngine) -> None:
    """Send COMMIT to the database thread only if a transaction is open.

    sqlite3 opens a transaction at the first write, so a unit of work that only read has
    nothing to commit, and through aiosqlite each COMMIT is a round trip to that thread (~50 µs
    of CPU).
    sqlite3's own commit() makes the same check and does nothing when none is open.
    """
    dialect = engine.dialect
    commit = dialect.do_commit

    def do_commit(dbapi_connection: Any) -> None:
        if dbapi_connection.driver_connection.in_transaction:
            commit(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign]


# A connection used this recently is trusted without a round trip; one idle longer is pinged.
PING_AFTER_IDLE_SECONDS = 10.0


def _check_connections_on_checkout(engine: AsyncEngine) -> None:
    """Replace pooled connections the server closed, pinging only those idle for a while.

    `pool_pre_ping` costs three round trips on every checkout with asyncpg (BEGIN, `;`,
    ROLLBACK), which the realtime profile showed as the largest part of a message batch.
    A connection the server closed (restart, idle timeout) is already known to asyncpg without
    asking; an idle one may have been cut silently, so it still gets the ping.
    """
    dialect = engine.dialect

    @event.listens_for(engine.sync_engine, "checkin")
    def _checked_in(dbapi_conn: Any, record: Any) -> None:
        record.info["checked_in_at"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def _checked_out(dbapi_conn: Any, record: Any, proxy: Any) -> None:
        driver = getattr(dbapi_conn, "driver_connection", None)
        is_closed = getattr(driver, "is_closed", None)
        if is_closed is not None and is_closed():
            # The server went away: every connection made before now is stale too.
            raise exc.InvalidatePoolError("connection closed by the server")
        last_used = record.info.get("checked_in_at")
        if last_used is not None and time.monotonic() - last_used > PING_AFTER_IDLE_SECONDS:
            try:
                dialect.do_ping(dbapi_conn)
            except Exception as error:
                raise exc.InvalidatePoolError(f"ping failed: {type(error).__name__}") from error


class Database:
    """The engine and session factory of one process."""

    def __init__(self, url: str, bus: EventBus | None = None, **kwargs: Any) -> None:
        self.url = url
        self.bus: EventBus = bus or MemoryBus()
        self.engine = make_engine(url, **kwargs)
        self.sessionmaker = async_sessionmaker(self.engine, expire_on_commit=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @asynccontextmanager
    async def scope(self) -> AsyncIterator[AsyncSession]:
        """A unit of work: commits on success, rolls back on error, then publishes its events."""
        async with self.sessionmaker() as session:
            try:
                yield session
                await session.commit()
            except BaseException:
                await session.rollback()
                take_pending(session)
                raise
        pending = take_pending(session)
        if pending:
            await self.bus.publish_many(pending)

    async def dispose(self) -> None:
        await self.engine.dispose()
