"""Who the client is: the peer address, X-Forwarded-For only from trusted proxies, and
the app installation header."""

from __future__ import annotations

import ipaddress

import pytest
from starlette.requests import Request

from api.clients import Network, client_ip, client_of

PROXIES: tuple[Network, ...] = (
    ipaddress.ip_network("10.0.0.0/8"),
    ipaddress.ip_network("2001:db8::/32"),
)


def request(peer: str | None, *headers: tuple[str, str]) -> Request:
    return Request(
        {
            "type": "http",
            "method": "POST",
            "path": "/graphql",
            "headers": [(k.encode(), v.encode()) for k, v in headers],
            "client": (peer, 4242) if peer else None,
        }
    )


def test_without_trusted_proxies_the_header_is_ignored() -> None:
    spoofed = request("198.51.100.7", ("x-forwarded-for", "203.0.113.1"))
    assert client_ip(spoofed, ()) == "198.51.100.7"
    assert client_ip(spoofed, PROXIES) == "198.51.100.7"  # the peer is no proxy of ours


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        (["203.0.113.1"], "203.0.113.1"),
        # The client wrote the left part itself: only what our proxies added counts.
        (["1.2.3.4, 203.0.113.1"], "203.0.113.1"),
        (["1.2.3.4, 203.0.113.1, 10.1.1.1"], "203.0.113.1"),
        (["1.2.3.4", "203.0.113.1, 10.1.1.1"], "203.0.113.1"),  # two headers, in order
        (["garbage, 10.1.1.1"], "10.1.1.1"),
        ([], "10.0.0.5"),
        (["2001:db8::7, 2001:db8::1"], "2001:db8::7"),  # all hops trusted: the farthest
    ],
)
def test_behind_trusted_proxies_the_first_untrusted_hop_is_the_client(
    forwarded: list[str], expected: str
) -> None:
    headers = [("x-forwarded-for", value) for value in forwarded]
    assert client_ip(request("10.0.0.5", *headers), PROXIES) == expected


def test_no_peer_is_an_unknown_client() -> None:
    assert client_ip(request(None), PROXIES) is None
    assert client_of(request(None), ()).ip_key == "unknown"


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("6f1c1b8e-4c9a-4f7e-9a59-2d7c1c0e5b11", True),
        ("short", False),
        ("x" * 65, False),
        ("has space inside!", False),
    ],
)
def test_installation_header(value: str, kept: bool) -> None:
    client = client_of(request("198.51.100.7", ("x-anxin-installation", value)), ())
    assert client.installation == (value if kept else None)
