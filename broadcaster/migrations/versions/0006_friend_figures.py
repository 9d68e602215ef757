"""The friends figures' stored tally (kpis.friend_figures); the per-month index it replaces

Revision ID: friend_figures
Revises: admin
Create Date: 2026-12-02 13:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import sqlmodel

import broadcaster.db

revision: str = 'friend_figures'
down_revision: str | None = 'admin'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('friend_figure',
    sa.Column('district', sqlmodel.sql.sqltypes.AutoString(length=100), nullable=False),
    sa.Column('day', sa.Date(), nullable=False),
    sa.Column('friends', sa.Integer(), nullable=False),
    sa.Column('new_friends', sa.Integer(), nullable=False),
    sa.Column('refollows', sa.Integer(), nullable=False),
    sa.Column('blocks', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('district', 'day')
    )
    op.create_table('figures_tally',
    sa.Column('name', sqlmodel.sql.sqltypes.AutoString(length=32), nullable=False),
    sa.Column('tallied_at', broadcaster.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('name')
    )
    # The residents page counted follows and blocks per month through it; it reads the
    # tally now.
    op.drop_index('ix_friend_event_time_kind', table_name='friend_event')


def downgrade() -> None:
    op.create_index('ix_friend_event_time_kind', 'friend_event', ['occurred_at', 'kind'])
    op.drop_table('figures_tally')
    op.drop_table('friend_figure')
