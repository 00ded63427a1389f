"""Decoder behaviour on edge cases and malformed input, plus Hypothesis properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geartool.protocol import (
    NEED_DATA,
    AdminLine,
    Decoder,
    ErrorCode,
    Frame,
    LocalProtocolError,
    Magic,
    PacketType,
    RemoteProtocolError,
    encode,
)
from geartool.protocol.spec import SPECS


def decode_all(data: bytes, **kw: int) -> list[object]:
    dec = Decoder(**kw)
    dec.feed(data)
    return list(dec.events())


def test_need_data_on_partial_header_and_payload() -> None:
    data = encode(Frame(Magic.REQ, PacketType.CAN_DO, (b"reverse",)))
    dec = Decoder()
    dec.feed(data[:5])
    assert dec.next_event() is NEED_DATA
    dec.feed(data[5:14])
    assert dec.next_event() is NEED_DATA
    dec.feed(data[14:])
    assert dec.next_event() == Frame(Magic.REQ, PacketType.CAN_DO, (b"reverse",))
    assert dec.next_event() is NEED_DATA


def test_text_lines_mixed_with_binary() -> None:
    echo = encode(Frame(Magic.REQ, PacketType.ECHO_REQ, (b"x",)))
    events = decode_all(b"status\r\n" + echo + b"workers\n")
    assert events == [AdminLine(b"status"), Frame(Magic.REQ, PacketType.ECHO_REQ, (b"x",)),
                      AdminLine(b"workers")]


def test_only_one_cr_is_dropped() -> None:
    assert decode_all(b"version\r\r\n") == [AdminLine(b"version\r")]


def test_trailing_nul_kept_in_last_field() -> None:
    # gearmand registers "reverse\0" as an 8-byte name; so do we.
    data = b"\0REQ" + (1).to_bytes(4, "big") + (8).to_bytes(4, "big") + b"reverse\0"
    assert decode_all(data) == [Frame(Magic.REQ, PacketType.CAN_DO, (b"reverse\0",))]


def test_zero_arg_types_ignore_payload() -> None:
    data = b"\0REQ" + (9).to_bytes(4, "big") + (3).to_bytes(4, "big") + b"abc"
    assert decode_all(data) == [Frame(Magic.REQ, PacketType.GRAB_JOB, ())]


def test_too_few_arguments_is_an_error_not_misframing() -> None:
    data = b"\0REQ" + (7).to_bytes(4, "big") + (7).to_bytes(4, "big") + b"reverse"
    with pytest.raises(RemoteProtocolError) as info:
        decode_all(data)
    assert info.value.code == ErrorCode.INVALID_PACKET


@pytest.mark.parametrize("head", [b"\0XYZ" + bytes(8), b"\0REQ" + bytes(8),
                                  b"\0REQ" + (43).to_bytes(4, "big") + bytes(4)])
def test_bad_magic_or_type_closes_silently(head: bytes) -> None:
    with pytest.raises(RemoteProtocolError) as info:
        decode_all(head)
    assert info.value.code is None


def test_oversized_payload_refused_before_buffering() -> None:
    dec = Decoder(max_payload=1024)
    dec.feed(b"\0REQ" + (7).to_bytes(4, "big") + (4_000_000_000).to_bytes(4, "big"))
    with pytest.raises(RemoteProtocolError) as info:
        dec.next_event()
    assert info.value.code == ErrorCode.ARGUMENT_TOO_LARGE
    # The decoder stays broken: the stream has no trustworthy framing left.
    with pytest.raises(RemoteProtocolError):
        dec.next_event()


def test_overlong_text_line() -> None:
    with pytest.raises(RemoteProtocolError):
        decode_all(b"x" * 9000, max_line=8192)


def test_encode_refuses_wrong_arity_and_nul_in_field() -> None:
    with pytest.raises(LocalProtocolError):
        encode(Frame(Magic.REQ, PacketType.SUBMIT_JOB, (b"f", b"u")))
    with pytest.raises(LocalProtocolError):
        encode(Frame(Magic.REQ, PacketType.SUBMIT_JOB, (b"f\0", b"u", b"d")))


def test_large_stream_compacts_buffer() -> None:
    frame = Frame(Magic.REQ, PacketType.ECHO_REQ, (b"y" * 1000,))
    data = encode(frame) * 500
    dec = Decoder()
    for i in range(0, len(data), 4096):
        dec.feed(data[i:i + 4096])
        for ev in dec.events():
            assert ev == frame
    assert dec.buffered == 0


def test_a_large_packet_in_many_reads_is_joined_once() -> None:
    # Chunks wait in a list until the packet can be whole: joining on every read would copy
    # the growing packet each time (quadratic in its size).
    frame = Frame(Magic.REQ, PacketType.WORK_DATA, (b"H:x:1", b"z" * 2_000_000))
    data = encode(frame)
    dec = Decoder()
    first = 4096
    dec.feed(data[:first])
    assert dec.events() == []
    for i in range(first, len(data) - 4096, 4096):
        dec.feed(data[i:i + 4096])
        assert dec.events() == []
        assert len(dec._buf) - dec._pos == first  # nothing joined yet
        assert dec.buffered == i + len(data[i:i + 4096])
    dec.feed(data[dec.buffered:])
    assert dec.events() == [frame] and dec.buffered == 0


def test_a_small_tail_of_a_big_chunk_is_kept_alone() -> None:
    # An idle connection must not pin a whole 256 KB read for a few leftover bytes.
    frame = Frame(Magic.REQ, PacketType.ECHO_REQ, (b"y" * 1000,))
    whole = encode(frame) * 100
    dec = Decoder()
    dec.feed(whole + encode(frame)[:7])
    assert dec.events() == [frame] * 100
    assert len(dec._buf) == 7 and dec.buffered == 7


# ---- properties -------------------------------------------------------------------------

field = st.binary(max_size=40).filter(lambda b: b"\0" not in b)


@st.composite
def frames(draw: st.DrawFn) -> Frame:
    ptype = draw(st.sampled_from(list(PacketType)))
    spec = SPECS[ptype]
    magic = draw(st.sampled_from(sorted(spec.magics, key=lambda m: m.value)))
    args = [draw(field) for _ in spec.args[:-1]]
    if spec.args:
        # The last argument is the rest of the payload, so it may hold NULs either way.
        args.append(draw(st.binary(max_size=60)))
    return Frame(magic, ptype, tuple(args))


@given(frames())
def test_roundtrip(frame: Frame) -> None:
    dec = Decoder()
    dec.feed(encode(frame))
    assert dec.events() == [frame]


@given(st.lists(frames(), max_size=8), st.data())
def test_any_chunking_gives_same_frames(fs: list[Frame], data: st.DataObject) -> None:
    stream = b"".join(encode(f) for f in fs)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=10)))
    dec = Decoder()
    out: list[object] = []
    prev = 0
    for cut in [*cuts, len(stream)]:
        dec.feed(stream[prev:cut])
        prev = cut
        out.extend(dec.events())
    assert out == fs


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_random_bytes_never_crash(data: bytes) -> None:
    dec = Decoder(max_payload=4096)
    dec.feed(data)
    try:
        for ev in dec.events():
            assert isinstance(ev, Frame | AdminLine)
    except RemoteProtocolError:
        pass


def test_reset_returns_unconsumed_bytes_and_recovers() -> None:
    import pytest

    from geartool.protocol import Decoder, RemoteProtocolError
    from geartool.protocol.frames import pack_bytes

    d = Decoder()
    good = pack_bytes(b"\0REQ", 9, [])
    d.feed(good + b"\0XYZ" + bytes(8))
    assert d.next_event().type == 9  # type: ignore[union-attr]
    with pytest.raises(RemoteProtocolError):
        d.next_event()
    assert d.reset() == b"\0XYZ" + bytes(8)
    d.feed(good)
    assert d.next_event().type == 9  # type: ignore[union-attr]
    assert d.buffered == 0


def test_receive_matches_feed_and_events_for_any_split() -> None:
    from geartool.protocol import Decoder
    from geartool.protocol.frames import pack_bytes

    stream = (pack_bytes(b"\0REQ", 7, [b"f", b"u", b"da\0ta"]) + b"status\r\n"
              + pack_bytes(b"\0RES", 8, [b"H:1"]) + pack_bytes(b"\0REQ", 9, []))
    ref = Decoder()
    ref.feed(stream)
    want = ref.events()
    assert len(want) == 4
    for cut in range(len(stream) + 1):
        d = Decoder()
        got = d.receive(stream[:cut]) + d.receive(memoryview(stream)[cut:])
        assert got == want, cut
        assert d.buffered == 0


def test_receive_keeps_events_before_a_break() -> None:
    import pytest

    from geartool.protocol import Decoder, RemoteProtocolError
    from geartool.protocol.frames import pack_bytes

    good = pack_bytes(b"\0RES", 6, [])
    d = Decoder()
    assert len(d.receive(good + good + b"\0BAD" + bytes(8) + good)) == 2
    assert isinstance(d.error, RemoteProtocolError)
    with pytest.raises(RemoteProtocolError):
        d.next_event()
    assert d.reset()[:4] == b"\0BAD"
    assert d.error is None
