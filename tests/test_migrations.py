"""One set of migrations serves SQLite and PostgreSQL, and agrees with the models."""

from __future__ import annotations

import asyncio

from sqlalchemy import inspect

from sportello.db import make_engine
from sportello.migrate import check, upgrade
from sportello.models import Base
from tests.fixtures.backends import Backend


async def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    async with engine.connect() as conn:
        names = await conn.run_sync(lambda c: set(inspect(c).get_table_names()))
    await engine.dispose()
    return names


def test_upgrade_from_empty_to_head_and_check(backend: Backend) -> None:
    # The backend's database is a clone of an already-migrated template; upgrading again
    # must be a no-op, and `alembic check` must find nothing the models have that the
    # migrations lack (the template itself was built from empty by the same migrations).
    upgrade(backend.database_url)
    check(backend.database_url)
    tables = asyncio.run(_tables(backend.database_url))
    assert set(Base.metadata.tables) <= tables
    assert "alembic_version" in tables


def test_upgrade_from_empty(tmp_path: object) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path}/fresh.db"
    upgrade(url)
    check(url)
