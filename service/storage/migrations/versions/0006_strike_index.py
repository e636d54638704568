"""Strikes are found per (subject, policy), newest expiry first, on one index.

Counting an author's strikes walks ``(subject, policy_id, strike_expires_at, idx)``
backwards and stops at the ladder's top, whatever the table's statistics say, instead of
reading every live strike of the subject.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OLD = ("subject", "strike_expires_at")
NEW = ("subject", "policy_id", "strike_expires_at", "idx")


def upgrade() -> None:
    op.create_index("ix_log_entries_" + "_".join(NEW), "log_entries", list(NEW))
    op.drop_index("ix_log_entries_" + "_".join(OLD), table_name="log_entries")


def downgrade() -> None:
    op.create_index("ix_log_entries_" + "_".join(OLD), "log_entries", list(OLD))
    op.drop_index("ix_log_entries_" + "_".join(NEW), table_name="log_entries")
