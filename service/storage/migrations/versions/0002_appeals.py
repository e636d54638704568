"""Appeals, their private statements and tokens, resolutions, webhooks and the outbox.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Written once, in the same transaction as their log entries, and never changed.
# ``appeal_statements`` (erasable), ``webhooks`` and ``webhook_deliveries`` (the outbox
# moves its state forward) are deliberately mutable.
APPEND_ONLY = ("appeal_tokens", "appeals", "appeal_resolutions")


def upgrade() -> None:
    op.create_table(
        "appeal_tokens",
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("token_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("deadline", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("decision_id", name="pk_appeal_tokens"),
    )
    op.create_table(
        "appeals",
        sa.Column("appeal_id", sa.String(64), nullable=False),
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("filed_at", sa.String(32), nullable=False),
        sa.Column("decide_by", sa.String(32), nullable=False),
        sa.Column("filed_by", sa.String(16), nullable=False),
        sa.Column("filed_by_key", sa.String(32)),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("appeal_id", name="pk_appeals"),
    )
    op.create_index("ix_appeals_decision_id", "appeals", ["decision_id"])
    op.create_index("ix_appeals_app_decide_by", "appeals", ["app", "decide_by"])
    op.create_table(
        "appeal_statements",
        sa.Column("appeal_id", sa.String(64), nullable=False),
        sa.Column("statement", sa.Text()),
        sa.Column("erased_at", sa.String(32)),
        sa.PrimaryKeyConstraint("appeal_id", name="pk_appeal_statements"),
    )
    op.create_table(
        "appeal_resolutions",
        sa.Column("appeal_id", sa.String(64), nullable=False),
        sa.Column("resolution_id", sa.String(64), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("reviewer_key", sa.String(32), nullable=False),
        sa.Column("resolved_at", sa.String(32), nullable=False),
        sa.Column("reversal_id", sa.String(64)),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("appeal_id", name="pk_appeal_resolutions"),
        sa.UniqueConstraint("resolution_id", name="uq_appeal_resolutions_resolution_id"),
    )
    op.create_table(
        "webhooks",
        sa.Column("webhook_id", sa.String(64), nullable=False),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("url", sa.String(2048), nullable=False),
        sa.Column("secret", sa.String(128), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("revoked_at", sa.String(32)),
        sa.PrimaryKeyConstraint("webhook_id", name="pk_webhooks"),
    )
    op.create_index("ix_webhooks_app", "webhooks", ["app"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.String(64), nullable=False),
        sa.Column("webhook_id", sa.String(64), nullable=False),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_type", sa.String(64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status", sa.Integer()),
        sa.Column("last_error", sa.String(512)),
        sa.Column("next_attempt_at", sa.String(32)),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("delivered_at", sa.String(32)),
        sa.PrimaryKeyConstraint("delivery_id", name="pk_webhook_deliveries"),
    )
    op.create_index(
        "ix_webhook_deliveries_status_next_attempt_at",
        "webhook_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_index(
        "ix_webhook_deliveries_app_created_at", "webhook_deliveries", ["app", "created_at"]
    )
    _append_only_guards()


def _append_only_guards() -> None:
    # The same guards as 0001; PostgreSQL reuses its fairwitness_append_only() function.
    dialect = op.get_bind().dialect.name
    for table in APPEND_ONLY:
        if dialect == "sqlite":
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
        elif dialect == "postgresql":
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION fairwitness_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION fairwitness_append_only()"
            )
        else:
            raise RuntimeError(f"append-only guards are not written for {dialect}")


def downgrade() -> None:
    raise RuntimeError("the log is append-only; its schema is never rolled back")
