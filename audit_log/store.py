"""The log's tables and the one way to append to them.

An append is one database transaction that locks the log head, assigns consecutive
indexes, writes the entry rows, their rule rows and the new complete-subtree hashes,
moves the head, and commits together with whatever rows the caller added on the same
connection. Nothing about an entry is ever updated or deleted: database triggers
(created by the migrations) refuse it.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from functools import lru_cache

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
    bindparam,
    exists,
    insert,
    select,
    union_all,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql import ClauseElement

from audit_log import merkle
from audit_log.canonical import canonical
from audit_log.checkpoint import Checkpoint, Signer, Verifier, sign_note
from audit_log.keyschedule import KeySchedule, Rotation, ScheduledKey
from audit_log.prepared import Prepared, PreparedIn, pipelined

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
    Index(None, "subject", "policy_id", "strike_expires_at", "idx"),
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
    # Counts key rotations. Every append reads it with the head row it locks anyway, so a
    # server notices a rotation made elsewhere at no extra cost and reloads ``log_keys``.
    Column("key_epoch", Integer, nullable=False, server_default="0"),
)

# The signing keys and when each signs: an index of the ``key_rotation`` entries (the
# log itself is the record), read by every server when the head's key epoch moves.
# ``signs_until`` is written once, by the rotation that retires the key.
log_keys = Table(
    "log_keys",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=False),
    Column("verifier_key", String(512), nullable=False, unique=True),
    Column("name", String(256), nullable=False),
    Column("key_id", String(8), nullable=False),
    Column("valid_from", String(32)),
    Column("signs_until", String(32)),
    Column("log_index", BigInteger),
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

# The append path's statements, compiled once (see ``audit_log.prepared``).
_LOCK_HEAD = Prepared(
    lambda: (
        select(
            log_head.c.size,
            log_head.c.key_epoch,
            select(log_entries.c.time)
            .where(log_entries.c.idx == log_head.c.size - 1)
            .scalar_subquery(),
        )
        .where(log_head.c.id == 1)
        .with_for_update(of=log_head)
    )
)
_INSERT_ENTRIES = Prepared(lambda: insert(log_entries))
_INSERT_RULES = Prepared(lambda: insert(log_entry_rules))
_INSERT_HASHES = Prepared(lambda: insert(log_hashes))
_INSERT_CHECKPOINT = Prepared(lambda: insert(log_checkpoints))
_MOVE_HEAD = Prepared(
    lambda: (
        update(log_head)
        .where(log_head.c.id == 1)
        .values(size=bindparam("new_size"), root=bindparam("new_root"))
    )
)
_READ_HASHES = PreparedIn(
    lambda n: select(log_hashes.c.idx, log_hashes.c.hash).where(
        log_hashes.c.idx.in_([bindparam(f"idx_{i}") for i in range(n)])
    ),
    "idx",
)


# (subject, policy) keys per strike query. The statement's shape is fixed by this bound,
# never by the batch: SQLite refuses compound selects of more than 500 terms and
# statements with more parameters than its build allows (999 on old builds), so a batch
# of any size is read in chunks of at most this many keys (two parameters each).
STRIKE_QUERY_KEYS = 256


def _newest_strikes(n: int) -> ClauseElement:
    """The ``limit`` live, unreversed strikes with the latest expiry of each of ``n``
    (subject, policy) keys, with their bodies: one query whatever ``n`` is.

    Each key is its own arm, which walks that subject's strikes for that policy by expiry
    on the ``(subject, policy_id, strike_expires_at, idx)`` index and stops after
    ``limit``, so an author with thousands of live strikes costs what one with ``limit``
    does. A body is read only for a row its arm returns, and in that arm: joining the
    bodies to the union afterwards would make SQLite materialize every arm first."""
    entry, reversal = log_entries.alias("e"), log_entries.alias("r")
    arms = [
        select(
            select(entry.c.idx, entry.c.subject, entry.c.policy_id, entry.c.body)
            .where(entry.c.subject == bindparam(f"key_{i}_0"))
            .where(entry.c.policy_id == bindparam(f"key_{i}_1"))
            .where(entry.c.strike_expires_at > bindparam("now"))
            .where(
                ~exists()
                .where(reversal.c.ref == entry.c.entry_id)
                .where(reversal.c.kind == "reversal")
            )
            .order_by(entry.c.strike_expires_at.desc(), entry.c.idx.desc())
            .limit(bindparam("limit", type_=Integer))
            .subquery()
        )
        for i in range(n)
    ]
    return union_all(*arms) if n > 1 else arms[0]


_NEWEST_STRIKES = PreparedIn(_newest_strikes, "key")


def index_columns(body: Mapping[str, object]) -> dict[str, object]:
    """The columns of ``log_entries`` that index ``body``, derived from the body alone.

    The one definition used both to write an entry and to check stored rows against
    their bodies (``check_index``): nothing that escalation or the public pages select
    by is ever taken from anywhere but the hashed body.
    """
    policy = body.get("policy")
    strike = body.get("strike") if body.get("kind") == "decision" else None
    if not isinstance(strike, Mapping):
        strike = None
    return {
        "entry_id": body["id"],
        "kind": body["kind"],
        "time": body["time"],
        "app": body.get("app"),
        "subject": body.get("subject"),
        "policy_id": policy.get("id") if isinstance(policy, Mapping) else None,
        "action": body.get("action"),
        "ref": body.get("ref"),
        "strike_weight": strike["weight"] if strike is not None else None,
        "strike_expires_at": strike["expires_at"] if strike is not None else None,
    }


def index_rules(body: Mapping[str, object]) -> tuple[str, ...]:
    """The rule ids ``log_entry_rules`` holds for ``body``: a decision's rules, in order,
    without repeats; other kinds have none."""
    if body.get("kind") != "decision":
        return ()
    rules = body.get("rules") or ()
    if not isinstance(rules, list | tuple):
        raise TypeError("a decision's rules are a list")
    ids: dict[str, None] = {}  # ordered, without repeats
    for rule in rules:
        rule_id = rule["id"] if isinstance(rule, Mapping) else None
        if not isinstance(rule_id, str):
            raise TypeError("each rule of a decision has a string id")
        ids[rule_id] = None
    return tuple(ids)


@dataclass(frozen=True)
class Appended:
    """Where an entry landed: its index, RFC 6962 leaf hash and the canonical bytes
    that hash covers."""

    index: int
    leaf_hash: bytes
    entry_id: str
    canonical: bytes


@dataclass
class AppendTransaction:
    """An open append: add entries, write side rows on ``conn``, commit on exit."""

    conn: Connection
    start: int
    origin: str
    keyring: Keyring
    schedule: KeySchedule
    key_epoch: int = 0
    last_time: str = ""
    _rows: list[dict[str, object]] = field(default_factory=list)
    _rules: list[dict[str, object]] = field(default_factory=list)
    _appended: list[Appended] = field(default_factory=list)
    _new_hashes: dict[int, bytes] = field(default_factory=dict)
    tree_size: int = 0
    root: bytes = b""
    checkpoint: str = ""
    _proofs: dict[int, list[bytes]] | None = None
    _with_entries: list[tuple[Prepared, Sequence[Mapping[str, object]]]] = field(
        default_factory=list
    )

    @property
    def proofs(self) -> dict[int, list[bytes]]:
        """Inclusion proofs of this append's entries in the tree it committed.

        Computed on first use from hashes already in memory (see ``_flush``), so callers
        that need no receipts pay nothing and callers that do need no further reads.
        """
        if self._proofs is None:
            indexes = [a.index for a in self._appended]
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

    def add(self, body: Mapping[str, object]) -> Appended:
        """Stage one entry. ``body`` must carry ``kind``, ``id`` and ``time``.

        Its index columns and rule rows are derived from the body (``index_columns``);
        the body alone is what the log proves.
        """
        time, entry_id = body["time"], body["id"]
        if not isinstance(time, str) or not isinstance(entry_id, str):
            raise TypeError("an entry's time and id are strings")
        if time < self.last_time:
            raise ValueError(
                f"entry time {time} is before the previous entry's {self.last_time}; use stamp()"
            )
        self.last_time = time
        data = canonical(body)
        leaf = merkle.record_hash(data)
        index = self.size
        self._rows.append(
            {"idx": index, **index_columns(body), "body": data.decode("utf-8"), "leaf_hash": leaf}
        )
        self._rules.extend({"idx": index, "rule": r} for r in index_rules(body))
        appended = Appended(index=index, leaf_hash=leaf, entry_id=entry_id, canonical=data)
        self._appended.append(appended)
        return appended

    def staged_decisions(self) -> list[tuple[str, str, tuple[str, ...]]]:
        """(policy id, action, rule ids) of each decision staged so far, from the index
        columns and rule rows derived from its body."""
        rules: dict[object, list[str]] = {}
        for row in self._rules:
            rules.setdefault(row["idx"], []).append(str(row["rule"]))
        return [
            (str(row["policy_id"] or ""), str(row["action"]), tuple(rules.get(row["idx"], ())))
            for row in self._rows
            if row["kind"] == "decision"
        ]

    def write_with_entries(self, statement: Prepared, rows: Sequence[Mapping[str, object]]) -> None:
        """Run ``statement`` for ``rows`` together with the entry rows, in the same
        transaction: side rows (private content, appeal tokens) that need no answer
        travel with the log's own writes."""
        self._with_entries.append((statement, rows))

    def _flush(self) -> None:
        self.tree_size = self.start
        if not self._rows:
            with pipelined(self.conn):
                self._write_side_rows()
            return
        leaves = [a.leaf_hash for a in self._appended]
        edge: dict[int, bytes] = {}

        def read_edge(idxs: Sequence[int]) -> list[bytes]:
            edge.update(zip(idxs, read_hashes(self.conn, idxs), strict=True))
            return [edge[i] for i in idxs]

        new_hashes, root = merkle.append_batch(self.start, leaves, read_edge)
        # Every sibling an inclusion proof of a new entry needs is either new or a root of
        # the old tree's right edge, so the receipts' proofs need no further reads.
        self._new_hashes = {**edge, **dict(new_hashes)}
        tree_size = self.start + len(self._rows)
        # One signature per append, batch or not: every receipt carries a checkpoint
        # that already covers its entry. It is signed by every key the schedule has
        # valid at the time of its newest entry (two during a rotation's overlap).
        created_at = self.last_time  # the newest entry's
        signers = self.keyring.signers_at(self.schedule, created_at)
        checkpoint = sign_note(Checkpoint(self.origin, tree_size, root), signers)
        # Everything is computed; what is left are writes that need no answer.
        with pipelined(self.conn):
            _INSERT_ENTRIES.executemany(self.conn, self._rows)
            _INSERT_RULES.executemany(self.conn, self._rules)
            _INSERT_HASHES.executemany(self.conn, [{"idx": i, "hash": h} for i, h in new_hashes])
            self._write_side_rows()
            _MOVE_HEAD.execute(self.conn, {"new_size": tree_size, "new_root": root})
            _INSERT_CHECKPOINT.execute(
                self.conn,
                {"size": tree_size, "root": root, "note": checkpoint, "created_at": created_at},
            )
        self.tree_size, self.root, self.checkpoint = tree_size, root, checkpoint

    def _write_side_rows(self) -> None:
        for statement, rows in self._with_entries:
            statement.executemany(self.conn, rows)

    def rotate_key(self, rotation: Rotation, log_index: int) -> KeySchedule:
        """Record ``rotation`` (whose ``key_rotation`` entry this transaction added at
        ``log_index``) in ``log_keys`` and move the head's key epoch, so this append's
        checkpoint and every later one, on any server, follow the new schedule."""
        schedule = self.schedule.rotated(rotation, log_index)
        if self.key_epoch == 0:
            _insert_key(self.conn, 0, schedule.keys[0])
        retired = schedule.keys[-2]
        self.conn.execute(
            update(log_keys)
            .where(log_keys.c.verifier_key == retired.verifier_key)
            .values(signs_until=retired.signs_until)
        )
        _insert_key(self.conn, len(schedule.keys) - 1, schedule.current)
        self.key_epoch += 1
        self.conn.execute(
            update(log_head).where(log_head.c.id == 1).values(key_epoch=self.key_epoch)
        )
        self.schedule = schedule
        return schedule

    def inclusion_proofs(self, indexes: Sequence[int]) -> list[list[bytes]]:
        """Proofs that ``indexes`` are in the tree this transaction committed.

        Every hash these proofs need was written or read by this append, so they are
        answered from memory, even after the transaction has closed.
        """
        known = self._new_hashes
        return merkle.prove_records(self.tree_size, indexes, lambda idxs: [known[i] for i in idxs])


def read_hashes(conn: Connection, indexes: Sequence[int]) -> list[bytes]:
    """The stored hashes at ``indexes``, in that order, in one query."""
    if not indexes:
        return []
    wanted = sorted(set(indexes))
    cursor = _READ_HASHES.execute(conn, wanted)
    found = {idx: bytes(h) for idx, h in cursor.fetchall()}
    cursor.close()
    missing = [i for i in wanted if i not in found]
    if missing:
        raise LogCorrupt(f"stored hashes missing at {missing[:5]}")
    return [found[i] for i in indexes]


class LogCorrupt(RuntimeError):
    """The stored log contradicts itself (a hash the tree needs is gone)."""


class IndexCorrupt(LogCorrupt):
    """Stored rows disagree with their entries' bodies: something wrote to the database
    behind the log's back. Names the rows (``mismatches``)."""

    def __init__(self, mismatches: Sequence[IndexMismatch], what: str) -> None:
        shown = "; ".join(str(m) for m in mismatches[:10])
        more = f" and {len(mismatches) - 10} more" if len(mismatches) > 10 else ""
        super().__init__(
            f"{len(mismatches)} stored rows of {what} disagree with their entries' bodies: "
            f"{shown}{more}. The log's bodies and hashes are the record; run `fairwitness "
            f"log check` and restore the database from a backup taken before the change"
        )
        self.mismatches = list(mismatches)


class CommitUnconfirmed(RuntimeError):
    """The database failed while committing an append: the entries may or may not be in
    the log. Nothing is lost or half-written either way; only the outcome is unknown."""

    def __init__(self, entry_ids: Sequence[str]) -> None:
        super().__init__(f"commit of {len(entry_ids)} entries unconfirmed")
        self.entry_ids = list(entry_ids)


class SigningKeyMissing(RuntimeError):
    """The log's schedule asks for a key whose private half this server does not hold.

    Raised inside the append, so nothing is written: a checkpoint signed by fewer keys
    than the schedule promises would look, to a monitor, like a forgery.
    """

    def __init__(self, verifier_key: str) -> None:
        super().__init__(
            f"the log now signs with {verifier_key}, but this server does not hold its "
            f"private key: copy it into the instance's signing-keys directory"
        )
        self.verifier_key = verifier_key


def _insert_key(conn: Connection, seq: int, key: ScheduledKey) -> None:
    conn.execute(
        insert(log_keys).values(
            seq=seq,
            verifier_key=key.verifier_key,
            name=key.verifier.name,
            key_id=key.verifier.key_id.hex(),
            valid_from=key.valid_from,
            signs_until=key.signs_until,
            log_index=key.log_index,
        )
    )


def load_schedule(conn: Connection) -> KeySchedule | None:
    """The schedule recorded in ``log_keys``; None while the log has never rotated."""
    rows = conn.execute(
        select(
            log_keys.c.verifier_key,
            log_keys.c.valid_from,
            log_keys.c.signs_until,
            log_keys.c.log_index,
        ).order_by(log_keys.c.seq)
    ).all()
    if not rows:
        return None
    return KeySchedule(
        tuple(
            ScheduledKey(
                Verifier.from_key(r.verifier_key),
                r.valid_from,
                r.signs_until,
                None if r.log_index is None else int(r.log_index),
            )
            for r in rows
        )
    )


def _key_of(signer: Signer) -> tuple[str, bytes, bytes]:
    return signer.name, signer.key_id, signer.public_key_bytes


class Keyring:
    """The private keys this server holds, and the log's key schedule as last read.

    The first signer is the instance's original key: it alone signs while the log has
    never rotated (key epoch 0), which costs no read at all. After a rotation the
    schedule is read from ``log_keys`` once per epoch and kept. ``load_more``, when
    given, re-reads the server's key files: it is called when the schedule names a key
    not yet held, so a key copied in after start-up is picked up without a restart.
    """

    def __init__(
        self, signers: Sequence[Signer], load_more: Callable[[], Sequence[Signer]] | None = None
    ) -> None:
        if not signers:
            raise ValueError("a keyring needs at least one signer")
        self.primary = signers[0]
        self._signers = {_key_of(s): s for s in signers}
        self._load_more = load_more
        self._unrotated = KeySchedule.single(self.primary.verifier())
        self._cached: tuple[int, KeySchedule] | None = None

    @property
    def signers(self) -> tuple[Signer, ...]:
        return tuple(self._signers.values())

    def _signer(self, verifier: Verifier) -> Signer | None:
        wanted = (verifier.name, verifier.key_id, verifier.public_key_bytes)
        signer = self._signers.get(wanted)
        if signer is None and self._load_more is not None:
            # Replaced whole, never mutated: a concurrent reader sees one map or the other.
            self._signers = {**{_key_of(s): s for s in self._load_more()}, **self._signers}
            signer = self._signers.get(wanted)
        return signer

    def holds(self, verifier: Verifier) -> bool:
        return self._signer(verifier) is not None

    def schedule(self, conn: Connection, epoch: int) -> KeySchedule:
        """The schedule at key epoch ``epoch`` (as read from the log head)."""
        if epoch == 0:
            return self._unrotated
        cached = self._cached
        if cached is not None and cached[0] == epoch:
            return cached[1]
        schedule = load_schedule(conn)
        if schedule is None:
            raise LogCorrupt(f"the log head is at key epoch {epoch} but log_keys is empty")
        # One tuple assignment: a concurrent reader sees the old pair or the new one.
        self._cached = (epoch, schedule)
        return schedule

    def current_schedule(self, conn: Connection) -> KeySchedule:
        """The schedule as of the committed head, for readers."""
        epoch = conn.execute(
            select(log_head.c.key_epoch).where(log_head.c.id == 1)
        ).scalar_one_or_none()
        return self.schedule(conn, int(epoch or 0))

    def signers_at(self, schedule: KeySchedule, time: str) -> list[Signer]:
        """The signers for a checkpoint at log time ``time``, newest key first; raises
        ``SigningKeyMissing`` naming a key the schedule wants and this server lacks."""
        signers = []
        for key in schedule.valid_at(time):
            signer = self._signer(key.verifier)
            if signer is None:
                raise SigningKeyMissing(key.verifier_key)
            signers.append(signer)
        if not signers:
            raise LogCorrupt(f"no key of the schedule is valid at {time}")
        return signers


@dataclass(frozen=True)
class Log:
    """Where the log lives and who signs its checkpoints.

    ``signers`` are the private keys this server holds, the instance's original key
    first; which of them sign a checkpoint is the log's key schedule's say.
    """

    engine: Engine
    origin: str
    signers: tuple[Signer, ...]
    load_signers: Callable[[], Sequence[Signer]] | None = field(default=None, compare=False)
    keyring: Keyring = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "keyring", Keyring(self.signers, self.load_signers))

    def append(self) -> AbstractContextManager[AppendTransaction]:
        return append_transaction(self)


@contextmanager
def append_transaction(log: Log) -> Iterator[AppendTransaction]:
    """Open the serialised append transaction; commit everything on clean exit.

    On SQLite the connection begins with ``BEGIN IMMEDIATE`` (see ``service.storage.db``), which
    takes the database write lock; on PostgreSQL ``SELECT … FOR UPDATE`` on the head
    row does the same across every host. Any exception rolls back every row. A database
    error during COMMIT itself raises ``CommitUnconfirmed``: the outcome is unknown.
    """
    tx: AppendTransaction | None = None
    committing = False
    try:
        with log.engine.connect() as conn:
            conn = conn.execution_options(fairwitness_write=True)
            with conn.begin():
                cursor = _LOCK_HEAD.execute(conn)
                head = cursor.fetchone()
                cursor.close()
                if head is None:
                    raise LogCorrupt("log head missing: run `fairwitness init`")
                size, key_epoch, last_time = head
                epoch = int(key_epoch)
                tx = AppendTransaction(
                    conn=conn,
                    start=int(size),
                    origin=log.origin,
                    keyring=log.keyring,
                    schedule=log.keyring.schedule(conn, epoch),
                    key_epoch=epoch,
                    last_time=last_time or "",
                )
                yield tx
                tx._flush()
                committing = True
    except DBAPIError as exc:
        # Once COMMIT is sent, a lost connection hides whether it took effect: the caller
        # must not claim that nothing was recorded.
        if committing and tx is not None:
            raise CommitUnconfirmed([a.entry_id for a in tx._appended]) from exc
        raise


def init_head(conn: Connection) -> None:
    """Create the empty log's head row if it is not there."""
    exists = conn.execute(select(log_head.c.id).where(log_head.c.id == 1)).first()
    if exists is None:
        conn.execute(insert(log_head).values(id=1, size=0, root=merkle.empty_tree_hash()))


def head(conn: Connection) -> tuple[int, bytes]:
    """The committed tree size and root."""
    row = conn.execute(select(log_head.c.size, log_head.c.root).where(log_head.c.id == 1)).one()
    return int(row.size), bytes(row.root)


@dataclass(frozen=True)
class CountedStrike:
    """A live strike as its entry's body states it: the entry's log index, the weight
    and the expiry."""

    index: int
    weight: int
    expires_at: str


@dataclass(frozen=True)
class StrikeCount:
    """The strikes counted for one (subject, policy), latest expiry first. ``complete``
    is False when the count stopped at its limit, so more may be live."""

    strikes: tuple[CountedStrike, ...] = ()
    complete: bool = True

    @property
    def weight(self) -> int:
        return sum(s.weight for s in self.strikes)


def newest_strikes(
    conn: Connection, keys: Sequence[tuple[str, str]], now: str, limit: int
) -> dict[tuple[str, str], StrikeCount]:
    """(subject, policy id) → its ``limit`` live, unreversed strikes with the latest
    expiry, read from the entries' bodies.

    Escalation needs no more: with every weight at least 1, ``limit`` strikes already
    reach a ladder whose top step is ``limit``. Reading at most ``limit`` rows per author
    keeps each decision's cost fixed however many strikes an author has collected.

    The index columns only find candidate rows; weight and expiry come from each body,
    and a row whose body is not a live strike of that subject and policy is not counted
    (the column lied: ``check_index`` names such rows). Keys are read in chunks of
    ``STRIKE_QUERY_KEYS`` keys, so a statement's shape never grows with a batch.
    """
    keys = list(dict.fromkeys(keys))
    if not keys or limit < 1:
        return {}
    found: dict[tuple[str, str], list[CountedStrike]] = {key: [] for key in keys}
    rows_read: dict[tuple[str, str], int] = dict.fromkeys(keys, 0)
    # A short chunk is padded by repeating its last key, whose rows then come twice.
    seen: set[int] = set()
    for start in range(0, len(keys), STRIKE_QUERY_KEYS):
        chunk = keys[start : start + STRIKE_QUERY_KEYS]
        cursor = _NEWEST_STRIKES.execute(conn, chunk, {"now": now, "limit": limit})
        rows = cursor.fetchall()
        cursor.close()
        for idx, subject, policy_id, text in rows:
            key = (subject, policy_id)
            if key not in found or idx in seen:
                continue
            seen.add(idx)
            rows_read[key] += 1
            stated = _stated_strike(text)
            if stated is None:
                continue
            stated_subject, stated_policy, weight, expires_at = stated
            # The body must be a strike of this very subject and policy, still live.
            if stated_subject == key[0] and stated_policy == key[1] and expires_at > now:
                found[key].append(CountedStrike(int(idx), weight, expires_at))
    return {
        key: StrikeCount(tuple(strikes), complete=rows_read[key] < limit)
        for key, strikes in found.items()
    }


# Strike bodies whose reading is kept, about 1.5 kB of text each (some 6 MB in all):
# enough for the ladder's top strikes of several hundred authors posting at once.
STRIKE_BODIES_KEPT = 4096


@lru_cache(maxsize=STRIKE_BODIES_KEPT)
def _stated_strike(text: str) -> tuple[object, object, int, str] | None:
    """(subject, policy id, weight, expiry) as the stored body ``text`` states them, if it
    is a decision that issued a strike; None otherwise.

    Kept by the text itself, never by index or hash column: an author's strikes are read
    again at each of their posts, and parsing the same bodies again would cost more than
    the rest of the count, yet only a body identical to the one parsed gets its answer."""
    body = json.loads(text)
    policy = body.get("policy")
    strike = body.get("strike")
    if (
        body.get("kind") != "decision"
        or not isinstance(policy, Mapping)
        or not isinstance(strike, Mapping)
    ):
        return None
    weight, expires_at = strike.get("weight"), strike.get("expires_at")
    if not isinstance(weight, int) or not isinstance(expires_at, str):
        return None
    return body.get("subject"), policy.get("id"), weight, expires_at


@dataclass(frozen=True)
class IndexMismatch:
    """A stored entry row whose index columns (or rule rows, or leaf hash) are not what
    its body says: ``fields`` names them."""

    index: int
    entry_id: str
    fields: tuple[str, ...]

    def __str__(self) -> str:
        return f"entry {self.index} ({self.entry_id}): {', '.join(self.fields)}"


_CHECK_PAGE = 1000


def check_index(conn: Connection, start: int = 0, stop: int | None = None) -> list[IndexMismatch]:
    """Hold the stored rows of entries ``start`` to ``stop`` (default: the head) to their
    bodies: every index column, the rule rows and the leaf hash must be what the body
    gives (``index_columns``, ``index_rules``, RFC 6962 leaf hash), and no row may be
    missing. Reads a page of rows at a time; returns the rows that disagree."""
    size, _ = head(conn)
    stop = size if stop is None else min(stop, size)
    found: list[IndexMismatch] = []
    entries, rules = log_entries.c, log_entry_rules.c
    for first in range(max(start, 0), stop, _CHECK_PAGE):
        last = min(first + _CHECK_PAGE, stop)
        rows = conn.execute(
            select(log_entries)
            .where(entries.idx >= first)
            .where(entries.idx < last)
            .order_by(entries.idx)
        ).all()
        stored_rules: dict[int, set[str]] = {}
        for idx, rule in conn.execute(
            select(rules.idx, rules.rule).where(rules.idx >= first).where(rules.idx < last)
        ):
            stored_rules.setdefault(int(idx), set()).add(rule)
        present = {int(row.idx) for row in rows}
        found.extend(
            IndexMismatch(i, "?", ("missing row",)) for i in range(first, last) if i not in present
        )
        for row in rows:
            wrong = _row_disagreement(row._mapping, stored_rules.get(int(row.idx), set()))
            if wrong:
                found.append(IndexMismatch(int(row.idx), row.entry_id, wrong))
    return found


def _row_disagreement(row: RowMapping, stored_rules: set[str]) -> tuple[str, ...]:
    try:
        body = json.loads(row["body"])
        derived = index_columns(body)
        derived_rules = set(index_rules(body))
    except (ValueError, KeyError, TypeError, AttributeError):
        return ("body",)
    wrong = [name for name, value in derived.items() if row[name] != value]
    if stored_rules != derived_rules:
        wrong.append("rules")
    if bytes(row["leaf_hash"]) != merkle.record_hash(row["body"].encode("utf-8")):
        wrong.append("leaf_hash")
    return tuple(wrong)


def latest_checkpoint(conn: Connection) -> tuple[int, str] | None:
    """The newest stored checkpoint's size and signed note."""
    row = conn.execute(
        select(log_checkpoints.c.size, log_checkpoints.c.note)
        .order_by(log_checkpoints.c.size.desc())
        .limit(1)
    ).first()
    return (int(row.size), row.note) if row else None


def prove_inclusion(conn: Connection, index: int, size: int) -> list[bytes]:
    return merkle.prove_record(size, index, lambda idxs: read_hashes(conn, idxs))


def prove_consistency(conn: Connection, old: int, new: int) -> list[bytes]:
    return merkle.prove_tree(new, old, lambda idxs: read_hashes(conn, idxs))


def entry_body(row: RowMapping) -> dict[str, object]:
    """Parse a stored entry's canonical body."""
    body: dict[str, object] = json.loads(row["body"])  # only JSON objects are canonical
    return body
