"""Public excerpts kept beside the log, committed to by hash, so erasure can delete them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("decision_content") as batch:
        batch.add_column(sa.Column("excerpt", sa.Text()))
        batch.add_column(sa.Column("excerpt_salt", sa.LargeBinary(16)))


def downgrade() -> None:
    with op.batch_alter_table("decision_content") as batch:
        batch.drop_column("excerpt_salt")
        batch.drop_column("excerpt")
