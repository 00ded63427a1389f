"""The scapy layers and the protocol core must agree on every packet of every fixture."""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict

import pytest

from geartool.protocol import AdminLine, Frame, Magic, PacketType
from geartool.protocol.frames import pack_bytes
from geartool.protocol.spec import SPECS

from .helpers import CAPTURES, CLEAN, PCAPS, decode_file, port

layers = pytest.importorskip("geartool.decode.layers")


def as_frame(layer: object) -> Frame | AdminLine:
    """A scapy Gearman layer read back as the protocol core's value."""
    if isinstance(layer, layers.GearmanText):
        return AdminLine(layer.text)
    ptype = PacketType(layer.type)  # type: ignore[attr-defined]
    args = tuple(getattr(layer, a) for a in SPECS[ptype].args)
    return Frame(Magic(layer.magic), ptype, args)  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", CAPTURES)
def test_scapy_layer_reads_every_packet_like_the_core(name: str) -> None:
    records, _, _ = decode_file(name)
    for rec in records:
        item = rec.item
        if isinstance(item, Frame):
            raw = pack_bytes(item.magic.value, item.type, item.args)
            layer = layers.Gearman(raw)
            assert type(layer) is layers.LAYERS[item.type]
            assert as_frame(layer) == item
            assert bytes(layer) == raw  # and builds the same bytes back
        elif isinstance(item, AdminLine):
            assert as_frame(layers.GearmanText(item.line + b"\r\n")) == item


@pytest.mark.parametrize("name", CLEAN)
def test_scapy_tcpsession_with_our_hook_agrees_end_to_end(name: str) -> None:
    from scapy.sendrecv import sniff
    from scapy.sessions import TCPSession

    layers.bind_port(port(name))
    mine: dict[tuple[int, int], list[object]] = defaultdict(list)
    records, dissector, _ = decode_file(name)
    ports = {}
    for info in dissector.streams:
        ports[int(info.client.rsplit(":", 1)[1])] = info.id
    for rec in records:
        if isinstance(rec.item, Frame | AdminLine):
            mine[(rec.stream, rec.to_server)].append(rec.item)
    theirs: dict[tuple[int, int], list[object]] = defaultdict(list)
    from scapy.layers.inet import TCP
    for pkt in sniff(offline=str(PCAPS / name), session=TCPSession):
        if TCP not in pkt:
            continue
        tcp = pkt[TCP]
        to_server = tcp.dport == port(name)
        stream = ports[tcp.sport if to_server else tcp.dport]
        for layer in layers.gearman_layers(pkt):
            theirs[(stream, to_server)].append(as_frame(layer))
    assert theirs == mine


def test_synthetic_packets_of_every_type_round_trip() -> None:
    for ptype, spec in SPECS.items():
        args = tuple(f"{a}-{int(ptype)}".encode() for a in spec.args)
        magic = Magic.RES if spec.magics == {Magic.RES} else Magic.REQ
        raw = pack_bytes(magic.value, ptype, args)
        layer = layers.LAYERS[ptype](**dict(zip(spec.args, args, strict=True)))
        assert bytes(layer) == raw
        assert as_frame(layers.Gearman(raw)) == Frame(magic, ptype, args)


def test_several_packets_in_one_segment_chain() -> None:
    raw = (pack_bytes(b"\0REQ", 1, [b"f"]) + b"status\n" + pack_bytes(b"\0REQ", 4, []))
    got = [as_frame(layer) for layer in layers.gearman_layers(layers.Gearman(raw))]
    assert got == [Frame(Magic.REQ, PacketType.CAN_DO, (b"f",)), AdminLine(b"status"),
                   Frame(Magic.REQ, PacketType.PRE_SLEEP, ())]


def test_reassembly_hook_waits_for_a_whole_packet() -> None:
    raw = pack_bytes(b"\0REQ", 7, [b"f", b"", b"x" * 50])
    assert layers.Gearman.tcp_reassemble(raw[:30], {}, {}) is None
    whole = layers.Gearman.tcp_reassemble(raw + raw[:5], {}, {})
    assert as_frame(whole) == Frame(Magic.REQ, PacketType.SUBMIT_JOB, (b"f", b"", b"x" * 50))
    from scapy.config import conf
    assert bytes(whole.getlayer(conf.padding_layer).load) == raw[:5]


def test_decode_and_render_do_not_import_scapy() -> None:
    code = ("import sys; from geartool.decode import app, output, render, dissect, timeline; "
            "print('scapy' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
