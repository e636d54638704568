"""Doing the work of concurrent callers together, in one thread per process.

Some work costs far less per caller when done for many at once: an encoder scores a
batch of texts in one matrix product, and the log appends many decisions in one
transaction with one signed checkpoint. A ``Coalescer`` gives such work one thread per
process; callers hand it a job and wait, and the thread runs everything that queued up
while it was busy in one call. Under load the groups grow with the load; a job that
arrives alone runs at once, with no added wait (unless ``max_wait_seconds`` asks for one).

One caller's job must not fail the jobs it was grouped with: when a group's call raises
an error that ``retry_alone`` accepts, each job runs again alone and only the failing one
gets the error. Errors that concern everybody (the database is down) go to every caller
at once, without retrying.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

Job = TypeVar("Job")
Result = TypeVar("Result")


class Overloaded(Exception):
    """The queue is full; the job was not taken."""


def _held_lock() -> threading.Lock:
    lock = threading.Lock()
    lock.acquire()
    return lock


@dataclass(eq=False)
class _Waiting(Generic[Job, Result]):
    job: Job
    size: int
    # A one-shot signal: held from the start, released once when the job is finished.
    # A bare lock costs a caller and the group's thread far less than an Event (a
    # Condition, its lock and a list of waiters), which every request pays twice.
    _unfinished: threading.Lock = field(default_factory=_held_lock)
    finished: bool = False
    result: Result | None = None
    error: BaseException | None = None

    def finish(self, outcome: Result | BaseException) -> None:
        if self.finished:
            return
        if isinstance(outcome, BaseException):
            self.error = outcome
        else:
            self.result = outcome
        self.finished = True
        self._unfinished.release()

    def wait(self) -> None:
        self._unfinished.acquire()


def _always(error: Exception) -> bool:
    return True


class Coalescer(Generic[Job, Result]):
    """Runs ``run(jobs)`` for the jobs of concurrent ``submit`` callers, a group at a time.

    ``run`` returns one outcome per job, in order: a result, or an exception that is
    raised to that job's caller alone. A group holds at most ``max_size`` units (a job's
    ``size``, 1 by default), except that a first job larger than that runs alone; the
    queue holds at most ``max_queued`` units, beyond which ``submit`` refuses with
    ``Overloaded`` rather than let callers wait without limit.
    """

    def __init__(
        self,
        run: Callable[[list[Job]], Sequence[Result | Exception]],
        *,
        name: str,
        max_size: int,
        max_queued: int,
        max_wait_seconds: float = 0.0,
        size: Callable[[Job], int] = lambda job: 1,
        retry_alone: Callable[[Exception], bool] = _always,
        observe: Callable[[list[Job]], None] = lambda jobs: None,
    ) -> None:
        self._run_group = run
        self._name = name
        self._max_size = max_size
        self._max_queued = max_queued
        self._max_wait_seconds = max_wait_seconds
        self._size = size
        self._retry_alone = retry_alone
        self._observe = observe
        self._waiting: deque[_Waiting[Job, Result]] = deque()
        self._queued = 0
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0

    @property
    def queued(self) -> int:
        """Units of work waiting for a group (not counting the group being run)."""
        return self._queued

    def submit(self, job: Job) -> Result:
        waiting: _Waiting[Job, Result] = _Waiting(job, self._size(job))
        with self._ready:
            if self._queued + waiting.size > self._max_queued and self._waiting:
                raise Overloaded(f"{self._queued} units of work are waiting in {self._name}")
            self._ensure_thread()
            self._waiting.append(waiting)
            self._queued += waiting.size
            self._ready.notify()
        waiting.wait()
        if waiting.error is not None:
            raise waiting.error
        assert waiting.result is not None, "a finished job has a result or an error"
        return waiting.result

    def _ensure_thread(self) -> None:
        # A thread does not survive fork: a worker forked after a first use starts its own.
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()

    def _take_group(self) -> list[_Waiting[Job, Result]]:
        """Wait for a first job, then take what is queued, and wait for company until the
        group is full or the first job has waited ``max_wait_seconds``."""
        with self._ready:
            while not self._waiting:
                self._ready.wait()
            deadline = time.monotonic() + self._max_wait_seconds
            group = [self._waiting.popleft()]
            size = group[0].size
            while size < self._max_size:
                if self._waiting:
                    if size + self._waiting[0].size > self._max_size:
                        break
                    waiting = self._waiting.popleft()
                    group.append(waiting)
                    size += waiting.size
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._ready.wait(left)
            self._queued -= size
            return group

    def _loop(self) -> None:
        while True:
            group = self._take_group()
            try:
                self._run(group)
            except Exception as error:
                if len(group) > 1 and self._retry_alone(error):
                    for waiting in group:
                        try:
                            self._run([waiting])
                        except Exception as own:
                            waiting.finish(own)
                else:
                    for waiting in group:
                        waiting.finish(error)
            except BaseException as error:
                # The thread is ending (interpreter shutdown): nobody may wait forever.
                for waiting in group:
                    waiting.finish(error)
                raise

    def _run(self, group: list[_Waiting[Job, Result]]) -> None:
        jobs = [waiting.job for waiting in group]
        outcomes = self._run_group(jobs)
        if len(outcomes) != len(group):
            raise RuntimeError(f"{self._name} gave {len(outcomes)} outcomes for {len(group)} jobs")
        self._observe(jobs)
        for waiting, outcome in zip(group, outcomes, strict=True):
            waiting.finish(outcome)
