"""The connection pool replaces connections the database server closed."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

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
