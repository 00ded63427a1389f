"""The proxy's pcap writer, read back by a separate reader and by the protocol Decoder."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geartool.protocol import Decoder, PacketType, encode, req, res
from geartool.shell.proxy.pcap import MAX_SEGMENT, PcapWriter, TcpFlow, checksum

from .helpers import read_pcap, streams


def test_checksum_known_value() -> None:
    # RFC 1071's worked example: words 0001 f203 f4f5 f6f7 sum to 0xddf2 -> checksum 0x220d.
    assert checksum(bytes.fromhex("0001f203f4f5f6f7")) == 0x220D
    assert checksum(b"\x01") == (~0x0100 & 0xFFFF)


@pytest.mark.parametrize(("client", "server"), [
    (("127.0.0.1", 50000), ("127.0.0.1", 4730)),
    (("::1", 50001), ("::1", 4730)),
    (("::1", 50002), ("127.0.0.1", 4730)),  # mixed: written as IPv6 with a mapped address
])
def test_flow_round_trip(tmp_path: Path, client: tuple[str, int],
                         server: tuple[str, int]) -> None:
    path = tmp_path / "x.pcap"
    writer = PcapWriter(path.open("wb"))
    flow = TcpFlow(writer, client, server, rng=random.Random(7))
    big = bytes(range(256)) * 400  # over MAX_SEGMENT, so it is cut into segments
    up = encode(req(PacketType.SUBMIT_JOB, b"reverse", b"", b"hello")) + \
        encode(req(PacketType.ECHO_REQ, big))
    down = encode(res(PacketType.JOB_CREATED, b"H:x:1")) + encode(res(PacketType.ECHO_RES, big))
    flow.open(1000.0)
    flow.data(1000.1, True, up[:10])
    flow.data(1000.2, True, up[10:])
    flow.data(1000.3, False, down)
    flow.close(1000.4, from_client=True)
    writer.close()

    segs = read_pcap(path)
    assert all(s.tcp_ok and s.ip_ok for s in segs)
    assert [s.flags for s in segs[:3]] == [0x02, 0x12, 0x10]
    assert max(len(s.payload) for s in segs) == MAX_SEGMENT
    assert segs[-1].flags == 0x10 and [s.flags & 0x01 for s in segs[-3:-1]] == [1, 1]
    got = streams(segs)
    assert len(got) == 2
    (c2s,) = [v for k, v in got.items() if k[1] == client[1]]
    (s2c,) = [v for k, v in got.items() if k[3] == client[1]]
    assert (c2s, s2c) == (up, down)
    # Each side acknowledges everything the other side sent before it.
    last_server_data = [s for s in segs if s.sport == server[1] and s.payload][-1]
    last_client_data = [s for s in segs if s.sport == client[1] and s.payload][-1]
    assert last_server_data.ack == (last_client_data.seq + len(last_client_data.payload)) \
        & 0xFFFFFFFF
    dec = Decoder()
    dec.feed(s2c)
    assert [f.type for f in dec.events()] == [PacketType.JOB_CREATED, PacketType.ECHO_RES]


def test_writer_file_is_valid_at_every_record(tmp_path: Path) -> None:
    path = tmp_path / "y.pcap"
    writer = PcapWriter(path.open("wb"))
    flow = TcpFlow(writer, ("127.0.0.1", 1), ("127.0.0.1", 2))
    flow.open(1.0)
    # Not closed yet: what was written so far is already readable.
    assert len(read_pcap(path)) == 3
    flow.data(2.0, True, b"status\n")
    assert read_pcap(path)[-1].payload == b"status\n"
    writer.close()


@given(st.binary(max_size=300))
def test_checksum_matches_the_word_by_word_definition(data: bytes) -> None:
    padded = data + b"\0" * (len(data) % 2)
    total = 0
    for i in range(0, len(padded), 2):
        total += (padded[i] << 8) | padded[i + 1]
        total = (total & 0xFFFF) + (total >> 16)
    assert checksum(data) == ~total & 0xFFFF


def test_checksum_of_a_multiple_of_ffff() -> None:
    assert checksum(b"\xff\xff") == 0x0000      # one's-complement sum is 0xffff
    assert checksum(b"\x80\x00\x7f\xff") == 0   # 0x8000 + 0x7fff = 0xffff
    assert checksum(b"\0\0") == 0xFFFF
