"""The outgoing side of the server's sockets: replies written once per pass, the rest kept.

Every reply the scheduler makes in one pass over the ready sockets leaves in one write per peer.
While the server is busy, a client's replies (a connection without CAN_DO) may wait a few passes
so that they leave together; a worker's go out at the end of each pass (see ``Hub.on_ready``).
What the kernel does not take waits in the peer's ``pending`` list until epoll says the socket is
writable; meanwhile a peer with more than 4 MB waiting is not read from (a slow client cannot
make the server buffer without bound), and one past the server's write limit is cut off.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Final

from geartool.protocol import Decoder

from . import sysio
from .model import Conn, ready_bytes

if TYPE_CHECKING:
    from .core import Core

log = logging.getLogger("geartool.server")
_IN: Final = select.EPOLLIN
_OUT: Final = select.EPOLLOUT
_IN_OUT: Final = select.EPOLLIN | select.EPOLLOUT
# Unsent replies above which the peer's requests are no longer read, until it catches up.
_HIGH: Final = 4 * 1024 * 1024
_LOW: Final = 1024 * 1024
# By descriptor through sysio (the C shim that keeps the GIL, else os.write): see transport.py.
_write: Final = sysio.write
_clock: Final = time.monotonic_ns
# However busy the server, a client's replies wait no longer than this for others to join them.
DEFER_NS: Final = 200_000


class Peer:
    """One connected socket: its decoder, and the replies the kernel has not taken yet."""

    __slots__ = ("hub", "sock", "fd", "conn", "decoder", "pending", "offset", "unsent", "events",
                 "closing")

    def __init__(self, hub: Outgoing, sock: socket.socket, fd: int, conn: Conn, decoder: Decoder
                 ) -> None:
        self.hub = hub
        self.sock = sock
        self.fd = fd
        self.conn: Conn | None = conn  # None once the scheduler has forgotten it
        self.decoder = decoder
        self.pending: list[bytes] = []  # unsent replies in order; the first from ``offset``
        self.offset = 0
        self.unsent = 0
        self.events = _IN
        self.closing = False  # nothing more is read; closed once ``pending`` is sent


class Outgoing:
    """The writing half of ``transport.Hub``, which supplies the state and the closing."""

    core: Core
    slow: Callable[[], None]  # the server's commits, timers and shutdown, when one may be due
    write_limit: int  # replies a peer may leave unread before it is cut off
    epoll: select.epoll
    loop: Any  # Any: uvloop's handles are not asyncio's classes, and compiled code checks types
    scheduled: bool
    broken: list[Peer]  # peers whose write failed during a flush
    # Clients' connections whose replies wait for a later pass (Hub.on_ready sets ``deferring``
    # while they may), and since when the oldest of them has waited (monotonic ns).
    deferred: list[Conn]
    deferring: bool
    deferred_since: int

    # Defined by Hub; declared here so this module type-checks (and compiles) on its own.
    def abort(self, peer: Peer) -> None:
        raise NotImplementedError

    def _drop(self, peer: Peer) -> None:
        raise NotImplementedError

    def _want(self, peer: Peer, events: int) -> None:
        if peer.events != events and peer.events:
            peer.events = events
            self.epoll.modify(peer.fd, events)

    def after_batch(self, now: bool = False) -> None:
        """After any change to the scheduler: its replies go out; its slow duties run if due."""
        core = self.core
        if core.dirty or self.deferred:
            if now:
                self.flush_now()
            elif not self.scheduled and self.loop is not None:
                self.scheduled = True  # (a timer or a commit: flushed once the loop is back)
                self.loop.call_soon(self.flush_now)
        if core.store.pending() or core.shutdown_requested or core.next_delay() is not None:
            self.slow()

    def flush_now(self) -> None:
        self.scheduled = False
        core = self.core
        if self.deferring and not core.hurry and (
                not self.deferred or _clock() - self.deferred_since < DEFER_NS):
            self._defer_clients()
        elif self.deferred:
            core.dirty += self.deferred
            self.deferred = []
        core.hurry = False
        while core.dirty:  # a failed send disconnects, which may reply to others
            dirty, core.dirty = core.dirty, []
            flush(dirty)
            broken, self.broken = self.broken, []
            for peer in broken:
                self.abort(peer)

    def _defer_clients(self) -> None:
        """Defer the replies of connections without CAN_DO. A worker's go out now: an idle
        worker waits for its JOB_ASSIGN or NOOP, while a client with jobs in flight gains from
        getting its replies in one write (and answering in one), each costing the server a
        syscall and the kernel a loopback segment. Not when a queue runs short (``core.hurry``):
        then a client's result is what lets it submit the workers' next jobs."""
        core = self.core
        dirty, core.dirty = core.dirty, []
        deferred = self.deferred
        first = not deferred
        for conn in dirty:
            if conn.registrations:
                core.dirty.append(conn)
            else:
                deferred.append(conn)
        if first and deferred:
            self.deferred_since = _clock()  # the oldest reply's wait counts

    def send(self, peer: Peer, data: bytes) -> None:
        """Write now what the kernel takes; keep the rest for when the socket is writable."""
        if peer.pending:
            peer.pending.append(data)
            peer.unsent += len(data)
        else:
            try:
                n = _write(peer.fd, data)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                self.broken.append(peer)
                return
            if n == len(data):
                return
            peer.pending = [data]
            peer.offset = n
            peer.unsent = len(data) - n
            self._want(peer, _IN_OUT)
        if peer.unsent > _HIGH and not peer.closing:
            self._want(peer, _OUT)

    def _send_pending(self, peer: Peer) -> None:
        pending = peer.pending
        if not pending:
            return
        if len(pending) > 1:  # one copy of what piled up, then sent from an offset
            first = memoryview(pending[0])[peer.offset:].tobytes()
            pending = peer.pending = [first + b"".join(pending[1:])]
            peer.offset = 0
        data = pending[0]
        try:
            n = _write(peer.fd, memoryview(data)[peer.offset:])
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            log.debug("connection error: %s", exc)
            self.abort(peer)
            return
        peer.offset += n
        peer.unsent -= n
        if peer.offset < len(data):
            if peer.unsent <= _LOW and not peer.closing:
                self._want(peer, _IN_OUT)  # caught up enough: read its requests again
            return
        peer.pending = []
        peer.offset = 0
        peer.unsent = 0
        if peer.closing:
            self._drop(peer)
        else:
            self._want(peer, _IN)


def flush(conns: list[Conn]) -> None:
    """Write each connection's ready replies in one call; stop at an uncommitted reply."""
    for conn in conns:
        out = conn.out
        if not out or conn.closed:
            continue
        peer: Peer | None = conn.extra
        if peer is None or peer.closing:
            out.clear()  # gone, or being closed: nothing more goes to it
            continue
        data = None
        if not conn.held:
            try:
                data = b"".join(out)
                out.clear()
            except TypeError:  # committed Jobs still stand in the list for their replies
                data = None
        if data is None:  # send up to the first reply still waiting for its commit
            ready = []
            n = 0
            for item in out:
                chunk = ready_bytes(item)
                if chunk is None:
                    break
                ready.append(chunk)
                n += 1
            del out[:n]
            data = b"".join(ready)
        if data:
            hub = peer.hub
            if peer.unsent > hub.write_limit:
                # A peer that stopped reading while others keep producing for it (a worker
                # streaming WORK_DATA to a stuck client) would otherwise grow the server
                # without bound; it is cut off, like a client that disconnects. Checked before
                # writing, so one reply larger than the limit (`show jobs` on a huge queue)
                # still goes out whole to a peer that reads it.
                log.warning("closing %s:%s: %d bytes of replies unread", conn.ip, conn.port,
                            peer.unsent)
                hub.broken.append(peer)
                continue
            hub.send(peer, data)
