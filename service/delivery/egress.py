"""Outbound HTTP requests to hosts an app chose (webhook deliveries), made safely.

The host is resolved once, within the attempt's time limit; every address it resolves to
is checked before any
connection is opened; the connection goes to a checked address and nowhere else, so a
name that answers differently a second time (DNS rebinding) gains nothing; the request
then speaks to the name: its ``Host`` header, TLS SNI and certificate check. No redirect
is followed. The caller learns a fixed category of failure, never the error text,
so the outcome cannot be used to map ports or read banners on the server's network.
"""

from __future__ import annotations

import contextlib
import http.client
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from ipaddress import ip_address
from urllib.parse import urlsplit

from service.domain.addresses import is_public, literal_address

# What a failed attempt reports. Nothing else about a connection is ever told.
REFUSED = "refused by policy"
FAILED = "delivery failed"
TIMED_OUT = "timed out"

DEFAULT_PORTS = {"http": 80, "https": 443}


@dataclass(frozen=True)
class Target:
    """Where a URL sends a request: host (no brackets), port, request path, Host header."""

    scheme: str
    host: str
    port: int
    path: str
    host_header: str

    @classmethod
    def of(cls, url: str) -> Target:
        """Raises ValueError for anything that is not a plain absolute http(s) URL."""
        parts = urlsplit(url)
        host = parts.hostname
        if parts.scheme not in DEFAULT_PORTS or not host:
            raise ValueError("not an absolute http(s) URL")
        literal_address(host)  # refuses hosts that resolvers would read another way
        port = parts.port or DEFAULT_PORTS[parts.scheme]
        name = f"[{host}]" if ":" in host else host
        explicit = parts.port is not None and parts.port != DEFAULT_PORTS[parts.scheme]
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        return cls(parts.scheme, host, port, path, f"{name}:{port}" if explicit else name)


class _Refused(Exception):
    pass


# (family, socket address) as getaddrinfo gives them: (host, port) for IPv4, (host, port,
# flow info, scope id) for IPv6, (family, packed address) on a Python built without IPv6.
_Resolved = tuple[
    socket.AddressFamily, tuple[str, int] | tuple[str, int, int, int] | tuple[int, bytes]
]


def _resolve(target: Target, allow_private: bool) -> list[_Resolved]:
    """Every (family, socket address) ``target`` resolves to, all checked first."""
    found = socket.getaddrinfo(
        target.host, target.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    addresses: list[_Resolved] = [(family, sockaddr) for family, _, _, _, sockaddr in found]
    if not allow_private and not all(
        is_public(ip_address(sockaddr[0])) for _, sockaddr in addresses
    ):
        raise _Refused
    return addresses


def _resolve_by(target: Target, allow_private: bool, deadline: float) -> list[_Resolved]:
    """``_resolve``, given up at ``deadline``: the system resolver has no timeout of its
    own that a caller sets, so a name whose DNS server never answers would otherwise hold
    the deliverer for as long as the resolver's retries last. The lookup runs on a thread
    of its own, which is left to finish (or fail) in the background."""
    outcome: list[list[_Resolved] | BaseException] = []
    done = threading.Event()

    def run() -> None:
        try:
            outcome.append(_resolve(target, allow_private))
        except BaseException as error:  # handed to the caller, not raised here
            outcome.append(error)
        done.set()

    threading.Thread(target=run, name="webhook-resolve", daemon=True).start()
    if not done.wait(max(0.0, deadline - time.monotonic())):
        raise TimeoutError
    result = outcome[0]
    if isinstance(result, BaseException):
        raise result
    return result


def _connect(addresses: list[_Resolved], deadline: float) -> socket.socket:
    last: OSError = OSError("no address")
    for family, sockaddr in addresses:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(remaining)
        try:
            sock.connect(sockaddr)
        except OSError as exc:
            sock.close()
            last = exc
            continue
        return sock
    raise last


class _Watchdog:
    """Shuts the connection down at the deadline, so a receiver that answers one byte
    at a time cannot hold a deliverer longer than the timeout (a socket timeout alone
    bounds each read, not the whole answer)."""

    def __init__(self, deadline: float) -> None:
        self.fired = threading.Event()
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self._timer = threading.Timer(max(0.0, deadline - time.monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        with self._lock:
            self._sock = sock
            if self.fired.is_set():
                self._shut()

    def _fire(self) -> None:
        with self._lock:
            self.fired.set()
            self._shut()

    def _shut(self) -> None:
        if self._sock is None:
            return
        # The plain socket's shutdown, even on a TLS socket: it only wakes the blocked
        # reader, without touching TLS state that the reading thread is using.
        with contextlib.suppress(OSError):
            socket.socket.shutdown(self._sock, socket.SHUT_RDWR)

    def cancel(self) -> None:
        self._timer.cancel()


def post(
    url: str, body: bytes, headers: dict[str, str], *, allow_private: bool, timeout: float
) -> tuple[int | None, str | None]:
    """POST ``body`` to ``url``: (HTTP status, None) when an answer came, else (None,
    one of ``REFUSED``, ``FAILED``, ``TIMED_OUT``). The whole attempt, resolving the name
    included, takes at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    try:
        target = Target.of(url)
    except ValueError:
        return None, REFUSED
    try:
        addresses = _resolve_by(target, allow_private, deadline)
    except _Refused:
        return None, REFUSED
    except TimeoutError:
        return None, TIMED_OUT
    except (OSError, UnicodeError):
        return None, FAILED
    watchdog = _Watchdog(deadline)
    sock: socket.socket | None = None
    try:
        sock = _connect(addresses, deadline)
        watchdog.watch(sock)
        if target.scheme == "https":
            # A fresh context each time honours SSL_CERT_FILE / SSL_CERT_DIR as set now.
            context = ssl.create_default_context()
            sock = context.wrap_socket(
                sock, server_hostname=target.host, do_handshake_on_connect=False
            )
            watchdog.watch(sock)
            sock.do_handshake()
        conn = http.client.HTTPConnection(target.host, target.port)
        conn.sock = sock
        try:
            conn.request("POST", target.path, body, {**headers, "Host": target.host_header})
            status = conn.getresponse().status
        finally:
            conn.close()
        watchdog.cancel()
        # Cut off mid-answer, http.client may still have read a status line.
        return (None, TIMED_OUT) if watchdog.fired.is_set() else (status, None)
    except TimeoutError:
        return None, TIMED_OUT
    except (OSError, http.client.HTTPException, ValueError, UnicodeError):
        return None, TIMED_OUT if watchdog.fired.is_set() else FAILED
    finally:
        watchdog.cancel()
        if sock is not None:
            sock.close()
