"""Golden table: every packet type as a frame and its exact bytes, checked both ways."""

from __future__ import annotations

import pytest

from geartool.protocol import Decoder, Frame, Magic, PacketType, encode
from geartool.protocol.spec import SPECS

P = PacketType
REQ, RES = Magic.REQ, Magic.RES


def wire(magic: bytes, number: int, payload: bytes) -> bytes:
    """An independent header builder (int.to_bytes, not the struct the codec uses)."""
    return magic + number.to_bytes(4, "big") + len(payload).to_bytes(4, "big") + payload


Q, S = b"\0REQ", b"\0RES"

GOLDEN: list[tuple[Frame, bytes]] = [
    (Frame(REQ, P.CAN_DO, (b"reverse",)), wire(Q, 1, b"reverse")),
    (Frame(REQ, P.CANT_DO, (b"reverse",)), wire(Q, 2, b"reverse")),
    (Frame(REQ, P.RESET_ABILITIES, ()), wire(Q, 3, b"")),
    (Frame(REQ, P.PRE_SLEEP, ()), wire(Q, 4, b"")),
    (Frame(REQ, P.UNUSED, ()), wire(Q, 5, b"")),
    (Frame(RES, P.NOOP, ()), wire(S, 6, b"")),
    (Frame(REQ, P.SUBMIT_JOB, (b"reverse", b"u1", b"a\0b")), wire(Q, 7, b"reverse\0u1\0a\0b")),
    (Frame(RES, P.JOB_CREATED, (b"H:lap:1",)), wire(S, 8, b"H:lap:1")),
    (Frame(REQ, P.GRAB_JOB, ()), wire(Q, 9, b"")),
    (Frame(RES, P.NO_JOB, ()), wire(S, 10, b"")),
    (Frame(RES, P.JOB_ASSIGN, (b"H:x:1", b"f", b"data")), wire(S, 11, b"H:x:1\0f\0data")),
    (Frame(REQ, P.WORK_STATUS, (b"H:x:1", b"1", b"4")), wire(Q, 12, b"H:x:1\x001\x004")),
    (Frame(RES, P.WORK_STATUS, (b"H:x:1", b"1", b"4")), wire(S, 12, b"H:x:1\x001\x004")),
    (Frame(REQ, P.WORK_COMPLETE, (b"H:x:1", b"olleh")), wire(Q, 13, b"H:x:1\0olleh")),
    (Frame(RES, P.WORK_COMPLETE, (b"H:x:1", b"")), wire(S, 13, b"H:x:1\0")),
    (Frame(REQ, P.WORK_FAIL, (b"H:x:1",)), wire(Q, 14, b"H:x:1")),
    (Frame(REQ, P.GET_STATUS, (b"H:x:1",)), wire(Q, 15, b"H:x:1")),
    (Frame(REQ, P.ECHO_REQ, (b"ping\0pong",)), wire(Q, 16, b"ping\0pong")),
    (Frame(RES, P.ECHO_RES, (b"ping",)), wire(S, 17, b"ping")),
    (Frame(REQ, P.SUBMIT_JOB_BG, (b"f", b"", b"x")), wire(Q, 18, b"f\0\0x")),
    (Frame(RES, P.ERROR, (b"JOB_NOT_FOUND", b"Job does not exist on server")),
     wire(S, 19, b"JOB_NOT_FOUND\0Job does not exist on server")),
    (Frame(RES, P.STATUS_RES, (b"H:x:1", b"1", b"1", b"3", b"10")),
     wire(S, 20, b"H:x:1\x001\x001\x003\x0010")),
    (Frame(REQ, P.SUBMIT_JOB_HIGH, (b"f", b"u", b"")), wire(Q, 21, b"f\0u\0")),
    (Frame(REQ, P.SET_CLIENT_ID, (b"worker-7",)), wire(Q, 22, b"worker-7")),
    (Frame(REQ, P.CAN_DO_TIMEOUT, (b"f", b"250")), wire(Q, 23, b"f\x00250")),
    (Frame(REQ, P.ALL_YOURS, ()), wire(Q, 24, b"")),
    (Frame(REQ, P.WORK_EXCEPTION, (b"H:x:1", b"boom")), wire(Q, 25, b"H:x:1\0boom")),
    (Frame(REQ, P.OPTION_REQ, (b"exceptions",)), wire(Q, 26, b"exceptions")),
    (Frame(RES, P.OPTION_RES, (b"exceptions",)), wire(S, 27, b"exceptions")),
    (Frame(REQ, P.WORK_DATA, (b"H:x:1", b"part")), wire(Q, 28, b"H:x:1\0part")),
    (Frame(REQ, P.WORK_WARNING, (b"H:x:1", b"hm")), wire(Q, 29, b"H:x:1\0hm")),
    (Frame(REQ, P.GRAB_JOB_UNIQ, ()), wire(Q, 30, b"")),
    (Frame(RES, P.JOB_ASSIGN_UNIQ, (b"H:x:1", b"f", b"u", b"d")), wire(S, 31, b"H:x:1\0f\0u\0d")),
    (Frame(REQ, P.SUBMIT_JOB_HIGH_BG, (b"f", b"u", b"d")), wire(Q, 32, b"f\0u\0d")),
    (Frame(REQ, P.SUBMIT_JOB_LOW, (b"f", b"u", b"d")), wire(Q, 33, b"f\0u\0d")),
    (Frame(REQ, P.SUBMIT_JOB_LOW_BG, (b"f", b"u", b"d")), wire(Q, 34, b"f\0u\0d")),
    (Frame(REQ, P.SUBMIT_JOB_SCHED, (b"f", b"u", b"1", b"2", b"3", b"4", b"5", b"d")),
     wire(Q, 35, b"f\0u\x001\x002\x003\x004\x005\0d")),
    (Frame(REQ, P.SUBMIT_JOB_EPOCH, (b"f", b"u", b"1700000000", b"d")),
     wire(Q, 36, b"f\0u\x001700000000\0d")),
    (Frame(REQ, P.SUBMIT_REDUCE_JOB, (b"map", b"u", b"red", b"", b"text")),
     wire(Q, 37, b"map\0u\0red\0\0text")),
    (Frame(REQ, P.SUBMIT_REDUCE_JOB_BACKGROUND, (b"map", b"u", b"red", b"", b"t")),
     wire(Q, 38, b"map\0u\0red\0\0t")),
    (Frame(REQ, P.GRAB_JOB_ALL, ()), wire(Q, 39, b"")),
    (Frame(RES, P.JOB_ASSIGN_ALL, (b"H:x:1", b"f", b"u", b"r", b"d")),
     wire(S, 40, b"H:x:1\0f\0u\0r\0d")),
    (Frame(REQ, P.GET_STATUS_UNIQUE, (b"u1",)), wire(Q, 41, b"u1")),
    (Frame(RES, P.STATUS_RES_UNIQUE, (b"u1", b"1", b"0", b"0", b"0", b"2")),
     wire(S, 42, b"u1\x001\x000\x000\x000\x002")),
]

# PROTOCOL.md section 10, hand-computed by someone else: the strongest check we have.
VECTORS: list[tuple[Frame, str]] = [
    (Frame(REQ, P.CAN_DO_TIMEOUT, (b"reverse", b"5000")),
     "00 52 45 51 00 00 00 17 00 00 00 0c 72 65 76 65 72 73 65 00 35 30 30 30"),
    (Frame(REQ, P.SUBMIT_JOB_BG, (b"reverse", b"u1", b"abc")),
     "00 52 45 51 00 00 00 12 00 00 00 0e 72 65 76 65 72 73 65 00 75 31 00 61 62 63"),
    (Frame(RES, P.JOB_CREATED, (b"H:lap:1",)),
     "00 52 45 53 00 00 00 08 00 00 00 07 48 3a 6c 61 70 3a 31"),
    (Frame(REQ, P.GRAB_JOB_ALL, ()), "00 52 45 51 00 00 00 27 00 00 00 00"),
    (Frame(RES, P.JOB_ASSIGN_UNIQ, (b"H:lap:1", b"reverse", b"u1", b"abc")),
     "00 52 45 53 00 00 00 1f 00 00 00 16 48 3a 6c 61 70 3a 31 00 72 65 76 65 72 73 65 00 75 31"
     " 00 61 62 63"),
    (Frame(RES, P.STATUS_RES, (b"H:lap:9", b"0", b"0", b"0", b"0")),
     "00 52 45 53 00 00 00 14 00 00 00 0f 48 3a 6c 61 70 3a 39 00 30 00 30 00 30 00 30"),
    (Frame(REQ, P.OPTION_REQ, (b"exceptions",)),
     "00 52 45 51 00 00 00 1a 00 00 00 0a 65 78 63 65 70 74 69 6f 6e 73"),
]


def test_table_covers_every_type() -> None:
    assert {f.type for f, _ in GOLDEN} == set(PacketType) == set(SPECS)


@pytest.mark.parametrize(("frame", "data"), GOLDEN, ids=lambda x: getattr(x, "type", x) and "")
def test_golden_encode(frame: Frame, data: bytes) -> None:
    assert encode(frame) == data


@pytest.mark.parametrize(("frame", "data"), GOLDEN, ids=lambda x: getattr(x, "type", x) and "")
def test_golden_decode(frame: Frame, data: bytes) -> None:
    dec = Decoder()
    dec.feed(data)
    assert dec.events() == [frame]
    assert dec.buffered == 0


@pytest.mark.parametrize(("frame", "hexbytes"), VECTORS)
def test_protocol_md_vectors(frame: Frame, hexbytes: str) -> None:
    data = bytes.fromhex(hexbytes)
    assert encode(frame) == data
    dec = Decoder()
    dec.feed(data)
    assert dec.events() == [frame]


def test_error_vector_prefix() -> None:
    frame = Frame(RES, P.ERROR, (b"UNKNOWN_OPTION", b"Server does not recognize given option"))
    data = encode(frame)
    assert data.startswith(bytes.fromhex(
        "00 52 45 53 00 00 00 13 00 00 00 35 55 4e 4b 4e 4f 57 4e 5f 4f 50 54 49 4f 4e 00"))
