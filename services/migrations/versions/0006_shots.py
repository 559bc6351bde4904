"""Shots at frame precision (issue 20): one row per shot of an analysis, found on every decoded
frame, with the transition that began it and its keyframe thumbnail; and, per analysis, whether
a sparse (seeking) run also decodes every frame to find them.

shot: start_s/end_s from the frames' timestamps (variable frame rate safe), transition `cut`,
`fade` or `dissolve`, keyframe_key under the analysis's blob folder (deleted with it).
analysis.full_shot_pass: null (not asked, as on existing analyses) is false.

Revision ID: 0006
Revises: 0005
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "shot",
        sa.Column("id", ROW_ID, primary_key=True, autoincrement=True),
        sa.Column("analysis_id", sa.String(32), sa.ForeignKey("analysis.id"), nullable=False),
        sa.Column("shot_index", sa.Integer(), nullable=False),
        sa.Column("start_s", sa.Float(), nullable=False),
        sa.Column("end_s", sa.Float(), nullable=False),
        sa.Column("transition", sa.String(10), nullable=False),
        sa.Column("keyframe_s", sa.Float(), nullable=True),
        sa.Column("keyframe_key", sa.String(200), nullable=True),
        sa.UniqueConstraint("analysis_id", "shot_index"),
    )
    with op.batch_alter_table("analysis") as batch:
        batch.add_column(sa.Column("full_shot_pass", sa.Boolean(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("analysis") as batch:
        batch.drop_column("full_shot_pass")
    op.drop_table("shot")
