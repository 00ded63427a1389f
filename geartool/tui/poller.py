"""Polling servers for ``geartool top``: one asyncio task per server, none can block another.

Each poll is bounded by ``timeout``; a server that fails or is too slow is reported through
``on_error`` (the model marks it stale), its connection is dropped, and it is retried at the
next tick. No textual here: the app passes callbacks, and ``--once`` uses :func:`poll_all`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from geartool.client.admin import AdminClient
from geartool.protocol import ProtocolError, ServerError
from geartool.tui.rows import Snapshot

Clock = Callable[[], float]
INTERVALS = (0.5, 1.0, 2.0, 5.0, 10.0)


async def poll_once(client: AdminClient, server: str, clock: Clock = time.monotonic,
                    version: str | None = None) -> Snapshot:
    """Ask one server everything ``top`` shows, in one go on one connection."""
    status = await client.status()
    taken = clock()
    priority = None
    if "prioritystatus" not in client.missing:
        try:
            priority = tuple(await client.priority_status())
        except ServerError as exc:  # gearmand before 1.1.15
            if exc.code != "UNKNOWN_COMMAND":
                raise
            client.missing.add("prioritystatus")
    workers = tuple(await client.workers())
    stats = await client.stats()
    running = await client.running()
    if version is None:
        version = await client.version()
    return Snapshot(server, taken, tuple(status), priority, workers,
                    None if stats is None else tuple(stats),
                    None if running is None else tuple(running),
                    version, await client.uptime())


# What a poll may fail with: no server, a slow one, an ERR, or a reply that does not parse
# (ValueError: a number that is not one). Anything else is a bug and should be seen.
POLL_ERRORS = (OSError, ProtocolError, ServerError, ValueError)


def describe(exc: BaseException) -> str:
    """A short reason for the status line."""
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, ServerError):
        return f"ERR {exc.code} {exc.text}".strip()
    if isinstance(exc, OSError):
        return exc.strerror or str(exc) or type(exc).__name__
    return str(exc) or type(exc).__name__


async def poll_all(servers: list[str], timeout: float, clock: Clock = time.monotonic
                   ) -> list[Snapshot | str]:
    """One snapshot per server (or the reason it failed), concurrently, each bounded."""
    async def one(server: str) -> Snapshot | str:
        client = AdminClient(server, timeout=timeout)
        try:
            return await asyncio.wait_for(poll_once(client, server, clock), timeout)
        except POLL_ERRORS as exc:
            return describe(exc)
        finally:
            await client.close()
    return list(await asyncio.gather(*(one(s) for s in servers)))


class Poller:
    """Polls every server each ``interval`` seconds until :meth:`stop`.

    ``paused`` skips polls; :meth:`poll_now` wakes every loop at once (after a change of
    interval, or an action the user wants to see the effect of).
    """

    def __init__(self, servers: list[str], on_snapshot: Callable[[Snapshot], None],
                 on_error: Callable[[str, str, float], None], interval: float = 1.0,
                 timeout: float = 2.0, clock: Clock = time.monotonic) -> None:
        self.servers = servers
        self.on_snapshot = on_snapshot
        self.on_error = on_error
        self.interval = interval
        self.timeout = timeout
        self.clock = clock
        self.paused = False
        self._wake = {s: asyncio.Event() for s in servers}
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = False
        self.clients = {s: AdminClient(s, timeout=timeout) for s in servers}

    def start(self) -> None:
        """Start one polling task per server (in the running event loop)."""
        self._tasks = [asyncio.create_task(self._loop(s), name=f"poll {s}")
                       for s in self.servers]

    def poll_now(self) -> None:
        """Poll every server at once instead of at the next tick."""
        for event in self._wake.values():
            event.set()

    async def stop(self) -> None:
        """Cancel the polling tasks and close their connections."""
        # Python 3.11's wait_for loses a cancel that arrives as the awaited future completes
        # (it returns the result instead), and a lost cancel left a loop polling for ever and
        # this gather waiting for it: each loop also ends at its next turn once this is set.
        self._stopped = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for client in self.clients.values():
            await client.close()

    async def _loop(self, server: str) -> None:
        client = self.clients[server]
        version: str | None = None
        while not self._stopped:
            if not self.paused:
                try:
                    snap = await asyncio.wait_for(poll_once(client, server, self.clock, version),
                                                  self.timeout)
                    version = snap.version
                    self.on_snapshot(snap)
                except POLL_ERRORS as exc:
                    await client.close()
                    version = None  # it may come back as another server
                    self.on_error(server, describe(exc), self.clock())
            wake = self._wake[server]
            try:
                await asyncio.wait_for(wake.wait(), self.interval)
            except TimeoutError:
                pass
            wake.clear()

    async def run_action(self, server: str, action: Callable[[AdminClient],
                                                             object]) -> None:
        """Run an admin action on its own short connection, then refresh at once."""
        async with AdminClient(server, timeout=self.timeout) as client:
            result = action(client)
            if asyncio.iscoroutine(result):
                await result
        self.poll_now()
