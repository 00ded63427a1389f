"""A small pcap writer that turns relayed byte streams into believable TCP conversations.

The proxy sees two sockets per client, not packets, so it synthesises Ethernet, IP and TCP
headers (handshake, data segments with consistent seq/ack, FIN exchange) around what passed.
Tools that reassemble TCP (tshark, ``geartool decode``) then read the streams exactly as they
were relayed. Classic pcap format, microsecond timestamps, link type Ethernet.
"""

from __future__ import annotations

import ipaddress
import random
import struct
from typing import BinaryIO

LINKTYPE_ETHERNET = 1
SNAPLEN = 262144
MAX_SEGMENT = 32768  # keeps every IPv4 datagram far below its 65535-byte limit
SYN, FIN, PSH, ACK = 0x02, 0x01, 0x08, 0x10
_MAC_CLIENT = bytes.fromhex("020000000001")
_MAC_SERVER = bytes.fromhex("020000000002")
IPAddr = ipaddress.IPv4Address | ipaddress.IPv6Address


def checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``.

    Since 2**16 = 1 (mod 0xFFFF), the one's-complement sum of the 16-bit words is the whole
    buffer read as one big integer, modulo 0xFFFF; that runs at C speed on 32 KiB segments.
    The one case the modulus cannot tell apart (a non-zero sum that is a multiple of 0xFFFF,
    which one's-complement arithmetic writes as 0xFFFF) is fixed up by hand.
    """
    if len(data) % 2:
        data += b"\0"
    total = int.from_bytes(data, "big") % 0xFFFF
    if total == 0 and any(data):
        total = 0xFFFF
    return ~total & 0xFFFF


class PcapWriter:
    """Writes pcap records to a binary file, flushing each so a killed proxy leaves a valid
    file."""

    def __init__(self, fh: BinaryIO) -> None:
        self._fh = fh
        self.error: OSError | None = None  # set when a write failed; later records are dropped
        fh.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, SNAPLEN, LINKTYPE_ETHERNET))
        fh.flush()

    def record(self, ts: float, frame: bytes) -> None:
        """Append one link-layer frame. A failing disk stops the capture, never the relay."""
        if self.error is not None:
            return
        sec = int(ts)
        usec = min(int(round((ts - sec) * 1_000_000)), 999_999)
        try:
            self._fh.write(struct.pack("<IIII", sec, usec, len(frame), len(frame)) + frame)
            self._fh.flush()
        except OSError as exc:
            self.error = exc

    def close(self) -> None:
        self._fh.close()


def _addresses(client: str, server: str) -> tuple[IPAddr, IPAddr]:
    """Both ends in one family: IPv4 when both are, else IPv6 (v4 ends mapped)."""
    c, s = ipaddress.ip_address(client.split("%")[0]), ipaddress.ip_address(server.split("%")[0])
    if c.version == s.version:
        return c, s

    def v6(a: IPAddr) -> IPAddr:
        return a if a.version == 6 else ipaddress.IPv6Address(f"::ffff:{a}")

    return v6(c), v6(s)


class TcpFlow:
    """One synthesised TCP connection between a client and a server address."""

    def __init__(self, writer: PcapWriter, client: tuple[str, int], server: tuple[str, int],
                 *, rng: random.Random | None = None) -> None:
        self._w = writer
        self._src, self._dst = _addresses(client[0], server[0])
        self._ports = (client[1], server[1])
        r = rng or random.Random()
        # Next sequence number each side will send: [client, server].
        self._seq = [r.getrandbits(32), r.getrandbits(32)]
        self._ip_id = 0
        self.closed = False

    def open(self, ts: float) -> None:
        """SYN, SYN/ACK, ACK."""
        self._segment(ts, True, SYN, b"", ack=False)
        self._seq[0] = (self._seq[0] + 1) & 0xFFFFFFFF
        self._segment(ts, False, SYN | ACK, b"")
        self._seq[1] = (self._seq[1] + 1) & 0xFFFFFFFF
        self._segment(ts, True, ACK, b"")

    def data(self, ts: float, from_client: bool, payload: bytes) -> None:
        """Bytes one side sent, cut into segments that each fit an IP datagram."""
        side = 0 if from_client else 1
        for i in range(0, len(payload), MAX_SEGMENT):
            chunk = payload[i:i + MAX_SEGMENT]
            self._segment(ts, from_client, PSH | ACK, chunk)
            self._seq[side] = (self._seq[side] + len(chunk)) & 0xFFFFFFFF

    def close(self, ts: float, from_client: bool = True) -> None:
        """FIN from one side, FIN from the other, last ACK."""
        if self.closed:
            return
        self.closed = True
        for first in (from_client, not from_client):
            self._segment(ts, first, FIN | ACK, b"")
            side = 0 if first else 1
            self._seq[side] = (self._seq[side] + 1) & 0xFFFFFFFF
        self._segment(ts, from_client, ACK, b"")

    def _segment(self, ts: float, from_client: bool, flags: int, payload: bytes, *,
                 ack: bool = True) -> None:
        me, peer = (0, 1) if from_client else (1, 0)
        src, dst = (self._src, self._dst) if from_client else (self._dst, self._src)
        sport, dport = self._ports[me], self._ports[peer]
        ack_no = self._seq[peer] if ack else 0
        header = struct.pack(">HHIIBBHHH", sport, dport, self._seq[me], ack_no, 5 << 4, flags,
                             65535, 0, 0)
        length = len(header) + len(payload)
        if src.version == 4:
            pseudo = src.packed + dst.packed + struct.pack(">BBH", 0, 6, length)
        else:
            pseudo = src.packed + dst.packed + struct.pack(">I3xB", length, 6)
        csum = checksum(pseudo + header + payload)
        tcp = header[:16] + struct.pack(">H", csum) + header[18:] + payload
        self._w.record(ts, self._ether(from_client) + self._ip(src, dst, tcp) + tcp)

    def _ip(self, src: IPAddr, dst: IPAddr, tcp: bytes) -> bytes:
        if src.version == 6:
            return struct.pack(">IHBB", 6 << 28, len(tcp), 6, 64) + src.packed + dst.packed
        self._ip_id = (self._ip_id + 1) & 0xFFFF
        head = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), self._ip_id, 0x4000, 64, 6,
                           0, src.packed, dst.packed)
        return head[:10] + struct.pack(">H", checksum(head)) + head[12:]

    def _ether(self, from_client: bool) -> bytes:
        src, dst = (_MAC_CLIENT, _MAC_SERVER) if from_client else (_MAC_SERVER, _MAC_CLIENT)
        return dst + src + struct.pack(">H", 0x0800 if self._src.version == 4 else 0x86DD)
