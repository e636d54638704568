"""The Coalescer groups the work of concurrent callers, and keeps one caller's failure
from failing the others."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from service.domain.coalesce import Coalescer, Overloaded


class Gate:
    """A run function whose first group waits until the test opens the gate, so later
    jobs queue up behind it; it records every group it ran."""

    def __init__(self, fail: Callable[[list[str]], Exception | None] = lambda jobs: None):
        self.entered = threading.Event()
        self.opened = threading.Event()
        self.groups: list[list[str]] = []
        self._fail = fail

    def __call__(self, jobs: list[str]) -> list[str | Exception]:
        self.groups.append(list(jobs))
        self.entered.set()
        self.opened.wait(timeout=60)
        error = self._fail(jobs)
        if error is not None:
            raise error
        return [job.upper() if job != "refused" else KeyError(job) for job in jobs]


def submit_in_threads(
    coalescer: Coalescer, jobs: list[str]
) -> tuple[dict[str, object], list[threading.Thread]]:
    """Each job submitted from its own thread; its result or error lands in the dict."""
    outcomes: dict[str, object] = {}

    def call(job: str) -> None:
        try:
            outcomes[job] = coalescer.submit(job)
        except Exception as error:
            outcomes[job] = error

    threads = [threading.Thread(target=call, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    return outcomes, threads


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        assert time.monotonic() < deadline, "the condition never held"
        time.sleep(0.005)


def run_behind_a_first_job(coalescer: Coalescer, gate: Gate, jobs: list[str]) -> dict:
    """Submit ``first``, hold it in the run function, queue ``jobs`` behind it, open."""
    first, first_threads = submit_in_threads(coalescer, ["first"])
    gate.entered.wait(timeout=60)
    later, later_threads = submit_in_threads(coalescer, jobs)
    wait_for(lambda: coalescer.queued == len(jobs))
    gate.opened.set()
    for thread in first_threads + later_threads:
        thread.join(timeout=60)
    return first | later


def test_jobs_that_queue_while_a_group_runs_run_together_next():
    gate = Gate()
    coalescer = Coalescer(gate, name="test", max_size=64, max_queued=100)
    outcomes = run_behind_a_first_job(coalescer, gate, ["a", "b", "c"])
    assert outcomes == {"first": "FIRST", "a": "A", "b": "B", "c": "C"}
    assert gate.groups[0] == ["first"]
    assert sorted(gate.groups[1]) == ["a", "b", "c"]
    assert len(gate.groups) == 2


def test_a_group_holds_at_most_max_size_units():
    gate = Gate()
    coalescer = Coalescer(gate, name="test", max_size=2, max_queued=100)
    run_behind_a_first_job(coalescer, gate, ["a", "b", "c", "d", "e"])
    assert [len(group) for group in gate.groups] == [1, 2, 2, 1]


def test_an_error_meant_for_one_caller_reaches_that_caller_alone():
    gate = Gate()
    coalescer = Coalescer(gate, name="test", max_size=64, max_queued=100)
    outcomes = run_behind_a_first_job(coalescer, gate, ["a", "refused"])
    assert outcomes["a"] == "A"
    assert isinstance(outcomes["refused"], KeyError)


def test_a_failed_group_is_retried_job_by_job_and_only_the_culprit_fails():
    gate = Gate(fail=lambda jobs: ValueError("bad") if "bad" in jobs else None)
    coalescer = Coalescer(gate, name="test", max_size=64, max_queued=100)
    outcomes = run_behind_a_first_job(coalescer, gate, ["a", "bad", "c"])
    assert outcomes["a"] == "A" and outcomes["c"] == "C"
    assert isinstance(outcomes["bad"], ValueError)
    assert sorted(map(tuple, gate.groups[2:])) == [("a",), ("bad",), ("c",)]


def test_an_error_for_everybody_reaches_every_caller_without_a_retry():
    gate = Gate(fail=lambda jobs: OSError("down") if len(jobs) > 1 else None)
    coalescer = Coalescer(
        gate,
        name="test",
        max_size=64,
        max_queued=100,
        retry_alone=lambda error: not isinstance(error, OSError),
    )
    outcomes = run_behind_a_first_job(coalescer, gate, ["a", "b"])
    assert isinstance(outcomes["a"], OSError) and isinstance(outcomes["b"], OSError)
    assert len(gate.groups) == 2


def test_a_full_queue_refuses_at_once_and_takes_nothing():
    gate = Gate()
    coalescer = Coalescer(gate, name="test", max_size=64, max_queued=2)
    _, first_threads = submit_in_threads(coalescer, ["first"])
    gate.entered.wait(timeout=60)
    queued, queued_threads = submit_in_threads(coalescer, ["a", "b"])
    wait_for(lambda: coalescer.queued == 2)
    with pytest.raises(Overloaded):
        coalescer.submit("c")
    assert coalescer.queued == 2
    gate.opened.set()
    for thread in first_threads + queued_threads:
        thread.join(timeout=60)
    assert queued == {"a": "A", "b": "B"}
