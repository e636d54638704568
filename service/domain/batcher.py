"""Scoring texts from concurrent requests together, one classifier call per batch.

A text encoder costs far less per text in a batch than alone (one matrix product
instead of many), so under threaded workers the requests of one process hand their texts
to a scoring thread, which scores everything that queued up while it was busy in one
``classifier.score`` call: under load the batches grow with the load, and a request
that arrives alone is scored at once. The classifier promises the same scores
alone or in any batch, so batching changes how fast a decision is made, never what it is.
Each text keeps its own language in the batch (a batch may mix languages).

Two lanes, each with its own thread: texts over ``long_text_chars`` (in one request) are
scored apart, so a huge post never holds up the short ones queued behind it. Each lane's
queue is bounded: when it is full a request is refused at once (``Overloaded``, a 503)
rather than left to wait without limit.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from classifiers.protocol import Classifier, Span

Scores = list[dict[str, float]]
Languages = Sequence[str | None]


class Overloaded(Exception):
    """The scoring queue is full; nothing was scored."""


@dataclass
class BatchSettings:
    """How long a batch waits for company, and how large it may grow.

    By default a batch waits for nobody: it takes what queued up while the previous
    batch was being scored. Under load that forms batches as large as the load (each
    batch takes as long as the requests arriving during it need); alone, a request is
    scored at once, with no added latency."""

    max_wait_seconds: float = 0.0
    max_texts: int = 64
    max_queued_texts: int = 4096
    long_text_chars: int = 4000


@dataclass(eq=False)
class _Job:
    texts: Sequence[str]
    languages: Languages
    done: threading.Event = field(default_factory=threading.Event)
    result: Scores | None = None
    error: BaseException | None = None


class _Lane:
    """One queue and the thread that drains it in batches."""

    def __init__(
        self,
        score: Callable[[Sequence[str], Languages], Scores],
        settings: BatchSettings,
        observe: Callable[[int], None],
        name: str,
    ) -> None:
        self._score = score
        self._settings = settings
        self._observe = observe
        self._name = name
        self._jobs: deque[_Job] = deque()
        self._queued_texts = 0
        self._ready = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def submit(self, texts: Sequence[str], languages: Languages) -> Scores:
        job = _Job(texts, languages)
        with self._ready:
            if self._queued_texts + len(texts) > self._settings.max_queued_texts and self._jobs:
                raise Overloaded(f"{self._queued_texts} texts are waiting to be scored")
            self._ensure_thread()
            self._jobs.append(job)
            self._queued_texts += len(texts)
            self._ready.notify()
        job.done.wait()
        if job.error is not None:
            raise job.error
        assert job.result is not None, "a finished job has a result or an error"
        return job.result

    def _ensure_thread(self) -> None:
        # A thread does not survive fork: a worker forked after a first use starts its own.
        if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()

    def _take_batch(self) -> list[_Job]:
        """Wait for a first job, then take what is queued, and wait for company until the
        batch is full or the first job has waited ``max_wait_seconds``."""
        settings = self._settings
        with self._ready:
            while not self._jobs:
                self._ready.wait()
            deadline = time.monotonic() + settings.max_wait_seconds
            batch = [self._jobs.popleft()]
            size = len(batch[0].texts)
            while size < settings.max_texts:
                if self._jobs:
                    if size + len(self._jobs[0].texts) > settings.max_texts:
                        break
                    job = self._jobs.popleft()
                    batch.append(job)
                    size += len(job.texts)
                    continue
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self._ready.wait(left)
            self._queued_texts -= size
            return batch

    def _run(self) -> None:
        while True:
            batch = self._take_batch()
            try:
                self._finish(batch)
            except Exception:
                # One request's text must not fail the requests it was batched with:
                # each is scored again alone, and only the failing one gets the error.
                for job in batch:
                    try:
                        self._finish([job])
                    except Exception as exc:
                        job.error = exc
                        job.done.set()
            except BaseException as exc:
                # The thread is ending (interpreter shutdown): nobody may wait forever.
                for job in batch:
                    if not job.done.is_set():
                        job.error = exc
                        job.done.set()
                raise

    def _finish(self, batch: list[_Job]) -> None:
        texts = [text for job in batch for text in job.texts]
        languages = [language for job in batch for language in job.languages]
        scores = self._score(texts, languages)
        if len(scores) != len(texts):
            raise RuntimeError(f"the classifier gave {len(scores)} scores for {len(texts)} texts")
        self._observe(len(texts))
        start = 0
        for job in batch:
            job.result = scores[start : start + len(job.texts)]
            start += len(job.texts)
            job.done.set()


class BatchedClassifier:
    """A ``Classifier`` whose ``score`` joins the texts of concurrent callers into
    batches; ``explain`` (cheap, per text) goes straight to the classifier."""

    def __init__(
        self,
        classifier: Classifier,
        settings: BatchSettings | None = None,
        observe: Callable[[int], None] = lambda size: None,
    ) -> None:
        self.classifier = classifier
        self.name = classifier.name
        self.version = classifier.version
        self.labels = classifier.labels
        self.settings = settings or BatchSettings()
        self._short = _Lane(classifier.score, self.settings, observe, "scoring")
        self._long = _Lane(classifier.score, self.settings, observe, "scoring-long")

    def score(self, texts: Sequence[str], languages: Languages | None = None) -> Scores:
        if not texts:
            return []
        if languages is None:
            languages = [None] * len(texts)
        if len(languages) != len(texts):
            raise ValueError(f"{len(languages)} languages for {len(texts)} texts")
        long = sum(len(t) for t in texts) > self.settings.long_text_chars
        return (self._long if long else self._short).submit(texts, languages)

    def explain(self, text: str, label: str) -> list[Span]:
        return self.classifier.explain(text, label)
