"""Live names for completion: the functions and job handles a server has right now.

Asked over a separate short connection, so a completion request never mixes its admin
replies into the shell's own stream; cached for a couple of seconds so typing stays quick.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable

from geartool.client.servers import Address
from geartool.protocol import AdminLine, Decoder, ProtocolError
from geartool.protocol.admin import parse_jobs, parse_status

from .completion import LiveNames

REFRESH_SECONDS = 2.0
QUERY_TIMEOUT = 0.5


def query_names(address: Address, timeout: float = QUERY_TIMEOUT) -> tuple[list[str], list[str]]:
    """(functions, handles) from ``status`` and ``show jobs``; OSError/ProtocolError on trouble."""
    with socket.create_connection((address.host, address.port), timeout=timeout) as sock:
        sock.sendall(b"status\nshow jobs\n")
        decoder = Decoder()
        blocks: list[list[str]] = [[]]
        deadline = time.monotonic() + timeout
        while len(blocks) < 3 and time.monotonic() < deadline:
            data = sock.recv(65536)
            if not data:
                break
            decoder.feed(data)
            for ev in decoder.events():
                if not isinstance(ev, AdminLine):
                    continue
                line = ev.line.decode("utf-8", "replace")
                if line == ".":
                    blocks.append([])
                else:
                    blocks[-1].append(line)
    if len(blocks) < 3:
        raise ProtocolError("incomplete admin reply")
    return ([r.function for r in parse_status(blocks[0])],
            [r.handle for r in parse_jobs(blocks[1])])


class LiveSource:
    """A completion callback: the shell's own names plus the current server's, cached."""

    def __init__(self, local: Callable[[], LiveNames], address: Callable[[], Address | None]
                 ) -> None:
        self._local = local
        self._address = address
        self._cache: tuple[Address | None, float, list[str], list[str]] = (None, 0.0, [], [])

    def __call__(self) -> LiveNames:
        names = self._local()
        addr = self._address()
        cached_addr, at, functions, handles = self._cache
        if addr is not None and (addr != cached_addr or time.monotonic() - at > REFRESH_SECONDS):
            try:
                functions, handles = query_names(addr)
            except (OSError, ProtocolError):
                functions, handles = [], []
            self._cache = (addr, time.monotonic(), functions, handles)
        merged_f = list(dict.fromkeys([*functions, *names.functions]))
        merged_h = list(dict.fromkeys([*names.handles, *handles]))
        return LiveNames(merged_f, merged_h, names.servers)
