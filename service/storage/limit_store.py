"""Rate-limit counters in the service's database, shared by every server of a deployment.

A ``limits`` storage backend (``fairwitness-db://``) for the fixed-window strategy: one
row per (limit, client, window) holding a hit count and the window's end. ``incr`` is a
single upsert that starts a fresh window when the stored one has ended, so concurrent
servers never lose a hit. Expired rows are purged now and then by whichever server
happens to count.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from typing import ClassVar

from limits.storage import Storage
from sqlalchemy import Engine, case, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError

from service.storage.db import rate_limit_counters as counters
from service.storage.db import write_transaction

SCHEME = "fairwitness-db"
_PURGE_EVERY = 500  # counts between purges of ended windows, per process


class DatabaseStorage(Storage):
    """Fixed-window counters on the ``rate_limit_counters`` table.

    Built by ``limits.storage.storage_from_string("fairwitness-db://", engine=...,
    clock=...)``; ``clock`` returns the time in seconds since the epoch (the app's
    clock, so tests can move it).
    """

    # limits reads the schemes off the class to register it, but annotates the attribute
    # as an instance variable, which a ClassVar may not override.
    STORAGE_SCHEME: ClassVar[list[str]] = [SCHEME]  # type: ignore[misc]

    def __init__(
        self,
        uri: str | None = None,
        wrap_exceptions: bool = False,
        engine: Engine | None = None,
        clock: Callable[[], float] = time.time,
        **options: object,
    ) -> None:
        if engine is None:
            raise ValueError("the database rate-limit storage needs an engine")
        self._engine = engine
        self._clock = clock
        self._counts = itertools.count()
        dialect = engine.dialect.name
        if dialect not in ("sqlite", "postgresql"):
            raise ValueError(f"no rate-limit upsert for {dialect}")
        self._insert = sqlite.insert if dialect == "sqlite" else postgresql.insert
        super().__init__(uri, wrap_exceptions=wrap_exceptions)

    @property
    def base_exceptions(self) -> type[Exception] | tuple[type[Exception], ...]:
        return SQLAlchemyError

    def now(self) -> float:
        return self._clock()

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def incr(self, key: str, expiry: float, amount: int = 1) -> int:
        """Count ``amount`` hits on ``key``; a window ended at or before now restarts with
        ``expiry`` seconds. Returns the count in the current window."""
        now = self._now_ms()
        ends = now + int(expiry * 1000)
        ended = counters.c.expires_at_ms <= now
        insert = self._insert(counters).values(limit_key=key, hits=amount, expires_at_ms=ends)
        stmt = insert.on_conflict_do_update(
            index_elements=[counters.c.limit_key],
            set_={
                "hits": case((ended, amount), else_=counters.c.hits + amount),
                "expires_at_ms": case((ended, ends), else_=counters.c.expires_at_ms),
            },
        ).returning(counters.c.hits)
        with write_transaction(self._engine) as conn:
            hits = conn.execute(stmt).scalar_one()
            if next(self._counts) % _PURGE_EVERY == 0:
                conn.execute(delete(counters).where(counters.c.expires_at_ms <= now))
        return int(hits)

    def get(self, key: str) -> int:
        with self._engine.connect() as conn:
            hits = conn.execute(
                select(counters.c.hits)
                .where(counters.c.limit_key == key)
                .where(counters.c.expires_at_ms > self._now_ms())
            ).scalar_one_or_none()
        return int(hits or 0)

    def get_expiry(self, key: str) -> float:
        """When the current window of ``key`` ends, in seconds since the epoch."""
        with self._engine.connect() as conn:
            ends = conn.execute(
                select(counters.c.expires_at_ms).where(counters.c.limit_key == key)
            ).scalar_one_or_none()
        now = self._now_ms()
        return (ends if ends is not None and ends > now else now) / 1000

    def check(self) -> bool:
        try:
            with self._engine.connect() as conn:
                conn.execute(text("SELECT 1"))
        except SQLAlchemyError:
            return False
        return True

    def reset(self) -> int | None:
        with write_transaction(self._engine) as conn:
            count = conn.execute(select(func.count()).select_from(counters)).scalar_one()
            conn.execute(delete(counters))
        return int(count)

    def clear(self, key: str) -> None:
        with write_transaction(self._engine) as conn:
            conn.execute(delete(counters).where(counters.c.limit_key == key))
