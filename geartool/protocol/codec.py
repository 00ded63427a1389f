"""Incremental decoder: feed bytes in any chunks, take out whole frames and admin text lines.

Binary versus text is decided per packet, as gearmand does: at a packet boundary a zero byte
starts a binary header and anything else starts a text line, so one connection may mix both.
"""

from __future__ import annotations

from collections import deque
from typing import Final, NamedTuple

from .errors import ErrorCode, RemoteProtocolError
from .frames import ARG_COUNTS, TYPES, Frame, c_frame, c_parse, split_args
from .spec import HEADER_SIZE, Magic

_M_REQ: Final = Magic.REQ
_M_RES: Final = Magic.RES
_NTYPES: Final = len(TYPES)
_TYPES: Final = TYPES
_FRAME: Final = Frame
_new_frame: Final = tuple.__new__  # skips NamedTuple's Python-level __new__ on the hot path
_ARG_COUNTS: Final = ARG_COUNTS
_cframe: Final = c_frame  # C (_cframe.c) when built; frames come out the same either way
# The loop over whole binary packets in C (also _cframe.c): per packet, the header's byte
# arithmetic on Python ints was a fifth of the server's user-space instructions.
_cparse: Final = c_parse
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

    Bytes are kept as immutable ``bytes``: a chunk that starts at a packet boundary (the usual
    case) is parsed where it lies, and slicing and indexing ``bytes`` compile (mypyc) to direct
    C. Chunks that arrive while a packet is incomplete wait in a list and are joined once the
    packet can be whole, so a large packet in many reads costs O(n), not O(n^2).
    """

    __slots__ = ("_buf", "_pos", "_parts", "_pending", "_need", "max_payload", "max_line",
                 "_broken", "_ready")

    def __init__(self, max_payload: int = DEFAULT_MAX_PAYLOAD,
                 max_line: int = DEFAULT_MAX_LINE) -> None:
        self._buf = b""  # parsed from _pos on
        self._pos = 0
        self._parts: list[bytes] = []  # fed after _buf, not yet joined to it
        self._pending = 0  # bytes in _parts
        self._need = 0  # bytes from _pos the incomplete event needs (0: any more may do)
        self.max_payload = max_payload
        self.max_line = max_line
        self._broken: RemoteProtocolError | None = None
        self._ready: deque[Event] = deque()  # parsed for next_event(), not yet returned

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as events."""
        return len(self._buf) - self._pos + self._pending

    @property
    def error(self) -> RemoteProtocolError | None:
        """The error that broke the stream, if any (raised again once no events are left)."""
        return self._broken

    def feed(self, data: bytes) -> None:
        if type(data) is not bytes:
            data = bytes(data)
        if not data:
            return
        if self._pos == len(self._buf) and not self._parts:
            self._buf = data  # nothing buffered: parse the chunk where it lies
            self._pos = 0
        else:
            self._parts.append(data)
            self._pending += len(data)

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
        rest = b"".join([self._buf[self._pos:], *self._parts])
        self._buf = b""
        self._pos = 0
        self._parts = []
        self._pending = 0
        self._need = 0
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
        if self._parts:
            if len(self._buf) - self._pos + self._pending < self._need:
                return []  # the incomplete packet is still incomplete: join nothing yet
            self._buf = b"".join([self._buf[self._pos:], *self._parts])
            self._pos = 0
            self._parts = []
            self._pending = 0
        buf = self._buf
        pos = self._pos
        size = len(buf)
        need = 0
        out: list[Event] = []
        max_payload = self.max_payload
        try:
            while pos < size:
                if _cparse is not None:
                    pos, need = _cparse(_FRAME, _M_REQ, _M_RES, _TYPES, _ARG_COUNTS, buf, pos,
                                        max_payload, out)
                    if need or pos == size:
                        break
                    # Stopped before the end with nothing missing: a text line, or a packet
                    # this loop reports (bad header, too few arguments) or parses itself.
                if buf[pos]:
                    nl = buf.find(b"\n", pos, pos + self.max_line + 1)
                    if nl < 0:
                        if size - pos > self.max_line:
                            raise RemoteProtocolError(
                                f"text line longer than {self.max_line} bytes", code=None)
                        break
                    end = nl - 1 if nl > pos and buf[nl - 1] == 0x0D else nl
                    out.append(AdminLine(buf[pos:end]))
                    pos = nl + 1
                    continue
                if size - pos < HEADER_SIZE:
                    need = HEADER_SIZE
                    break
                # The header by hand, not struct: byte indexing compiles to plain C and makes
                # no tuple and no 4-byte magic object per packet.
                if buf[pos + 1] == 0x52 and buf[pos + 2] == 0x45 and buf[pos + 3] == 0x51:
                    mg = _M_REQ  # "\0REQ"
                elif buf[pos + 1] == 0x52 and buf[pos + 2] == 0x45 and buf[pos + 3] == 0x53:
                    mg = _M_RES  # "\0RES"
                else:
                    raise RemoteProtocolError(f"bad magic {buf[pos:pos + 4]!r}", code=None)
                ptype = (buf[pos + 4] << 24 | buf[pos + 5] << 16 | buf[pos + 6] << 8
                         | buf[pos + 7])
                if not 0 < ptype < _NTYPES:
                    raise RemoteProtocolError(f"unknown packet type {ptype}", code=None)
                length = (buf[pos + 8] << 24 | buf[pos + 9] << 16 | buf[pos + 10] << 8
                          | buf[pos + 11])
                if length > max_payload:
                    raise RemoteProtocolError(
                        f"payload of {length} bytes is over the limit of {max_payload}",
                        code=ErrorCode.ARGUMENT_TOO_LARGE)
                end = pos + HEADER_SIZE + length
                if end > size:
                    need = HEADER_SIZE + length
                    break
                frame = None
                if _cframe is not None:  # arguments cut from buf, no payload copy or list
                    frame = _cframe(_FRAME, mg, _TYPES[ptype], _ARG_COUNTS[ptype], buf,
                                    pos + HEADER_SIZE, end)
                if frame is None:  # (also where an argument is missing: split_args says so)
                    frame = _new_frame(_FRAME, (mg, _TYPES[ptype],
                                                split_args(ptype, buf[pos + HEADER_SIZE:end])))
                out.append(frame)
                pos = end
        except RemoteProtocolError as exc:
            self._broken = exc
        self._need = need
        if pos == size:
            self._buf = b""  # all consumed: do not hold the chunk
            self._pos = 0
        elif pos > 65536 and size - pos < 4096:
            self._buf = buf[pos:]  # a small remainder of a big chunk: keep only it
            self._pos = 0
        else:
            self._pos = pos
        return out
