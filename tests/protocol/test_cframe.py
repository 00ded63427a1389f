"""The optional C frame builder and packer make exactly what the Python paths make, or defer."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geartool.protocol import codec
from geartool.protocol.errors import RemoteProtocolError
from geartool.protocol.frames import ARG_COUNTS, TYPES, Frame, pack_bytes, split_args
from geartool.protocol.spec import Magic
from tests.conftest import c_module

MakeFrame = Callable[..., "Frame | None"]


def _make() -> MakeFrame:
    frame: MakeFrame = c_module("geartool.protocol._cframe").frame
    return frame


def test_the_decoder_uses_it_when_built() -> None:
    try:
        from geartool.protocol._cframe import frame
    except ImportError:
        frame = None
    if os.environ.get("GEARTOOL_PURE_PYTHON") or frame is None:
        assert codec._cframe is None
    else:
        assert codec._cframe is frame


@settings(max_examples=600, deadline=None)
@given(ptype=st.integers(1, len(TYPES) - 1),
       payload=st.lists(st.sampled_from([b"\0", b"a", b"xyz", b"", b"\0\0", b"\xff"]),
                        max_size=12).map(b"".join),
       before=st.binary(max_size=5), after=st.binary(max_size=5))
def test_same_frame_as_the_python_path(ptype: int, payload: bytes, before: bytes,
                                       after: bytes) -> None:
    make = _make()
    buf = before + payload + after
    got = make(Frame, Magic.RES, TYPES[ptype], ARG_COUNTS[ptype], buf, len(before),
               len(before) + len(payload))
    try:
        want = Frame(Magic.RES, TYPES[ptype], split_args(ptype, payload))  # type: ignore[arg-type]
    except RemoteProtocolError:
        assert got is None  # the decoder then runs split_args, which raises with its message
        return
    assert got == want and type(got) is Frame and type(got.args) is tuple
    assert all(type(a) is bytes for a in got.args)


def test_bad_calls_are_refused_not_crashes() -> None:
    make = _make()
    with pytest.raises(TypeError):
        make(Frame, Magic.REQ, TYPES[7], 3, bytearray(b"a\0b\0c"), 0, 5)
    with pytest.raises(TypeError):
        make(dict, Magic.REQ, TYPES[7], 3, b"a\0b\0c", 0, 5)
    for count, start, end in ((3, 0, 6), (3, 4, 2), (-1, 0, 5), (3, -1, 5)):
        with pytest.raises(ValueError):
            make(Frame, Magic.REQ, TYPES[7], count, b"a\0b\0c", start, end)
    with pytest.raises(TypeError):
        make(Frame, Magic.REQ)


def _pack() -> Callable[..., bytes | None]:
    _make()  # (fails or skips the same way)
    from geartool.protocol._cframe import pack
    return pack


@settings(max_examples=400, deadline=None)
@given(magic=st.sampled_from([b"\0REQ", b"\0RES"]), ptype=st.integers(0, 2**32 - 1),
       args=st.lists(st.binary(max_size=40), max_size=7), as_list=st.booleans())
def test_pack_is_header_plus_joined_arguments(magic: bytes, ptype: int, args: list[bytes],
                                              as_list: bool) -> None:
    payload = b"\0".join(args)
    want = struct.pack(">4sII", magic, ptype, len(payload)) + payload
    assert _pack()(magic, ptype, args if as_list else tuple(args)) == want
    assert pack_bytes(magic, ptype, args) == want  # whichever path pack_bytes takes


def test_pack_leaves_anything_unusual_to_python() -> None:
    pack = _pack()
    for magic, ptype, args in ((b"\0RE", 1, ()), (b"\0REQX", 1, ()), ("\0REQ", 1, ()),
                               (b"\0REQ", -1, ()), (b"\0REQ", 2**32, ()),
                               (b"\0REQ", 1, (bytearray(b"x"),)), (b"\0REQ", 1, iter(()))):
        assert pack(magic, ptype, args) is None
    # ... and pack_bytes then answers as struct and bytes.join do, result or error
    assert pack_bytes(b"\0RE", 1, [b"a"]) == struct.pack(">4sII", b"\0RE", 1, 1) + b"a"
    assert pack_bytes(b"\0REQ", 1, [bytearray(b"a"), b"b"]) == \
        struct.pack(">4sII", b"\0REQ", 1, 3) + b"a\0b"
    with pytest.raises(struct.error):
        pack_bytes(b"\0REQ", -1, [])


# ---- parse(): the decoder's loop over whole binary packets ------------------------------------

def _parse() -> Callable[..., tuple[int, int]]:
    _make()  # (fails or skips the same way)
    from geartool.protocol._cframe import parse
    return parse


def _expected(buf: bytes, pos: int, max_payload: int) -> tuple[list[Frame], int, int]:
    """What parse() must do, written out plainly: frames up to the first thing it leaves to the
    Python loop (pos, need 0) or the first incomplete packet (its start, bytes it needs)."""
    frames = []
    while pos < len(buf):
        if buf[pos]:
            break  # a text line
        if len(buf) - pos < 12:
            return frames, pos, 12
        magic_bytes, ptype, length = struct.unpack_from(">4sII", buf, pos)
        if magic_bytes not in (b"\0REQ", b"\0RES") or not 0 < ptype < len(TYPES) \
                or length > max_payload:
            break
        end = pos + 12 + length
        if end > len(buf):
            return frames, pos, 12 + length
        try:
            args = split_args(ptype, buf[pos + 12:end])
        except RemoteProtocolError:
            break
        frames.append(Frame(Magic(magic_bytes), TYPES[ptype], args))  # type: ignore[arg-type]
        pos = end
    return frames, pos, 0


_packets = st.one_of(
    st.builds(lambda m, t, a: struct.pack(">4sII", m, t, len(a)) + a,
              st.sampled_from([b"\0REQ", b"\0RES"]), st.integers(1, len(TYPES) - 1),
              st.lists(st.sampled_from([b"\0", b"a", b"xyz", b""]), max_size=6).map(b"".join)),
    st.builds(lambda m, t, n: struct.pack(">4sII", m, t, n),  # odd headers
              st.sampled_from([b"\0REQ", b"\0RXS", b"\0RES"]),
              st.sampled_from([0, 7, 43, 2**32 - 1]), st.sampled_from([0, 3, 100, 2**31])),
    st.sampled_from([b"status\n", b"x", b"\0RE"]),
)


@settings(max_examples=800, deadline=None)
@given(parts=st.lists(_packets, max_size=8), cut=st.integers(0, 400),
       start=st.integers(0, 30), max_payload=st.sampled_from([0, 4, 64, 2**26]))
def test_parse_takes_whole_packets_and_stops_where_the_python_loop_takes_over(
        parts: list[bytes], cut: int, start: int, max_payload: int) -> None:
    whole = b"".join(parts)
    buf = whole[:cut]
    start = min(start, len(buf))
    out: list[object] = ["before"]
    pos, need = _parse()(Frame, Magic.REQ, Magic.RES, TYPES, ARG_COUNTS, buf, start,
                         max_payload, out)
    frames, want_pos, want_need = _expected(buf, start, max_payload)
    assert (out[1:], pos, need) == (frames, want_pos, want_need)
    assert out[0] == "before" and all(type(f) is Frame for f in out[1:])


def test_the_decoder_gives_the_same_events_with_the_c_loop_as_without() -> None:
    # The Python loop alone, in a process with the C modules switched off, on the same stream
    # in the same chunks: every event, and the error, must match.
    stream = (struct.pack(">4sII", b"\0REQ", 7, 9) + b"fn\0u\0data" + b"status\r\n"
              + struct.pack(">4sII", b"\0RES", 8, 0) + b"workers\n"
              + struct.pack(">4sII", b"\0REQ", 7, 2) + b"ab")  # too few arguments: the error
    script = (
        "import sys\n"
        "from geartool.protocol.codec import Decoder\n"
        "d = Decoder(); stream = sys.stdin.buffer.read(); seen = []\n"
        "for i in range(0, len(stream), 5):\n"
        "    d.feed(stream[i:i + 5])\n"
        "    try:\n"
        "        seen.extend(repr(e) for e in d.events())\n"
        "    except Exception as exc:\n"
        "        seen.append(repr(exc)); break\n"
        "print('\\n'.join(seen))\n")
    results = []
    for pure in ("", "1"):
        env = dict(os.environ, GEARTOOL_PURE_PYTHON=pure) if pure else \
            {k: v for k, v in os.environ.items() if k != "GEARTOOL_PURE_PYTHON"}
        proc = subprocess.run([sys.executable, "-c", script], input=stream, env=env,
                              capture_output=True, check=True)
        results.append(proc.stdout.decode().splitlines())
    assert results[0] == results[1]
    assert len(results[0]) == 5 and "arguments" in results[0][-1]


def test_parse_refuses_bad_calls() -> None:
    parse = _parse()
    good = (Frame, Magic.REQ, Magic.RES, TYPES, ARG_COUNTS, b"", 0, 64, [])
    for i, bad in ((0, dict), (3, list(TYPES)), (4, ARG_COUNTS[:-1]), (5, bytearray()),
                   (8, ())):
        with pytest.raises(TypeError):
            parse(*good[:i], bad, *good[i + 1:])
    with pytest.raises(ValueError):
        parse(*good[:5], b"abc", 4, *good[7:])
    with pytest.raises(TypeError):
        parse(*good[:3])


def test_parse_takes_any_size_of_payload_limit() -> None:
    packet = struct.pack(">4sII", b"\0REQ", 16, 2) + b"hi"  # ECHO_REQ
    for limit, frames in ((2**80, 1), (-(2**80), 0), (1, 0), (2, 1)):
        out: list[Frame] = []
        pos, need = _parse()(Frame, Magic.REQ, Magic.RES, TYPES, ARG_COUNTS, packet, 0, limit,
                             out)
        assert (len(out), pos, need) == (frames, 14 if frames else 0, 0)
