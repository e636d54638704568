"""Floors under single-item moderation: each endpoint does only what every moderation
must do, served the same way as the service, so the bench can show what the rest of a
moderation (auth, validation, rules, the log, receipts) costs on top.

- ``POST /floor``: parse the JSON body, score its text with the default policy's own
  classifier in batches across concurrent requests (one scoring thread per process, the
  ``Coalescer`` the service groups requests with), and commit one row to SQLite, in WAL
  mode with ``synchronous=NORMAL`` as the service does (plain ``sqlite3``, no
  SQLAlchemy). The physical limit a moderation is measured against.
- ``POST /score`` and ``POST /append``: each of those two steps alone.
"""

import os
import sqlite3
import threading
from pathlib import Path

from flask import Flask, request

from policies.load import load_policy_dir
from service.domain.coalesce import Coalescer
from service.domain.moderation import BatchSettings
from service.runtime import build_judges

# The policies the service would enforce: FAIRWITNESS_POLICY_DIR, as for the service.
LIBRARY = Path(
    os.environ.get(
        "FAIRWITNESS_POLICY_DIR", Path(__file__).resolve().parent.parent / "policies" / "library"
    )
)

app = Flask(__name__)
_classifier = build_judges(load_policy_dir(LIBRARY))["civility"].classifier
_settings = BatchSettings()
# The texts of concurrent requests, scored in one call by one thread per process, in
# groups as large as the service's.
_scoring = Coalescer(
    lambda texts: _classifier.score(texts, [None] * len(texts)),
    name="scoring",
    max_size=_settings.max_texts,
    max_queued=_settings.max_queued_texts,
)
_local = threading.local()


def _db() -> sqlite3.Connection:
    # One connection per thread, as the service's pool gives each request its own.
    if not hasattr(_local, "db"):
        db = sqlite3.connect(os.environ["FLOOR_DATABASE"], isolation_level=None, timeout=10)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute("CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, body TEXT)")
        _local.db = db
    return _local.db


def _commit(body: str) -> None:
    db = _db()
    db.execute("BEGIN IMMEDIATE")
    db.execute("INSERT INTO entries (body) VALUES (?)", (body,))
    db.execute("COMMIT")


@app.get("/")
def ready():
    return {"ok": True}


@app.post("/floor")
def floor():
    scores = _scoring.submit(request.get_json()["text"])
    _commit(repr(scores))
    return {"scores": scores}


@app.post("/score")
def score():
    return {"scores": _scoring.submit(request.get_json()["text"])}


@app.post("/append")
def append():
    _commit(request.get_json()["text"])
    return {"ok": True}
