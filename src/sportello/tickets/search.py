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
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Select,
    Text,
    column,
    func,
    literal_column,
    or_,
    select,
    table,
    union,
)
from sqlalchemy.orm import aliased

from sportello.conversations.models import Message
from sportello.textfold import fold
from sportello.tickets.models import Ticket

# FTS5's trigram tokenizer cannot look up fewer than three characters: shorter queries scan.
MIN_INDEXED = 3

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


def tickets_matching(dialect: str, q: str) -> ColumnElement[bool]:
    """A condition on `Ticket` true for the tickets whose text or conversation contains `q`."""
    folded = fold(q) or ""
    if dialect == "postgresql":
        return _postgres(folded)
    return _sqlite(folded)


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
