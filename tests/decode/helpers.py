"""Shared helpers for the decoder tests: the fixture captures and their ports."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

from geartool.decode.dissect import Dissector, Record, decode
from geartool.decode.pcap import CaptureReader, open_capture

PCAPS = Path(__file__).resolve().parents[2] / "fixtures" / "pcaps"
CAPTURES = sorted(p.name for p in PCAPS.iterdir() if p.suffix in (".pcap", ".pcapng"))
# Real traffic, complete: what tshark and scapy can decode end to end like geartool does.
CLEAN = ["admin.pcap", "gearman-tool.pcap", "geartool-geartool.pcap", "geartool-server.pcap",
         "ipv6.pcap", "large.pcap",
         "null-loopback.pcap", "protocol.pcapng", "sll-any.pcap"]


@cache
def manifest() -> dict[str, dict[str, object]]:
    return json.loads((PCAPS / "manifest.json").read_text())  # type: ignore[no-any-return]


def port(name: str) -> int:
    return int(manifest()[name]["port"])  # type: ignore[call-overload]


def decode_file(name: str) -> tuple[list[Record], Dissector, CaptureReader]:
    dissector = Dissector([port(name)])
    reader = open_capture(str(PCAPS / name))
    return list(decode(reader, dissector)), dissector, reader
