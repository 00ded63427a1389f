"""Every fixture capture, decoded: what each one must show."""

from __future__ import annotations

import pytest

from geartool.decode.dissect import Record
from geartool.decode.stream import Anomaly
from geartool.decode.timeline import Timeline, by_function
from geartool.protocol import AdminLine, Frame, Magic, PacketType

from .helpers import CAPTURES, decode_file


def items(records: list[Record]) -> list[object]:
    return [r.item for r in records]


def per_direction(records: list[Record]) -> dict[tuple[int, bool], list[object]]:
    out: dict[tuple[int, bool], list[object]] = {}
    for r in records:
        out.setdefault((r.stream, r.to_server), []).append(r.item)
    return out


def anomalies(records: list[Record]) -> list[Anomaly]:
    return [r.item for r in records if isinstance(r.item, Anomaly)]


@pytest.mark.parametrize("name", CAPTURES)
def test_every_capture_decodes(name: str) -> None:
    records, dissector, _reader = decode_file(name)
    assert dissector.frames > 0 or name == "empty.pcap"
    frames = [r.frame for r in records]
    assert frames == sorted(frames)  # capture order


@pytest.mark.parametrize("name", ["gearman-tool.pcap", "geartool-server.pcap"])
def test_tool_session_jobs(name: str) -> None:
    records, dissector, _ = decode_file(name)
    assert not anomalies(records)
    tl = Timeline(dissector.streams)
    for r in records:
        tl.add(r)
    jobs = {(j.function, j.outcome, j.background) for j in tl.jobs}
    assert jobs == {("reverse", "COMPLETE", False), ("reverse", "COMPLETE", True),
                    ("fail", "FAIL", False), ("lines", "COMPLETE", False)}
    assert len(tl.jobs) == 5
    for job in tl.jobs:
        assert job.client_stream is not None and job.worker_stream is not None
        assert job.client_stream != job.worker_stream
        assert job.wait is not None and job.wait >= 0 and job.run is not None and job.run >= 0
    stats = {s.function: s for s in by_function(tl.jobs)}
    assert stats["reverse"].jobs == 3 and len(stats["reverse"].runs) == 3
    assert tl.by_type["WORK_DATA"] == 4 and tl.by_type["TEXT (admin)"] == 5
    rev = [r.item for r in records if isinstance(r.item, Frame)
           and r.item.type is PacketType.WORK_COMPLETE and r.to_server]
    assert rev[0].args[1] == b"namraeg olleh"


def test_geartool_against_geartool() -> None:
    records, dissector, _ = decode_file("geartool-geartool.pcap")
    assert not anomalies(records)
    tl = Timeline(dissector.streams)
    for r in records:
        tl.add(r)
    assert sorted((j.function, j.outcome, j.background) for j in tl.jobs) == [
        ("fail", "FAIL", False), ("reverse", "COMPLETE", False), ("reverse", "COMPLETE", False),
        ("reverse", "COMPLETE", True)]
    assert all(j.worker_stream is not None and j.run is not None for j in tl.jobs)


@pytest.mark.parametrize("damaged", ["out-of-order.pcap", "retransmit.pcap",
                                     "null-loopback.pcap"])
def test_rewritten_captures_decode_like_the_original(damaged: str) -> None:
    want, _, _ = decode_file("gearman-tool.pcap")
    got, _, _ = decode_file(damaged)
    assert per_direction(got) == per_direction(want)
    if damaged != "out-of-order.pcap":  # the swap moves one packet later in capture order
        assert items(got) == items(want)


def test_gap_is_visible_and_decoding_resumes() -> None:
    want = items(decode_file("gearman-tool.pcap")[0])
    got = items(decode_file("gap.pcap")[0])
    (gap,) = [i for i in got if isinstance(i, Anomaly)]
    assert gap.kind == "gap" and gap.text.startswith("23 bytes missing")
    lost = [i for i in want if isinstance(i, Frame) and i.type is PacketType.WORK_DATA
            and i.args[1] == b"one\n"]
    assert len(lost) == 2  # the worker's copy and the server's forwarded copy
    # Exactly the worker's first WORK_DATA is missing; nothing was invented in its place.
    assert len(got) == len(want)
    worker, forwarded = sorted(lost, key=lambda f: f.magic is Magic.RES)
    assert worker.magic is Magic.REQ and worker not in got and forwarded in got
    assert not any(isinstance(i, Frame) and b"\0\0\0" in i.payload for i in got)


def test_truncated_capture_decodes_what_is_there() -> None:
    want = items(decode_file("gearman-tool.pcap")[0])
    records, _, reader = decode_file("truncated.pcap")
    assert reader.truncated is not None and "cut short" in reader.truncated
    capture_level = [r for r in records if r.stream == -1]
    assert len(capture_level) == 1 and capture_level[0].item.kind == "capture"  # type: ignore[union-attr]
    got = [i for i in items(records) if not isinstance(i, Anomaly)]
    assert len(got) > 20 and got == want[:len(got)]


def test_snaplen_cut_packets_are_anomalies_not_garbage_packets() -> None:
    records, _, _ = decode_file("snaplen.pcap")
    kinds = {a.kind for a in anomalies(records)}
    assert "snaplen" in kinds
    frames = [i for i in items(records) if isinstance(i, Frame)]
    assert Frame(frames[0].magic, PacketType.CAN_DO, (b"cat",)) in frames
    assert all(i.type is not PacketType.SUBMIT_JOB for i in frames)  # its payload was cut


def test_garbage_on_the_port() -> None:
    records, _, _ = decode_file("garbage.pcap")
    kinds = [a.kind for a in anomalies(records)]
    assert kinds.count("bad-packet") == 2
    assert any("unknown packet type 99" in a.text for a in anomalies(records))
    echoes = [i for i in items(records) if isinstance(i, Frame)]
    assert [f.type for f in echoes] == [PacketType.ECHO_REQ, PacketType.ECHO_RES]
    assert echoes[1].args == (b"still alive",)


def test_real_capture_drop_is_a_gap() -> None:
    # tcpdump on "any" lost the server's JOB_CREATED; the FIN's sequence number shows it.
    records, _, _ = decode_file("sll2-any.pcap")
    (gap,) = anomalies(records)
    assert gap.kind == "gap" and gap.text.startswith("18 bytes")
    assert not records[-1].to_server


def test_pcapng_protocol_session_covers_the_packet_types() -> None:
    records, _, _ = decode_file("protocol.pcapng")
    assert not anomalies(records)
    seen = {i.type for i in items(records) if isinstance(i, Frame)}
    want = {PacketType[n] for n in (
        "SET_CLIENT_ID CAN_DO CAN_DO_TIMEOUT CANT_DO OPTION_REQ OPTION_RES ECHO_REQ ECHO_RES "
        "ERROR SUBMIT_JOB SUBMIT_JOB_HIGH_BG SUBMIT_JOB_EPOCH SUBMIT_REDUCE_JOB_BACKGROUND "
        "JOB_CREATED GET_STATUS STATUS_RES GET_STATUS_UNIQUE STATUS_RES_UNIQUE GRAB_JOB_UNIQ "
        "GRAB_JOB_ALL GRAB_JOB JOB_ASSIGN JOB_ASSIGN_UNIQ WORK_STATUS WORK_DATA WORK_WARNING "
        "WORK_COMPLETE WORK_EXCEPTION WORK_FAIL PRE_SLEEP NOOP NO_JOB SUBMIT_JOB_LOW "
        "RESET_ABILITIES").split()}
    assert want <= seen
    echo = next(i for i in items(records) if isinstance(i, Frame)
                and i.type is PacketType.ECHO_REQ)
    assert echo.args == (b"ping\0with nul",)


def test_large_payload_over_many_segments() -> None:
    records, dissector, _ = decode_file("large.pcap")
    assert dissector.segments > 40
    submit = next(i for i in items(records) if isinstance(i, Frame)
                  and i.type is PacketType.SUBMIT_JOB)
    assert submit.args[2] == bytes(range(32, 127)) * 430
    done = [i for i in items(records) if isinstance(i, Frame)
            and i.type is PacketType.WORK_COMPLETE]
    assert [d.args[1] for d in done] == [submit.args[2]] * 2


def test_admin_commands_and_replies() -> None:
    records, _, _ = decode_file("admin.pcap")
    sent = [r.item.line for r in records if isinstance(r.item, AdminLine) and r.to_server]
    assert sent[:3] == [b"status", b"prioritystatus", b"workers"]
    assert b"frobnicate" in sent and b"maxqueue nobody 10" in sent
    replies = [r.item.line for r in records if isinstance(r.item, AdminLine)
               and not r.to_server]
    assert b"ERR UNKNOWN_COMMAND Unknown+server+commandfrobnicate" in replies
    assert b"." in replies and any(r.startswith(b"nobody\t1\t") for r in replies)


def test_ipv6_addresses() -> None:
    records, dissector, _ = decode_file("ipv6.pcap")
    assert records and all(s.server.startswith("[::1]:") for s in dissector.streams)


@pytest.mark.parametrize("name", ["no-gearman.pcap", "empty.pcap"])
def test_no_gearman_traffic(name: str) -> None:
    records, dissector, _ = decode_file(name)
    assert records == [] and dissector.streams == []
