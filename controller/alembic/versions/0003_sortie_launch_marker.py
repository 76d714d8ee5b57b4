"""sortie launch marker: when the controller commanded arming, and the battery then

Revision ID: 0003
Revises: 0002
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import controller.db.types


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('sorties', schema=None) as batch_op:
        batch_op.add_column(sa.Column('launch_commanded_at', controller.db.types.UTCDateTime(timezone=True),
                                      nullable=True))
        batch_op.add_column(sa.Column('launch_battery_pct', sa.Float(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('sorties', schema=None) as batch_op:
        batch_op.drop_column('launch_battery_pct')
        batch_op.drop_column('launch_commanded_at')
