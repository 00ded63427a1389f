"""Incremental decoder: feed bytes in any chunks, take out whole frames and admin text lines.

Binary versus text is decided per packet, as gearmand does: at a packet boundary a zero byte
starts a binary header and anything else starts a text line, so one connection may mix both.
"""

from __future__ import annotations

from collections import deque
from typing import Final, NamedTuple

from .errors import ErrorCode, RemoteProtocolError
from .frames import TYPES, Frame, split_args, unpack_header_from
from .spec import HEADER_SIZE, MAGIC_REQ, MAGIC_RES, Magic

_M_REQ: Final = Magic.REQ
_M_RES: Final = Magic.RES
_NTYPES: Final = len(TYPES)
_TYPES: Final = TYPES
_unpack_header: Final = unpack_header_from
_FRAME: Final = Frame
_new_frame: Final = tuple.__new__  # skips NamedTuple's Python-level __new__ on the hot path
DEFAULT_MAX_PAYLOAD: Final = 64 * 1024 * 1024
# gearmand parses text lines in an 8 KiB buffer; a longer line closes the connection there too.
DEFAULT_MAX_LINE: Final = 8192


class AdminLine(NamedTuple):
    """One text line, without its line ending (one ``\\r`` before ``\\n`` is dropped)."""

    line: bytes


class _NeedData:
    __slots__ = ()

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = _NeedData()
Event = Frame | AdminLine


class Decoder:
    """Turns a byte stream into Frame and AdminLine events.

    ``max_payload`` is checked against the length in the header, before the payload is
    buffered, so an announced 4 GiB packet costs nothing. Any RemoteProtocolError leaves the
    decoder unusable: the stream has lost its framing and the connection should be closed.
    There is one parser (``_parse``); ``events``, ``receive`` and ``next_event`` only differ
    in how they hand its results over.
    """

    __slots__ = ("_buf", "_pos", "max_payload", "max_line", "_broken", "_ready")

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD,
                 max_line: int = DEFAULT_MAX_LINE) -> None:
        self._buf = bytearray()
        self._pos = 0
        self.max_payload = max_payload
        self.max_line = max_line
        self._broken: RemoteProtocolError | None = None
        self._ready: deque[Event] = deque()  # parsed for next_event(), not yet returned

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as events."""
        return len(self._buf) - self._pos

    @property
    def error(self) -> RemoteProtocolError | None:
        """The error that broke the stream, if any (raised again once no events are left)."""
        return self._broken

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos == len(self._buf):
            # Everything consumed: reset instead of growing the buffer forever.
            self._buf.clear()
            self._pos = 0
        self._buf += data

    def next_event(self) -> Event | _NeedData:
        """The next whole event, or NEED_DATA. Raises RemoteProtocolError on a broken stream."""
        ready = self._ready
        if not ready:
            ready.extend(self._parse())
            if not ready:
                if self._broken is not None:
                    raise self._broken
                return NEED_DATA
        return ready.popleft()

    def events(self) -> list[Event]:
        """Every whole event now buffered, in one pass (the server's hot path).

        If the stream breaks after some events were parsed, those are returned and the error
        is raised by the next call, so a peer's good requests before a bad one still count.
        """
        out = self._take()
        if not out and self._broken is not None:
            raise self._broken
        return out

    def receive(self, data: bytes | memoryview) -> list[Event]:
        """``feed(data)`` and take every whole event, in one call; never raises for the data.

        If the stream breaks part-way, the events before the break are returned and ``error``
        is set (reset() then returns the bytes from the bad packet on).
        """
        if self._broken is not None:
            raise self._broken
        self.feed(bytes(data))
        return self._take()

    def reset(self) -> bytes:
        """Drop the framing: return every unconsumed byte and make the decoder usable again.

        For tools that resynchronise on a damaged stream (the pcap decoder). After a
        RemoteProtocolError the returned bytes start at the packet that could not be parsed.
        """
        rest = bytes(self._buf[self._pos:])
        self._buf = bytearray()
        self._pos = 0
        self._broken = None
        return rest

    def _take(self) -> list[Event]:
        if self._ready:
            out = list(self._ready)
            self._ready.clear()
            out += self._parse()
            return out
        return self._parse()

    def _parse(self) -> list[Event]:
        """Parse every whole event buffered; on a protocol error, record it and stop there."""
        if self._broken is not None:
            return []
        buf = self._buf
        pos = self._pos
        size = len(buf)
        out: list[Event] = []
        append = out.append
        max_payload = self.max_payload
        try:
            while pos < size:
                if buf[pos]:
                    nl = buf.find(b"\n", pos, pos + self.max_line + 1)
                    if nl < 0:
                        if size - pos > self.max_line:
                            raise RemoteProtocolError(
                                f"text line longer than {self.max_line} bytes", code=None)
                        break
                    end = nl - 1 if nl > pos and buf[nl - 1] == 0x0D else nl
                    append(AdminLine(bytes(buf[pos:end])))
                    pos = nl + 1
                    continue
                if size - pos < HEADER_SIZE:
                    break
                magic, ptype, length = _unpack_header(buf, pos)
                # Two compares, not a dict lookup: that would hash a new 4-byte object per packet.
                if magic == MAGIC_REQ:
                    mg = _M_REQ
                elif magic == MAGIC_RES:
                    mg = _M_RES
                else:
                    raise RemoteProtocolError(f"bad magic {bytes(magic)!r}", code=None)
                if not 0 < ptype < _NTYPES:
                    raise RemoteProtocolError(f"unknown packet type {ptype}", code=None)
                if length > max_payload:
                    raise RemoteProtocolError(
                        f"payload of {length} bytes is over the limit of {max_payload}",
                        code=ErrorCode.ARGUMENT_TOO_LARGE)
                end = pos + HEADER_SIZE + length
                if end > size:
                    break
                append(_new_frame(_FRAME, (mg, _TYPES[ptype],
                                          split_args(ptype, bytes(buf[pos + HEADER_SIZE:end])))))
                pos = end
        except RemoteProtocolError as exc:
            self._broken = exc
        if pos > self._pos:
            self._consume(pos)
        return out

    def _consume(self, end: int) -> None:
        if end == len(self._buf):
            self._buf.clear()
            self._pos = 0
        else:
            self._pos = end
            if end > 65536 and end * 2 > len(self._buf):
                # Drop the consumed prefix once it dominates, keeping appends amortised O(1).
                del self._buf[:end]
                self._pos = 0
