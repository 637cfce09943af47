"""The erasure check: search every string and JSON column of every table for a person's data."""

from __future__ import annotations

from sqlalchemy import JSON, String, Text, cast, func, or_, select

from sportello.db import Base
from sportello.runtime import Runtime


async def rows_mentioning(rt: Runtime, needles: tuple[str, ...]) -> list[str]:
    """Every string/JSON value, in every table, that still holds one of `needles` (lower case)."""
    found: list[str] = []
    async with rt.db.scope() as session:
        for table in Base.metadata.sorted_tables:
            columns = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
            for column in columns:
                text = func.lower(cast(column, Text))
                clause = or_(*(text.contains(n, autoescape=True) for n in needles))
                for value in (await session.execute(select(column).where(clause))).scalars():
                    found.append(f"{table.name}.{column.name}: {value!r}")
    return found
