"""Gearman decoding of one reassembled byte stream, with resynchronisation after damage.

The protocol core's Decoder does the framing. When the stream breaks — a gap, garbage on the
port, a capture that starts in the middle of a connection — this module reports an anomaly and
scans forward to the next place that really looks like the start of a packet: a binary header
with a valid magic, a packet type 1..42 and a sane length, or a whole printable text line.
"""

from __future__ import annotations

import re
import struct
from typing import NamedTuple

from geartool.protocol import AdminLine, Decoder, Frame
from geartool.protocol.frames import pack_bytes
from geartool.protocol.spec import HEADER_SIZE, MAGIC_REQ, MAGIC_RES, MAX_TYPE, PacketType

# A header found while resynchronising must announce at most this much payload: garbage that
# happens to contain "\0REQ" usually announces gigabytes.
RESYNC_MAX_PAYLOAD = 16 * 1024 * 1024
# Give up looking for a sync point in this much data at once; keep scanning what follows.
RESYNC_WINDOW = 64 * 1024
MAX_LINE = 8192

_HEADER = struct.Struct(">4sII").unpack_from
# Control bytes other than TAB and CR never occur in admin text.
_CONTROL = re.compile(rb"[\x00-\x08\x0a-\x0c\x0e-\x1f\x7f]").search
# A resync candidate line must be plain printable ASCII, starting like a command or a reply.
_CANDIDATE_LINE = re.compile(rb"[A-Za-z0-9.][\t\r\x20-\x7e]{0,8190}\n").match


class Anomaly(NamedTuple):
    """Something wrong with the stream: ``kind`` is a short tag, ``text`` says what happened."""

    kind: str  # gap, skipped, garbage, bad-packet, truncated
    text: str


Item = Frame | AdminLine | Anomaly


class GearmanStream:
    """Bytes of one direction in, Frame / AdminLine / Anomaly items out."""

    __slots__ = ("decoder", "_scan", "_line_start", "_skipped")

    def __init__(self, midstream: bool = False) -> None:
        self.decoder = Decoder()
        # None while in sync; otherwise the bytes being searched for a sync point.
        self._scan: bytearray | None = bytearray() if midstream else None
        self._line_start = True
        self._skipped = 0

    @property
    def in_sync(self) -> bool:
        """True while packets are framed normally (not searching for a sync point)."""
        return self._scan is None

    def feed(self, data: bytes | memoryview) -> list[Item]:
        """Decode the next contiguous run of bytes."""
        if self._scan is not None:
            self._scan += data
            return self._resync()
        dec = self.decoder
        out: list[Item] = dec.receive(data)  # type: ignore[assignment]
        if len(out) == 1 and type(out[0]) is Frame and dec.error is None:
            return out  # the common case: one whole binary packet
        for i, ev in enumerate(out):
            if type(ev) is AdminLine and _CONTROL(ev.line) is not None:
                # Binary garbage that is not a Gearman header reads as a "text line": put the
                # bytes back together from there on and search them for a real packet.
                tail = b"".join(_raw(e) for e in out[i + 1:]) + dec.reset()  # type: ignore[arg-type]
                del out[i:]
                self._enter_resync(ev.line[1:] + b"\n" + tail, skipped=1, line_start=False)
                out += self._resync()
                return out
        if dec.error is not None:
            exc = dec.error
            rest = dec.reset()
            out.append(Anomaly("bad-packet", f"{exc}; looking for the next valid header"))
            self._enter_resync(rest[1:], skipped=1, line_start=False)
            out += self._resync()
        return out

    def gap(self, size: int, kind: str = "gap", why: str = "missing from the capture"
            ) -> list[Item]:
        """``size`` bytes of the stream are missing (``why`` says how, for the report)."""
        if self._scan is None:
            partial = self.decoder.reset()
            what = f"; lost the rest of {_describe(partial)}" if partial else ""
            self._enter_resync(b"", skipped=0, line_start=True)
        else:
            what = ""
            self._line_start = not self._scan
        return [Anomaly(kind, f"{size} bytes {why}{what}")]

    def close(self) -> list[Item]:
        """End of the stream: report whatever is left half-decoded."""
        out: list[Item] = []
        if self._scan is not None:
            skipped = self._skipped + len(self._scan)
            if skipped:
                out.append(never_synced(skipped))
            self._scan = bytearray()
            self._skipped = 0
        else:
            partial = self.decoder.reset()
            if partial:
                out.append(ends_inside(partial))
        return out

    def _enter_resync(self, rest: bytes, skipped: int, line_start: bool) -> None:
        self._scan = bytearray(rest)
        self._skipped = skipped
        self._line_start = line_start

    def _resync(self) -> list[Item]:
        buf = self._scan
        assert buf is not None
        pos = _find_sync(buf, self._line_start)
        if pos < 0:
            if len(buf) > RESYNC_WINDOW:
                # Keep a tail that could be the start of a header or of a text line.
                drop = len(buf) - HEADER_SIZE
                self._line_start = buf[drop - 1] == 0x0A
                self._skipped += drop
                del buf[:drop]
            return []
        self._skipped += pos
        out: list[Item] = []
        if self._skipped:
            out.append(skipped_to_sync(self._skipped))
        rest = bytes(buf[pos:])
        self._scan = None
        self._skipped = 0
        return out + self.feed(rest)


def skipped_to_sync(count: int) -> Anomaly:
    """Bytes passed over before the stream was back in sync."""
    return Anomaly("skipped", f"skipped {count} bytes to the next valid packet")


def never_synced(count: int) -> Anomaly:
    """A stream that ended while still looking for a packet start."""
    return Anomaly("skipped", f"{count} bytes left undecoded at the end of the stream "
                              "(no packet start found in them)")


def ends_inside(partial: bytes) -> Anomaly:
    """A stream that ended in the middle of a packet or line."""
    return Anomaly("truncated", f"stream ends inside {_describe(partial)}")


def _find_sync(buf: bytearray, line_start: bool) -> int:
    """The first offset where a packet surely starts (a confirmed header or line), or -1."""
    best = -1
    i = buf.find(b"\0RE")
    while i >= 0:
        if len(buf) - i < HEADER_SIZE:
            break  # might be a header still arriving: wait for more bytes
        magic, ptype, length = _HEADER(buf, i)
        if (magic == MAGIC_REQ or magic == MAGIC_RES) and 0 < ptype <= MAX_TYPE \
                and length <= RESYNC_MAX_PAYLOAD:
            best = i
            break
        i = buf.find(b"\0RE", i + 1)
    limit = best if best >= 0 else len(buf)
    if line_start:
        p = 0
    else:
        nl = buf.find(b"\n", 0, limit)
        p = nl + 1 if nl >= 0 else -1
    while 0 <= p < limit:
        if _CANDIDATE_LINE(buf, p) is not None:
            return p
        nl = buf.find(b"\n", p, limit)
        if nl < 0:
            break
        p = nl + 1
    return best


def _raw(event: Frame | AdminLine) -> bytes:
    """The bytes an event was decoded from (a text line's CR, if any, is not kept)."""
    if type(event) is AdminLine:
        return event.line + b"\n"
    assert type(event) is Frame
    return pack_bytes(event.magic.value, event.type, event.args)


def _describe(partial: bytes) -> str:
    """What a half-received packet was: 'a SUBMIT_JOB packet (20 of 1012 bytes)'."""
    if partial[:1] != b"\0":
        return f"a text line ({len(partial)} bytes, no newline)"
    if len(partial) < HEADER_SIZE:
        return f"a packet header ({len(partial)} of {HEADER_SIZE} bytes)"
    _magic, ptype, length = _HEADER(partial, 0)
    name = PacketType(ptype).name if 0 < ptype <= MAX_TYPE else f"type-{ptype}"
    return f"a {name} packet ({len(partial)} of {HEADER_SIZE + length} bytes)"
