"""Ticket text search: a case- and accent-insensitive substring match, indexed on both backends.

A ticket matches `q` when the folded `q` is a substring of the folded number, subject or
description, or of the folded body of a message in the ticket's conversation. Folding maps the
accented Latin letters to their base letter, then lowercases: "Perché" and "PERCHE" fold alike.

PostgreSQL: `sportello_fold(text)` (an immutable SQL function over `translate`) with `pg_trgm`
GIN indexes on the folded columns, so `LIKE '%…%'` uses the index (migration 0007).
SQLite: two FTS5 tables with the trigram tokenizer hold the folded text, kept in step by
triggers on `tickets` and `messages` that call `sportello_fold`, the Python `textfold.fold`
registered on every connection (sportello.db); only messages of conversations that have a
ticket are indexed. Both apply the same map, so both backends return the same tickets.

No single plan is fast for every query: a word in a third of the tickets matches tens of
thousands of rows (reading them all from an index and sorting took seconds), while for a rare
one a walk down the list would check every ticket. `page` first walks the list's first
`WINDOW` tickets in order, checking each; only if that does not fill the page does it count the
index's matches (up to `INDEX_CAP`) and read them all, or, past the cap, walk the whole list.
A query with a run of four or more digits (a ticket number, an order code) starts at the index.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    and_,
    column,
    exists,
    func,
    literal_column,
    or_,
    select,
    table,
    union,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from sportello.conversations.models import Message
from sportello.textfold import fold
from sportello.tickets.models import Ticket

# Trigram indexes cannot look up fewer than three characters: shorter queries scan.
MIN_INDEXED = 3
WINDOW = 200
INDEX_CAP = 5000
# A ticket number, an order code, a phone number: a run of digits is rare by nature, so such a
# query goes to the index without first walking the list.
SPECIFIC = re.compile(r"\d{4,}")

# The FTS5 tables exist on SQLite only (migration 0007); they stay out of the models' metadata
# so that Alembic and the privacy sweep see only real tables.
SEARCH_TICKETS = table("search_tickets", column("rowid", Integer), column("number", Text),
                       column("subject", Text), column("description", Text))
SEARCH_MESSAGES = table("search_messages", column("rowid", Integer), column("body", Text))


def _like(folded: str) -> str:
    escaped = folded.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _fts_phrase(folded: str) -> str:
    # One quoted FTS5 string: the trigram tokenizer then matches it as a substring.
    return '"' + folded.replace('"', '""') + '"'


async def page(
    session: AsyncSession,
    dialect: str,
    stmt: Select[Any],
    key: Any,
    descending: bool,
    limit: int,
    q: str,
) -> list[Ticket]:
    """The first `limit` tickets of `stmt` (a filtered `select(Ticket)`) in (key, id) order matching `q`."""
    folded = fold(q) or ""
    order = [key.desc(), Ticket.id.desc()] if descending else [key.asc(), Ticket.id.asc()]
    each = _row_matches(dialect, folded)

    async def run(condition: ColumnElement[bool]) -> list[Ticket]:
        rows = await session.execute(stmt.where(condition).order_by(*order).limit(limit))
        return list(rows.scalars().all())

    if len(folded) >= MIN_INDEXED and SPECIFIC.search(folded) and await _index_hits(session, dialect, folded) < INDEX_CAP:
        return await run(tickets_matching(dialect, folded))
    # 1. The first WINDOW tickets of the list, checked one by one in order: enough for a word
    #    in more than a quarter of them, and the walk stops at the page's last match.
    edge = (await session.execute(stmt.with_only_columns(key, Ticket.id).order_by(*order).offset(WINDOW - 1).limit(1))).first()
    if edge is None:
        return await run(each)
    value, last_id = edge
    within = (
        or_(key > value, and_(key == value, Ticket.id >= last_id))
        if descending
        else or_(key < value, and_(key == value, Ticket.id <= last_id))
    )
    found = await run(within & each)
    if len(found) == limit:
        return found
    # 2. Rarer: read the matches from the index, unless there are too many of them; then
    #    3. walk the whole list (a common word under narrow filters).
    if len(folded) >= MIN_INDEXED and await _index_hits(session, dialect, folded) < INDEX_CAP:
        return await run(tickets_matching(dialect, folded))
    return await run(each)


def tickets_matching(dialect: str, folded: str) -> ColumnElement[bool]:
    """A condition true for the tickets whose text or conversation contains `folded`, by index."""
    if dialect == "postgresql":
        return _postgres(folded)
    return _sqlite(folded)


def _row_matches(dialect: str, folded: str) -> ColumnElement[bool]:
    """The same condition checked on each ticket row (for a walk down the list)."""
    pattern = _like(folded)
    if dialect == "postgresql":
        own = or_(*(func.sportello_fold(c).like(pattern, escape="\\") for c in (Ticket.number, Ticket.subject, Ticket.description)))
        # A scalar subquery, not EXISTS: PostgreSQL may turn an EXISTS into a hashed scan of
        # every matching message (seconds for a common word); this stays a per-ticket lookup.
        in_messages = (
            select(Message.id)
            .where(
                Message.conversation_id == Ticket.conversation_id,
                func.sportello_fold(Message.body).like(pattern, escape="\\"),
            )
            .limit(1)
            .scalar_subquery()
            .is_not(None)
        )
        return or_(own, in_messages)
    # SQLite reads the folded copies in the FTS5 tables by rowid: no folding per row.
    st, sm = SEARCH_TICKETS, SEARCH_MESSAGES
    own_copy = exists().where(
        st.c.rowid == Ticket.seq,
        or_(*(c.like(pattern, escape="\\") for c in (st.c.number, st.c.subject, st.c.description))),
    )
    said = exists().where(
        Message.conversation_id == Ticket.conversation_id,
        sm.c.rowid == Message.id,
        sm.c.body.like(pattern, escape="\\"),
    )
    return or_(own_copy, said)


async def _index_hits(session: AsyncSession, dialect: str, folded: str) -> int:
    """How many index entries match, counting no further than INDEX_CAP."""
    if dialect == "postgresql":
        pattern = _like(folded)
        sources = [
            select(Ticket.id).where(
                or_(*(func.sportello_fold(c).like(pattern, escape="\\") for c in (Ticket.number, Ticket.subject, Ticket.description)))
            ),
            select(Message.id).where(func.sportello_fold(Message.body).like(pattern, escape="\\")),
        ]
    else:
        phrase = _fts_phrase(folded)
        sources = [
            select(SEARCH_TICKETS.c.rowid).where(literal_column("search_tickets").op("MATCH")(phrase)),
            select(SEARCH_MESSAGES.c.rowid).where(literal_column("search_messages").op("MATCH")(phrase)),
        ]
    total = 0
    for source in sources:
        capped = source.limit(INDEX_CAP).subquery()
        total += int((await session.execute(select(func.count()).select_from(capped))).scalar_one())
    return total


def _postgres(folded: str) -> ColumnElement[bool]:
    pattern = _like(folded)
    t = aliased(Ticket)
    own = select(t.id).where(
        or_(*(func.sportello_fold(c).like(pattern, escape="\\") for c in (t.number, t.subject, t.description)))
    )
    said = (
        select(t.id)
        .join(Message, Message.conversation_id == t.conversation_id)
        .where(func.sportello_fold(Message.body).like(pattern, escape="\\"))
    )
    # One id set from two index scans: an OR across the two tables would scan every ticket.
    return Ticket.id.in_(union(own, said))


def _sqlite(folded: str) -> ColumnElement[bool]:
    st, sm = SEARCH_TICKETS, SEARCH_MESSAGES
    own: Select[Any]
    said: Select[Any]
    if len(folded) >= MIN_INDEXED:
        phrase = _fts_phrase(folded)
        own = select(st.c.rowid).where(literal_column("search_tickets").op("MATCH")(phrase))
        said = select(sm.c.rowid).where(literal_column("search_messages").op("MATCH")(phrase))
    else:
        pattern = _like(folded)
        own = select(st.c.rowid).where(
            or_(*(c.like(pattern, escape="\\") for c in (st.c.number, st.c.subject, st.c.description)))
        )
        said = select(sm.c.rowid).where(sm.c.body.like(pattern, escape="\\"))
    conversations = select(Message.conversation_id).where(Message.id.in_(said))
    return or_(Ticket.seq.in_(own), Ticket.conversation_id.in_(conversations))
