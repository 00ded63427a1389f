"""One asyncio Protocol per connection: bytes in, decoder, scheduler, bytes out.

I/O errors stop here: a reset socket becomes ``Core.disconnect``; a protocol violation becomes
an ERROR packet (where gearmand would send one) and a close, for that peer only.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Final

from geartool.protocol import Decoder, Frame, RemoteProtocolError

from .admin import handle_admin
from .model import Conn, ready_bytes

if TYPE_CHECKING:
    from .app import Server
    from .core import Core

log = logging.getLogger("geartool.server")
_FRAME: Final = Frame  # compiled, a Final global is a C static, not a dict lookup


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip.split("%")[0]).is_loopback
    except ValueError:
        return False  # unix sockets or odd peers: treat as remote for shutdown purposes


class GearmanProtocol(asyncio.Protocol):
    """Drives the scheduler for one peer."""

    __slots__ = ("server", "core", "pump", "transport", "conn", "decoder", "closing")

    def __init__(self, server: Server) -> None:
        self.server = server
        self.core = server.core
        self.pump = server.pump
        self.transport: asyncio.Transport | None = None
        self.conn: Conn | None = None
        self.decoder = Decoder(max_payload=server.config.max_packet_size)
        self.closing = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        tr: asyncio.Transport = transport  # type: ignore[assignment]  # uvloop's: no subclass
        self.transport = tr
        sock = transport.get_extra_info("socket")
        peer = transport.get_extra_info("peername") or ("?", 0)
        ip, port = str(peer[0]), int(peer[1]) if len(peer) > 1 else 0
        if sock is not None:
            self.server.tune_socket(sock)
        fd = sock.fileno() if sock is not None else id(self)
        self.conn = self.core.connect(fd, ip, port, loopback=_is_loopback(ip))
        self.conn.extra = self
        tr.set_write_buffer_limits(high=4 * 1024 * 1024)

    def data_received(self, data: bytes) -> None:
        conn = self.conn
        if conn is None or self.closing:
            return
        core = self.core
        decoder = self.decoder
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
            flush([conn])  # now: the deferred flush would come after the close
            self.pump.after_batch()
            self.close()
            return
        self.pump.after_batch()

    def close(self) -> None:
        """Flush what is queued for the peer, then close."""
        self.closing = True
        if self.transport is not None:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        conn = self.conn
        if conn is not None:
            self.core.disconnect(conn)
            self.pump.after_batch()
            # Break the protocol <-> connection <-> transport cycle, so reference counting frees
            # them now: the tuned GC reaches old cycles only rarely, and a server whose clients
            # connect once per job would otherwise grow by a few KB per connection until then.
            conn.extra = None
            self.conn = None
        self.transport = None

    def pause_writing(self) -> None:
        # The peer is not reading its replies: stop reading its requests until it catches up,
        # so one slow client cannot make the server buffer without bound.
        if self.transport is not None:
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        if self.transport is not None and not self.closing:
            self.transport.resume_reading()


class Pump:
    """The end of every batch of events: on the path of every read, so it is compiled here.

    Replies are written once per event-loop pass, not once per readable socket: replies made
    for one peer by several others' packets leave in one send() (per packet batch, two thirds
    of the time went to write syscalls). The server's rarer duties (durable commits, timers,
    shutdown) run only when there is something for them.
    """

    def __init__(self, core: Core, slow: Callable[[], None]) -> None:
        self.core = core
        self.slow = slow
        self.loop: asyncio.AbstractEventLoop | None = None
        self.scheduled = False

    def after_batch(self) -> None:
        core = self.core
        if core.dirty and not self.scheduled:
            self.scheduled = True
            loop = self.loop
            if loop is None:  # the running loop, looked up once (it checks the pid each time)
                loop = self.loop = asyncio.get_running_loop()
            loop.call_soon(self.flush)
        if core.store.pending() or core.shutdown_requested or core.next_deadline() is not None:
            self.slow()

    def flush(self) -> None:
        self.scheduled = False
        core = self.core
        if core.dirty:
            dirty, core.dirty = core.dirty, []
            flush(dirty)


def flush(conns: list[Conn]) -> None:
    """Write each connection's ready replies in one call; stop at an uncommitted reply."""
    for conn in conns:
        out = conn.out
        if not out or conn.closed:
            continue
        proto: GearmanProtocol = conn.extra
        if proto is None or proto.transport is None or proto.closing:
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
            tr = proto.transport
            unread = tr.get_write_buffer_size()
            if unread and unread > proto.server.write_limit:  # (usually 0: no lookups then)
                # A peer that stopped reading while others keep producing for it (a worker
                # streaming WORK_DATA to a stuck client) would otherwise grow the server
                # without bound; it is cut off, like a client that disconnects. Checked before
                # writing, so one reply larger than the limit (`show jobs` on a huge queue)
                # still goes out whole to a peer that reads it.
                log.warning("closing %s:%s: %d bytes of replies unread", conn.ip, conn.port,
                            unread)
                proto.closing = True
                tr.abort()
                continue
            tr.write(data)


def set_keepalive(sock: socket.socket, idle: int, interval: int, count: int) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for name, value in (("TCP_KEEPIDLE", idle), ("TCP_KEEPINTVL", interval),
                        ("TCP_KEEPCNT", count)):
        opt = getattr(socket, name, None)
        if opt is not None:
            sock.setsockopt(socket.IPPROTO_TCP, opt, value)
