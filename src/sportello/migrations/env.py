"""Alembic environment: async engine, URL from Sportello's settings."""

from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from sportello.config import get_settings
from sportello.db import make_engine
from sportello.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    return config.attributes.get("database_url") or get_settings().resolved_database_url


# Expression indexes written per dialect in migration 0007, which a model cannot declare once.
RAW_INDEXES = {"ix_tickets_sla_due_order"}


def _modelled(name: str | None, type_: str, _parents: Any) -> bool:
    """Whether autogenerate compares this object: the ticket search's own are not modelled.

    Migration 0007 creates them with raw DDL: SQLite's FTS5 tables (and their shadow tables),
    PostgreSQL's expression GIN indexes, named `search_*` and `ix_search_*`, and RAW_INDEXES.
    """
    if name is None:
        return True
    if type_ == "table":
        return not name.startswith("search_")
    if type_ == "index":
        return not (name.startswith("ix_search_") or name in RAW_INDEXES)
    return True


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_name=_modelled,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = make_engine(_url())
    async with engine.connect() as conn:
        await conn.run_sync(_configure)
        await conn.commit()
    await engine.dispose()


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    asyncio.run(_run_async())
