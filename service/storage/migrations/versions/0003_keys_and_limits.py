"""Signing-key rotation (the key schedule and the head's key epoch), rate-limit counters
and per-key rate limits.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing logs start at epoch 0: never rotated, signed by the instance's original key.
    op.add_column(
        "log_head", sa.Column("key_epoch", sa.Integer(), nullable=False, server_default="0")
    )
    op.create_table(
        "log_keys",
        sa.Column("seq", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("verifier_key", sa.String(512), nullable=False),
        sa.Column("name", sa.String(256), nullable=False),
        sa.Column("key_id", sa.String(8), nullable=False),
        sa.Column("valid_from", sa.String(32)),
        sa.Column("signs_until", sa.String(32)),
        sa.Column("log_index", sa.BigInteger()),
        sa.PrimaryKeyConstraint("seq", name="pk_log_keys"),
        sa.UniqueConstraint("verifier_key", name="uq_log_keys_verifier_key"),
    )
    # Fixed-window counters shared by every server; rows past their window are purged.
    op.create_table(
        "rate_limit_counters",
        sa.Column("limit_key", sa.String(512), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires_at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("limit_key", name="pk_rate_limit_counters"),
    )
    op.create_index(
        "ix_rate_limit_counters_expires_at_ms", "rate_limit_counters", ["expires_at_ms"]
    )
    # A client app's own limit, when its operator set one; none otherwise.
    op.add_column("api_keys", sa.Column("rate_limit", sa.String(64)))


def downgrade() -> None:
    raise RuntimeError("the log is append-only; its schema is never rolled back")
