"""Frames: one binary Gearman packet as a typed value, and its exact bytes."""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any, Final, NamedTuple

from geartool import _compiled

from .errors import LocalProtocolError, RemoteProtocolError
from .spec import SPEC_BY_NUMBER, SPECS, Magic, PacketType

_HEADER = struct.Struct(">4sII")
# Final: compiled, a Final global is a C static instead of a dict lookup on every use.
pack_header: Final = _HEADER.pack

# Argument counts by packet number, for the decoder's hot path.
ARG_COUNTS: Final[tuple[int, ...]] = tuple(0 if s is None else len(s.args) for s in SPEC_BY_NUMBER)
TYPES: Final[tuple[PacketType | None, ...]] = (None,) + tuple(PacketType(n) for n in range(1, 43))


class Frame(NamedTuple):
    """One binary packet: magic, type and its arguments (the last may be opaque data)."""

    magic: Magic
    type: PacketType
    args: tuple[bytes, ...]

    @property
    def payload(self) -> bytes:
        return b"\0".join(self.args)

    def arg(self, name: str) -> bytes:
        """An argument by its name in the packet table."""
        return self.args[SPECS[self.type].args.index(name)]

    def named(self) -> dict[str, bytes]:
        return dict(zip(SPECS[self.type].args, self.args, strict=True))


def req(ptype: PacketType, *args: bytes) -> Frame:
    """A frame travelling to the server."""
    return Frame(Magic.REQ, ptype, args)


def res(ptype: PacketType, *args: bytes) -> Frame:
    """A frame travelling from the server."""
    return Frame(Magic.RES, ptype, args)


def encode(frame: Frame) -> bytes:
    """The exact bytes of a frame; LocalProtocolError if the table says it cannot be sent."""
    spec = SPECS[frame.type]
    args = frame.args
    if len(args) != len(spec.args):
        raise LocalProtocolError(
            f"{frame.type.name} takes {len(spec.args)} arguments "
            f"({', '.join(spec.args) or 'none'}), got {len(args)}")
    for name, value in zip(spec.args[:-1], args[:-1], strict=True):
        if b"\0" in value:
            raise LocalProtocolError(f"{frame.type.name} argument {name!r} contains a NUL byte")
    return pack_bytes(frame.magic.value, frame.type, args)


def pack_bytes(magic: bytes, ptype: int, args: tuple[bytes, ...] | list[bytes]) -> bytes:
    """Header plus NUL-joined arguments, unchecked: the fast path for trusted callers."""
    if _c_pack is not None:  # one allocation instead of three, and no struct call
        packet = _c_pack(magic, ptype, args)
        if packet is not None:
            return packet
    payload = b"\0".join(args)
    return pack_header(magic, ptype, len(payload)) + payload


MakeFrame = Callable[[type[Frame], Magic, "PacketType | None", int, bytes, int, int],
                     "Frame | None"]
Pack = Callable[[bytes, int, "tuple[bytes, ...] | list[bytes]"], "bytes | None"]
Parse = Callable[[type[Frame], Magic, Magic, "tuple[PacketType | None, ...]", tuple[int, ...],
                  bytes, int, int, list[Any]], tuple[int, int]]


def _load_c(name: str) -> Callable[..., Any] | None:
    """A function of the optional C module ``_cframe.c`` (the decoder's frame building or
    pack_bytes), or None; its results are the Python paths' (tests/protocol/test_cframe.py)."""
    module = _compiled.extension("geartool.protocol._cframe")
    if module is None:
        return None
    function: Callable[..., Any] = getattr(module, name)
    return function


# (One value each: mypyc miscompiled a Final tuple holding both.)
c_frame: Final[MakeFrame | None] = _load_c("frame")
_c_pack: Final[Pack | None] = _load_c("pack")
c_parse: Final[Parse | None] = _load_c("parse")


def split_args(ptype: int, payload: bytes) -> tuple[bytes, ...]:
    """Split a payload into exactly the arguments its type has.

    All but the last argument are NUL-terminated and the last is the rest of the payload, so a
    split with maxsplit = count-1 reproduces gearmand's parser for both the 'tail' and the
    'no tail' layouts. Unlike gearmand, too few NULs is an error rather than a mis-framed stream.
    Zero-argument types ignore any payload, as gearmand does.
    """
    count = ARG_COUNTS[ptype]
    if count == 0:
        return ()
    if count == 1:
        return (payload,)
    parts = payload.split(b"\0", count - 1)
    if len(parts) != count:
        spec = SPEC_BY_NUMBER[ptype]
        assert spec is not None
        raise RemoteProtocolError(
            f"{spec.name} needs {count} arguments ({', '.join(spec.args)}), "
            f"payload has {len(parts)}")
    return tuple(parts)

