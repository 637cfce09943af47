"""ticket search indexes

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-26 01:40:00

The ticket list's text search (tickets/search.py) folds accents and case and matches
substrings. PostgreSQL: `pg_trgm` GIN indexes on `sportello_fold(...)` (lower(unaccent(...)))
of the ticket's number, subject and description and of every message body; both extensions ship
in PostgreSQL's contrib (Debian's `postgresql` package) and are trusted. SQLite: FTS5 trigram tables holding the
folded text, kept in step by triggers (messages only for conversations that have a ticket) that
call `sportello_fold`, registered by the application on its connections (sportello.textfold,
which agrees with unaccent over Latin-1 and Latin Extended-A). A later migration that
rebuilds `tickets` or `messages` on SQLite (batch move-and-copy) must recreate the triggers.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

def _sqlite_fold(expr: str) -> str:
    # SQLite has no `translate`: sportello.db registers `textfold.fold` under this name on
    # every connection the application opens, this migration's included.
    return f"sportello_fold({expr})"


def _upgrade_postgresql() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute("CREATE EXTENSION IF NOT EXISTS unaccent")
    # unaccent() is only STABLE (its dictionary could be changed); wrapped with the dictionary
    # named explicitly it may be declared IMMUTABLE and indexed, the usual way to index it.
    # (A translate() over the accented letters costs ~0.2 ms per description: too slow to
    # check rows one by one.)
    op.execute(
        "CREATE OR REPLACE FUNCTION sportello_fold(text) RETURNS text "
        "LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE "
        "AS $$ SELECT lower(public.unaccent('public.unaccent'::regdictionary, $1)) $$"
    )
    op.execute(
        "CREATE INDEX ix_search_tickets_text ON tickets USING gin ("
        "sportello_fold(number) gin_trgm_ops, sportello_fold(subject) gin_trgm_ops, "
        "sportello_fold(description) gin_trgm_ops)"
    )
    op.execute("CREATE INDEX ix_search_messages_body ON messages USING gin (sportello_fold(body) gin_trgm_ops)")


def _upgrade_sqlite() -> None:
    f = _sqlite_fold
    op.execute("CREATE VIRTUAL TABLE search_tickets USING fts5(number, subject, description, tokenize='trigram')")
    op.execute("CREATE VIRTUAL TABLE search_messages USING fts5(body, tokenize='trigram')")
    index_ticket = (
        "INSERT INTO search_tickets(rowid, number, subject, description) "
        f"VALUES (NEW.seq, {f('NEW.number')}, {f('NEW.subject')}, {f('NEW.description')});"
    )
    # The messages a conversation had before its first ticket are indexed with the ticket.
    index_conversation = (
        f"INSERT INTO search_messages(rowid, body) SELECT m.id, {f('m.body')} FROM messages m "
        "WHERE m.conversation_id = NEW.conversation_id "
        "AND NOT EXISTS (SELECT 1 FROM search_messages s WHERE s.rowid = m.id);"
    )
    has_ticket = "EXISTS (SELECT 1 FROM tickets t WHERE t.conversation_id = NEW.conversation_id)"
    op.execute(f"CREATE TRIGGER search_tickets_ai AFTER INSERT ON tickets BEGIN {index_ticket} {index_conversation} END")
    op.execute(
        "CREATE TRIGGER search_tickets_au AFTER UPDATE OF seq, number, subject, description ON tickets "
        f"BEGIN DELETE FROM search_tickets WHERE rowid = OLD.seq; {index_ticket} END"
    )
    op.execute(
        "CREATE TRIGGER search_tickets_conversation AFTER UPDATE OF conversation_id ON tickets "
        f"WHEN NEW.conversation_id IS NOT NULL BEGIN {index_conversation} END"
    )
    op.execute("CREATE TRIGGER search_tickets_ad AFTER DELETE ON tickets BEGIN DELETE FROM search_tickets WHERE rowid = OLD.seq; END")
    op.execute(
        f"CREATE TRIGGER search_messages_ai AFTER INSERT ON messages WHEN {has_ticket} "
        f"BEGIN INSERT INTO search_messages(rowid, body) VALUES (NEW.id, {f('NEW.body')}); END"
    )
    op.execute(
        "CREATE TRIGGER search_messages_au AFTER UPDATE OF body ON messages BEGIN "
        "DELETE FROM search_messages WHERE rowid = OLD.id; "
        f"INSERT INTO search_messages(rowid, body) SELECT NEW.id, {f('NEW.body')} WHERE {has_ticket}; END"
    )
    op.execute("CREATE TRIGGER search_messages_ad AFTER DELETE ON messages BEGIN DELETE FROM search_messages WHERE rowid = OLD.id; END")
    op.execute(
        "INSERT INTO search_tickets(rowid, number, subject, description) "
        f"SELECT seq, {f('number')}, {f('subject')}, {f('description')} FROM tickets"
    )
    op.execute(
        f"INSERT INTO search_messages(rowid, body) SELECT id, {f('body')} FROM messages "
        "WHERE conversation_id IN (SELECT conversation_id FROM tickets)"
    )


def upgrade() -> None:
    # Ticket numbers come from one counter, so `seq` is unique; SQLite's index keys on it.
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.create_index("ix_tickets_seq", ["seq"], unique=True)
    # The list sorted by SLA due time orders by this expression ("none" last): indexed, it is
    # a walk down the index instead of a sort of every matching ticket.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE INDEX ix_tickets_sla_due_order ON tickets "
            "(coalesce(sla_due_at, '9000-01-01 00:00:00+00'::timestamptz), id)"
        )
        _upgrade_postgresql()
    else:
        op.execute(
            "CREATE INDEX ix_tickets_sla_due_order ON tickets "
            "(coalesce(sla_due_at, '9000-01-01 00:00:00.000000'), id)"
        )
        _upgrade_sqlite()


def downgrade() -> None:
    op.execute("DROP INDEX IF EXISTS ix_tickets_sla_due_order")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX IF EXISTS ix_search_messages_body")
        op.execute("DROP INDEX IF EXISTS ix_search_tickets_text")
        op.execute("DROP FUNCTION IF EXISTS sportello_fold(text)")  # the extensions stay
    else:
        for trigger in ("search_tickets_ai", "search_tickets_au", "search_tickets_conversation", "search_tickets_ad",
                        "search_messages_ai", "search_messages_au", "search_messages_ad"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS search_messages")
        op.execute("DROP TABLE IF EXISTS search_tickets")
    with op.batch_alter_table("tickets", schema=None) as batch_op:
        batch_op.drop_index("ix_tickets_seq")
