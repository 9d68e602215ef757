"""alert feeds: refusals and reasons recorded, information drafts, disaster-mode hold,
per-language order text, polled Atom feeds and their entries

Revision ID: alerts
Revises: 0002_ledger
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

import broadcaster.db

revision: str = "alerts"
down_revision: str | None = "0002_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("alert_record", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "title",
                sqlmodel.sql.sqltypes.AutoString(length=200),
                nullable=False,
                server_default="",
            )
        )
        batch_op.add_column(sa.Column("reason", sa.Text(), nullable=True))
        batch_op.create_index(batch_op.f("ix_alert_record_outcome"), ["outcome"], unique=False)
    with op.batch_alter_table("emergency_draft", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("information", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    with op.batch_alter_table("emergency", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("texts", JSON, nullable=False, server_default=sa.text("'{}'"))
        )
        batch_op.add_column(
            sa.Column("hold_routine", sa.Boolean(), nullable=False, server_default=sa.true())
        )
    op.create_table(
        "alert_feed",
        sa.Column("url", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("etag", sqlmodel.sql.sqltypes.AutoString(length=500), nullable=True),
        sa.Column("last_modified", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=True),
        sa.Column("last_attempt_at", broadcaster.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", broadcaster.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", broadcaster.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("url"),
    )
    op.create_table(
        "alert_feed_entry",
        sa.Column("entry_id", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("feed_url", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("link", sqlmodel.sql.sqltypes.AutoString(length=1000), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("seen_at", broadcaster.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("fetched_at", broadcaster.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["record_id"], ["alert_record.id"]),
        sa.PrimaryKeyConstraint("entry_id"),
    )
    with op.batch_alter_table("alert_feed_entry", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_alert_feed_entry_feed_url"), ["feed_url"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_feed_entry", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_feed_entry_feed_url"))
    op.drop_table("alert_feed_entry")
    op.drop_table("alert_feed")
    with op.batch_alter_table("emergency", schema=None) as batch_op:
        batch_op.drop_column("hold_routine")
        batch_op.drop_column("texts")
    with op.batch_alter_table("emergency_draft", schema=None) as batch_op:
        batch_op.drop_column("information")
    with op.batch_alter_table("alert_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alert_record_outcome"))
        batch_op.drop_column("reason")
        batch_op.drop_column("title")
