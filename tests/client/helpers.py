"""Helpers for the client/worker tests: run a coroutine with a hard bound, talk admin text."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
    """Run ``coro`` on a fresh loop; fail (TimeoutError) instead of hanging past ``timeout``."""
    async def bounded() -> T:
        async with asyncio.timeout(timeout):
            return await coro
    return asyncio.run(bounded())


def admin(port: int, command: str) -> str:
    """Send one admin text command and read the reply (up to the '.' line or one line)."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(command.encode() + b"\n")
        data = b""
        listing = command.split()[0] in ("status", "workers", "prioritystatus") or \
            command.startswith("show")
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            if listing and (data == b".\n" or data.endswith(b"\n.\n")):
                break
            if not listing and data.endswith(b"\n"):
                break
    return data.decode()


def status_of(port: int, function: str) -> tuple[int, int, int] | None:
    """(queued, running, workers) for ``function`` from the admin ``status`` listing."""
    for line in admin(port, "status").splitlines():
        parts = line.split("\t")
        if len(parts) == 4 and parts[0] == function:
            return int(parts[1]), int(parts[2]), int(parts[3])
    return None


async def wait_for(predicate: Any, timeout: float = 10.0, every: float = 0.02) -> None:
    """Poll ``predicate()`` (bounded in time) until it is true."""
    async with asyncio.timeout(timeout):
        while not predicate():
            await asyncio.sleep(every)
