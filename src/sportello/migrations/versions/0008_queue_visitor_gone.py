"""queue entries: deadline for a visitor whose socket closed while waiting

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-26 01:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sportello.db


revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("queue_entries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("gone_deadline_at", sportello.db.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_queue_entries_gone_deadline", ["gone_deadline_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("queue_entries", schema=None) as batch_op:
        batch_op.drop_index("ix_queue_entries_gone_deadline")
        batch_op.drop_column("gone_deadline_at")
