"""Link, IP and TCP headers parsed by hand: just enough to find Gearman's TCP segments, fast.

Supported link types: Ethernet (with 802.1Q/802.1ad tags), Linux cooked capture v1 and v2,
BSD loopback (NULL and OpenBSD LOOP) and raw IPv4/IPv6. IPv4 fragments and IPv6 fragment headers
are skipped (Gearman over fragmented IP is not something real captures contain).
"""

from __future__ import annotations

import ipaddress
import struct

LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
LINK_NAMES = {
    LINKTYPE_NULL: "BSD loopback", LINKTYPE_ETHERNET: "Ethernet", LINKTYPE_RAW: "raw IP",
    12: "raw IP", LINKTYPE_LOOP: "OpenBSD loopback", LINKTYPE_LINUX_SLL: "Linux cooked v1",
    LINKTYPE_IPV4: "raw IPv4", LINKTYPE_IPV6: "raw IPv6", LINKTYPE_LINUX_SLL2: "Linux cooked v2",
}

_H = struct.Struct(">H").unpack_from
_I = struct.Struct("<I").unpack_from
_IPV4 = struct.Struct(">BxHxxHxBxx4s4s").unpack_from  # vihl, total length, frag, proto, src, dst
_IPV6 = struct.Struct(">4xHBx16s16s").unpack_from  # payload length, next header, src, dst
_TCP = struct.Struct(">HHIIBB").unpack_from  # sport, dport, seq, ack, offset, flags

# BSD loopback address families that mean IPv6 (Linux, FreeBSD, Darwin, OpenBSD/NetBSD values).
_NULL_V6 = frozenset({10, 24, 28, 30})
_V6_EXT = frozenset({0, 43, 60})  # hop-by-hop, routing, destination options

FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10

Segment = tuple[bytes, int, bytes, int, int, int, memoryview, int, int]
"""(src addr, src port, dst addr, dst port, seq, TCP flags, captured payload, payload bytes that
the snap length cut off, ack)"""


def ip_offset(linktype: int, data: memoryview) -> int:
    """Where the IP header starts in a frame, or -1 if the frame carries no IP."""
    if linktype == LINKTYPE_ETHERNET:
        off = 12
        etype = _H(data, off)[0] if len(data) >= 14 else 0
        while etype in (0x8100, 0x88A8) and len(data) >= off + 8:
            off += 4
            etype = _H(data, off)[0]
        return off + 2 if etype in (0x0800, 0x86DD) else -1
    if linktype == LINKTYPE_LINUX_SLL:
        return 16 if len(data) >= 16 and _H(data, 14)[0] in (0x0800, 0x86DD) else -1
    if linktype == LINKTYPE_LINUX_SLL2:
        return 20 if len(data) >= 20 and _H(data, 0)[0] in (0x0800, 0x86DD) else -1
    if linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        if len(data) < 4:
            return -1
        fam = _I(data, 0)[0]
        if fam > 0xFFFF:  # written in the other byte order
            fam = int.from_bytes(data[0:4], "big")
        return 4 if fam == 2 or fam in _NULL_V6 else -1
    if linktype in (LINKTYPE_RAW, 12, LINKTYPE_IPV4, LINKTYPE_IPV6):
        return 0
    return -1


def tcp_segment(linktype: int, data: memoryview, ports: frozenset[int] | set[int]
                ) -> Segment | None:
    """The TCP segment in a frame if either of its ports is in ``ports``, else None."""
    off = ip_offset(linktype, data)
    n = len(data)
    if off < 0 or n < off + 20:
        return None
    version = data[off] >> 4
    if version == 4:
        vihl, total, frag, proto, src, dst = _IPV4(data, off)
        if proto != 6 or frag & 0x3FFF or vihl & 0x0F < 5:  # not TCP, a fragment, or corrupt
            return None
        tcp = off + (vihl & 0x0F) * 4
        end = off + total
    elif version == 6:
        if n < off + 40:
            return None
        plen, nxt, src, dst = _IPV6(data, off)
        tcp = off + 40
        while nxt in _V6_EXT and n >= tcp + 8:
            nxt = data[tcp]
            tcp += (data[tcp + 1] + 1) * 8
        if nxt != 6:
            return None
        end = off + 40 + plen
    else:
        return None
    if n < tcp + 14:
        return None
    sport, dport, seq, ack, doff, flags = _TCP(data, tcp)
    if sport not in ports and dport not in ports:
        return None
    start = tcp + (doff >> 4) * 4
    if end < start:  # IP length smaller than the headers: a corrupt packet
        return None
    cut = end - n if end > n else 0
    return (bytes(src), sport, bytes(dst), dport, seq, flags,
            data[start:end] if start < n else data[0:0], cut, ack)


def format_addr(addr: bytes, port: int) -> str:
    """``127.0.0.1:4730`` or ``[::1]:4730``."""
    if len(addr) == 4:
        return f"{addr[0]}.{addr[1]}.{addr[2]}.{addr[3]}:{port}"
    return f"[{ipaddress.IPv6Address(addr).compressed}]:{port}"
