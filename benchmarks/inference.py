"""Pure batched inference: the default policy's classifier scoring batches of texts in
as many processes as the server has workers, with nothing else around it (no HTTP, no
database). The ceiling that batch moderation is measured against."""

from __future__ import annotations

import multiprocessing
import os
import time
from pathlib import Path

# The policies the service would enforce: FAIRWITNESS_POLICY_DIR, as for the service.
LIBRARY = Path(
    os.environ.get(
        "FAIRWITNESS_POLICY_DIR", Path(__file__).resolve().parent.parent / "policies" / "library"
    )
)


def _score_for(seconds: float, texts: list[str], done: multiprocessing.Queue) -> None:
    from policies.load import load_policy_dir
    from service.runtime import build_judges

    classifier = build_judges(load_policy_dir(LIBRARY))["civility"].classifier
    classifier.score(texts)  # warm caches, as a server that has run a while
    scored = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        classifier.score(texts)
        scored += len(texts)
    done.put(scored / (time.perf_counter() - started))


def batched_inference_throughput(texts: list[str], processes: int, seconds: float) -> float:
    """Texts per second scored by ``processes`` processes, each scoring ``texts`` as one
    batch over and over for ``seconds``."""
    context = multiprocessing.get_context("spawn")
    done = context.Queue()
    workers = [
        context.Process(target=_score_for, args=(seconds, texts, done)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    rates = [done.get() for _ in workers]
    for worker in workers:
        worker.join()
    return sum(rates)
