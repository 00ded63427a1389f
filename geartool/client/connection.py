"""One asyncio connection to one Gearman server, as an :class:`asyncio.Protocol`.

Bytes go through the protocol core's :class:`~geartool.protocol.Decoder`; each whole frame is
handed synchronously to a :class:`FrameHandler` from ``data_received``, so a busy connection
costs no task per packet. Writes go straight to the transport; :meth:`Connection.drain` lets a
producer wait while the kernel buffer is full.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Protocol, cast

from geartool.protocol import (
    NEED_DATA,
    AdminLine,
    Decoder,
    Frame,
    PacketType,
    RemoteProtocolError,
    pack_bytes,
)
from geartool.protocol.spec import MAGIC_REQ

from .errors import ConnectError, ConnectionLost, ConnectTimeout
from .servers import Address

log = logging.getLogger("geartool.client")


class FrameHandler(Protocol):
    """What a connection reports to: every frame, then exactly one ``lost`` call."""

    def frame_received(self, frame: Frame) -> None: ...

    def lost(self, exc: Exception) -> None: ...


class Connection(asyncio.Protocol):
    """A connected socket speaking the binary protocol to one server."""

    def __init__(self, address: Address, handler: FrameHandler) -> None:
        self.address = address
        self.handler = handler
        self.decoder = Decoder()
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self._paused = False
        self._drain: asyncio.Future[None] | None = None
        self._error: Exception | None = None
        # Packets sent in one loop iteration leave in one write: one syscall, not one each.
        self._out: list[bytes] = []

    # asyncio.Protocol callbacks

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports are not asyncio.Transport subclasses, only alike.
        self.transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        decoder = self.decoder
        decoder.feed(data)
        handler = self.handler
        try:
            while not self.closed:
                ev = decoder.next_event()
                if ev is NEED_DATA:
                    return
                if isinstance(ev, AdminLine):
                    raise RemoteProtocolError(f"unexpected text line from server: {ev.line[:60]!r}")
                handler.frame_received(ev)  # type: ignore[arg-type]
        except RemoteProtocolError as exc:
            log.warning("%s: protocol error from server: %s", self.address, exc)
            self.abort(ConnectionLost(f"protocol error from {self.address}: {exc}"))

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.transport = None
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)
        error = self._error or ConnectionLost(
            f"lost connection to {self.address}" + (f": {exc}" if exc else ""))
        self.handler.lost(error)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        if self._drain is not None and not self._drain.done():
            self._drain.set_result(None)

    # sending

    def send(self, ptype: PacketType, *args: bytes) -> None:
        """Queue one REQ packet for this loop iteration's write; dropped once closed."""
        self.write(pack_bytes(MAGIC_REQ, ptype, args))

    def write(self, data: bytes) -> None:
        if self.transport is None:
            return
        if not self._out:
            asyncio.get_running_loop().call_soon(self._flush)
        self._out.append(data)

    def _flush(self) -> None:
        out, self._out = self._out, []
        if self.transport is not None and out:
            self.transport.write(out[0] if len(out) == 1 else b"".join(out))

    async def drain(self) -> None:
        """Wait until the transport's write buffer is below its high-water mark."""
        if self._out:
            self._flush()
        if not self._paused or self.closed:
            return
        if self._drain is None or self._drain.done():
            self._drain = asyncio.get_running_loop().create_future()
        await self._drain

    def close(self) -> None:
        """Flush what is queued, then close."""
        if self.transport is not None:
            self._flush()
            self.transport.close()

    def abort(self, error: Exception) -> None:
        """Drop the connection at once, reporting ``error`` to the handler."""
        self._error = error
        self.closed = True
        if self.transport is not None:
            self.transport.abort()


async def open_connection(address: Address, handler: FrameHandler,
                          timeout: float | None) -> Connection:
    """Connect to ``address``; ConnectTimeout or ConnectError (with the OS reason) on failure."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(timeout):
            _, proto = await loop.create_connection(
                lambda: Connection(address, handler), address.host, address.port)
    except TimeoutError:
        raise ConnectTimeout(
            f"cannot connect to {address}: no answer within {timeout:g} s") from None
    except OSError as exc:
        # asyncio words a refusal as "Connect call failed (...)"; the errno text is clearer.
        reason = os.strerror(exc.errno) if exc.errno else (str(exc) or type(exc).__name__)
        raise ConnectError(f"cannot connect to {address}: {reason}") from None
    return proto
