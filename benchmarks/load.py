"""Drive an HTTP endpoint from another process: wrk when installed, else a Python client."""

from __future__ import annotations

import http.client
import json
import multiprocessing
import re
import shutil
import subprocess
import tempfile
import time
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
"""


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run_wrk(
    url: str,
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
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", script, url],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    Path(script).unlink()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _ms(re.search(r"\s50%\s+(\S+)", out).group(1))
    p99 = _ms(re.search(r"\s99%\s+(\S+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(non2xx.group(1)) if non2xx else 0
    if socket_errors:
        errors += sum(int(x) for x in socket_errors.groups())
    return LoadResult(rps, p50, p99, errors, "wrk")


def _py_worker(
    host: str,
    port: int,
    method: str,
    path: str,
    bodies: list[str],
    key: str | None,
    deadline: float,
    q,
) -> None:
    latencies, errors, n = [], 0, 0
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    while time.perf_counter() < deadline:
        n += 1
        body = bodies[n % len(bodies)].replace("@N@", str(n % 997)) if bodies else None
        start = time.perf_counter()
        try:
            conn = http.client.HTTPConnection(host, port, timeout=10)
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            resp.read()
            conn.close()
            if resp.status >= 300:
                errors += 1
        except OSError:
            errors += 1
        latencies.append(time.perf_counter() - start)
    q.put((latencies, errors))


def run_python(
    url: str,
    method: str,
    path: str,
    bodies: list[str],
    key: str | None,
    connections: int,
    seconds: int,
) -> LoadResult:
    host, port = url.split("//")[1].split(":")
    ctx = multiprocessing.get_context("spawn")
    q = ctx.Queue()
    deadline = time.perf_counter() + seconds
    procs = [
        ctx.Process(
            target=_py_worker, args=(host, int(port), method, path, bodies, key, deadline, q)
        )
        for _ in range(connections)
    ]
    for p in procs:
        p.start()
    parts = [q.get() for _ in procs]
    for p in procs:
        p.join()
    lat = sorted(x for part in parts for x in part[0])
    errors = sum(part[1] for part in parts)
    return LoadResult(
        len(lat) / seconds,
        lat[len(lat) // 2] * 1000,
        lat[int(len(lat) * 0.99)] * 1000,
        errors,
        "python",
    )


def drive(
    url: str,
    method: str = "GET",
    path: str = "/",
    bodies: list[str] | None = None,
    key: str | None = None,
    connections: int = 16,
    seconds: int = 20,
) -> LoadResult:
    tool = run_wrk if shutil.which("wrk") else run_python
    return tool(url, method, path, bodies or [], key, connections, seconds)


def moderation_body(text: str, subject: str = "bench-@N@") -> str:
    return json.dumps({"text": text, "subject": subject})
