"""Review together (issue 21): notes pinned to moments with their edit history, and corrections
of the model's answers (and of Image Analysis detections), every one kept.

note: at_s, optionally what it is about (a question key or a label), the text, its author and
times, a deleted flag (a deleted note stays, for its history). note_edit: the note as it was
before each edit or its delete, with who did it. correction: one row per review of a frame's
answer (question_key) or detection (detection_id); the newest row of an answer is in force.
Text is Unicode (NVARCHAR on SQL Server); rows cascade from their analysis (services/library.py
deletes them explicitly too). note_edit.note_id does not cascade: SQL Server refuses a second
cascade path from the analysis.

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mssql import DATETIME2

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(DATETIME2(precision=6), "mssql")
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _row_id() -> sa.Column:
    return sa.Column("id", ROW_ID, primary_key=True, autoincrement=True)


def _analysis_id() -> sa.Column:
    return sa.Column("analysis_id", sa.String(32),
                     sa.ForeignKey("analysis.id", ondelete="CASCADE"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "note",
        _row_id(),
        _analysis_id(),
        sa.Column("at_s", sa.Float(), nullable=False),
        sa.Column("about", sa.Unicode(200), nullable=True),
        sa.Column("text", sa.Unicode(2000), nullable=False),
        sa.Column("author", sa.Unicode(255), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_note_analysis_at", "note", ["analysis_id", "at_s"])
    op.create_table(
        "note_edit",
        _row_id(),
        sa.Column("note_id", ROW_ID, sa.ForeignKey("note.id"), nullable=False),
        _analysis_id(),
        sa.Column("action", sa.String(10), nullable=False),
        sa.Column("about", sa.Unicode(200), nullable=True),
        sa.Column("text", sa.Unicode(2000), nullable=False),
        sa.Column("author", sa.Unicode(255), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_note_edit_note", "note_edit", ["note_id"])
    op.create_table(
        "correction",
        _row_id(),
        _analysis_id(),
        sa.Column("frame_index", sa.Integer(), nullable=False),
        sa.Column("question_key", sa.String(40), nullable=True),
        sa.Column("detection_id", sa.BigInteger(), nullable=True),
        sa.Column("verdict", sa.String(10), nullable=False),
        sa.Column("number", sa.Float(), nullable=True),
        sa.Column("text", sa.Unicode(500), nullable=True),
        sa.Column("author", sa.Unicode(255), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_correction_analysis_frame", "correction", ["analysis_id", "frame_index"])


def downgrade() -> None:
    for table in ("correction", "note_edit", "note"):
        op.drop_table(table)
