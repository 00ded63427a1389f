"""From capture records to Gearman records: find the streams, reassemble, decode.

This is the decoder's hot path. It avoids per-packet objects beyond one tuple per TCP segment and
one Record per Gearman packet, and hands in-order segments straight to the stream decoder.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import chain
from typing import NamedTuple, cast

from geartool.protocol import AdminLine, Frame
from geartool.protocol.spec import DEFAULT_PORT

from .net import ACK, FIN, RST, SYN, format_addr, tcp_segment
from .pcap import CaptureReader
from .pcap import Record as CaptureRecord
from .reassembly import MASK, HalfStream, seq_diff
from .stream import Anomaly, GearmanStream, Item

_ETH_IPV4_TCP = struct.Struct(">12xHBxHxxHxBxx4s4sHHIIBB").unpack_from


class Record(NamedTuple):
    """One decoded thing: a packet, an admin line or an anomaly, where and when it was seen.

    ``frame`` is the 1-based number of the captured frame that completed it (as Wireshark
    numbers frames); ``stream`` is -1 for anomalies of the capture file itself.
    """

    frame: int
    time: float
    stream: int
    to_server: bool
    item: Item


# tuple.__new__ skips NamedTuple's Python-level constructor: one Record per packet adds up.
_new_record = cast(Callable[[type[Record], tuple[int, float, int, bool, Item]], Record],
                   tuple.__new__)


@dataclass(slots=True)
class StreamInfo:
    """One TCP connection carrying Gearman: ``client`` and ``server`` as ``host:port``."""

    id: int
    client: str
    server: str
    first_frame: int
    first_time: float
    midstream: bool = False


class _Half:
    """One direction of one stream: reassembly plus Gearman decoding."""

    __slots__ = ("reasm", "gear", "stream", "to_server", "closed", "peer")

    def __init__(self, stream: int, to_server: bool) -> None:
        self.reasm = HalfStream()
        self.gear: GearmanStream | None = None  # created on the first data
        self.stream = stream
        self.to_server = to_server
        self.closed = False
        self.peer: _Half | None = None


class Dissector:
    """Turns capture records into Gearman Records; ``streams`` lists the connections found."""

    def __init__(self, ports: Iterable[int] = ()) -> None:
        self.ports = frozenset({DEFAULT_PORT, *ports})
        self.streams: list[StreamInfo] = []
        self._halves: dict[tuple[bytes, int, bytes, int], _Half] = {}
        self._retired: list[_Half] = []
        self._holding: set[_Half] = set()  # directions holding out-of-order data
        self.frames = 0
        self.segments = 0
        self.last_time = 0.0
        # Ports of other TCP streams whose payload starts like a Gearman packet, offered to
        # the user as --port suggestions when the ports asked for carry nothing.
        self.hints: set[int] = set()

    def _hint(self, data: memoryview | bytes, offset: int, sport: int, dport: int) -> None:
        magic = bytes(data[offset:offset + 4])
        if magic == b"\0REQ":
            self.hints.add(dport)
        elif magic == b"\0RES":
            self.hints.add(sport)

    def records(self, capture: Iterable[CaptureRecord]) -> Iterator[Record]:
        """Every Gearman record, in capture order; the end flushes every stream."""
        halves = self._halves
        ports = self.ports
        holding = self._holding
        n = self.frames
        segments = self.segments
        ts = self.last_time
        new = _new_record
        try:
            for ts, linktype, data, _orig in capture:
                n += 1
                # Fast path: Ethernet, IPv4 without options, unfragmented TCP, wholly captured.
                if linktype == 1 and len(data) >= 54:
                    (etype, vihl, total, frag, proto, src, dst, sport, dport, seq, ack, doff,
                     flags) = _ETH_IPV4_TCP(data, 0)
                    if etype == 0x0800 and vihl == 0x45 and proto == 6 and not frag & 0x3FFF \
                            and 14 + total <= len(data):
                        if sport not in ports and dport not in ports:
                            if not self.streams and len(self.hints) < 8:
                                self._hint(data, 34 + (doff >> 4) * 4, sport, dport)
                            continue
                        payload = data[34 + (doff >> 4) * 4:14 + total]
                        cut = 0
                    else:
                        seg = tcp_segment(linktype, data, ports)
                        if seg is None:
                            continue
                        src, sport, dst, dport, seq, flags, payload, cut, ack = seg
                else:
                    seg = tcp_segment(linktype, data, ports)
                    if seg is None:
                        continue
                    src, sport, dst, dport, seq, flags, payload, cut, ack = seg
                segments += 1
                half = halves.get((src, sport, dst, dport))
                if half is None or flags & SYN:
                    half = self._open((src, sport, dst, dport), flags, seq, n, ts, half)
                if holding and half.peer in holding and flags & ACK:
                    # The peer acknowledged bytes the capture never showed: the hole stays.
                    peer = half.peer
                    assert peer is not None
                    for item in self._acked_gap(peer, ack):
                        yield new(Record, (n, ts, peer.stream, peer.to_server, item))
                if payload or cut:
                    reasm = half.reasm
                    gear = half.gear
                    if gear is None:
                        if reasm.next_seq is None:
                            self.streams[half.stream].midstream = True
                        gear = half.gear = GearmanStream(midstream=reasm.next_seq is None)
                    if reasm.next_seq == seq and not cut and not reasm.pending:
                        reasm.next_seq = (seq + len(payload)) & MASK
                        items = gear.feed(payload)
                    else:
                        items = self._slow(reasm, gear, seq, payload, cut)
                        if reasm.pending:
                            holding.add(half)
                        else:
                            holding.discard(half)
                    if items:
                        stream, to_server = half.stream, half.to_server
                        for item in items:
                            yield new(Record, (n, ts, stream, to_server, item))
                if flags & (FIN | RST):
                    end = (seq + len(payload) + cut) & MASK if flags & FIN else None
                    for sid, to_server, item in self._close(half, rst=bool(flags & RST),
                                                            fin_seq=end):
                        yield new(Record, (n, ts, sid, to_server, item))
        finally:
            self.frames = n
            self.segments = segments
            self.last_time = ts

    def finish(self) -> Iterator[Record]:
        """End of the capture: deliver held segments and report half-decoded packets."""
        for half in [*self._retired, *self._halves.values()]:
            for stream, to_server, item in self._close(half, rst=False, final=True):
                yield Record(self.frames, self.last_time, stream, to_server, item)

    def _slow(self, reasm: HalfStream, gear: GearmanStream, seq: int, payload: memoryview,
              cut: int) -> list[Item]:
        items: list[Item] = []
        for chunk in reasm.segment(seq, payload, cut):
            if type(chunk) is int:
                if chunk == cut:
                    items += gear.gap(chunk, "snaplen", "of a segment not captured (snap length)")
                else:
                    items += gear.gap(chunk)
            elif chunk:
                items += gear.feed(chunk)  # type: ignore[arg-type]  # bytes here
        return items

    def _acked_gap(self, half: _Half, ack: int) -> list[Item]:
        reasm, gear = half.reasm, half.gear
        items: list[Item] = []
        while gear is not None and reasm.pending and reasm.next_seq is not None \
                and seq_diff(ack, reasm.next_seq) > 0:
            for chunk in reasm.jump():
                items += gear.gap(chunk) if isinstance(chunk, int) else gear.feed(chunk)
        if not reasm.pending:
            self._holding.discard(half)
        return items

    def _close(self, half: _Half, rst: bool, final: bool = False, fin_seq: int | None = None
               ) -> list[tuple[int, bool, Item]]:
        """Close one direction (both on RST) once every byte before the FIN is in."""
        out: list[tuple[int, bool, Item]] = []
        for h in (half, half.peer) if rst else (half,):
            if h is None or h.closed or (h.reasm.pending and not final):
                continue
            h.closed = True
            self._holding.discard(h)
            items: list[Item] = []
            nxt = h.reasm.next_seq
            if fin_seq is not None and h is half and nxt is not None \
                    and 0 < seq_diff(fin_seq, nxt) < 1 << 30:
                # The FIN comes after bytes the capture never showed.
                if h.gear is None:
                    h.gear = GearmanStream()
                items += h.gear.gap(seq_diff(fin_seq, nxt))
                h.reasm.gaps += 1
                h.reasm.lost_bytes += seq_diff(fin_seq, nxt)
            gear = h.gear
            if gear is None:
                continue
            for chunk in h.reasm.flush():
                items += gear.gap(chunk) if isinstance(chunk, int) else gear.feed(chunk)
            items += gear.close()
            out += [(h.stream, h.to_server, item) for item in items]
        return out

    def _open(self, key: tuple[bytes, int, bytes, int], flags: int, seq: int, frame: int,
              ts: float, existing: _Half | None) -> _Half:
        """A new direction, or a SYN on a known one (a reused 4-tuple starts a new stream)."""
        if existing is not None:
            if existing.gear is None:  # no data yet: a first or repeated SYN
                existing.reasm.syn(seq)
                return existing
            nxt = existing.reasm.next_seq
            if nxt is not None and 0 <= seq_diff(nxt, seq + 1) < 1 << 30:
                return existing  # a late or repeated SYN of this very connection
            # A SYN after data: the 4-tuple was reused by a new connection.
            self._retired.append(existing)
            self._halves.pop(key, None)
            if existing.peer is not None:
                self._retired.append(existing.peer)
                self._halves.pop((key[2], key[3], key[0], key[1]), None)
        src, sport, dst, dport = key
        peer = self._halves.get((dst, dport, src, sport))
        if peer is not None:
            half = _Half(peer.stream, not peer.to_server)
            half.peer, peer.peer = peer, half
        else:
            to_server = _client_to_server(sport, dport, flags, self.ports)
            sid = len(self.streams)
            client, server = (format_addr(src, sport), format_addr(dst, dport))
            if not to_server:
                client, server = server, client
            self.streams.append(StreamInfo(sid, client, server, frame, ts))
            half = _Half(sid, to_server)
        if flags & SYN:
            half.reasm.syn(seq)
        self._halves[key] = half
        return half


def decode(capture: CaptureReader, dissector: Dissector) -> Iterator[Record]:
    """Every record of a capture, then its file-level damage, then what the streams left over."""
    # chain() rather than "yield from": one generator fewer between each record and its reader.
    return chain(dissector.records(capture), _trailer(capture, dissector))


def _trailer(capture: CaptureReader, dissector: Dissector) -> Iterator[Record]:
    if capture.truncated:
        yield Record(dissector.frames, dissector.last_time, -1, False,
                     Anomaly("capture", capture.truncated))
    yield from dissector.finish()


def _client_to_server(sport: int, dport: int, flags: int, ports: frozenset[int]) -> bool:
    """Which way this first-seen direction goes: towards the Gearman server or away."""
    if (dport in ports) != (sport in ports):
        return dport in ports
    if flags & SYN:
        return not flags & ACK  # the SYN without ACK comes from the client
    return dport <= sport


def is_packet(item: Item) -> bool:
    """A Gearman packet or admin line (not an anomaly)."""
    return type(item) is Frame or type(item) is AdminLine
