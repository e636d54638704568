"""The public log: entries, checkpoints, proofs and the verifier key. No key needed.

Read-only by construction: nothing here opens a write transaction.
"""

from __future__ import annotations

from flask import Blueprint, Response, request

from audit_log import merkle
from audit_log.keyschedule import key_list
from audit_log.store import (
    head,
    latest_checkpoint,
    prove_consistency,
    prove_inclusion,
    read_hashes,
)
from service.clock import rfc3339
from service.domain.cursor import MAX_INT64
from service.domain.reads.entries import checkpoints_after, entry_view
from service.http import params
from service.http.export import NDJSON, export_response
from service.http.problems import Problem, field_error
from service.http.schemas import (
    CheckpointListSchema,
    ConsistencyProofSchema,
    EntryPageSchema,
    InclusionProofSchema,
    LogKeyListSchema,
)
from service.http.state import current_runtime

bp = Blueprint("log", __name__)
_page = EntryPageSchema()
_inclusion = InclusionProofSchema()
_consistency = ConsistencyProofSchema()
_checkpoints = CheckpointListSchema()
_keys = LogKeyListSchema()


@bp.get("/v1/log/entries")
def list_entries():
    query = params.parse_log_query(request.args)
    best = request.accept_mimetypes.best_match(
        ["application/json", NDJSON, "text/csv"], default="application/json"
    )
    if best in (NDJSON, "text/csv"):
        return export_response(query, best)
    with current_runtime().engine.connect() as conn:
        rows, cursor = query.page(conn)
        size, _ = head(conn)
    return _page.dump(
        {"entries": [entry_view(r) for r in rows], "next_cursor": cursor, "tree_size": size}
    )


@bp.get("/v1/log/checkpoint")
def get_checkpoint():
    with current_runtime().engine.connect() as conn:
        latest = latest_checkpoint(conn)
    if latest is None:
        raise Problem(404, "not-found", "The log has no checkpoint yet.")
    return Response(latest[1], mimetype="text/plain")


@bp.get("/v1/log/checkpoints")
def list_checkpoints():
    after = params.integer(request.args, "after", minimum=-1, default=-1)
    limit = params.limit(request.args, default=100, maximum=1000)
    with current_runtime().engine.connect() as conn:
        rows = checkpoints_after(conn, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return _checkpoints.dump(
        {"checkpoints": rows, "next_after": rows[-1]["size"] if more else None}
    )


@bp.get("/v1/log/key")
def get_key():
    """Every key that ever signed the log, newest first: verifier key lines as
    ``text/plain`` (the default, what C2SP tools read), or with their validity as JSON."""
    runtime = current_runtime()
    best = request.accept_mimetypes.best_match(
        ["text/plain", "application/json"], default="text/plain"
    )
    with runtime.engine.connect() as conn:
        schedule = runtime.log.keyring.current_schedule(conn)
    if best == "application/json":
        return _keys.dump(
            {"origin": runtime.log.origin, "keys": key_list(schedule, rfc3339(runtime.clock()))}
        )
    lines = "".join(k.verifier_key + "\n" for k in schedule.newest_first())
    return Response(lines, mimetype="text/plain")


# The last index a tree of at most MAX_INT64 entries holds.
MAX_INDEX = MAX_INT64 - 1


def _within_tree(name: str, size: int | None, current: int) -> int:
    """A tree size asked for (``current`` when not given); 422 past the log's size."""
    if size is None:
        return current
    if size > current:
        raise Problem(
            422,
            "out-of-range",
            f"{name} must be from 1 to {current}, the log's size.",
            [field_error(f"#/query/{name}", f"Must be from 1 to {current}.")],
        )
    return size


@bp.get("/v1/log/proof/inclusion")
def inclusion_proof():
    index = params.integer(request.args, "index", minimum=0, maximum=MAX_INDEX, required=True)
    size = params.integer(request.args, "size", minimum=1)
    assert index is not None
    with current_runtime().engine.connect() as conn:
        current, _ = head(conn)
        size = _within_tree("size", size, current)
        if index >= size:
            raise Problem(
                422,
                "out-of-range",
                f"index {index} is not in a tree of size {size}.",
                [field_error("#/query/index", f"Must be below size ({size}).")],
            )
        proof = prove_inclusion(conn, index, size)
        root = merkle.tree_hash(size, lambda idxs: read_hashes(conn, idxs))
    return _inclusion.dump(
        {"index": index, "size": size, "root": root.hex(), "proof": [h.hex() for h in proof]}
    )


@bp.get("/v1/log/proof/consistency")
def consistency_proof():
    old = params.integer(request.args, "from", minimum=1, required=True)
    new = params.integer(request.args, "to", minimum=1)
    assert old is not None
    with current_runtime().engine.connect() as conn:
        current, _ = head(conn)
        new = _within_tree("to", new, current)
        if old > new:
            raise Problem(
                422,
                "out-of-range",
                f"from {old} is after to {new}.",
                [field_error("#/query/from", f"Must not exceed to ({new}).")],
            )
        proof = prove_consistency(conn, old, new)
    return _consistency.dump({"from_": old, "to": new, "proof": [h.hex() for h in proof]})
