"""scapy layers for Gearman, generated from the protocol core's packet table.

    >>> from geartool.decode.layers import Gearman
    >>> pkts = sniff(offline="capture.pcap", session=TCPSession)   # port 4730 is bound

Every packet type gets its own layer class (``GearmanSUBMIT_JOB`` ...) with one field per
argument, named as in ``geartool.protocol.spec``; ``Gearman`` picks the right one from the
header, and ``GearmanText`` holds one admin text line. Several packets in one segment dissect as
a chain of layers. ``Gearman.tcp_reassemble`` lets scapy's TCPSession join packets split over
segments; the framing is the protocol core's Decoder.

Importing this module imports scapy (over a second): only the detailed views do it.
"""

from __future__ import annotations

from typing import Any

from scapy.config import conf
from scapy.fields import (
    Field,
    IntEnumField,
    IntField,
    StrFixedLenField,
    StrLenField,
    StrNullField,
    StrStopField,
)
from scapy.layers.inet import TCP
from scapy.packet import Packet, bind_layers

from geartool.protocol import Decoder, Magic, PacketType
from geartool.protocol.spec import DEFAULT_PORT, HEADER_SIZE, SPECS, PacketSpec

TYPE_NAMES = {int(t): t.name for t in PacketType}


class _GearmanBase(Packet):
    """Shared behaviour: fill in the length, chain the next packet of the segment."""

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        if self.length is None:
            size = len(pkt) - HEADER_SIZE
            pkt = pkt[:8] + size.to_bytes(4, "big") + pkt[12:]
        return pkt + pay

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes | None]:
        # What follows this packet in the segment is the next packet, not padding.
        return s, None

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        return _next_class(payload)

    @classmethod
    def tcp_reassemble(cls, data: bytes, metadata: dict[str, Any],
                       session: dict[str, Any]) -> Packet | None:
        """TCPSession hook: the whole packets at the front of ``data``; the rest waits."""
        dec = Decoder()
        dec.receive(data)
        if dec.error is not None:
            return conf.raw_layer(data)  # not Gearman: hand the bytes over undecoded
        whole = len(data) - dec.buffered
        if whole == 0:
            return None
        pkt = _next_class(data)(data[:whole])
        if whole < len(data):
            pkt.lastlayer().add_payload(conf.padding_layer(data[whole:]))
        return pkt


class Gearman(_GearmanBase):
    """A binary Gearman packet; instantiating it from bytes gives the layer for its type."""

    name = "Gearman"
    fields_desc = [
        StrFixedLenField("magic", Magic.REQ.value, 4),
        IntEnumField("type", 1, TYPE_NAMES),
        IntField("length", None),
    ]

    @classmethod
    def dispatch_hook(cls, _pkt: bytes | None = None, *args: Any, **kargs: Any
                      ) -> type[Packet]:
        if _pkt and len(_pkt) >= 8:
            ptype = int.from_bytes(_pkt[4:8], "big")
            return LAYERS.get(ptype, cls)
        return cls


class GearmanText(Packet):
    """One admin text line, with its line ending (``\\n`` or ``\\r\\n``)."""

    name = "Gearman text"
    fields_desc = [StrStopField("line", b"\n", b"\n")]  # type: ignore[arg-type]

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes | None]:
        return s, None

    def guess_payload_class(self, payload: bytes) -> type[Packet]:
        return _next_class(payload)

    tcp_reassemble = _GearmanBase.tcp_reassemble

    @property
    def text(self) -> bytes:
        """The line without its ending, as the protocol core's AdminLine holds it."""
        line: bytes = self.line
        line = line[:-1] if line.endswith(b"\n") else line
        return line[:-1] if line.endswith(b"\r") else line


def _next_class(payload: bytes) -> type[Packet]:
    if not payload:
        return conf.raw_layer
    return Gearman if payload[0] == 0 else GearmanText


def _consumed(pkt: Packet, names: tuple[str, ...]) -> int:
    return sum(len(getattr(pkt, n) or b"") + 1 for n in names)


def _arg_fields(spec: PacketSpec) -> list[Field[Any, Any]]:
    """Fields for a type's arguments: NUL-terminated ones, then the rest of the payload."""
    args = spec.args
    if not args:
        # Zero-argument types ignore any payload that is there; keep it visible.
        return [StrLenField("ignored", b"", length_from=lambda p: p.length or 0)]
    fields: list[Field[Any, Any]] = [StrNullField(a, b"") for a in args[:-1]]
    before = args[:-1]
    fields.append(StrLenField(args[-1], b"",
                              length_from=lambda p: (p.length or 0) - _consumed(p, before)))
    return fields


def _make_layer(spec: PacketSpec) -> type[Packet]:
    magic = Magic.RES if spec.magics == {Magic.RES} else Magic.REQ
    header = [StrFixedLenField("magic", magic.value, 4),
              IntEnumField("type", int(spec.type), TYPE_NAMES),
              IntField("length", None)]
    return type(f"Gearman{spec.name}", (_GearmanBase,), {
        "name": f"Gearman {spec.name}",
        "fields_desc": header + _arg_fields(spec),
        "__doc__": f"{spec.name}: {spec.summary}.",
    })


LAYERS: dict[int, type[Packet]] = {int(t): _make_layer(spec) for t, spec in SPECS.items()}
globals().update({cls.__name__: cls for cls in LAYERS.values()})


def bind_port(port: int) -> None:
    """Dissect TCP ``port`` as Gearman too (4730 is bound on import)."""
    bind_layers(TCP, Gearman, sport=port)
    bind_layers(TCP, Gearman, dport=port)


def gearman_layers(pkt: Packet) -> list[Packet]:
    """Every Gearman and GearmanText layer in a dissected packet, in order."""
    out: list[Packet] = []
    layer: Packet | None = pkt
    while layer is not None and not isinstance(layer, conf.padding_layer):
        if isinstance(layer, _GearmanBase | GearmanText):
            out.append(layer)
        layer = layer.payload if layer.payload else None
    return out


bind_port(DEFAULT_PORT)
