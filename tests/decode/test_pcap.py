"""The capture reader: pcap byte orders and resolutions, pcapng, streams, damage."""

from __future__ import annotations

import io
import os
import struct
from pathlib import Path

import pytest

from geartool.decode import writer
from geartool.decode.dissect import Dissector, decode
from geartool.decode.net import format_addr, tcp_segment
from geartool.decode.pcap import CaptureError, CaptureReader, open_capture
from geartool.protocol import Frame, PacketType
from geartool.protocol.frames import pack_bytes

from .helpers import PCAPS

A, B = bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2])
ECHO = pack_bytes(b"\0REQ", PacketType.ECHO_REQ, [b"hi"])


def frames() -> list[bytes]:
    return [writer.tcp_frame(A, 5000, B, 4730, 100, 1, ECHO),
            writer.tcp_frame(B, 4730, A, 5000, 1, 100 + len(ECHO), b"")]


def classic(order: str, nano: bool) -> bytes:
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, 1)
    for i, f in enumerate(frames()):
        frac = 250_000_000 if nano else 250_000
        out += struct.pack(order + "IIII", 1000 + i, frac, len(f), len(f)) + f
    return out


def pcapng(tsresol: int | None) -> bytes:
    def block(btype: int, body: bytes) -> bytes:
        body += bytes(-len(body) % 4)
        return struct.pack("<II", btype, len(body) + 12) + body + struct.pack("<I", len(body) + 12)
    shb = block(0x0A0D0D0A, struct.pack("<IHHq", 0x1A2B3C4D, 1, 0, -1))
    opts = b"" if tsresol is None else struct.pack("<HHB3x", 9, 1, tsresol) + bytes(4)
    idb = block(1, struct.pack("<HHI", 1, 0, 65535) + opts)
    out = shb + idb
    tick = 1e-6 if tsresol is None else 10.0 ** -tsresol
    for i, f in enumerate(frames()):
        ts = int(round((1000 + i + 0.25) / tick))
        out += block(6, struct.pack("<IIIII", 0, ts >> 32, ts & 0xFFFFFFFF, len(f), len(f)) + f)
    return out


@pytest.mark.parametrize("blob", [classic("<", False), classic(">", False), classic("<", True),
                                  classic(">", True), pcapng(None), pcapng(9)],
                         ids=["le-us", "be-us", "le-ns", "be-ns", "ng-us", "ng-ns"])
def test_formats(blob: bytes) -> None:
    recs = list(CaptureReader(io.BytesIO(blob)))
    assert [round(r[0], 6) for r in recs] == [1000.25, 1001.25]
    assert [bytes(r[2]) for r in recs] == frames()
    d = Dissector()
    out = list(decode(CaptureReader(io.BytesIO(blob)), d))
    assert [r.item for r in out] == [Frame(*_echo())]
    assert d.streams[0].client == "10.0.0.1:5000" and d.streams[0].server == "10.0.0.2:4730"


def _echo() -> tuple[object, ...]:
    from geartool.protocol import Magic
    return (Magic.REQ, PacketType.ECHO_REQ, (b"hi",))


class Dribble(io.RawIOBase):
    """A pipe that hands out a few bytes at a time."""

    def __init__(self, data: bytes, step: int) -> None:
        self.data, self.step = data, step

    def read1(self, n: int = -1) -> bytes:
        chunk, self.data = self.data[:self.step], self.data[self.step:]
        return chunk

    read = read1  # type: ignore[assignment]


@pytest.mark.parametrize("step", [1, 7, 64])
def test_streaming_reads_in_small_pieces(step: int) -> None:
    for blob in (classic("<", False), pcapng(None)):
        recs = list(CaptureReader(Dribble(blob, step), streaming=True))  # type: ignore[arg-type]
        assert [bytes(r[2]) for r in recs] == frames()


def test_truncated_and_corrupt() -> None:
    blob = classic("<", False)
    r = CaptureReader(io.BytesIO(blob[:-10]))
    assert len(list(r)) == 1 and r.truncated and "frame 2" in r.truncated
    bad = bytearray(blob)
    struct.pack_into("<I", bad, 24 + 8, 0x7FFFFFFF)  # absurd captured length
    r = CaptureReader(io.BytesIO(bytes(bad)))
    assert list(r) == [] and r.truncated and "corrupt" in r.truncated
    with pytest.raises(CaptureError):
        CaptureReader(io.BytesIO(b"GET / HTTP/1.0\r\n"))
    with pytest.raises(CaptureError):
        CaptureReader(io.BytesIO(b""))
    with pytest.raises(CaptureError):
        open_capture(str(PCAPS / "does-not-exist.pcap"))


@pytest.mark.parametrize("btype", [6, 2, 3])
def test_pcapng_packet_blocks_too_short_for_their_fields(btype: int) -> None:
    """A packet block whose length leaves no room for its own fields is corruption, reported
    as such (it used to raise struct.error when it was the last block of the file)."""
    shb = struct.pack("<II4sHHqI", 0x0A0D0D0A, 28, b"\x4d\x3c\x2b\x1a", 1, 0, -1, 28)
    idb = struct.pack("<IIHHII", 1, 20, 1, 0, 65535, 20)
    short = struct.pack("<III", btype, 12, 12)
    r = CaptureReader(io.BytesIO(shb + idb + short))
    records = list(r)
    if btype == 3:  # a simple packet block this short just holds no bytes
        assert [bytes(rec[2]) for rec in records] == [b""] and r.truncated is None
    else:
        assert records == [] and r.truncated and "corrupt pcapng packet block" in r.truncated


def test_link_types_of_the_fixtures() -> None:
    seen = set()
    for name in ("gearman-tool.pcap", "sll-any.pcap", "sll2-any.pcap", "null-loopback.pcap",
                 "ipv6.pcap", "protocol.pcapng"):
        for _ts, linktype, _data, _orig in open_capture(str(PCAPS / name)):
            seen.add(linktype)
    assert {0, 1, 113, 276} <= seen


def test_non_tcp_and_short_frames_are_ignored() -> None:
    assert tcp_segment(1, memoryview(b"\0" * 10), {4730}) is None
    udp = bytearray(frames()[0])
    udp[23] = 17
    assert tcp_segment(1, memoryview(bytes(udp)), {4730}) is None
    assert tcp_segment(1, memoryview(frames()[0]), {4731}) is None
    assert format_addr(bytes(15) + b"\1", 4730) == "[::1]:4730"


def test_stdin_a_file_is_read_whole_a_pipe_as_it_comes(tmp_path: Path) -> None:
    """`geartool decode - < f.pcap` can take the fast path; `tcpdump -w - | ...` streams."""
    name = PCAPS / "gearman-tool.pcap"
    with name.open("rb") as redirected:
        reader = open_capture("-", stdin=redirected)
        assert reader.whole() == name.read_bytes()
    r, w = os.pipe()
    os.write(w, name.read_bytes()[:4096])
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        reader = open_capture("-", stdin=pipe)
        assert reader.whole() is None and next(iter(reader))
