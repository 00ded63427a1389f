"""Reply packets the scheduler sends often, and numbers parsed the way gearmand's C does."""

from __future__ import annotations

from typing import Final

from geartool.protocol import PacketType as P
from geartool.protocol.errors import RemoteProtocolError
from geartool.protocol.frames import pack_bytes
from geartool.protocol.spec import MAGIC_RES

_MAGIC_RES: Final = MAGIC_RES  # a C static when compiled; an imported name is a dict lookup


def res(ptype: int, *args: bytes) -> bytes:
    """A reply packet (RES magic) with these arguments."""
    return res_args(ptype, args)


def res_args(ptype: int, args: tuple[bytes, ...]) -> bytes:
    """``res`` for arguments already in a tuple: compiled, ``res(t, *args)`` is a generic call."""
    return pack_bytes(_MAGIC_RES, ptype, args)


NOOP: Final = res(P.NOOP)
NO_JOB: Final = res(P.NO_JOB)


def leading_int(value: bytes) -> int:
    """The number a C ``strtol``/``atoi`` reads from ``value``: leading digits, garbage = 0."""
    text = value.lstrip(b" \t\n\r\f\v")
    sign = 1
    if text[:1] in (b"+", b"-"):
        sign = -1 if text[:1] == b"-" else 1
        text = text[1:]
    digits = 0
    while digits < len(text) and 48 <= text[digits] <= 57:
        digits += 1
    return int(text[:digits]) * sign if digits else 0


def parse_strtoll(value: bytes) -> int:
    """strtoll as gearmand applies it to epoch times and timeouts: out of range closes."""
    number = leading_int(value)
    if not -(2**63) <= number < 2**63:
        raise RemoteProtocolError("number out of range", code=None)
    return number
