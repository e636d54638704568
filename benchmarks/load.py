"""Drive HTTP servers from other processes: wrk when installed, else a Python client.

With several servers (hosts behind one log), the connections are split evenly across
them: one wrk process per server, run at the same time, whose latency distributions
are merged weighted by each one's request count.
"""

from __future__ import annotations

import bisect
import http.client
import json
import multiprocessing
import re
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class LoadResult:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    errors: int
    tool: str


_LUA = """
local counter = 0
local headers = {}
headers["Content-Type"] = "application/json"
%(auth)s
local bodies = %(bodies)s
request = function()
  counter = counter + 1
  local body = bodies[(counter %% #bodies) + 1]
  body = string.gsub(body, "@N@", tostring(counter %% 997))
  return wrk.format("%(method)s", "%(path)s", headers, body)
end
-- The latency distribution at every 0.1 %%, so runs against several servers merge.
done = function(summary, latency, requests)
  local points = {}
  for i = 1, 1000 do
    points[i] = string.format("[%%.1f,%%d]", i / 10, latency:percentile(i / 10))
  end
  io.write("FW-LATENCY {\\"requests\\":" .. summary.requests .. ",\\"points\\":["
           .. table.concat(points, ",") .. "]}\\n")
end
"""


def _split(total: int, parts: int) -> list[int]:
    return [total // parts + (i < total % parts) for i in range(parts)]


def _merged_percentile(runs: Sequence[tuple[int, list[tuple[float, float]]]], q: float) -> float:
    """The ``q`` percentile (ms) of several runs' distributions pooled together.

    Each run gives its request count and (fraction, latency in µs) points in increasing
    order; a latency x lies at the pooled fraction sum(n_i * F_i(x)) / sum(n_i).
    """
    total = sum(n for n, _ in runs)
    curves = [(n, [p for p, _ in points], [us for _, us in points]) for n, points in runs]

    def pooled(x: float) -> float:
        below = 0.0
        for n, fractions, latencies in curves:
            i = bisect.bisect_right(latencies, x)
            below += n * (fractions[i - 1] if i else 0.0)
        return below / total

    candidates = sorted({us for _, _, latencies in curves for us in latencies})
    for x in candidates:
        if pooled(x) >= q:
            return x / 1000
    return candidates[-1] / 1000


def run_wrk(
    urls: Sequence[str],
    method: str,
    path: str,
    bodies: list[str],
    key: str | None,
    connections: int,
    seconds: int,
) -> LoadResult:
    auth = f'headers["Authorization"] = "Bearer {key}"' if key else ""
    lua_bodies = "{" + ",".join("[==[" + b + "]==]" for b in bodies) + "}" if bodies else '{""}'
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as fh:
        fh.write(_LUA % {"auth": auth, "bodies": lua_bodies, "method": method, "path": path})
        script = fh.name
    # Two load threads in all, as a single wrk -t2 would use on this machine.
    threads = _split(2, len(urls)) if len(urls) <= 2 else [1] * len(urls)
    try:
        procs = [
            subprocess.Popen(
                # wrk's own 2 s timeout would count a slow batch as an error; its
                # latency is what the figures report.
                [
                    "wrk",
                    f"-t{max(1, min(t, c))}",
                    f"-c{c}",
                    f"-d{seconds}s",
                    "--timeout",
                    "30s",
                    "-s",
                    script,
                    url,
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for url, c, t in zip(urls, _split(connections, len(urls)), threads, strict=True)
        ]
        outputs = [p.communicate(timeout=seconds + 120) for p in procs]
    finally:
        Path(script).unlink()
    runs, rps, errors = [], 0.0, 0
    for proc, (out, err) in zip(procs, outputs, strict=True):
        if proc.returncode != 0:
            raise RuntimeError(f"wrk failed: {err.strip()}")
        rps += float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        latency = json.loads(re.search(r"^FW-LATENCY (.*)$", out, re.MULTILINE).group(1))
        runs.append((latency["requests"], [(p, us) for p, us in latency["points"]]))
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        socket_errors = re.search(
            r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
        )
        errors += int(non2xx.group(1)) if non2xx else 0
        if socket_errors:
            errors += sum(int(x) for x in socket_errors.groups())
    # Percentiles come as 0.1 .. 100.0; q is compared as a fraction.
    runs = [(n, [(p / 100, us) for p, us in points]) for n, points in runs]
    return LoadResult(
        rps,
        _merged_percentile(runs, 0.50),
        _merged_percentile(runs, 0.99),
        errors,
        "wrk" if len(urls) == 1 else f"{len(urls)} wrk processes",
    )


def _request(
    conn_args: tuple[str, int],
    method: str,
    path: str,
    body: str | None,
    headers: dict[str, str],
    timeout: float,
) -> int:
    """One request on a new connection (gunicorn's sync workers close each one anyway);
    the status, or 0 when no answer came."""
    try:
        conn = http.client.HTTPConnection(*conn_args, timeout=timeout)
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        resp.read()
        conn.close()
        return resp.status
    except OSError:
        return 0


def _headers(key: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    return headers


def _host_port(url: str) -> tuple[str, int]:
    host, port = url.split("//")[1].split(":")
    return host, int(port)


def _py_worker(
    url: str, method: str, path: str, bodies: list[str], key: str | None, deadline: float, q
) -> None:
    latencies, errors, n = [], 0, 0
    target, headers = _host_port(url), _headers(key)
    while time.perf_counter() < deadline:
        n += 1
        body = bodies[n % len(bodies)].replace("@N@", str(n % 997)) if bodies else None
        start = time.perf_counter()
        status = _request(target, method, path, body, headers, 10)
        errors += not 200 <= status < 300
        latencies.append(time.perf_counter() - start)
    q.put((latencies, errors))


def run_python(
    urls: Sequence[str],
    method: str,
    path: str,
    bodies: list[str],
    key: str | None,
    connections: int,
    seconds: int,
) -> LoadResult:
    deadline = time.perf_counter() + seconds
    parts = _in_processes(
        _py_worker,
        [(urls[i % len(urls)], method, path, bodies, key, deadline) for i in range(connections)],
    )
    lat = sorted(x for part in parts for x in part[0])
    p50, p99 = _p50_p99(lat)
    return LoadResult(len(lat) / seconds, p50, p99, sum(part[1] for part in parts), "python")


def _in_processes(target, arg_tuples: list[tuple]) -> list:
    """Run ``target(*args, queue)`` in a spawned process per ``args``; what each put."""
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    procs = [ctx.Process(target=target, args=(*args, q)) for args in arg_tuples]
    for p in procs:
        p.start()
    parts = [q.get() for _ in procs]
    for p in procs:
        p.join()
    return parts


def _p50_p99(sorted_seconds: list[float]) -> tuple[float, float]:
    n = len(sorted_seconds)
    return sorted_seconds[n // 2] * 1000, sorted_seconds[int(n * 0.99)] * 1000


def drive(
    urls: str | Sequence[str],
    method: str = "GET",
    path: str = "/",
    bodies: list[str] | None = None,
    key: str | None = None,
    connections: int = 16,
    seconds: int = 20,
) -> LoadResult:
    """As many requests as ``connections`` closed-loop clients get answered in
    ``seconds``, split evenly across ``urls``."""
    urls = [urls] if isinstance(urls, str) else list(urls)
    tool = run_wrk if shutil.which("wrk") else run_python
    return tool(urls, method, path, bodies or [], key, connections, seconds)


@dataclass
class SteadyResult:
    sent: int
    errors: int
    p50_ms: float
    p99_ms: float
    late: int  # requests sent more than 100 ms after their slot: the client fell behind


def _steady_worker(
    url: str,
    path: str,
    bodies: list[str],
    key: str | None,
    rate: float,
    seconds: float,
    threads: int,
    q,
) -> None:
    """Send ``rate`` requests a second to ``url`` for ``seconds``, each at its own slot
    on a fixed schedule (open loop: a slow answer does not slow the schedule down)."""
    target, headers = _host_port(url), _headers(key)
    start = time.perf_counter() + 0.2
    total = int(rate * seconds)
    lock = threading.Lock()
    next_slot = [0]
    latencies: list[float] = []
    errors = [0]
    late = [0]

    def run() -> None:
        while True:
            with lock:
                i = next_slot[0]
                next_slot[0] += 1
            if i >= total:
                return
            slot = start + i / rate
            wait = slot - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.1:
                with lock:
                    late[0] += 1
            body = bodies[i % len(bodies)].replace("@N@", str(i % 997))
            sent = time.perf_counter()
            status = _request(target, "POST", path, body, headers, 30)
            with lock:
                latencies.append(time.perf_counter() - sent)
                errors[0] += not 200 <= status < 300

    pool = [threading.Thread(target=run) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    q.put((latencies, errors[0], late[0]))


def steady(
    urls: Sequence[str],
    path: str,
    bodies: list[str],
    key: str | None,
    rate: float,
    seconds: float,
    threads_per_server: int = 8,
) -> SteadyResult:
    """A fixed total ``rate`` (requests/s) split across ``urls``, one process each."""
    parts = _in_processes(
        _steady_worker,
        [(url, path, bodies, key, rate / len(urls), seconds, threads_per_server) for url in urls],
    )
    lat = sorted(x for part in parts for x in part[0])
    p50, p99 = _p50_p99(lat)
    return SteadyResult(
        sent=len(lat),
        errors=sum(p[1] for p in parts),
        p50_ms=p50,
        p99_ms=p99,
        late=sum(p[2] for p in parts),
    )


def moderation_body(text: str, subject: str = "bench-@N@") -> str:
    return json.dumps({"text": text, "subject": subject})
