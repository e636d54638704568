"""The public log: entries, checkpoints, proofs and the verifier key. No key needed.

Read-only by construction: nothing here opens a write transaction.
"""

from __future__ import annotations

import csv
import io
import json

from flask import Blueprint, Response, current_app, request, stream_with_context

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
from service.domain.reads import checkpoints_after, entry_view
from service.http import params
from service.http.applog import route_of
from service.http.problems import Problem, field_error
from service.http.schemas import (
    CheckpointListSchema,
    ConsistencyProofSchema,
    EntryPageSchema,
    InclusionProofSchema,
    LogKeyListSchema,
)

bp = Blueprint("log", __name__)
_page = EntryPageSchema()
_inclusion = InclusionProofSchema()
_consistency = ConsistencyProofSchema()
_checkpoints = CheckpointListSchema()
_keys = LogKeyListSchema()

CSV_COLUMNS = (
    "index",
    "id",
    "kind",
    "time",
    "app",
    "subject",
    "policy",
    "policy_version",
    "action",
    "rules",
    "leaf_hash",
    "entry",
)
NDJSON = "application/x-ndjson"


def _runtime():
    return current_app.extensions["fairwitness"]


def _csv_row(row) -> list:
    entry = json.loads(row.body)
    policy = entry.get("policy") or {}
    rules = entry.get("rules") or []
    rule_ids = [r["id"] if isinstance(r, dict) else r for r in rules]
    return [
        row.idx,
        entry.get("id"),
        entry.get("kind"),
        entry.get("time"),
        entry.get("app"),
        entry.get("subject"),
        policy.get("id"),
        policy.get("version"),
        entry.get("action"),
        " ".join(rule_ids),
        bytes(row.leaf_hash).hex(),
        row.body,
    ]


class ExportInterrupted(Exception):
    """A streamed export broke off after its first bytes were sent. Raised, so the
    server drops the connection and the client sees a cut-off transfer, never a short
    export that looks whole; its message says nothing of the request."""


def export_response(query, mimetype: str) -> Response:
    """The whole filtered log streamed as CSV or NDJSON, a keyset page at a time.

    The first chunk is produced before the response starts, inside the request: a
    query the database refuses, or storage being down, is an ordinary error answer
    (problem+json or an error page), not a broken stream. A failure later on is logged
    here, allow-listed like every log line, and cuts the connection.
    """
    engine = _runtime().engine

    def generate():
        with engine.connect() as conn:
            if mimetype == "text/csv":
                buf = io.StringIO()
                writer = csv.writer(buf)
                writer.writerow(CSV_COLUMNS)
                for row in query.stream(conn):
                    writer.writerow(_csv_row(row))
                    if buf.tell() > 64 * 1024:
                        yield buf.getvalue()
                        buf.seek(0)
                        buf.truncate()
                yield buf.getvalue()
            else:
                lines = []
                for row in query.stream(conn):
                    lines.append(json.dumps(entry_view(row), separators=(",", ":")))
                    if len(lines) >= 500:
                        yield "\n".join(lines) + "\n"
                        lines = []
                if lines:
                    yield "\n".join(lines) + "\n"

    chunks = generate()
    first = next(chunks, "")

    def rest():
        try:
            yield first
            yield from chunks
        except Exception as exc:
            current_app.logger.error(
                "export interrupted: %s",
                type(exc).__name__,
                extra={"event": "export_interrupted", "route": route_of()},
            )
            raise ExportInterrupted("export interrupted") from None
        finally:
            chunks.close()

    resp = Response(stream_with_context(rest()), mimetype=mimetype)
    if mimetype == "text/csv":
        resp.headers["Content-Disposition"] = 'attachment; filename="fairwitness-log.csv"'
    return resp


@bp.get("/v1/log/entries")
def list_entries():
    query = params.parse_log_query(request.args)
    best = request.accept_mimetypes.best_match(
        ["application/json", NDJSON, "text/csv"], default="application/json"
    )
    if best in (NDJSON, "text/csv"):
        return export_response(query, best)
    with _runtime().engine.connect() as conn:
        rows, cursor = query.page(conn)
        size, _ = head(conn)
    return _page.dump(
        {"entries": [entry_view(r) for r in rows], "next_cursor": cursor, "tree_size": size}
    )


@bp.get("/v1/log/checkpoint")
def get_checkpoint():
    with _runtime().engine.connect() as conn:
        latest = latest_checkpoint(conn)
    if latest is None:
        raise Problem(404, "not-found", "The log has no checkpoint yet.")
    return Response(latest[1], mimetype="text/plain")


@bp.get("/v1/log/checkpoints")
def list_checkpoints():
    after = params.integer(request.args, "after", minimum=-1, default=-1)
    limit = params.limit(request.args, default=100, maximum=1000)
    with _runtime().engine.connect() as conn:
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
    runtime = _runtime()
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
    with _runtime().engine.connect() as conn:
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
    with _runtime().engine.connect() as conn:
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
