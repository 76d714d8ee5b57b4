"""locker commands (admin remote open picked up by the locker agent)

Revision ID: 0002
Revises: 0001
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import controller.db.types


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('locker_commands',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('locker_id', sa.String(length=64), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('board', sa.Integer(), nullable=False),
    sa.Column('lock', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('requested_by', sa.String(length=128), nullable=False),
    sa.Column('requested_at', controller.db.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', controller.db.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('result', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['locker_id'], ['lockers.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('locker_commands', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_locker_commands_locker_id'), ['locker_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('locker_commands', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_locker_commands_locker_id'))
    op.drop_table('locker_commands')
