"""The machine's baseline: the smallest Flask JSON endpoint, served the same way."""

from flask import Flask

app = Flask(__name__)


@app.get("/")
def index():
    return {"ok": True}
