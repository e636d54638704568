"""The log, its append-only guards, keys, private content and policy versions.

Revision ID: 0001
Revises:
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Tables whose rows, once written, are never changed or removed.
APPEND_ONLY = (
    "log_entries",
    "log_entry_rules",
    "log_hashes",
    "log_checkpoints",
    "policy_versions",
)


def upgrade() -> None:
    op.create_table(
        "log_entries",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("entry_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("time", sa.String(32), nullable=False),
        sa.Column("app", sa.String(64)),
        sa.Column("subject", sa.String(80)),
        sa.Column("policy_id", sa.String(64)),
        sa.Column("action", sa.String(32)),
        sa.Column("ref", sa.String(64)),
        sa.Column("strike_weight", sa.Integer()),
        sa.Column("strike_expires_at", sa.String(32)),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("idx", name="pk_log_entries"),
        sa.UniqueConstraint("entry_id", name="uq_log_entries_entry_id"),
    )
    for cols in (
        ("kind", "idx"),
        ("subject", "idx"),
        ("subject", "strike_expires_at"),
        ("app", "idx"),
        ("policy_id", "idx"),
        ("action", "idx"),
        ("ref",),
        ("time",),
    ):
        op.create_index("ix_log_entries_" + "_".join(cols), "log_entries", list(cols))
    op.create_table(
        "log_entry_rules",
        sa.Column("idx", sa.BigInteger(), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("idx", "rule", name="pk_log_entry_rules"),
    )
    op.create_index("ix_log_entry_rules_rule_idx", "log_entry_rules", ["rule", "idx"])
    op.create_table(
        "log_hashes",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("idx", name="pk_log_hashes"),
    )
    op.create_table(
        "log_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_log_head"),
    )
    op.create_table(
        "log_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.PrimaryKeyConstraint("size", name="pk_log_checkpoints"),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.String(32), nullable=False),
        sa.Column("prefix", sa.String(16), nullable=False),
        sa.Column("secret_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.String(32), nullable=False),
        sa.Column("expires_at", sa.String(32)),
        sa.Column("revoked_at", sa.String(32)),
        sa.PrimaryKeyConstraint("key_id", name="pk_api_keys"),
        sa.UniqueConstraint("prefix", name="uq_api_keys_prefix"),
    )
    op.create_table(
        "decision_content",
        sa.Column("decision_id", sa.String(64), nullable=False),
        sa.Column("app", sa.String(64), nullable=False),
        sa.Column("content_ref", sa.String(256)),
        sa.Column("text", sa.Text()),
        sa.Column("salt", sa.LargeBinary(16)),
        sa.Column("erased_at", sa.String(32)),
        sa.PrimaryKeyConstraint("decision_id", name="pk_decision_content"),
    )
    op.create_index(
        "ix_decision_content_app_content_ref", "decision_content", ["app", "content_ref"]
    )
    op.create_table(
        "policy_versions",
        sa.Column("policy_id", sa.String(64), nullable=False),
        sa.Column("version", sa.String(80), nullable=False),
        sa.Column("source", sa.LargeBinary(), nullable=False),
        sa.Column("published_at", sa.String(32), nullable=False),
        sa.Column("log_index", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("policy_id", "version", name="pk_policy_versions"),
    )
    _append_only_guards()


def _append_only_guards() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        for table in APPEND_ONLY:
            for verb in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{verb.lower()} BEFORE {verb} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )
    elif dialect == "postgresql":
        op.execute(
            """
            CREATE FUNCTION fairwitness_append_only() RETURNS trigger AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only', TG_TABLE_NAME
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$ LANGUAGE plpgsql
            """
        )
        for table in APPEND_ONLY:
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
