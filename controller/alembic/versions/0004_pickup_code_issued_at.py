"""pickup code issued_at: which of two codes for a parcel is newer (re-issue vs the agent's own)

Revision ID: 0004
Revises: 0003
"""
from __future__ import annotations

from alembic import op
import sqlalchemy as sa
import controller.db.types


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: codes issued before this revision have no known time and count as the oldest.
    with op.batch_alter_table('pickup_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('issued_at', controller.db.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('pickup_codes', schema=None) as batch_op:
        batch_op.drop_column('issued_at')
