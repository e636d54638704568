"""Prometheus metrics: requests, decisions, append latency and the log's size.

Under gunicorn each worker is its own process, so ``fairwitness serve`` points
``PROMETHEUS_MULTIPROC_DIR`` at a fresh directory before the workers start;
prometheus-client then keeps every worker's counters in files there and ``/metrics``
sums them, whichever worker answers the scrape. Without the variable (tests, a single
process) the default registry serves. The log size is read from the database at scrape
time, so it is the committed size on every worker and every host.

Labels carry only bounded, public values, whatever a client sends: a method from a fixed
set or "other", a route pattern or "unmatched", a status from a fixed set or its class,
and the policy, rule and action ids of the loaded policies. Never a path, an app's
text, a key or a subject.
"""

from __future__ import annotations

import os
import time
from collections import Counter as Tally
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from audit_log.store import AppendTransaction, Log, head

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

HTTP_REQUESTS = Counter(
    "fairwitness_http_requests",
    "HTTP requests answered, by route pattern and status.",
    ["method", "route", "status"],
)
DECISIONS = Counter(
    "fairwitness_decisions",
    "Decisions appended to the log, by policy, action and rule "
    '(a decision matching several rules counts once per rule; none matched is rule="none").',
    ["policy", "action", "rule"],
)
STORAGE_UNAVAILABLE = Counter(
    "fairwitness_storage_unavailable",
    "Requests answered 503 because of storage, by cause: unreachable (refused, dropped, "
    "shutting down), timeout (no answer or no lock within the configured timeout) or "
    "commit_unconfirmed (the connection failed while committing).",
    ["cause"],
)
INFERENCE_BATCH_TEXTS = Histogram(
    "fairwitness_inference_batch_texts",
    "Texts in one group of concurrent moderation requests: scored in one classifier call "
    "per policy, appended in one transaction.",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024),
)
APPEND_SECONDS = Histogram(
    "fairwitness_log_append_seconds",
    "Time from opening an append transaction to its commit, in seconds.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)


@dataclass(frozen=True)
class MeteredLog(Log):
    """A ``Log`` whose appends are timed and whose committed decisions are counted."""

    def append(self) -> AbstractContextManager[AppendTransaction]:
        return _metered(super().append())


@contextmanager
def _metered(inner: AbstractContextManager[AppendTransaction]) -> Iterator[AppendTransaction]:
    started = time.perf_counter()
    with inner as tx:
        yield tx
    # Reached only after the commit: a rolled-back append counts nothing.
    APPEND_SECONDS.observe(time.perf_counter() - started)
    # One increment per label set: a batch's decisions mostly share a few.
    counts = Tally(
        (policy_id, action, rule)
        for policy_id, action, rules in tx.staged_decisions()
        for rule in rules or ("none",)
    )
    for (policy_id, action, rule), count in counts.items():
        DECISIONS.labels(policy=policy_id, action=action, rule=rule).inc(count)


# The statuses this service answers with; any other is counted by its class ("2xx").
STATUSES = frozenset(
    {200, 201, 204, 304, 400, 401, 403, 404, 405, 406, 409, 413, 414, 415, 422, 429, 500, 503}
)


def status_label(status: int) -> str:
    """``status`` itself when it is one of ``STATUSES``, else its class."""
    return str(status) if status in STATUSES else f"{status // 100}xx"


def count_request(method: str, route: str, status: int) -> None:
    """Count one answer. ``method`` and ``route`` must already be bounded
    (``applog.method_of``, ``applog.route_of``): every distinct label value is a new
    series for as long as the process lives."""
    HTTP_REQUESTS.labels(method=method, route=route, status=status_label(status)).inc()


class _LogSize:
    """Reads the committed tree size when scraped."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self):
        try:
            with self._engine.connect() as conn:
                size = head(conn)[0]
        except SQLAlchemyError:
            size = None
        up = GaugeMetricFamily(
            "fairwitness_database_up", "1 when the scrape could read the log head, else 0."
        )
        up.add_metric([], 0 if size is None else 1)
        yield up
        # Absent rather than a made-up number while storage is unreachable.
        if size is not None:
            gauge = GaugeMetricFamily(
                "fairwitness_log_size", "Entries in the committed log (its tree size)."
            )
            gauge.add_metric([], size)
            yield gauge


def exposition(engine: Engine) -> tuple[bytes, str]:
    """The text exposition of every metric, summed over workers in multiprocess mode."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    else:
        registry = REGISTRY
    own = CollectorRegistry(auto_describe=False)
    own.register(_LogSize(engine))
    return generate_latest(registry) + generate_latest(own), CONTENT_TYPE_LATEST
