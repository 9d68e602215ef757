"""Indexes for the residents page: followers by garbage zone, follows and blocks by month

Revision ID: admin
Revises: replicas
Create Date: 2026-12-02 07:10:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = 'admin'
down_revision: str | None = 'replicas'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Followers by zone from the index alone (100k residents: no row is read).
    op.create_index('ix_resident_follow_zone', 'resident', ['follow_state', 'garbage_zone'])
    op.create_index('ix_friend_event_time_kind', 'friend_event', ['occurred_at', 'kind'])


def downgrade() -> None:
    op.drop_index('ix_friend_event_time_kind', table_name='friend_event')
    op.drop_index('ix_resident_follow_zone', table_name='resident')
