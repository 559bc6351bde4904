"""The question analyser's rows: saved question sets, each analysis's questions, one answer per
frame and question, and the tokens the service counted per frame.

New tables only; nothing existing changes. Text is Unicode (NVARCHAR on SQL Server), row ids
BIGINT (INTEGER on SQLite, its only auto-incrementing type).

Revision ID: 0005
Revises: 0004
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mssql import DATETIME2

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(DATETIME2(precision=6), "mssql")
ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _row_id() -> sa.Column:
    return sa.Column("id", ROW_ID, primary_key=True, autoincrement=True)


def _analysis_id() -> sa.Column:
    return sa.Column("analysis_id", sa.String(32), sa.ForeignKey("analysis.id"), nullable=False)


def upgrade() -> None:
    op.create_table(
        "question_set",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("name", sa.Unicode(100), nullable=False, unique=True),
        sa.Column("questions_json", sa.UnicodeText(), nullable=False),
        sa.Column("created_by", sa.Unicode(255), nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "analysis_question",
        _row_id(),
        _analysis_id(),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(40), nullable=False),
        sa.Column("text", sa.Unicode(300), nullable=False),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("choices_json", sa.Unicode(4000), nullable=True),
        sa.UniqueConstraint("analysis_id", "key"),
    )
    op.create_table(
        "answer",
        _row_id(),
        _analysis_id(),
        sa.Column("frame_index", sa.Integer(), nullable=False),
        sa.Column("question_key", sa.String(40), nullable=False),
        sa.Column("number", sa.Float(), nullable=True),
        sa.Column("text", sa.Unicode(500), nullable=True),
        sa.Column("valid", sa.Boolean(), nullable=False),
        sa.UniqueConstraint("analysis_id", "frame_index", "question_key"),
    )
    op.create_table(
        "frame_usage",
        _row_id(),
        _analysis_id(),
        sa.Column("frame_index", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cached_tokens", sa.Integer(), nullable=False),
        sa.Column("reasoning_tokens", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(100), nullable=True),
        sa.Column("region", sa.String(60), nullable=True),
        sa.Column("request_id", sa.String(100), nullable=True),
        sa.UniqueConstraint("analysis_id", "frame_index"),
    )


def downgrade() -> None:
    for table in ("frame_usage", "answer", "analysis_question", "question_set"):
        op.drop_table(table)
