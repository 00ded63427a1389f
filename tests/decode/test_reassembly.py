"""Reassembly of one direction, and Gearman decoding of the reassembled bytes."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from geartool.decode.reassembly import HalfStream, seq_diff
from geartool.decode.stream import Anomaly, GearmanStream
from geartool.protocol import AdminLine, Frame, PacketType
from geartool.protocol.frames import pack_bytes

SUBMIT = pack_bytes(b"\0REQ", PacketType.SUBMIT_JOB, [b"reverse", b"u1", b"hel\0lo"])
CREATED = pack_bytes(b"\0RES", PacketType.JOB_CREATED, [b"H:lap:1"])
GRAB = pack_bytes(b"\0REQ", PacketType.GRAB_JOB, [])


def joined(chunks: list[bytes | memoryview | int]) -> bytes:
    assert all(not isinstance(c, int) for c in chunks), chunks
    return b"".join(bytes(c) for c in chunks)  # type: ignore[arg-type]


def test_in_order_segments_pass_straight_through() -> None:
    h = HalfStream()
    h.syn(999)
    assert joined(h.segment(1000, b"abc")) == b"abc"
    assert joined(h.segment(1003, b"def")) == b"def"
    assert h.next_seq == 1006 and not h.midstream


def test_out_of_order_segment_waits_for_the_hole() -> None:
    h = HalfStream()
    h.syn(0)
    assert h.segment(4, b"def") == []
    assert joined(h.segment(1, b"abc")) == b"abcdef"
    assert h.out_of_order == 1 and h.gaps == 0


def test_retransmission_and_overlap() -> None:
    h = HalfStream()
    h.syn(0)
    h.segment(1, b"abcdef")
    assert h.segment(1, b"abcdef") == []  # a pure repeat
    assert h.retransmitted == 1
    assert joined(h.segment(4, b"defGHI")) == b"GHI"  # overlaps, brings three new bytes
    assert h.overlapped == 1 and h.next_seq == 10


def test_hole_never_filled_becomes_a_gap_not_zeros() -> None:
    h = HalfStream()
    h.syn(0)
    h.segment(1, b"ab")
    h.segment(8, b"xyz")
    out = h.flush()
    assert out == [5, b"xyz"]
    assert h.gaps == 1 and h.lost_bytes == 5


def test_snaplen_cut_is_a_gap_after_the_captured_part() -> None:
    h = HalfStream()
    h.syn(0)
    assert [bytes(c) if not isinstance(c, int) else c for c in h.segment(1, b"ab", cut=10)] \
        == [b"ab", 10]
    assert h.next_seq == 13


def test_sequence_numbers_wrap() -> None:
    h = HalfStream()
    h.syn(0xFFFFFFFE)  # first byte at 0xFFFFFFFF
    assert joined(h.segment(0xFFFFFFFF, b"ab")) == b"ab"
    assert h.next_seq == 1
    assert joined(h.segment(1, b"cd")) == b"cd"
    assert seq_diff(1, 0xFFFFFFFF) == 2


def test_capture_starting_mid_stream() -> None:
    h = HalfStream()
    assert joined(h.segment(5000, b"xy")) == b"xy"
    assert h.midstream


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_any_order_with_repeats_gives_the_same_bytes(data: st.DataObject) -> None:
    stream = (SUBMIT + CREATED + GRAB) * 3
    cuts = sorted(set(data.draw(st.lists(st.integers(1, len(stream) - 1), max_size=12))))
    bounds = [0, *cuts, len(stream)]
    segs = [(bounds[i], stream[bounds[i]:bounds[i + 1]]) for i in range(len(bounds) - 1)]
    segs += data.draw(st.lists(st.sampled_from(segs), max_size=4))  # retransmissions
    order = data.draw(st.permutations(segs))
    h = HalfStream()
    h.syn(99)
    out: list[bytes | memoryview | int] = []
    for off, payload in order:
        out += h.segment(100 + off, payload)
    out += h.flush()
    assert joined(out) == stream


def test_gearman_stream_splits_and_joins_packets() -> None:
    g = GearmanStream()
    blob = SUBMIT + CREATED + b"status\r\n" + GRAB
    items = []
    for i in range(0, len(blob), 5):
        items += g.feed(blob[i:i + 5])
    assert [type(i) for i in items] == [Frame, Frame, AdminLine, Frame]
    assert items[0].args == (b"reverse", b"u1", b"hel\0lo")  # type: ignore[union-attr]
    assert items[2] == AdminLine(b"status")
    assert g.close() == []


def test_gap_loses_the_partial_packet_then_resyncs() -> None:
    g = GearmanStream()
    assert g.feed(SUBMIT[:10]) == []
    out = g.gap(7)
    assert len(out) == 1 and isinstance(out[0], Anomaly) and out[0].kind == "gap"
    assert "SUBMIT_JOB" not in out[0].text  # only 10 of 12 header bytes: type unknown yet
    out = g.feed(SUBMIT[17:] + CREATED + GRAB)
    assert [type(i) for i in out] == [Anomaly, Frame, Frame]
    assert out[0].kind == "skipped"  # type: ignore[union-attr]
    assert out[1].type is PacketType.JOB_CREATED  # type: ignore[union-attr]


def test_gap_inside_payload_names_the_lost_packet() -> None:
    g = GearmanStream()
    g.feed(SUBMIT[:15])
    (anomaly,) = g.gap(3)
    assert isinstance(anomaly, Anomaly) and "SUBMIT_JOB packet (15 of" in anomaly.text


def test_garbage_is_skipped_up_to_a_valid_header() -> None:
    g = GearmanStream()
    out = g.feed(b"\x00\x01\x02garbage\xff" + CREATED)
    kinds = [i.kind if isinstance(i, Anomaly) else type(i).__name__ for i in out]
    assert kinds == ["bad-packet", "skipped", "Frame"]


def test_binary_garbage_that_reads_as_a_text_line() -> None:
    g = GearmanStream()
    out = g.feed(b"\x01\x02\x03 junk \x7f\n" + GRAB)
    assert isinstance(out[0], Anomaly) and out[-1] == Frame(*_grab())


def _grab() -> tuple[object, ...]:
    from geartool.protocol import Magic
    return (Magic.REQ, PacketType.GRAB_JOB, ())


def test_midstream_start_resyncs_on_the_first_header() -> None:
    g = GearmanStream(midstream=True)
    out = g.feed(SUBMIT[20:] + CREATED)
    assert [type(i) for i in out] == [Anomaly, Frame]


def test_truncated_stream_is_reported_at_close() -> None:
    g = GearmanStream()
    g.feed(CREATED + SUBMIT[:-2])
    (anomaly,) = g.close()
    assert isinstance(anomaly, Anomaly) and anomaly.kind == "truncated"
    assert "SUBMIT_JOB" in anomaly.text


def test_random_bytes_never_raise() -> None:
    rnd = random.Random(7)
    for _ in range(200):
        g = GearmanStream(midstream=rnd.random() < 0.5)
        for _ in range(5):
            blob = bytes(rnd.randrange(256) for _ in range(rnd.randrange(64)))
            if rnd.random() < 0.3:
                blob += rnd.choice([SUBMIT, CREATED, b"\0REQ", b"status\n"])
            g.feed(blob)
            if rnd.random() < 0.2:
                g.gap(rnd.randrange(1, 100))
        g.close()
