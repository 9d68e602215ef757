"""garbage: notes on collection days, and the sorting dictionary (issue 16)

Revision ID: garbage
Revises: alerts
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op
from sqlalchemy import Text
from sqlalchemy.dialects import postgresql

revision: str = "garbage"
down_revision: str | None = "alerts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("collection_day", schema=None) as batch_op:
        batch_op.add_column(sa.Column("notes", JSON, server_default="[]", nullable=False))
    op.create_table(
        "sorting_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("reading", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("category", sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
        sa.Column("notice", sa.Text(), nullable=False),
        sa.Column("translations", JSON, nullable=False),
        sa.Column("import_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["import_id"], ["calendar_import.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sorting_item", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sorting_item_import_id"), ["import_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("sorting_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sorting_item_import_id"))
    op.drop_table("sorting_item")
    with op.batch_alter_table("collection_day", schema=None) as batch_op:
        batch_op.drop_column("notes")
