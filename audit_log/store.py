"""The log's tables and the one way to append to them.

An append is one database transaction that locks the log head, assigns consecutive
indexes, writes the entry rows, their rule rows and the new complete-subtree hashes,
moves the head, and commits together with whatever rows the caller added on the same
connection. Nothing about an entry is ever updated or deleted: database triggers
(created by the migrations) refuse it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field

from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Table,
    Text,
    func,
    insert,
    select,
    update,
)

from audit_log import merkle
from audit_log.canonical import canonical
from audit_log.checkpoint import Checkpoint, Signer, sign_note

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

log_entries = Table(
    "log_entries",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("entry_id", String(64), nullable=False, unique=True),
    Column("kind", String(32), nullable=False),
    # RFC 3339 UTC with a fixed width, so text order is time order on every backend.
    Column("time", String(32), nullable=False),
    Column("app", String(64)),
    Column("subject", String(80)),
    Column("policy_id", String(64)),
    Column("action", String(32)),
    Column("ref", String(64)),
    # The strike a decision issued, indexed so escalation sums live strikes in SQL.
    Column("strike_weight", Integer),
    Column("strike_expires_at", String(32)),
    Column("body", Text, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
    Index(None, "kind", "idx"),
    Index(None, "subject", "idx"),
    Index(None, "subject", "strike_expires_at"),
    Index(None, "app", "idx"),
    Index(None, "policy_id", "idx"),
    Index(None, "action", "idx"),
    Index(None, "ref"),
    Index(None, "time"),
)

log_entry_rules = Table(
    "log_entry_rules",
    metadata,
    Column("idx", BigInteger, nullable=False),
    Column("rule", String(64), nullable=False),
    PrimaryKeyConstraint("idx", "rule"),
    Index(None, "rule", "idx"),
)

log_hashes = Table(
    "log_hashes",
    metadata,
    Column("idx", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", LargeBinary(32), nullable=False),
)

# The head is the only mutable log row: its lock serialises appends across processes
# and hosts, and it caches the size and root that the hashes already determine.
log_head = Table(
    "log_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("size", BigInteger, nullable=False),
    Column("root", LargeBinary(32), nullable=False),
)

# Signed checkpoints, each kept forever: a monitor compares any two of them.
log_checkpoints = Table(
    "log_checkpoints",
    metadata,
    Column("size", BigInteger, primary_key=True, autoincrement=False),
    Column("root", LargeBinary(32), nullable=False),
    Column("note", Text, nullable=False),
    Column("created_at", String(32), nullable=False),
)

APPEND_ONLY_TABLES = ("log_entries", "log_entry_rules", "log_hashes", "log_checkpoints")


@dataclass(frozen=True)
class Appended:
    """Where an entry landed: its index and RFC 6962 leaf hash."""

    index: int
    leaf_hash: bytes
    entry_id: str


@dataclass
class AppendTransaction:
    """An open append: add entries, write side rows on ``conn``, commit on exit."""

    conn: Connection
    start: int
    origin: str
    signers: Sequence[Signer]
    last_time: str = ""
    _rows: list[dict] = field(default_factory=list)
    _rules: list[dict] = field(default_factory=list)
    _new_hashes: dict[int, bytes] = field(default_factory=dict)
    tree_size: int = 0
    root: bytes = b""
    checkpoint: str = ""
    _proofs: dict[int, list[bytes]] | None = None

    @property
    def proofs(self) -> dict[int, list[bytes]]:
        """Inclusion proofs of this append's entries in the tree it committed.

        Computed on first use from hashes already in memory (see ``_flush``), so callers
        that need no receipts pay nothing and callers that do need no further reads.
        """
        if self._proofs is None:
            indexes = [row["idx"] for row in self._rows]
            self._proofs = dict(zip(indexes, self.inclusion_proofs(indexes), strict=True))
        return self._proofs

    @property
    def size(self) -> int:
        """Tree size including the entries added so far in this transaction."""
        return self.start + len(self._rows)

    def stamp(self, moment: str) -> str:
        """The time to write on the next entry: ``moment`` (RFC 3339, fixed width), or the
        previous entry's time if this host's clock is behind it.

        Log time never decreases with the index, so a time window is one contiguous run of
        indexes, and readers can filter by time through the primary key.
        """
        return max(moment, self.last_time)

    def add(self, body: Mapping, rules: Sequence[str] = (),
            strike: tuple[int, str] | None = None) -> Appended:
        """Stage one entry. ``body`` must carry ``kind``, ``id`` and ``time``.

        ``rules`` and ``strike`` (weight, expiry) only index the entry for queries; the
        body alone is what the log proves.
        """
        if body["time"] < self.last_time:
            raise ValueError(f"entry time {body['time']} is before the previous entry's "
                             f"{self.last_time}; use stamp()")
        self.last_time = body["time"]
        data = canonical(body)
        leaf = merkle.record_hash(data)
        index = self.size
        policy = body.get("policy")
        self._rows.append(
            {
                "idx": index,
                "entry_id": body["id"],
                "kind": body["kind"],
                "time": body["time"],
                "app": body.get("app"),
                "subject": body.get("subject"),
                "policy_id": policy.get("id") if isinstance(policy, Mapping) else None,
                "action": body.get("action"),
                "ref": body.get("ref"),
                "strike_weight": strike[0] if strike else None,
                "strike_expires_at": strike[1] if strike else None,
                "body": data.decode("utf-8"),
                "leaf_hash": leaf,
            }
        )
        self._rules.extend({"idx": index, "rule": r} for r in dict.fromkeys(rules))
        return Appended(index=index, leaf_hash=leaf, entry_id=body["id"])

    def _flush(self) -> None:
        self.tree_size = self.start
        if not self._rows:
            return
        leaves = [row["leaf_hash"] for row in self._rows]
        edge: dict[int, bytes] = {}

        def read_edge(idxs: Sequence[int]) -> list[bytes]:
            edge.update(zip(idxs, read_hashes(self.conn, idxs), strict=True))
            return [edge[i] for i in idxs]

        new_hashes, root = merkle.append_batch(self.start, leaves, read_edge)
        self.conn.execute(insert(log_entries), self._rows)
        if self._rules:
            self.conn.execute(insert(log_entry_rules), self._rules)
        self.conn.execute(
            insert(log_hashes), [{"idx": i, "hash": h} for i, h in new_hashes]
        )
        # Every sibling an inclusion proof of a new entry needs is either new or a root of
        # the old tree's right edge, so the receipts' proofs need no further reads.
        self._new_hashes = {**edge, **dict(new_hashes)}
        self.tree_size = self.start + len(self._rows)
        self.root = root
        self.conn.execute(
            update(log_head).where(log_head.c.id == 1).values(size=self.tree_size, root=root)
        )
        # One signature per append, batch or not: every receipt carries a checkpoint
        # that already covers its entry.
        self.checkpoint = sign_note(Checkpoint(self.origin, self.tree_size, root), self.signers)
        self.conn.execute(insert(log_checkpoints).values(
            size=self.tree_size, root=root, note=self.checkpoint,
            created_at=self._rows[-1]["time"]))

    def inclusion_proofs(self, indexes: Sequence[int]) -> list[list[bytes]]:
        """Proofs that ``indexes`` are in the tree this transaction committed.

        Every hash these proofs need was written or read by this append, so they are
        answered from memory, even after the transaction has closed.
        """
        t = self.tree_size
        known = self._new_hashes
        return [merkle.prove_record(t, n, lambda idxs: [known[i] for i in idxs])
                for n in indexes]


def read_hashes(conn: Connection, indexes: Sequence[int]) -> list[bytes]:
    """The stored hashes at ``indexes``, in that order, in one query."""
    if not indexes:
        return []
    wanted = sorted(set(indexes))
    rows = conn.execute(
        select(log_hashes.c.idx, log_hashes.c.hash).where(log_hashes.c.idx.in_(wanted))
    ).all()
    found = {idx: bytes(h) for idx, h in rows}
    missing = [i for i in wanted if i not in found]
    if missing:
        raise LogCorrupt(f"stored hashes missing at {missing[:5]}")
    return [found[i] for i in indexes]


class LogCorrupt(RuntimeError):
    """The stored log contradicts itself (a hash the tree needs is gone)."""


@dataclass(frozen=True)
class Log:
    """Where the log lives and who signs its checkpoints."""

    engine: Engine
    origin: str
    signers: tuple[Signer, ...]

    def append(self) -> AbstractContextManager[AppendTransaction]:
        return append_transaction(self)


@contextmanager
def append_transaction(log: Log) -> Iterator[AppendTransaction]:
    """Open the serialised append transaction; commit everything on clean exit.

    On SQLite the connection begins with ``BEGIN IMMEDIATE`` (see ``service.db``), which
    takes the database write lock; on PostgreSQL ``SELECT … FOR UPDATE`` on the head
    row does the same across every host. Any exception rolls back every row.
    """
    with log.engine.connect() as conn:
        conn = conn.execution_options(fairwitness_write=True)
        with conn.begin():
            head = conn.execute(
                select(log_head.c.size).where(log_head.c.id == 1).with_for_update()
            ).one_or_none()
            if head is None:
                raise LogCorrupt("log head missing: run `fairwitness init`")
            last_time = conn.execute(
                select(log_entries.c.time).where(log_entries.c.idx == int(head.size) - 1)
            ).scalar_one_or_none() or ""
            tx = AppendTransaction(conn=conn, start=int(head.size), origin=log.origin,
                                   signers=log.signers, last_time=last_time)
            yield tx
            tx._flush()


def init_head(conn: Connection) -> None:
    """Create the empty log's head row if it is not there."""
    exists = conn.execute(select(log_head.c.id).where(log_head.c.id == 1)).first()
    if exists is None:
        conn.execute(insert(log_head).values(id=1, size=0, root=merkle.empty_tree_hash()))


def head(conn: Connection) -> tuple[int, bytes]:
    """The committed tree size and root."""
    row = conn.execute(select(log_head.c.size, log_head.c.root).where(log_head.c.id == 1)).one()
    return int(row.size), bytes(row.root)


def live_strike_weights(conn: Connection, subjects: Sequence[str],
                        now: str) -> dict[tuple[str, str], int]:
    """(subject, policy id) → total weight of strikes not expired at ``now`` and not
    reversed, summed in the database from the index columns."""
    c = log_entries.c
    reversed_ids = select(c.ref).where(c.kind == "reversal").where(c.subject.in_(subjects))
    rows = conn.execute(
        select(c.subject, c.policy_id, func.sum(c.strike_weight))
        .where(c.subject.in_(subjects))
        .where(c.strike_expires_at > now)
        .where(c.entry_id.not_in(reversed_ids))
        .group_by(c.subject, c.policy_id)
    )
    return {(subject, policy): int(total) for subject, policy, total in rows}


def latest_checkpoint(conn: Connection) -> tuple[int, str] | None:
    """The newest stored checkpoint's size and signed note."""
    row = conn.execute(
        select(log_checkpoints.c.size, log_checkpoints.c.note)
        .order_by(log_checkpoints.c.size.desc()).limit(1)
    ).first()
    return (int(row.size), row.note) if row else None


def prove_inclusion(conn: Connection, index: int, size: int) -> list[bytes]:
    return merkle.prove_record(size, index, lambda idxs: read_hashes(conn, idxs))


def prove_consistency(conn: Connection, old: int, new: int) -> list[bytes]:
    return merkle.prove_tree(new, old, lambda idxs: read_hashes(conn, idxs))


def entry_body(row: Mapping) -> dict:
    """Parse a stored entry's canonical body."""
    return json.loads(row["body"])
