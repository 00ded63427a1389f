"""The optional C frame builder and packer make exactly what the Python paths make, or defer."""

from __future__ import annotations

import os
import struct
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
