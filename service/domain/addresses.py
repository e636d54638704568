"""Which hosts and addresses the service may send requests to (webhook deliveries).

A webhook URL is chosen by a client app, so a hostile app could aim the server at its
own neighbours: loopback, the private network, a cloud metadata service. Only globally
routable addresses are public here, and an IPv6 address that carries an IPv4 address
(IPv4-mapped or -compatible, NAT64, 6to4, Teredo) is only as public as the IPv4
addresses it carries, since that is where packets to it end up.

Pure functions: resolving names and connecting is ``service.delivery.egress``'s job.
"""

from __future__ import annotations

import re
from ipaddress import IPv4Address, IPv6Address, ip_network

IPAddress = IPv4Address | IPv6Address

# Prefixes whose low 32 bits are an IPv4 address the packets are delivered to.
_IPV4_IN_LOW_BITS = tuple(
    ip_network(prefix)
    for prefix in (
        "::ffff:0:0/96",  # IPv4-mapped (RFC 4291)
        "::/96",  # IPv4-compatible, deprecated (RFC 4291)
        "::ffff:0:0:0/96",  # IPv4-translated (RFC 2765)
        "64:ff9b::/96",  # NAT64, the well-known prefix (RFC 6052)
    )
)
# Not public whatever the Python version's tables say (they have changed between
# releases, and some of these count as global in older ones).
_NEVER_PUBLIC = tuple(
    ip_network(prefix)
    for prefix in (
        "192.0.0.0/24",  # IETF protocol assignments (RFC 6890)
        "192.88.99.0/24",  # 6to4 relay anycast, deprecated (RFC 7526)
        "64:ff9b:1::/48",  # NAT64 for local use: the operator's own networks (RFC 8215)
        "fec0::/10",  # site-local, deprecated (RFC 3879)
    )
)
# A host whose last label is a number is read as an IPv4 address by resolvers and
# browsers alike (WHATWG URL "ends in a number"), in decimal, octal or hex, with one to
# four parts: 2130706433, 0x7f000001, 0177.0.0.1 and 127.1 are all 127.0.0.1.
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")


def embedded_ipv4(ip: IPv6Address) -> list[IPv4Address]:
    """The IPv4 addresses that packets to ``ip`` are delivered to, if it carries any."""
    if ip.sixtofour is not None:
        return [ip.sixtofour]
    if ip.teredo is not None:
        server, client = ip.teredo
        return [server, client]
    if any(ip in prefix for prefix in _IPV4_IN_LOW_BITS):
        return [IPv4Address(int(ip) & 0xFFFFFFFF)]
    return []


def is_public(ip: IPAddress) -> bool:
    """Whether ``ip`` is a globally routable unicast address, and every IPv4 address it
    carries is one too."""
    if ip.is_multicast or any(ip in net for net in _NEVER_PUBLIC if net.version == ip.version):
        return False
    if isinstance(ip, IPv6Address):
        if ip.scope_id:
            return False
        carried = embedded_ipv4(ip)
        if carried:
            return all(is_public(inner) for inner in carried)
    return ip.is_global


def literal_address(host: str) -> IPAddress | None:
    """The IP address ``host`` (a URL's host, brackets removed) spells, or None for a
    name.

    Raises ValueError for a host that resolvers would read as an address but that is not
    written the one plain way (four decimal numbers; IPv6 without a zone), so the check
    and the connection can never read one host two ways.
    """
    if ":" in host:
        if "%" in host:
            raise ValueError(f"{host} has an IPv6 zone, which only names a local network.")
        return IPv6Address(host)
    labels = host.split(".")
    if labels and labels[-1] == "" and len(labels) > 1:
        labels.pop()
    if not labels or not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    try:
        return IPv4Address(host)
    except ValueError:
        raise ValueError(
            f"{host} is read as an IPv4 address; write it as four decimal numbers (a.b.c.d)."
        ) from None
