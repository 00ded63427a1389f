"""geartool's decoding against tshark's own gearman dissector, packet by packet.

tshark decodes the port as gearman (-d tcp.port==PORT,gearman) and reassembles TCP itself. For
every frame where tshark finds Gearman, geartool must report the same packets in the same frame,
with the same type, direction, size and every field tshark decodes — except where tshark is
known to be wrong (listed below, each checked against PROTOCOL.md).
"""

from __future__ import annotations

import json
import subprocess
from collections import defaultdict
from typing import Any

import pytest

from geartool.decode.render import frame_fields
from geartool.protocol import AdminLine, Frame, PacketType
from tests.conftest import need

from .helpers import CLEAN, PCAPS, decode_file, port

# tshark's dissector splits these types by the spec's older layouts, not gearmand's.
TSHARK_WRONG_FIELDS = {
    PacketType.SUBMIT_REDUCE_JOB,  # four NUL-terminated fields (aggregator), tshark reads three
    PacketType.SUBMIT_REDUCE_JOB_BACKGROUND,
    PacketType.STATUS_RES_UNIQUE,  # tshark labels the unique id as a job handle
    PacketType.GET_STATUS,  # tshark: "Unknown command"
}


def _keep_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """tshark -T json repeats the "gearman" key once per packet in a frame: keep them all."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            prev = out[key]
            out[key] = (prev if isinstance(prev, _Many) else _Many([prev])) + [value]
        else:
            out[key] = value
    return out


class _Many(list):  # type: ignore[type-arg]
    def __add__(self, other: list[Any]) -> _Many:  # type: ignore[override]
        return _Many(list(self) + other)


def tshark_packets(name: str) -> dict[int, list[dict[str, Any]]]:
    """Per frame number, tshark's gearman entries in order."""
    exe = need("tshark")
    # Reassembling out-of-order segments is off by default in tshark 4.0; geartool always does.
    run = subprocess.run(
        [exe, "-r", str(PCAPS / name), "-d", f"tcp.port=={port(name)},gearman", "-T", "json",
         "-o", "tcp.reassemble_out_of_order:TRUE", "-Y", "gearman"],
        capture_output=True, timeout=60)
    assert run.returncode == 0 or b"cut short" in run.stderr, run.stderr
    out = run.stdout
    frames: dict[int, list[dict[str, Any]]] = {}
    for pkt in json.loads(out, object_pairs_hook=_keep_duplicates):
        layers = pkt["_source"]["layers"]
        entries = layers["gearman"]
        entries = list(entries) if isinstance(entries, _Many) else [entries]
        found: list[dict[str, Any]] = []
        for entry in entries:
            for label, body in entry.items():
                if isinstance(body, dict) and "gearman.pkt_type" in body:
                    found.append(body)
                elif label == "gearman.mgr_cmd":
                    found.append({"text": body, "cmd": True})
                else:
                    found.append({"text": label})
        frames[int(layers["frame"]["frame.number"])] = found
    return frames


def ours(name: str) -> dict[int, list[Frame | AdminLine]]:
    records, _, _ = decode_file(name)
    out: dict[int, list[Frame | AdminLine]] = defaultdict(list)
    for r in records:
        if isinstance(r.item, Frame | AdminLine):
            out[r.frame].append(r.item)
    return out


def _escaped(line: bytes) -> str:
    return line.decode("latin-1").replace("\t", "\\t")


# Damaged captures where tshark's reading must match too. Not gap.pcap and retransmit.pcap:
# there tshark dissects bytes after a hole at once and re-dissects retransmitted bytes as new
# packets, where geartool waits for the hole to be declared lost and drops repeats. In
# garbage.pcap only the binary packets are compared.
DAMAGED = ["out-of-order.pcap", "truncated.pcap", "sll2-any.pcap", "garbage.pcap"]


@pytest.mark.interop
@pytest.mark.parametrize("name", [*CLEAN, *DAMAGED])
def test_same_packets_as_tshark(name: str) -> None:
    theirs = tshark_packets(name)
    mine = ours(name)
    assert theirs, "tshark found no gearman at all"
    compared = 0
    for frame_no, entries in theirs.items():
        got = mine.get(frame_no, [])
        # Types over 42 do not exist: tshark lists them, geartool reports a bad packet.
        binary = [e for e in entries if 0 < int(e.get("gearman.pkt_type", 0)) <= 42]
        my_frames = [f for f in got if isinstance(f, Frame)]
        assert len(my_frames) == len(binary), (frame_no, binary, got)
        for entry, frame in zip(binary, my_frames, strict=True):
            fields = frame_fields(frame)
            assert entry["gearman.magic_code"] == fields["gearman.magic_code"]
            assert int(entry["gearman.pkt_type"]) == frame.type
            assert int(entry["gearman.data_size"]) == fields["gearman.data_size"]
            tree = entry.get("gearman.data_content_tree", {})
            if frame.type in TSHARK_WRONG_FIELDS:
                continue
            for key, value in tree.items():
                if not key.startswith("gearman."):
                    continue
                # tshark's strings stop at the first NUL; ours keep the whole argument.
                assert fields[key].split("\0")[0] == value, (frame_no, key)
                compared += 1
        texts = [e for e in entries if "text" in e]
        if name == "garbage.pcap":
            continue  # tshark shows garbage as text lines; geartool reports it as anomalies
        my_lines = [f for f in got if isinstance(f, AdminLine)]
        if texts:
            # tshark shows a text segment's lines (or its command word) once per frame.
            shown = {e["text"].removesuffix("\\n").removesuffix("\\r") for e in texts}
            mine_shown = {_escaped(line.line) for line in my_lines}
            assert shown <= mine_shown or any(e.get("cmd") for e in texts), (frame_no, shown)
            if any(e.get("cmd") for e in texts):
                assert my_lines and my_lines[0].line.split(b" ")[0].decode() == texts[0]["text"]
    # Frames where geartool finds packets and tshark none are bugs of one side: there are none.
    extra = {f for f, items in mine.items()
             if any(isinstance(i, Frame) for i in items) and f not in theirs}
    assert not extra
    assert compared > 0 or name in ("admin.pcap",)
