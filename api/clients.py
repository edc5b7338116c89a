"""Who is calling: the client's IP address and app installation, for rate limits.

The peer address is the client unless it is one of ``ANXIN_TRUSTED_PROXIES``; only then
is ``X-Forwarded-For`` read, from the right (the entry the nearest proxy added), skipping
further trusted proxies: the first untrusted address is the client. Entries to its left
were written by the client itself and are never believed.

The app sends ``X-Anxin-Installation``: a random id (UUID) it makes at first start and
keeps until it is reinstalled. The client chooses it, so it only adds limits per
installation on top of those per IP; a malformed value is ignored.
"""

from __future__ import annotations

import ipaddress
import re

from starlette.requests import HTTPConnection

from workflows.limits import Client

INSTALLATION_HEADER = "x-anxin-installation"
_INSTALLATION = re.compile(r"^[A-Za-z0-9_-]{8,64}$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def _trusted(
    address: ipaddress.IPv4Address | ipaddress.IPv6Address, proxies: tuple[Network, ...]
) -> bool:
    return any(address in network for network in proxies)


def client_ip(connection: HTTPConnection, trusted_proxies: tuple[Network, ...]) -> str | None:
    peer = _address(connection.client.host) if connection.client else None
    if peer is None or not _trusted(peer, trusted_proxies):
        return str(peer) if peer is not None else None
    # Several X-Forwarded-For headers count as one comma-separated list, in order.
    hops = [
        hop for header in connection.headers.getlist("x-forwarded-for") for hop in header.split(",")
    ]
    for hop in reversed(hops):
        address = _address(hop)
        if address is None:
            return str(peer)  # garbage from here on: the last trusted proxy is the client
        if not _trusted(address, trusted_proxies):
            return str(address)
        peer = address
    return str(peer)


def client_of(connection: HTTPConnection, trusted_proxies: tuple[Network, ...]) -> Client:
    installation = connection.headers.get(INSTALLATION_HEADER, "").strip()
    return Client(
        ip=client_ip(connection, trusted_proxies),
        installation=installation if _INSTALLATION.match(installation) else None,
    )
