"""The whole filtered log as a download, CSV or NDJSON: ``GET /v1/log/entries`` serves
it by content negotiation, and the log page links to it as a file."""

from __future__ import annotations

import csv
import io
import json

from flask import Response, current_app, stream_with_context

from service.domain.log_query import LogQuery
from service.domain.reads.entries import entry_view
from service.http.applog import route_of
from service.http.state import current_runtime

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


def export_response(query: LogQuery, mimetype: str) -> Response:
    """The whole filtered log streamed as CSV or NDJSON, a keyset page at a time.

    The first chunk is produced before the response starts, inside the request: a
    query the database refuses, or storage being down, is an ordinary error answer
    (problem+json or an error page), not a broken stream. A failure later on is logged
    here, allow-listed like every log line, and cuts the connection.
    """
    engine = current_runtime().engine

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
