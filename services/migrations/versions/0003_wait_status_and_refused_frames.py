"""What a running analysis waits for (throttling, an outage) and why a frame was not analysed.

analysis.status_message / waiting_until: the worker's last word while the remote service holds it
back, for the results page. frame.error: the service's reason for refusing that frame's image.

Revision ID: 0003
Revises: 0002
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.mssql import DATETIME2

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TIMESTAMP = sa.DateTime().with_variant(DATETIME2(precision=6), "mssql")


def upgrade() -> None:
    with op.batch_alter_table("analysis") as batch:
        batch.add_column(sa.Column("status_message", sa.Unicode(500), nullable=True))
        batch.add_column(sa.Column("waiting_until", TIMESTAMP, nullable=True))
    with op.batch_alter_table("frame") as batch:
        batch.add_column(sa.Column("error", sa.Unicode(1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("frame") as batch:
        batch.drop_column("error")
    with op.batch_alter_table("analysis") as batch:
        batch.drop_column("waiting_until")
        batch.drop_column("status_message")
