"""The compiled fast path prints what the Python decoder prints, or leaves the capture to it.

Every comparison runs ``geartool decode`` twice on the same input, once as shipped and once with
``GEARTOOL_PURE_PYTHON=1``, and checks the exit code, stdout and stderr are identical; a spy on
``fast.decode_all`` says which captures the fast path took, so a test cannot pass by the fast
path quietly declining everything.
"""

from __future__ import annotations

import io
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks.decode_bench import build
from geartool.decode import app, fast, writer
from geartool.decode.app import DecodeOptions, run
from geartool.decode.net import ACK, FIN, PSH, SYN
from geartool.protocol import PacketType as T
from geartool.protocol.frames import pack_bytes
from tests.conftest import IN_CI

from .helpers import CAPTURES, PCAPS, port

# Ordinary captures the fast path must take (IPv4 and IPv6, pcap and pcapng, four link types);
# every other fixture is damaged, has a gap or no Gearman, and must be left to Python.
FAST = {"admin.pcap", "gearman-tool.pcap", "geartool-geartool.pcap", "geartool-server.pcap",
        "ipv6.pcap", "large.pcap", "null-loopback.pcap", "protocol.pcapng", "sll-any.pcap"}
VARIANTS = {"text": {}, "json": {"json": True}, "full": {"full": True}, "color": {"color": True}}


@pytest.fixture(autouse=True)
def _built() -> None:
    if not fast.available():
        if IN_CI:
            pytest.fail("the compiled fast path was not built (is a C compiler installed?)")
        pytest.skip("the compiled fast path is not built here")


def decode_twice(monkeypatch: pytest.MonkeyPatch, opts: DecodeOptions
                 ) -> tuple[bool, tuple[int, str, str], tuple[int, str, str]]:
    """(fast path taken, result as shipped, result of the pure-Python decoder)."""
    taken: list[bool] = []
    real = fast.decode_all

    def spy(*args: object) -> bool:
        taken.append(real(*args))  # type: ignore[arg-type]
        return taken[-1]

    def once() -> tuple[int, str, str]:
        out, err = io.StringIO(), io.StringIO()
        code = run(opts, out=out, err=err)
        return code, out.getvalue(), err.getvalue()

    with monkeypatch.context() as m:
        m.setattr(app.fast, "decode_all", spy)
        shipped = once()
    with monkeypatch.context() as m:
        m.setenv("GEARTOOL_PURE_PYTHON", "1")
        pure = once()
    return bool(taken and taken[0]), shipped, pure


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("name", CAPTURES)
def test_every_fixture_prints_the_same(name: str, variant: str,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    opts = DecodeOptions(source=str(PCAPS / name), ports=[port(name)], **VARIANTS[variant])
    taken, shipped, pure = decode_twice(monkeypatch, opts)
    assert shipped == pure
    assert taken == (name in FAST)


def _conversation(items: list[tuple[bool, bytes]], fin: bool = True, syn: bool = True
                  ) -> Iterator[bytes]:
    """Frames of one client connection to port 4730 carrying ``items`` (to_server, bytes);
    without ``syn`` the capture starts mid-connection."""
    cli, srv = bytes([10, 0, 0, 2]), bytes([10, 0, 0, 1])
    cseq, sseq = 1000, 5000
    if syn:
        yield writer.tcp_frame(cli, 40000, srv, 4730, cseq - 1, 0, b"", SYN)
        yield writer.tcp_frame(srv, 4730, cli, 40000, sseq - 1, cseq, b"", SYN | ACK)
    for up, data in items:
        if up:
            yield writer.tcp_frame(cli, 40000, srv, 4730, cseq, sseq, data, ACK | PSH)
            cseq += len(data)
        else:
            yield writer.tcp_frame(srv, 4730, cli, 40000, sseq, cseq, data, ACK | PSH)
            sseq += len(data)
    if fin:
        yield writer.tcp_frame(cli, 40000, srv, 4730, cseq, sseq, b"", FIN | ACK)
        yield writer.tcp_frame(srv, 4730, cli, 40000, sseq, cseq + 1, b"", FIN | ACK)


def _write(path: Path, frames: Iterator[bytes]) -> None:
    with path.open("wb") as out:
        writer.write_pcap(out, ((1_700_000_000 + i * 0.0137, f, len(f))
                                for i, f in enumerate(frames)))


_text = st.binary(max_size=90).filter(lambda b: b"\0" not in b)


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(func=_text, unique=_text, data=st.binary(max_size=200),
       utf8=st.text(max_size=30),
       admin=st.text(st.characters(min_codepoint=32, exclude_categories=("Cs",)), max_size=40),
       split=st.integers(1, 40))
def test_any_bytes_in_arguments_print_the_same(func: bytes, unique: bytes, data: bytes,
                                               utf8: str, admin: str, split: int,
                                               tmp_path_factory: pytest.TempPathFactory,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Escapes, UTF-8 (valid or not), long data cut in the preview, packets split across
    segments and admin lines with any characters."""
    result = pack_bytes(b"\0RES", T.WORK_COMPLETE, [b"H:1", utf8.encode() + data])
    items = [(True, pack_bytes(b"\0REQ", T.SUBMIT_JOB, [func, unique, data])),
             (False, pack_bytes(b"\0RES", T.JOB_CREATED, [b"H:1"])),
             (False, result[:split]), (False, result[split:]),
             (True, b"status\r\n"), (False, admin.encode() + b"\n.\n"),
             (True, b"workers\n" + pack_bytes(b"\0REQ", T.ECHO_REQ, [data]))]
    path = tmp_path_factory.mktemp("any") / "c.pcap"
    _write(path, _conversation([i for i in items if i[1]]))
    for variant in VARIANTS.values():
        opts = DecodeOptions(source=str(path), **variant)  # type: ignore[arg-type]
        taken, shipped, pure = decode_twice(monkeypatch, opts)
        assert shipped == pure
        if "\x7f" not in admin:  # DEL is a control byte: the Python decoder resynchronises
            assert taken


def test_mutated_segments_print_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    """Flipped payload bytes, sequence numbers and flags in a real capture: whatever the fast
    path accepts it prints as Python does; what it declines, Python prints."""
    name = "gearman-tool.pcap"
    original = (PCAPS / name).read_bytes()
    rnd = random.Random(7)
    taken_count = 0
    for i in range(120):
        data = bytearray(original)
        for _ in range(rnd.randrange(1, 4)):
            # Inside a frame's TCP header or payload, away from the pcap record headers.
            pos = rnd.randrange(24, len(data))
            data[pos] = rnd.randrange(256) if rnd.random() < 0.5 else data[pos] ^ 1
        path = tmp_path / f"m{i}.pcap"
        path.write_bytes(bytes(data))
        opts = DecodeOptions(source=str(path), ports=[port(name)], json=bool(i % 2))
        taken, shipped, pure = decode_twice(monkeypatch, opts)
        assert shipped == pure, i
        taken_count += taken
    assert 5 < taken_count < 120  # both paths were exercised


def test_a_large_capture_prints_the_same_in_chunks(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "bench.pcap"
    build(path, 12_000)
    for json in (False, True):
        taken, shipped, pure = decode_twice(monkeypatch,
                                            DecodeOptions(source=str(path), json=json))
        assert taken and shipped == pure
        assert len(shipped[1]) > 2 * (1 << 20) if json else shipped[1].count("\n") > 9000


def test_command_line_output_and_a_closed_pipe(tmp_path: Path) -> None:
    """Through the real command: stdout's binary buffer, and ``| head`` ending it early."""
    path = tmp_path / "bench.pcap"
    build(path, 30_000)
    cmd = [sys.executable, "-m", "geartool", "decode", str(path)]
    shipped = subprocess.run(cmd, capture_output=True, timeout=60)
    pure = subprocess.run(cmd, capture_output=True, timeout=120,
                          env={**os.environ, "GEARTOOL_PURE_PYTHON": "1"})
    assert shipped.returncode == pure.returncode == 0
    assert shipped.stdout == pure.stdout and shipped.stderr == pure.stderr == b""
    head = subprocess.run(f"{' '.join(cmd)} | head -3", shell=True, capture_output=True,
                          timeout=60)
    assert head.stdout.count(b"\n") == 3
    assert b"Traceback" not in head.stderr and head.stderr == b""


def test_thousands_of_connections_print_the_same(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Enough directions to grow the fast path's connection table several times."""
    frames = []
    srv = bytes([10, 0, 0, 1])
    for i in range(3000):
        cli, cport = bytes([10, 1, i >> 8, i & 255]), 20000 + i % 40000
        submit = pack_bytes(b"\0REQ", T.SUBMIT_JOB_BG, [b"f", b"", b"%d" % i])
        frames += [writer.tcp_frame(cli, cport, srv, 4730, 99, 0, b"", SYN),
                   writer.tcp_frame(srv, 4730, cli, cport, 499, 100, b"", SYN | ACK),
                   writer.tcp_frame(cli, cport, srv, 4730, 100, 500, submit)]
    for i in range(3000):  # replies after every connection is open
        cli, cport = bytes([10, 1, i >> 8, i & 255]), 20000 + i % 40000
        frames.append(writer.tcp_frame(srv, 4730, cli, cport, 500, 100 + 29,
                                       pack_bytes(b"\0RES", T.JOB_CREATED, [b"H:%d" % i])))
    path = tmp_path / "many.pcap"
    _write(path, iter(frames))
    taken, shipped, pure = decode_twice(monkeypatch, DecodeOptions(source=str(path)))
    assert taken and shipped == pure
    assert shipped[1].count("# stream ") == 3000


def test_ctrl_c_while_printing_a_big_capture(tmp_path: Path) -> None:
    """SIGINT while the fast path is blocked writing to a full pipe ends the command quietly."""
    path = tmp_path / "bench.pcap"
    build(path, 60_000)
    proc = subprocess.Popen([sys.executable, "-m", "geartool", "decode", "--json", str(path)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.read(4096)  # it is running; now the pipe fills up and blocks it
    time.sleep(1.0)
    assert proc.poll() is None
    proc.send_signal(signal.SIGINT)
    rest = proc.stdout.read()
    assert proc.wait(timeout=30) == 0
    assert b"Traceback" not in proc.stderr.read()
    # The whole output is about 15 MB: far more than the pipe held when the signal came.
    assert first.startswith(b'{"frame.number":') and len(first + rest) < 4_000_000


def _sliced(data: bytes, first: int, last: int) -> bytes:
    """A classic pcap with only records first..last-1: streams start and end anywhere."""
    pos, records = 24, []
    while pos + 16 <= len(data):
        size = int.from_bytes(data[pos + 8:pos + 12], "little")
        records.append(data[pos:pos + 16 + size])
        pos += 16 + size
    return data[:24] + b"".join(records[first:last])


def test_captures_cut_anywhere_print_the_same(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Real captures cut at random records, as a capture of a running system is: streams that
    start mid-connection (resynchronised, "skipped" anomalies) and end inside a packet."""
    rnd = random.Random(11)
    taken_count = 0
    names = ["gearman-tool.pcap", "large.pcap", "admin.pcap", "geartool-geartool.pcap"]
    for i in range(80):
        name = names[i % len(names)]
        data = (PCAPS / name).read_bytes()
        path = tmp_path / f"s{i}.pcap"
        path.write_bytes(_sliced(data, rnd.randrange(0, 30), rnd.randrange(31, 200)))
        opts = DecodeOptions(source=str(path), ports=[port(name)], json=bool(i % 2),
                             full=i % 3 == 0)
        taken, shipped, pure = decode_twice(monkeypatch, opts)
        assert shipped == pure, i
        taken_count += taken
    assert taken_count > 60


@pytest.mark.parametrize("case", ["long skip", "never synced", "ends at FIN", "ends at end",
                                  "half a text line"])
def test_streams_that_start_or_end_inside_a_packet(case: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    submit = pack_bytes(b"\0REQ", T.SUBMIT_JOB, [b"f", b"", b"x" * 500])
    # Midstream, the decoder searches for a packet start; 150 KB without one also exercises
    # the search window that keeps only a tail.
    items, syn, fin, expect = {
        "long skip": ([(True, b"y" * 50_000)] * 3 + [(True, submit)], False, True,
                      "skipped 150000 bytes"),
        "never synced": ([(True, b"y" * 40_000)] * 2, False, True, "left undecoded"),
        "ends at FIN": ([(True, submit[:200])], True, True, "SUBMIT_JOB packet (200 of 515"),
        "ends at end": ([(True, submit), (True, submit[:7])], True, False,
                        "a packet header (7 of 12 bytes)"),
        "half a text line": ([(True, b"status\nwork")], True, False, "text line (4 bytes"),
    }[case]
    path = tmp_path / "c.pcap"
    _write(path, _conversation(items, fin=fin, syn=syn))
    for variant in VARIANTS.values():
        taken, shipped, pure = decode_twice(
            monkeypatch, DecodeOptions(source=str(path), **variant))  # type: ignore[arg-type]
        assert taken and shipped == pure
        assert expect in shipped[1]
