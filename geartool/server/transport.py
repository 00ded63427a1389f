"""Sockets for the scheduler: one epoll set holds every peer and is drained in batches.

The event loop watches one descriptor, the epoll set. When any peer is ready, one callback reads
every ready socket, feeds each decoder and the scheduler, and then writes each peer's replies
with one write (``outgoing.py``). Replies made for one peer by several others' packets leave
together (per packet batch, two thirds of the server's time goes to write syscalls). Per packet
there is no transport object, handle or future: measured against a uvloop transport per
connection, this takes 7% less CPU per coalesced submit and 40% less memory per idle connection.

I/O errors stop here: a reset socket becomes ``Core.disconnect``; a protocol violation becomes an
ERROR packet (where gearmand would send one) and a close, for that peer only.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import select
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from geartool.protocol import Decoder, Frame, RemoteProtocolError

from . import sysio
from .admin import handle_admin
from .outgoing import Outgoing, Peer, flush
from .sockets import is_loopback

if TYPE_CHECKING:
    from .core import Core

log = logging.getLogger("geartool.server")
_FRAME: Final = Frame  # compiled, a Final global is a C static, not a dict lookup
_IN: Final = select.EPOLLIN
_OUT: Final = select.EPOLLOUT
_GONE: Final = select.EPOLLHUP | select.EPOLLERR
_IN_GONE: Final = _IN | _GONE
_READ_SIZE: Final = 65536  # what one recv() takes (below malloc's mmap threshold of 128 KB)
_MAX_EVENTS: Final = 1024
# Passes per wake-up of the loop. Under load the peers have answered by the time a pass has
# written its replies, so the next pass polls the set directly instead of going back through
# the loop's own poll and callback.
_PASSES: Final = 16
# A wake-up's first pass writes every reply, so a lightly loaded server answers at once. In
# later passes clients' replies are deferred (outgoing.Outgoing._defer_clients says why and
# when not) and written with those of every _DEFER_PASSES-th pass (passes 4, 8 and 12, the
# first being 0), at the end of the wake-up, or once the oldest has waited DEFER_NS; workers'
# at the end of every pass. Figures in benchmarks/README.md.
_DEFER_PASSES: Final = 4
_ACCEPTS: Final = 128  # new connections taken per pass, so a flood cannot starve the others
# By descriptor through sysio (the C shim that keeps the GIL, else os.read): the socket's own
# recv() method measured slower, as it parses its arguments from a format string.
_read: Final = sysio.read
_poll: Final = sysio.poll
_OUT_OF_FDS: Final = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class Hub(Outgoing):
    """Every peer socket and listener of one server, in one epoll set."""

    def __init__(self, core: Core, slow: Callable[[], None], tune: Callable[[socket.socket], None],
                 max_payload: int, write_limit: int, starved: Callable[[], None]) -> None:
        self.core = core
        self.slow = slow
        self.starved = starved  # called when an allocation fails (app.Server._starved)
        self.tune = tune
        self.max_payload = max_payload
        self.write_limit = write_limit
        self.epoll = select.epoll()
        self.epfd = self.epoll.fileno()
        self.peers: dict[int, Peer] = {}
        self.listeners: dict[int, socket.socket] = {}
        self.loop = None
        self.scheduled = False
        self.broken = []
        self.deferred = []
        self.deferring = False
        self.deferred_since = 0

    # ---- setup and teardown --------------------------------------------------------------

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        loop.add_reader(self.epoll.fileno(), self.on_ready)

    def listen(self, sock: socket.socket) -> None:
        self.listeners[sock.fileno()] = sock
        self.epoll.register(sock.fileno(), _IN)

    def close_listeners(self) -> None:
        for fd, sock in list(self.listeners.items()):
            self._unregister(fd)
            sock.close()
        self.listeners = {}

    def close_all(self) -> None:
        """Send what each peer is owed (as far as its socket takes it now), then close all."""
        self.flush_now()
        for peer in list(self.peers.values()):
            if peer.pending:
                self._send_pending(peer)
            self.abort(peer)
        if self.loop is not None:
            self.loop.remove_reader(self.epoll.fileno())
            self.loop = None
        self.epoll.close()

    # ---- events ----------------------------------------------------------------------------

    def on_ready(self) -> None:
        """The loop's callback: the epoll set has ready sockets. Passes over them until none
        is ready (at most _PASSES, so that the loop's timers and signals get their turn).
        Replies to clients may wait for a later pass of this wake-up, never beyond it."""
        try:
            for i in range(_PASSES):
                self.deferring = i % _DEFER_PASSES != 0
                if not self._pass():
                    break
        except MemoryError:  # in the poll, an accept or the writes (a peer's own: see _pass)
            self.deferring = False
            self.starved()
            self.after_batch(now=True)
        finally:
            self.deferring = False
        if self.deferred:
            self.flush_now()

    def _pass(self) -> bool:
        """Read every ready socket, handle its packets, write the replies; False if none was
        ready."""
        peers = self.peers
        if _poll is not None:
            events = _poll(self.epfd, _MAX_EVENTS)  # [fd, events, fd, events, ...]
        else:
            events = [n for pair in self.epoll.poll(0, _MAX_EVENTS) for n in pair]
        if not events:
            return False
        for i in range(0, len(events), 2):
            fd = events[i]
            ev = events[i + 1]
            peer = peers.get(fd)
            if peer is None:
                lsock = self.listeners.get(fd)
                if lsock is not None:
                    self._accept(lsock)
                continue
            try:
                if ev & _OUT:
                    self._send_pending(peer)
                if ev & _IN_GONE:
                    if peer.events & _IN:
                        self._read(peer)
                    elif ev & _GONE and peer.events:
                        self.abort(peer)  # reading paused or closing, and the peer is gone
            except MemoryError:  # its request may be half done: it sees a closed connection
                self.starved()
                self.abort(peer)
            except Exception:  # a bug must cost one connection, never the server
                log.exception("closing a connection after an internal error")
                self.abort(peer)
        self.after_batch(now=True)
        return True

    def _read(self, peer: Peer) -> None:
        try:
            data = _read(peer.fd, _READ_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:  # reset by the peer, mostly
            log.debug("connection error: %s", exc)
            self.abort(peer)
            return
        if not data:  # the peer shut down its side: it is owed what it asked for so far
            self.close(peer)
            return
        conn = peer.conn
        if conn is None:
            return
        core = self.core
        decoder = peer.decoder
        decoder.feed(data)
        try:
            for event in decoder.events():
                if type(event) is _FRAME:
                    core.handle(conn, event)
                else:
                    handle_admin(core, conn, event.line)  # type: ignore[union-attr]
            if decoder.error is not None:  # good requests before the bad one were served
                raise decoder.error
        except RemoteProtocolError as exc:
            log.info("closing %s:%s: %s", conn.ip, conn.port, exc)
            if exc.code is not None:
                core.error(conn, exc.code, exc.text)
            self.close(peer)

    def _accept(self, lsock: socket.socket) -> None:
        for _ in range(_ACCEPTS):
            try:
                sock, addr = lsock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_FDS:
                    self._accept_later(lsock, exc)
                    return
                continue  # that one peer gave up before we took it (ECONNABORTED)
            self.adopt(sock, addr)

    def _accept_later(self, lsock: socket.socket, exc: OSError) -> None:
        """Out of descriptors: stop listening for a second, not spin on the ready listener."""
        log.warning("cannot accept connections for 1 s: %s", exc.strerror or exc)
        fd = lsock.fileno()
        self._unregister(fd)
        if self.loop is not None:
            self.loop.call_later(1.0, self._resume_accept, lsock)

    def _resume_accept(self, lsock: socket.socket) -> None:
        fd = lsock.fileno()
        if self.listeners.get(fd) is lsock and self.loop is not None:
            self.epoll.register(fd, _IN)

    def adopt(self, sock: socket.socket, addr: tuple[str, int] | tuple[str, int, int, int] | str
              ) -> Peer:
        """Take on an accepted socket: non-blocking, tuned, known to the scheduler."""
        sock.setblocking(False)
        self.tune(sock)
        fd = sock.fileno()
        ip, port = (str(addr[0]), int(addr[1])) if isinstance(addr, tuple) else ("?", 0)
        conn = self.core.connect(fd, ip, port, loopback=is_loopback(ip))
        peer = Peer(self, sock, fd, conn, Decoder(max_payload=self.max_payload))
        conn.extra = peer
        self.peers[fd] = peer
        self.epoll.register(fd, _IN)
        return peer

    # ---- closing ---------------------------------------------------------------------------

    def close(self, peer: Peer) -> None:
        """Stop reading; the replies made so far still go out, then the socket closes."""
        if peer.closing:
            return
        conn = peer.conn
        if conn is not None:
            flush([conn])
        peer.closing = True
        self._forget(peer)
        if peer.pending:
            self._want(peer, _OUT)
        else:
            self._drop(peer)

    def abort(self, peer: Peer) -> None:
        """Close now; unsent replies are dropped."""
        peer.closing = True
        peer.pending = []
        peer.unsent = 0
        self._forget(peer)
        self._drop(peer)

    def _forget(self, peer: Peer) -> None:
        conn = peer.conn
        if conn is not None:
            self.core.disconnect(conn)
            # Break the peer <-> connection cycle so reference counting frees both now: the
            # tuned GC reaches old cycles only rarely.
            conn.extra = None
            peer.conn = None

    def _drop(self, peer: Peer) -> None:
        # No events: nothing touches the descriptor number again, which a new connection
        # accepted in the same pass may already have.
        peer.events = 0
        if self.peers.get(peer.fd) is peer:
            del self.peers[peer.fd]
            self._unregister(peer.fd)
            peer.sock.close()

    def _unregister(self, fd: int) -> None:
        try:
            self.epoll.unregister(fd)
        except (OSError, ValueError):
            pass  # already closed, or never registered
