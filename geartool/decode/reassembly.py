"""Pure TCP stream reassembly for one direction of one connection.

Segments go in as they were captured (any order, repeated, overlapping); contiguous bytes come
out in sequence order. A hole that is never filled comes out as a visible gap — the number of
bytes missing — and never as zero bytes: in Gearman a NUL starts every header and separates
arguments, so zero-filling a gap would invent packets.
"""

from __future__ import annotations

from dataclasses import dataclass, field

MASK = 0xFFFFFFFF
# How much out-of-order data to hold before declaring the hole in front of it lost. A real
# retransmission fills a hole within a few segments; a capture drop never does.
MAX_PENDING_SEGMENTS = 128
MAX_PENDING_BYTES = 4 * 1024 * 1024

Chunk = bytes | memoryview | int
"""Reassembled output: a run of bytes, or an int = that many bytes are missing (a gap)."""


def seq_diff(a: int, b: int) -> int:
    """a - b in TCP sequence space (wraps at 2**32)."""
    d = (a - b) & MASK
    return d - 0x100000000 if d >= 0x80000000 else d


@dataclass(slots=True)
class HalfStream:
    """Reassembly state for the bytes one endpoint sends.

    ``next_seq`` is the sequence number of the next byte expected (None until the first SYN or
    data segment). ``midstream`` is true when the capture began after the connection had
    started, so the first bytes may be in the middle of a packet.
    """

    next_seq: int | None = None
    midstream: bool = False
    pending: dict[int, tuple[bytes, int]] = field(default_factory=dict)
    pending_bytes: int = 0
    retransmitted: int = 0  # segments whose bytes had all been seen already
    overlapped: int = 0  # segments that repeated some bytes and brought new ones
    out_of_order: int = 0  # segments that arrived before a hole in front of them was filled
    gaps: int = 0
    lost_bytes: int = 0

    def syn(self, seq: int) -> None:
        """A SYN: the first data byte is seq + 1."""
        if self.next_seq is None:
            self.next_seq = (seq + 1) & MASK

    def segment(self, seq: int, payload: bytes | memoryview, cut: int = 0) -> list[Chunk]:
        """Add one segment's payload; ``cut`` = bytes of it the snap length left out."""
        if self.next_seq is None:
            self.next_seq = seq
            self.midstream = True
        rel = seq_diff(seq, self.next_seq)
        size = len(payload) + cut
        if rel == 0 and not self.pending:
            self.next_seq = (seq + size) & MASK
            if cut:
                self.gaps += 1
                self.lost_bytes += cut
                return [payload, cut] if payload else [cut]
            return [payload]
        if rel + size <= 0:
            if size:
                self.retransmitted += 1
            return []
        if rel > 0:
            self.out_of_order += 1
            old = self.pending.get(seq)
            if old is None or len(old[0]) + old[1] < size:
                self.pending[seq] = (bytes(payload), cut)
                self.pending_bytes += len(payload) - (len(old[0]) if old else 0)
            if (len(self.pending) > MAX_PENDING_SEGMENTS
                    or self.pending_bytes > MAX_PENDING_BYTES):
                return self._drain(force=True)
            return []
        self.pending[seq] = (bytes(payload), cut)
        self.pending_bytes += len(payload)
        return self._drain(force=False)

    def flush(self) -> list[Chunk]:
        """End of capture: deliver everything still held, with the holes as gaps."""
        out: list[Chunk] = []
        while self.pending:
            out += self._drain(force=True)
        return out

    def jump(self) -> list[Chunk]:
        """Give up on the first hole (the peer acknowledged it, so it will not be resent)."""
        return self._drain(force=True)

    def _drain(self, force: bool) -> list[Chunk]:
        """Deliver held segments that now touch ``next_seq``; with force, jump the first hole."""
        out: list[Chunk] = []
        assert self.next_seq is not None
        while self.pending:
            seq = min(self.pending, key=lambda s: seq_diff(s, self.next_seq or 0))
            rel = seq_diff(seq, self.next_seq)
            if rel > 0:
                if not force:
                    break
                out.append(rel)
                self.gaps += 1
                self.lost_bytes += rel
                self.next_seq = seq
                rel = 0
                force = False  # jump only one hole; later ones may still fill
            payload, cut = self.pending.pop(seq)
            self.pending_bytes -= len(payload)
            size = len(payload) + cut
            if rel + size <= 0:
                self.retransmitted += 1
                continue
            if rel < 0:
                self.overlapped += 1
                skip = -rel
                if skip >= len(payload):  # only the cut-off part is new
                    cut -= skip - len(payload)
                    payload = b""
                else:
                    payload = payload[skip:]
            if payload:
                out.append(payload)
            if cut:
                out.append(cut)
                self.gaps += 1
                self.lost_bytes += cut
            self.next_seq = (self.next_seq + len(payload) + cut) & MASK
        return out
