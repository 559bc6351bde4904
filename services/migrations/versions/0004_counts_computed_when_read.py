"""People and object counts are computed when read, at the reader's minimum confidence.

frame.people_count / frame.object_count held the counts at the confidence the worker had when the
frame was stored; the results page, frames.csv and the insights JSON count the detections at the
confidence asked for instead (services/insights/results.py), so the columns go. Downgrading adds
them back empty.

Revision ID: 0004
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("frame") as batch:
        batch.drop_column("object_count")
        batch.drop_column("people_count")


def downgrade() -> None:
    with op.batch_alter_table("frame") as batch:
        batch.add_column(sa.Column("people_count", sa.Integer(), nullable=True))
        batch.add_column(sa.Column("object_count", sa.Integer(), nullable=True))
