"""launch marker: the vehicle's total flight time counter (STAT_FLTTIME) when the launch was commanded

Revision ID: 0005
Revises: 0004
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: markers written before this revision, and vehicles that do not report the counter.
    with op.batch_alter_table('sorties', schema=None) as batch_op:
        batch_op.add_column(sa.Column('launch_flight_time_s', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sorties', schema=None) as batch_op:
        batch_op.drop_column('launch_flight_time_s')
