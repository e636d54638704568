"""Floors under single-item moderation: each endpoint does only one thing every
moderation must do, served the same way as the service, so the bench can show what that
step alone costs against the bare endpoint.

- ``POST /score``: parse the JSON body and score its text with the committed model.
- ``POST /append``: parse the JSON body and commit one row to SQLite, in WAL mode with
  ``synchronous=NORMAL`` as the service does (plain ``sqlite3``, no SQLAlchemy).
"""

import os
import sqlite3

from flask import Flask, request

from classifiers.linear import default_model_dir, load_model

app = Flask(__name__)
_model = load_model(default_model_dir())
_db = sqlite3.connect(os.environ["FLOOR_DATABASE"], isolation_level=None, timeout=10)
_db.execute("PRAGMA journal_mode=WAL")
_db.execute("PRAGMA synchronous=NORMAL")
_db.execute("CREATE TABLE IF NOT EXISTS entries (idx INTEGER PRIMARY KEY, body TEXT)")


@app.get("/")
def ready():
    return {"ok": True}


@app.post("/score")
def score():
    return {"scores": _model.score([request.get_json()["text"]])[0]}


@app.post("/append")
def append():
    text = request.get_json()["text"]
    _db.execute("BEGIN IMMEDIATE")
    _db.execute("INSERT INTO entries (body) VALUES (?)", (text,))
    _db.execute("COMMIT")
    return {"ok": True}
