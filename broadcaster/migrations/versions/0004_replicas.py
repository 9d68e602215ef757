"""Replicas: membership rows, the shared rate bucket, dispatch leases

Revision ID: replicas
Revises: console
Create Date: 2026-12-02 06:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import broadcaster.db

revision: str = 'replicas'
down_revision: str | None = 'console'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('replica',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('owner', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('started_at', broadcaster.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('owner')
    )
    op.create_table('rate_bucket',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=80), nullable=False),
    sa.Column('tokens', sa.Float(), nullable=False),
    sa.Column('updated_at', broadcaster.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('priority_until', broadcaster.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('broadcast') as batch:
        batch.add_column(sa.Column(
            'dispatch_owner', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch.add_column(sa.Column(
            'dispatch_lease_until', broadcaster.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('broadcast') as batch:
        batch.drop_column('dispatch_lease_until')
        batch.drop_column('dispatch_owner')
    op.drop_table('rate_bucket')
    op.drop_table('replica')
