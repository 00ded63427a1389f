"""geartool server over real sockets on 127.0.0.1; bad input hurts only the sender."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from geartool.protocol import AdminLine
from geartool.protocol import PacketType as P
from tests.conftest import free_port, start_geartool, stop
from tests.wire import Peer


def test_round_trip_and_status_and_echo(geartool_server: int) -> None:
    port = geartool_server
    with Peer(port) as w, Peer(port) as c:
        w.send(P.CAN_DO, b"reverse")
        w.send(P.PRE_SLEEP)
        c.send(P.SUBMIT_JOB, b"reverse", b"", b"hello")
        handle = c.frame().args[0]
        assert w.frame().type is P.NOOP
        w.send(P.GRAB_JOB)
        assign = w.frame()
        assert assign.type is P.JOB_ASSIGN and assign.args == (handle, b"reverse", b"hello")
        w.send(P.WORK_STATUS, handle, b"1", b"2")
        w.send(P.WORK_DATA, handle, b"ol")
        w.send(P.WORK_COMPLETE, handle, b"leh")
        assert [c.frame().type for _ in range(3)] == [P.WORK_STATUS, P.WORK_DATA,
                                                      P.WORK_COMPLETE]
        c.send(P.ECHO_REQ, b"\0bin\0")
        assert c.frame().args == (b"\0bin\0",)
        assert c.admin("status") == ["reverse\t0\t0\t1", "."]


@pytest.mark.parametrize("bad", [
    b"\0XYZ\0\0\0\x01\0\0\0\0",                      # wrong magic: closed, no reply
    b"\0REQ\0\0\0\x63\0\0\0\0",                      # unknown type 99: closed
    b"\0REQ\0\0\0\x07\0\0\0\x03abc",                 # SUBMIT_JOB with too few fields
    b"\0REQ\0\0\0\x07\xff\xff\xff\xff",              # 4 GiB announced: refused at once
    b"x" * 9000,                                     # endless text line
    b"a b c d e f\r\n",                              # six admin tokens
])
def test_bad_input_closes_only_that_peer(geartool_server: int, bad: bytes) -> None:
    port = geartool_server
    with Peer(port) as good, Peer(port) as evil:
        good.send(P.CAN_DO, b"f")
        evil.raw(bad)
        assert evil.closed_by_server()
        good.send(P.ECHO_REQ, b"still here")
        assert good.frame().args == (b"still here",)


def test_error_packets_keep_connection_open(geartool_server: int) -> None:
    with Peer(geartool_server) as p:
        p.raw(b"\0RES\0\0\0\x10\0\0\0\x01x")  # response magic on a request
        assert p.frame().args == (b"INVALID_MAGIC", b"Request magic expected")
        p.send(P.WORK_COMPLETE, b"H:nope:1", b"")
        assert p.frame().args[0] == b"JOB_NOT_FOUND"
        p.send(P.SUBMIT_JOB, b"f", b"u" * 65, b"")
        assert p.frame().args[0] == b"ARGUMENT_TOO_LARGE"
        too_few = b"\0REQ\0\0\0\x07\0\0\0\x03abc"
        p.raw(too_few)
        assert p.frame().args[0] == b"INVALID_PACKET"  # told why before being closed
        assert p.closed_by_server()


def test_admin_and_binary_mixed_on_one_connection(geartool_server: int) -> None:
    with Peer(geartool_server) as p:
        p.raw(b"version\n")
        p.send(P.ECHO_REQ, b"e")
        first = p.recv()
        assert isinstance(first, AdminLine) and first.line.startswith(b"OK geartool-")
        assert p.frame().type is P.ECHO_RES


def test_oversized_payload_limit_is_configurable(tmp_path: Path) -> None:
    port = free_port()
    proc = start_geartool(port, "--queue", "memory", "--max-packet-size", "2048")
    try:
        with Peer(port) as p:
            p.send(P.ECHO_REQ, b"x" * 4096)
            assert p.frame().args[0] == b"ARGUMENT_TOO_LARGE"
            assert p.closed_by_server()
        with Peer(port) as p:
            p.send(P.ECHO_REQ, b"x" * 2000)
            assert len(p.frame().args[0]) == 2000
    finally:
        stop(proc)


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "geartool", *args], capture_output=True,
                          text=True, timeout=30)


def test_port_in_use_is_one_clear_line(geartool_server: int) -> None:
    r = run_cli("server", "--port", str(geartool_server), "--queue", "memory")
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        f"geartool: cannot listen on 127.0.0.1:{geartool_server}: address already in use"]


def test_unusable_queue_file_and_bad_options(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    r = run_cli("server", "--port", str(free_port()), "--queue", f"sqlite://{tmp_path}/f/q.db")
    assert r.returncode == 1 and "cannot open queue file" in r.stderr
    assert "Traceback" not in r.stderr
    r = run_cli("server", "--queue", "redis://nowhere", "--port", str(free_port()))
    assert r.returncode == 1 and "unknown queue" in r.stderr
    r = run_cli("server", "--port", "notaport")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = run_cli("server", "--log-level", "loud", "--port", str(free_port()))
    assert r.returncode == 2 and "--log-level" in r.stderr


def test_admin_shutdown_stops_server(tmp_path: Path) -> None:
    port = free_port()
    proc = start_geartool(port, "--queue", "memory")
    try:
        with Peer(port) as p:
            assert p.admin("shutdown graceful") == ["OK"]
        assert proc.wait(10) == 0
    finally:
        stop(proc)


def refuses_connections(port: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            Peer(port, timeout=0.5).close()
        except OSError:
            return True
        time.sleep(0.05)
    return False


def test_sigterm_drains_running_job(tmp_path: Path) -> None:
    port = free_port()
    proc = start_geartool(port, "--queue", "memory")
    try:
        with Peer(port) as w, Peer(port) as c:
            w.send(P.CAN_DO, b"f")
            c.send(P.SUBMIT_JOB, b"f", b"", b"x")
            handle = c.frame().args[0]
            w.send(P.GRAB_JOB)
            assert w.frame().type is P.JOB_ASSIGN
            proc.terminate()
            assert refuses_connections(port)
            w.send(P.WORK_COMPLETE, handle, b"done")  # the running job may still finish
            assert c.frame().args == (handle, b"done")
        assert proc.wait(10) == 0
    finally:
        stop(proc)
