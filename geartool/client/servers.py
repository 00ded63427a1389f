"""Server addresses: ``host[:port]`` strings, IPv6 in brackets, and choosing a server by unique."""

from __future__ import annotations

import zlib
from typing import NamedTuple

from geartool.protocol import DEFAULT_PORT


class Address(NamedTuple):
    host: str
    port: int

    def __str__(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def parse_address(text: str, default_port: int = DEFAULT_PORT) -> Address:
    """Parse ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``; ValueError with a clear message."""
    text = text.strip()
    if not text:
        raise ValueError("empty server address")
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        if not sep:
            raise ValueError(f"bad server address {text!r}: missing ']'")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError(f"bad server address {text!r}")
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:
        host, port_text = text, ""  # bare host, or a bare IPv6 address without a port
    if not port_text:
        return Address(host or "127.0.0.1", default_port)
    try:
        port = int(port_text)
    except ValueError:
        raise ValueError(f"bad port {port_text!r} in server address {text!r}") from None
    if not 0 < port < 65536:
        raise ValueError(f"port {port} out of range in server address {text!r}")
    return Address(host or "127.0.0.1", port)


def parse_addresses(items: list[str], default_port: int = DEFAULT_PORT) -> list[Address]:
    """Each item may be a comma-separated list; order is kept, duplicates dropped."""
    out: list[Address] = []
    for item in items:
        for part in item.split(","):
            if part.strip():
                addr = parse_address(part, default_port)
                if addr not in out:
                    out.append(addr)
    return out


def pick_order(servers: list[Address], unique: bytes | None, start: int = 0) -> list[Address]:
    """The order to try servers in for one submit.

    A job with a unique id always starts at the same server (CRC32 of the unique), so
    coalescing works across a cluster; others rotate from ``start`` to spread the load. The
    rest follow in ring order, for failover.
    """
    if not servers:
        return []
    first = (zlib.crc32(unique) if unique else start) % len(servers)
    return servers[first:] + servers[:first]
