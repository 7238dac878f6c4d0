"""The client's address behind trusted proxies (rate limits per address count the client, not the ingress).

``Forwarded`` (RFC 7239) or else ``X-Forwarded-For`` is believed only when the immediate peer is a
configured trusted proxy (``GATEWAY_TRUSTED_PROXIES``, CIDRs). The chain is walked from the right,
the hop nearest the gateway first, skipping trusted hops: the first address not trusted is the
client. Anything to its left was written by the client itself and is ignored, so a spoofed header
changes nothing; from an untrusted peer the headers are ignored altogether.
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_networks(text: str) -> tuple[Network, ...]:
    """``"10.0.0.0/8, 192.168.1.7 fd00::/8"`` → networks; a bad entry raises ValueError (refuse to start)."""
    return tuple(ipaddress.ip_network(part, strict=False) for part in text.replace(",", " ").split())


def _address(text: str) -> Address | None:
    """One hop as written in either header: ``192.0.2.43``, ``192.0.2.43:4711``, ``"[2001:db8::17]:4711"``."""
    value = text.strip().strip('"')
    if value.startswith("["):
        value = value[1:value.find("]")] if "]" in value else ""
    elif value.count(":") == 1:
        value = value.split(":", 1)[0]  # IPv4 with a port
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None  # "unknown", an obfuscated identifier ("_hidden") or garbage


def _forwarded_for(values: Iterable[str]) -> list[str]:
    hops = []
    for value in values:
        for element in value.split(","):
            for pair in element.split(";"):
                name, _, hop = pair.partition("=")
                if name.strip().lower() == "for":
                    hops.append(hop)
    return hops


def forwarded_chain(headers: Iterable[tuple[bytes, bytes]]) -> list[str]:
    """The hops the proxies recorded, client side first: ``Forwarded`` when present, else ``X-Forwarded-For``."""
    forwarded, x_forwarded_for = [], []
    for name, value in headers:
        if name.lower() == b"forwarded":
            forwarded.append(value.decode("latin-1"))
        elif name.lower() == b"x-forwarded-for":
            x_forwarded_for.append(value.decode("latin-1"))
    if forwarded:
        return _forwarded_for(forwarded)
    return [hop for value in x_forwarded_for for hop in value.split(",")]


def client_address(peer: str | None, headers: Iterable[tuple[bytes, bytes]], trusted: tuple[Network, ...]) -> str | None:
    """The address to count a request against."""
    if peer is None or not trusted:
        return peer

    def is_trusted(address: Address) -> bool:
        return any(address in network for network in trusted)

    nearest = _address(peer)
    if nearest is None or not is_trusted(nearest):
        return peer
    for hop in reversed(forwarded_chain(headers)):
        address = _address(hop)
        if address is None:
            # The trusted proxy nearest to it could not say who sent it: count that proxy.
            return str(nearest)
        if not is_trusted(address):
            return str(address)
        nearest = address
    return str(nearest)  # every hop is trusted (an internal caller): the leftmost one
