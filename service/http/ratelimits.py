"""Rate limits: a per-address budget on everything anonymous, and one on refused appeal
attempts.

Flask-Limiter counts, with the fixed-window strategy, in memory (each server process
alone) or in the database (``service.storage.limit_store``, shared by every server). Requests
that carry a valid API key are not counted against the address: a client app is limited
only by the limit set on its key, if any. A refusal is a 429 with ``Retry-After``:
problem+json on the API, an error page on the web pages.

Every limit is keyed by something the counted client controls alone: its address, or
its own authenticated key. None is keyed by a decision, subject or app, which strangers
can name: counting those would let anyone spend someone else's budget.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv6Address, ip_address, ip_network

from flask import Flask, Response, current_app, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import RateLimitItem, parse
from limits.strategies import RateLimiter
from werkzeug.middleware.proxy_fix import ProxyFix

from service.http.applog import UNMATCHED
from service.http.errors import respond
from service.http.identity import request_key
from service.http.problems import Problem
from service.storage import limit_store
from service.storage.keys import ApiKey

STORAGES = ("memory", "database", "off")
# Probes and scrapes come from the platform, not the public: never limited.
_UNLIMITED_ENDPOINTS = {"health.healthz", "health.readyz", "health.metrics"}
_PREFIX = "fw"
# Where the app keeps its ``RateLimits``.
EXTENSION = "fairwitness_limits"


def parse_limit(text: str, setting: str) -> RateLimitItem | None:
    """``"300 per minute"`` as a limit, None for ``"none"``; ``ValueError`` names the
    setting otherwise."""
    if text.strip().lower() == "none":
        return None
    try:
        return parse(text)
    except ValueError as exc:
        raise ValueError(
            f"{setting}: {text!r} is not a rate limit such as '300 per minute' or 'none'"
        ) from exc


IPV6_PREFIX = 64
"""An IPv6 client is counted as its /64: a subscriber is routinely given a whole /64 and
may use any of its 2^64 addresses, so counting single addresses would let one flooder
spend a fresh budget on every request."""


def address_key(address: str | None) -> str:
    """What a client's budget is counted on: its IPv4 address (an IPv4-mapped IPv6 address
    is the IPv4 one), or its IPv6 /64."""
    if not address:
        return "unknown"
    try:
        ip = ip_address(address.split("%", 1)[0])
    except ValueError:
        return address
    if isinstance(ip, IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ip_network(f"{ip}/{IPV6_PREFIX}", strict=False))
    return str(ip)


def client_address() -> str:
    """The key of the client's address (``address_key``), as the trusted proxies (if any)
    report it."""
    return address_key(request.remote_addr)


@dataclass
class RateLimits:
    """The app's limiter and the limits the views apply themselves."""

    limiter: Limiter | None
    appeal_failures_per_ip: RateLimitItem | None
    now: Callable[[], float]

    def hit(self, item: RateLimitItem | None, scope: str, identity: str, who: str) -> None:
        """Count one request against ``item`` for ``identity``; raise a 429 ``Problem``
        when the window's budget is spent. ``who`` completes "Too many requests ..."."""
        if item is None or self.limiter is None:
            return
        strategy: RateLimiter = self.limiter.limiter
        if strategy.hit(item, _PREFIX, scope, identity):
            return
        reset, _ = strategy.get_window_stats(item, _PREFIX, scope, identity)
        retry = self.retry_after(reset)
        raise Problem(
            429,
            "rate-limited",
            f"Too many requests {who}: the limit is {item}. Retry in {retry} seconds.",
            headers={"Retry-After": str(retry)},
        )

    def hit_key(self, key: ApiKey) -> None:
        """Apply the limit set on ``key``, if any."""
        if key.rate_limit:
            self.hit(
                parse_limit(key.rate_limit, "rate_limit"),
                "key",
                key.key_id,
                f"with the key {key.key_id}",
            )

    def retry_after(self, reset: float) -> int:
        return max(1, math.ceil(reset - self.now()))


def limits_of(app: Flask | None = None) -> RateLimits:
    return (app or current_app).extensions[EXTENSION]


def _exempt() -> bool:
    if request.endpoint in _UNLIMITED_ENDPOINTS:
        return True
    return request_key() is not None


def init_rate_limits(app: Flask, settings, engine, clock) -> RateLimits:
    """Put the limiter, proxy handling and the 429 answer on ``app``."""
    if settings.trusted_proxy_hops:
        hops = settings.trusted_proxy_hops
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    if settings.rate_limit_storage not in STORAGES:
        raise ValueError(f"FAIRWITNESS_RATE_LIMIT_STORAGE: must be one of {', '.join(STORAGES)}")
    public = parse_limit(settings.rate_limit_public, "FAIRWITNESS_RATE_LIMIT_PUBLIC")
    appeal_failures = parse_limit(
        settings.rate_limit_appeal_failures_per_ip,
        "FAIRWITNESS_RATE_LIMIT_APPEAL_FAILURES_PER_IP",
    )

    def now() -> float:
        return clock().timestamp()

    if settings.rate_limit_storage == "off":
        limits = RateLimits(None, None, now)
        app.extensions[EXTENSION] = limits
        return limits
    if settings.rate_limit_storage == "database":
        storage_uri = f"{limit_store.SCHEME}://"
        options = {"engine": engine, "clock": now}
    else:
        storage_uri, options = "memory://", {}
        now = time.time  # the library's memory storage keeps its own time
    limiter = Limiter(
        client_address,
        app=app,
        application_limits=[settings.rate_limit_public] if public else [],
        storage_uri=storage_uri,
        storage_options=options,
        strategy="fixed-window",
        key_prefix=_PREFIX,
        headers_enabled=False,
        # Flask-Limiter exempts requests that match no route (404, 405) by default, which
        # let anyone send unlimited requests with made-up paths or methods. Naming them
        # puts them under the same per-address budget as every anonymous request.
        request_identifier=lambda: request.endpoint or UNMATCHED,
    )
    # The only limits flask-limiter applies are the application's, so a request filter
    # exempts exactly the same requests, before any limit is resolved.
    limiter.request_filter(_exempt)
    limits = RateLimits(limiter, appeal_failures, now)
    app.extensions[EXTENSION] = limits

    @app.errorhandler(RateLimitExceeded)
    def _too_many(err: RateLimitExceeded) -> Response:
        breached = limiter.current_limit
        retry = limits.retry_after(breached.window[0]) if breached else 60
        problem = Problem(
            429,
            "rate-limited",
            f"Too many requests from your address: the limit is {err.limit.limit}. "
            f"Retry in {retry} seconds.",
            headers={"Retry-After": str(retry)},
        )
        return respond(problem)

    return limits
