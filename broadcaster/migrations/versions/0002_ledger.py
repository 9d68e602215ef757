"""batches carry their residents; delivery rows are derived by the ledger

Revision ID: 0002_ledger
Revises: 0001
Create Date: 2026-12-01 22:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import broadcaster.db

revision: str = "0002_ledger"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("batch", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "resident_ids",
                sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql"),
                nullable=False,
                server_default="[]",
            )
        )
        batch_op.add_column(
            sa.Column("ledgered_at", broadcaster.db.UTCDateTime(timezone=True), nullable=True)
        )
    # Batches written before this revision already have their delivery rows.
    op.execute("UPDATE batch SET ledgered_at = created_at")
    with op.batch_alter_table("batch", schema=None) as batch_op:
        batch_op.alter_column("resident_ids", server_default=None)
        batch_op.create_index(
            "ix_batch_unledgered",
            ["broadcast_id"],
            unique=False,
            sqlite_where=sa.text("ledgered_at IS NULL"),
            postgresql_where=sa.text("ledgered_at IS NULL"),
        )


def downgrade() -> None:
    with op.batch_alter_table("batch", schema=None) as batch_op:
        batch_op.drop_index("ix_batch_unledgered")
        batch_op.drop_column("ledgered_at")
        batch_op.drop_column("resident_ids")
