"""A small, fast pcap writer and TCP/IPv4 frame builder.

Used to rewrite real captures into damaged ones for the fixtures (reordered, repeated, missing
or cut segments) and to build the million-frame capture of the speed benchmark.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import BinaryIO

from .net import ACK, LINKTYPE_ETHERNET, PSH

_FILE_HEADER = struct.Struct("<IHHiIII")
_RECORD = struct.Struct("<IIII")
_ETH_IPV4 = b"\0\0\0\0\0\0" + b"\0\0\0\0\0\0" + b"\x08\x00"
_IPV4 = struct.Struct(">BBHHHBBH4s4s")
_TCP = struct.Struct(">HHIIBBHHH")


def write_header(out: BinaryIO, linktype: int = LINKTYPE_ETHERNET, snaplen: int = 262144) -> None:
    """The 24-byte classic pcap header (little-endian, microseconds)."""
    out.write(_FILE_HEADER.pack(0xA1B2C3D4, 2, 4, 0, 0, snaplen, linktype))


def record(ts: float, data: bytes, origlen: int | None = None) -> bytes:
    """One pcap record: header plus captured bytes (``origlen`` defaults to their length)."""
    sec = int(ts)
    usec = int(round((ts - sec) * 1e6))
    if usec >= 1000000:
        sec, usec = sec + 1, usec - 1000000
    return _RECORD.pack(sec, usec, len(data), len(data) if origlen is None else origlen) + data


def write_pcap(out: BinaryIO, frames: Iterable[tuple[float, bytes, int]],
               linktype: int = LINKTYPE_ETHERNET) -> int:
    """Write a whole capture of (timestamp, captured bytes, original length); return the count."""
    write_header(out, linktype)
    n = 0
    for ts, data, orig in frames:
        out.write(record(ts, data, orig))
        n += 1
    return n


def tcp_frame(src: bytes, sport: int, dst: bytes, dport: int, seq: int, ack: int,
              payload: bytes = b"", flags: int = ACK | PSH) -> bytes:
    """An Ethernet + IPv4 + TCP frame (checksums left zero: decoders do not check them)."""
    total = 20 + 20 + len(payload)
    ip = _IPV4.pack(0x45, 0, total, 0, 0x4000, 64, 6, 0, src, dst)
    tcp = _TCP.pack(sport, dport, seq & 0xFFFFFFFF, ack & 0xFFFFFFFF, 5 << 4, flags, 65535, 0, 0)
    return _ETH_IPV4 + ip + tcp + payload
