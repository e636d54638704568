"""Core statements compiled once per dialect and run on the driver's own cursor.

A moderation request runs about ten statements, most of them inside the log's write
lock. Building each statement, computing its cache key and setting up an execution
context in SQLAlchemy costs several times what the database spends running it, and
under the lock that cost is paid serially by every worker. These statements are still
written with SQLAlchemy Core against the one set of table definitions; they are only
compiled ahead of time, so the hot path hands finished SQL to the driver.

Use them for fixed-shape statements on hot paths; everything else goes through
SQLAlchemy as usual. Values must already be what the driver accepts (str, int, bytes,
None): no SQLAlchemy type processing happens here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler

# A row's parameters in a positional paramstyle's order.
_Positions = Callable[[Mapping[str, Any]], tuple[Any, ...]]


def _positions(names: Sequence[str]) -> _Positions:
    """The function that lists a row's values for ``names``, in that order."""
    names = tuple(names)
    if len(names) >= 2:
        # In C: every entry row and hash row passes through here under the log lock.
        return cast(_Positions, itemgetter(*names))
    # itemgetter of one name gives the bare value, of none it cannot be built.
    return lambda row: tuple(row[name] for name in names)


class Prepared:
    """One statement, compiled on first use for each dialect it meets."""

    def __init__(self, build: Callable[[], ClauseElement]) -> None:
        self._build = build
        self._compiled: dict[str, tuple[str, _Positions | None, dict[str, Any]]] = {}

    def _for(self, dialect: Dialect) -> tuple[str, _Positions | None, dict[str, Any]]:
        key = f"{dialect.name}:{dialect.paramstyle}"
        found = self._compiled.get(key)
        if found is None:
            # A DML or SELECT statement (never DDL) compiles to an SQLCompiler, which has
            # the parameter order of a positional paramstyle.
            compiled = cast(SQLCompiler, self._build().compile(dialect=dialect))
            order = _positions(compiled.positiontup or ()) if dialect.positional else None
            # Literals written into the statement travel as bound defaults.
            literals = {
                k: v for k, v in compiled.construct_params(_check=False).items() if v is not None
            }
            found = (compiled.string, order, literals)
            self._compiled[key] = found
        return found

    def _bind(
        self, conn: Connection, rows: Sequence[Mapping[str, Any]]
    ) -> tuple[str, list[Mapping[str, Any]] | list[tuple[Any, ...]]]:
        """The SQL for ``conn`` and each row's parameters as the driver takes them."""
        sql, order, defaults = self._for(conn.dialect)
        merged = [{**defaults, **row} for row in rows] if defaults else rows
        if order is None:
            return sql, list(merged)
        return sql, [order(row) for row in merged]

    def execute(self, conn: Connection, values: Mapping[str, Any] | None = None) -> Any:
        """Run once; returns the driver cursor (fetch rows from it)."""
        sql, (params,) = self._bind(conn, [values or {}])
        cursor = conn.connection.cursor()
        with _as_sqlalchemy_errors(conn, sql, params):
            cursor.execute(sql, params)
        return cursor

    def executemany(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """Run for every row of ``rows`` in one driver call."""
        if not rows:
            return
        sql, params = self._bind(conn, rows)
        cursor = conn.connection.cursor()
        with _as_sqlalchemy_errors(conn, sql, params):
            cursor.executemany(sql, params)
        cursor.close()


@contextmanager
def pipelined(conn: Connection) -> Iterator[None]:
    """Send the statements run inside without waiting for each one's answer.

    On PostgreSQL (psycopg's pipeline mode) a run of writes costs one network round trip
    instead of one per statement, which matters under the log lock, where every host
    waits. Statements inside must not read results. Elsewhere this does nothing.
    """
    start = getattr(conn.connection.driver_connection, "pipeline", None)
    if start is None:
        yield
        return
    with _as_sqlalchemy_errors(conn, "pipeline", None), start():
        yield


@contextmanager
def _as_sqlalchemy_errors(conn: Connection, sql: str, params: Any) -> Iterator[None]:
    """Driver errors leave as SQLAlchemy's own (OperationalError and kin), so callers
    handle one family of errors whichever way a statement ran."""
    dbapi = conn.dialect.loaded_dbapi
    try:
        yield
    except dbapi.Error as err:
        # As SQLAlchemy's own execution does: say whether the connection was lost, so a
        # dropped server is told apart from a statement the server refused.
        lost = conn.dialect.is_disconnect(err, conn.connection.dbapi_connection, None)
        raise DBAPIError.instance(
            sql, params, err, dbapi.Error, dialect=conn.dialect, connection_invalidated=lost
        ) from err


class PreparedIn:
    """A statement with an ``IN`` list, compiled per list length rounded up to a power
    of two; shorter lists are padded by repeating their last value, which ``IN``
    ignores. So a handful of compiled forms serve every batch size."""

    def __init__(self, build: Callable[[int], ClauseElement], name: str) -> None:
        self._build = build
        self._name = name
        self._by_size: dict[int, Prepared] = {}

    def execute(
        self, conn: Connection, values: Sequence[Any], others: Mapping[str, Any] | None = None
    ) -> Any:
        if not values:
            raise ValueError("an IN list needs at least one value")
        size = 1
        while size < len(values):
            size *= 2
        prepared = self._by_size.get(size)
        if prepared is None:
            prepared = Prepared(lambda: self._build(size))
            self._by_size[size] = prepared
        padded = list(values) + [values[-1]] * (size - len(values))
        params: dict[str, Any] = {}
        for i, value in enumerate(padded):
            # A tuple fills several parameters: ``name_i_0``, ``name_i_1``, …
            if isinstance(value, tuple):
                params.update({f"{self._name}_{i}_{j}": v for j, v in enumerate(value)})
            else:
                params[f"{self._name}_{i}"] = value
        if others:
            params.update(others)
        return prepared.execute(conn, params)
