"""The first release's schema, exactly as its create_all made it (commit cff90de).

A data folder from that release has these tables and no alembic_version table: upgrade_schema
stamps it at this revision, and the revisions after it change it in place.

Revision ID: 0001
Revises:
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mssql import DATETIME2

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# services.models.UTCDateTime as that release compiled it (frozen here: models may change).
TIMESTAMP = sa.DateTime().with_variant(DATETIME2(precision=6), "mssql")


def upgrade() -> None:
    op.create_table(
        "video",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("original_filename", sa.String(length=255), nullable=False),
        sa.Column("blob_key", sa.String(length=200), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=False),
        sa.Column("fps", sa.Float(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("codec", sa.String(length=40), nullable=False),
        sa.Column("rotation", sa.Integer(), nullable=False),
        sa.Column("uploaded_by", sa.String(length=255), nullable=False),
        sa.Column("uploaded_at", TIMESTAMP, nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("blob_key"),
    )
    op.create_index("ix_video_sha256", "video", ["sha256"], unique=False)
    op.create_index("ix_video_uploaded_at", "video", ["uploaded_at"], unique=False)
    op.create_table(
        "analysis",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("video_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("analyzer", sa.String(length=16), nullable=False),
        sa.Column("features", sa.String(length=200), nullable=False),
        sa.Column("sample_fps", sa.Float(), nullable=False),
        sa.Column("max_frames", sa.Integer(), nullable=True),
        sa.Column("adaptive", sa.Boolean(), nullable=False),
        sa.Column("frames_planned", sa.Integer(), nullable=False),
        sa.Column("frames_done", sa.Integer(), nullable=False),
        sa.Column("transactions", sa.Integer(), nullable=False),
        sa.Column("estimated_cost", sa.Float(), nullable=False),
        sa.Column("truncated", sa.Boolean(), nullable=False),
        sa.Column("error_message", sa.String(length=2000), nullable=True),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("started_at", TIMESTAMP, nullable=True),
        sa.Column("finished_at", TIMESTAMP, nullable=True),
        sa.Column("lease_owner", sa.String(length=120), nullable=True),
        sa.Column("lease_expires_at", TIMESTAMP, nullable=True),
        sa.ForeignKeyConstraint(["video_id"], ["video.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_analysis_created_at", "analysis", ["created_at"], unique=False)
    op.create_index("ix_analysis_lease_expires_at", "analysis", ["lease_expires_at"], unique=False)
    op.create_index("ix_analysis_status", "analysis", ["status"], unique=False)
    op.create_index("ix_analysis_video_id", "analysis", ["video_id"], unique=False)
    op.create_table(
        "detection",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("analysis_id", sa.String(length=32), nullable=False),
        sa.Column("frame_index", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=1000), nullable=True),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("x", sa.Integer(), nullable=True),
        sa.Column("y", sa.Integer(), nullable=True),
        sa.Column("w", sa.Integer(), nullable=True),
        sa.Column("h", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["analysis_id"], ["analysis.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_detection_analysis_frame", "detection", ["analysis_id", "frame_index"], unique=False
    )
    op.create_table(
        "frame",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("analysis_id", sa.String(length=32), nullable=False),
        sa.Column("frame_index", sa.Integer(), nullable=False),
        sa.Column("timestamp_s", sa.Float(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=False),
        sa.Column("height", sa.Integer(), nullable=False),
        sa.Column("thumbnail_key", sa.String(length=200), nullable=True),
        sa.Column("raw_result_key", sa.String(length=200), nullable=True),
        sa.Column("caption", sa.String(length=1000), nullable=True),
        sa.Column("caption_confidence", sa.Float(), nullable=True),
        sa.Column("people_count", sa.Integer(), nullable=True),
        sa.Column("object_count", sa.Integer(), nullable=True),
        sa.Column("brightness", sa.Float(), nullable=True),
        sa.Column("contrast", sa.Float(), nullable=True),
        sa.Column("sharpness", sa.Float(), nullable=True),
        sa.Column("colourfulness", sa.Float(), nullable=True),
        sa.Column("motion", sa.Float(), nullable=True),
        sa.Column("is_black", sa.Boolean(), nullable=True),
        sa.Column("shot_index", sa.Integer(), nullable=True),
        sa.Column("remote_analysed", sa.Boolean(), nullable=False),
        sa.Column("transactions", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("analysis_id", "frame_index"),
        sa.ForeignKeyConstraint(["analysis_id"], ["analysis.id"]),
    )
    op.create_index("ix_frame_analysis_id", "frame", ["analysis_id"], unique=False)


def downgrade() -> None:
    for table in ("frame", "detection", "analysis", "video"):
        op.drop_table(table)
