"""The migrations build exactly the schema the code declares, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from service.storage.db import ALL_METADATA, alembic_config, migrate


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_url(request, tmp_path: Path) -> str:
    """An empty database with no schema at all, on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'empty.db'}"
    return request.getfixturevalue("postgres_url")


def _differences(url: str) -> list:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            # Alembic compares a list of MetaData as it does one (as env.py's
            # target_metadata); its annotation names only the single MetaData.
            return compare_metadata(context, list(ALL_METADATA))  # type: ignore[arg-type]
    finally:
        engine.dispose()


def _current_heads(url: str) -> tuple[str, ...]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_heads()
    finally:
        engine.dispose()


def test_empty_database_migrates_to_head_matching_the_metadata(empty_url):
    migrate(empty_url)
    assert _differences(empty_url) == []
    heads = ScriptDirectory.from_config(alembic_config(empty_url)).get_heads()
    assert len(heads) == 1, f"the migrations branch: {heads}"
    assert _current_heads(empty_url) == tuple(heads)


def test_migrating_again_is_a_no_op(empty_url):
    migrate(empty_url)
    before = _current_heads(empty_url)
    migrate(empty_url)
    assert _current_heads(empty_url) == before
    assert _differences(empty_url) == []


def test_migrated_log_tables_refuse_updates_and_deletes(empty_url):
    """The append-only triggers are part of the schema the migrations build."""
    migrate(empty_url)
    engine = create_engine(empty_url)
    try:
        with engine.begin() as conn:
            conn.execute(
                text(
                    "INSERT INTO log_checkpoints (size, root, note, created_at) "
                    "VALUES (1, :root, 'note', '2026-11-24T00:00:00Z')"
                ),
                {"root": b"\x00" * 32},
            )
        for statement in (
            "UPDATE log_checkpoints SET note = 'forged'",
            "DELETE FROM log_checkpoints",
        ):
            with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
                conn.execute(text(statement))
    finally:
        engine.dispose()
