"""A fast pcap and pcapng reader in plain Python: struct parsing over one buffer, no scapy.

scapy builds a Python object per layer per packet, which is hundreds of times too slow for a
million-frame capture; the decoder only needs timestamps and raw frame bytes. Files are read in
one go; pipes (stdin, a live tcpdump) are read chunk by chunk as data arrives.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import BinaryIO, Protocol

# (byte order, fraction-of-second scale) for each classic pcap magic, as bytes in file order.
_PCAP_MAGICS: dict[bytes, tuple[str, float]] = {
    b"\xd4\xc3\xb2\xa1": ("<", 1e-6),
    b"\xa1\xb2\xc3\xd4": (">", 1e-6),
    b"\x4d\x3c\xb2\xa1": ("<", 1e-9),
    b"\xa1\xb2\x3c\x4d": (">", 1e-9),
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
# No sane capture has a record this big; a larger length means the file is corrupt.
MAX_RECORD = 16 * 1024 * 1024
CHUNK = 1 << 20

Record = tuple[float, int, memoryview, int]
"""(timestamp in seconds, link type, captured bytes, original length on the wire)"""


class Readable(Protocol):
    """Anything with ``read`` (files, pipes, a whole file already in memory)."""

    def read(self, size: int = -1, /) -> bytes: ...


class CaptureError(Exception):
    """The input is not a pcap/pcapng capture, or cannot be read at all."""


class CaptureReader:
    """Iterate over the records of a pcap or pcapng file or stream.

    ``truncated`` is set (to a sentence) when the capture ends in the middle of a record or a
    record is corrupt; every record before that point has been yielded.
    """

    def __init__(self, source: Readable, *, streaming: bool = False) -> None:
        self._src = source
        self._streaming = streaming
        self.truncated: str | None = None
        self.format = ""
        self.frames = 0
        self._buf = b""
        self._pos = 0
        first = self._fill(4)
        if first < 4:
            raise CaptureError("empty input" if first == 0 else "input too short to be a capture")
        magic = self._buf[:4]
        if magic not in _PCAP_MAGICS and magic != _PCAPNG_SHB:
            raise CaptureError("not a pcap or pcapng capture (unknown file magic)")

    def whole(self) -> bytes | None:
        """The entire capture, when it was a regular file read in one go (else None)."""
        return None if self._streaming or self._pos else self._buf

    def _fill(self, need: int) -> int:
        """Make at least ``need`` bytes available from the current position; return how many."""
        avail = len(self._buf) - self._pos
        while avail < need:
            chunk = self._read()
            if not chunk:
                break
            self._buf = self._buf[self._pos:] + chunk
            self._pos = 0
            avail = len(self._buf)
        return avail

    def _read(self) -> bytes:
        try:
            if self._streaming:
                read1 = getattr(self._src, "read1", None)
                return read1(CHUNK) if read1 is not None else self._src.read(CHUNK)
            return self._src.read()
        except OSError as exc:
            raise CaptureError(f"cannot read the capture: {exc.strerror or exc}") from exc

    def __iter__(self) -> Iterator[Record]:
        if self._buf[:4] == _PCAPNG_SHB:
            self.format = "pcapng"
            return self._pcapng()
        self.format = "pcap"
        return self._pcap()

    def _pcap(self) -> Iterator[Record]:
        if self._fill(24) < 24:
            raise CaptureError("pcap file header is cut short")
        order, scale = _PCAP_MAGICS[self._buf[:4]]
        linktype = struct.unpack_from(order + "I", self._buf, 20)[0] & 0x0FFFFFFF
        self._pos = 24
        unpack = struct.Struct(order + "IIII").unpack_from
        while True:
            buf, pos = self._buf, self._pos
            n = len(buf)
            view = memoryview(buf)
            # Hot loop over the records already in memory; refill only at the buffer's end.
            while pos + 16 <= n:
                sec, frac, incl, orig = unpack(buf, pos)
                end = pos + 16 + incl
                if end > n:
                    break
                if incl > MAX_RECORD:
                    self._pos = pos
                    self.truncated = f"corrupt record header after frame {self.frames}"
                    return
                self.frames += 1
                yield sec + frac * scale, linktype, view[pos + 16:end], orig
                pos = end
            self._pos = pos
            left = n - pos
            if left >= 16:
                incl = unpack(buf, pos)[2]
                if incl > MAX_RECORD:
                    self.truncated = f"corrupt record header after frame {self.frames}"
                    return
                need = 16 + incl
            else:
                need = 16
            if self._fill(need) < need:
                if len(self._buf) - self._pos:
                    self.truncated = f"capture cut short inside frame {self.frames + 1}"
                return

    def _pcapng(self) -> Iterator[Record]:
        order = "<"
        links: list[tuple[int, float]] = []  # per interface: (link type, seconds per tick)
        while True:
            if self._fill(12) < 12:
                if len(self._buf) - self._pos:
                    self.truncated = f"capture cut short inside frame {self.frames + 1}"
                return
            buf, pos = self._buf, self._pos
            if buf[pos:pos + 4] == _PCAPNG_SHB:
                bom = buf[pos + 8:pos + 12]
                order = "<" if bom == b"\x4d\x3c\x2b\x1a" else ">"
                if bom not in (b"\x4d\x3c\x2b\x1a", b"\x1a\x2b\x3c\x4d"):
                    raise CaptureError("pcapng section header has a bad byte-order magic")
                links = []
            btype, blen = struct.unpack_from(order + "II", buf, pos)
            if blen < 12 or blen > MAX_RECORD or blen % 4:
                self.truncated = f"corrupt pcapng block after frame {self.frames}"
                return
            if self._fill(blen) < blen:
                self.truncated = f"capture cut short inside frame {self.frames + 1}"
                return
            buf, pos = self._buf, self._pos
            self._pos = pos + blen
            body = pos + 8
            if btype == 1:  # interface description
                linktype = struct.unpack_from(order + "H", buf, body)[0]
                links.append((linktype, _if_tsresol(buf, body + 8, pos + blen - 4, order)))
            elif btype == 3:  # simple packet: no timestamp, length capped by the block
                if not links:
                    self.truncated = "pcapng simple packet before any interface"
                    return
                orig = struct.unpack_from(order + "I", buf, body)[0]
                caplen = max(0, min(orig, blen - 16))
                self.frames += 1
                yield 0.0, links[0][0], memoryview(buf)[body + 4:body + 4 + caplen], orig
            elif btype == 6 or btype == 2:  # enhanced packet, or the obsolete packet block
                # Both: 28 bytes of header fields, the data, options, the 4-byte length again.
                if blen < 32:
                    self.truncated = f"corrupt pcapng packet block after frame {self.frames}"
                    return
                if btype == 6:
                    iface, hi, lo, caplen, orig = struct.unpack_from(order + "IIIII", buf, body)
                else:
                    iface, _drops, hi, lo, caplen, orig = struct.unpack_from(order + "HHIIII",
                                                                             buf, body)
                if iface >= len(links) or 32 + caplen > blen:
                    self.truncated = f"corrupt pcapng packet block after frame {self.frames}"
                    return
                linktype, tick = links[iface]
                self.frames += 1
                start = body + 20
                view = memoryview(buf)[start:start + caplen]
                yield ((hi << 32) | lo) * tick, linktype, view, orig


def _if_tsresol(buf: bytes, pos: int, end: int, order: str) -> float:
    """Seconds per timestamp tick from an interface's if_tsresol option (default microseconds)."""
    while pos + 4 <= end:
        code, length = struct.unpack_from(order + "HH", buf, pos)
        if code == 0:
            break
        if code == 9 and length >= 1:
            res = buf[pos + 4]
            return 2.0 ** -(res & 0x7F) if res & 0x80 else 10.0 ** -res
        pos += 4 + ((length + 3) & ~3)
    return 1e-6


def open_capture(path: str, stdin: BinaryIO | None = None) -> CaptureReader:
    """A reader for a file path, or for ``stdin`` when the path is ``-``.

    A regular file (named, or redirected to stdin) is read whole, which lets ``geartool
    decode`` take its compiled fast path; a pipe or device (``tcpdump -w - | ...``) is decoded
    as it arrives.
    """
    named = path != "-"
    what = path if named else "standard input"
    try:
        if named:
            handle: BinaryIO = open(path, "rb")  # noqa: SIM115 - closed below, or kept
        else:
            import sys
            handle = stdin or sys.stdin.buffer
        if not _is_regular(handle):
            return CaptureReader(handle, streaming=True)
        try:
            data = handle.read()
        finally:
            if named:
                handle.close()
    except OSError as exc:
        raise CaptureError(f"cannot read {what}: {exc.strerror or exc}") from exc
    return CaptureReader(_Whole(data))


class _Whole:
    """A file already read into memory: one read() returns everything, then nothing."""

    def __init__(self, data: bytes) -> None:
        self._data: bytes | None = data

    def read(self, _size: int = -1) -> bytes:
        data, self._data = self._data, None
        return data or b""


def _is_regular(handle: BinaryIO) -> bool:
    import os
    import stat
    try:
        return stat.S_ISREG(os.fstat(handle.fileno()).st_mode)
    except OSError:
        return False
