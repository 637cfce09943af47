"""The connection pool: connections come back clean, and ones the server closed are replaced."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.util import greenlet_spawn

from sportello.config import Settings
from sportello.conversations.models import Conversation
from sportello.runtime import Runtime


async def test_units_of_work_survive_the_server_closing_pooled_connections(settings: Settings) -> None:
    if not settings.resolved_database_url.startswith("postgresql"):
        pytest.skip("SQLite has no server to close connections")
    import asyncpg

    rt = Runtime(settings)
    try:
        # Fill the pool with a few connections, all checked in afterwards.
        async def count() -> int:
            async with rt.db.scope() as session:
                await asyncio.sleep(0.05)
                return int((await session.execute(select(func.count()).select_from(Conversation))).scalar_one())

        assert await asyncio.gather(*(count() for _ in range(3))) == [0, 0, 0]
        url = make_url(settings.resolved_database_url).set(drivername="postgresql").render_as_string(hide_password=False)
        admin = await asyncpg.connect(url)
        try:
            killed = await admin.fetchval(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        finally:
            await admin.close()
        assert killed >= 3
        await asyncio.sleep(0.2)
        # Every unit of work after the restart-like event succeeds on a fresh connection.
        assert await asyncio.gather(*(count() for _ in range(3))) == [0, 0, 0]
    finally:
        await rt.db.dispose()


async def test_a_connection_returned_mid_transaction_is_rolled_back(settings: Settings) -> None:
    """SQLite skips the rollback after a committed unit of work; one left open is still undone."""
    rt = Runtime(settings)
    try:
        async with rt.db.scope() as session:
            await session.execute(text("CREATE TABLE pool_probe (n INTEGER)"))
        raw = await rt.db.engine.raw_connection()
        cursor = await greenlet_spawn(raw.cursor)
        await greenlet_spawn(cursor.execute, "INSERT INTO pool_probe VALUES (1)")
        await greenlet_spawn(cursor.close)
        # Back to the pool with the insert neither committed nor rolled back.
        await greenlet_spawn(raw.close)
        async with rt.db.scope() as session:
            await session.execute(text("INSERT INTO pool_probe VALUES (2)"))
        async with rt.db.scope() as session:
            rows = (await session.execute(text("SELECT n FROM pool_probe"))).scalars().all()
        assert rows == [2]
    finally:
        await rt.db.dispose()
