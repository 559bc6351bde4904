"""Shot-aware sampling (issue 20 item 3): the plan an analysis samples, stored on it.

analysis.sampling_plan: null samples at sample_fps (as every existing analysis); otherwise JSON
{"every_s": N, "shots": [[start_s, end_s, transition], ...], "times": [...]} made before the run
(services/analysis/shot_sampling.py), so a retry or resume samples exactly the same frames.
ASCII only (numbers and transition names): Text, not NVARCHAR.

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("analysis") as batch:
        batch.add_column(sa.Column("sampling_plan", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analysis") as batch:
        batch.drop_column("sampling_plan")
