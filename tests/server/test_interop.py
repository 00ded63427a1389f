"""Debian's C++ tools (`gearman`, `gearadmin`) driving geartool's server, and the same admin
session against gearmand and geartool compared line by line."""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from geartool.protocol import PacketType as P
from tests.conftest import free_port, need, start_gearmand, start_geartool, stop
from tests.wire import Peer

pytestmark = pytest.mark.interop


def gearman(port: int, *args: str, input: bytes | None = None,
            timeout: float = 20) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([need("gearman"), "-p", str(port), *args], input=input,
                          capture_output=True, timeout=timeout)


def gearadmin(port: int, *args: str) -> str:
    r = subprocess.run([need("gearadmin"), "-p", str(port), *args], capture_output=True,
                       text=True, timeout=20)
    return r.stdout + r.stderr


class Workers:
    """`gearman -w` worker processes started by a test, ended by PID."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, function: str, *command: str, extra: tuple[str, ...] = (),
              wait: bool = True) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen([need("gearman"), "-p", str(self.port), "-w", "-f", function,
                                 *extra, "--", *command],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.procs.append(proc)
        if wait:
            wait_for(lambda: f" {function}" in gearadmin(self.port, "--workers"))
        return proc

    def stop_all(self) -> None:
        for p in self.procs:
            stop(p)


def wait_for(cond: object, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise TimeoutError("condition not reached")


@pytest.fixture
def server(geartool_server: int) -> Iterator[tuple[int, Workers]]:
    workers = Workers(geartool_server)
    try:
        yield geartool_server, workers
    finally:
        workers.stop_all()


def test_reverse_foreground(server: tuple[int, Workers]) -> None:
    port, workers = server
    workers.start("reverse", "rev")
    r = gearman(port, "-f", "reverse", "hello")
    assert r.returncode == 0 and r.stdout == b"olleh"


def test_background_and_per_line(server: tuple[int, Workers], tmp_path: Path) -> None:
    port, workers = server
    log = tmp_path / "log"
    workers.start("log", "sh", "-c", f"cat >> {log}; echo >> {log}")
    r = gearman(port, "-b", "-f", "log", "bg-payload")
    assert r.returncode == 0
    wait_for(lambda: log.exists() and "bg-payload" in log.read_text())
    workers.start("reverse", "rev")
    r = gearman(port, "-n", "-f", "reverse", input=b"ab\ncd\n")
    assert r.returncode == 0 and r.stdout == b"ba\ndc\n"


def test_unique_coalesces_into_one_run(server: tuple[int, Workers], tmp_path: Path) -> None:
    port, workers = server
    runs = tmp_path / "runs"
    workers.start("slow", "sh", "-c", f"echo run >> {runs}; sleep 1; cat")
    clients = [subprocess.Popen([need("gearman"), "-p", str(port), "-u", "same-id", "-f",
                                 "slow", "payload"], stdout=subprocess.PIPE)
               for _ in range(3)]
    outs = [c.communicate(timeout=20)[0] for c in clients]
    assert outs == [b"payload"] * 3
    assert runs.read_text() == "run\n"


def test_priorities(server: tuple[int, Workers], tmp_path: Path) -> None:
    port, workers = server
    order = tmp_path / "order"
    for flag, data in (("-L", "low"), ("", "normal"), ("-I", "high")):
        args = ["-b", "-f", "prio"] + ([flag] if flag else []) + [data]
        assert gearman(port, *args).returncode == 0
    assert gearadmin(port, "--priority-status").splitlines()[0] == "prio\t1\t1\t1\t0"
    workers.start("prio", "sh", "-c", f"cat >> {order}; echo >> {order}", extra=("-c", "3"),
                  wait=False)  # it may finish its three jobs before we could look
    wait_for(lambda: order.exists() and len(order.read_text().split()) == 3)
    assert order.read_text().split() == ["high", "normal", "low"]


def test_killed_worker_job_rerun_by_another(server: tuple[int, Workers]) -> None:
    port, workers = server
    stuck = workers.start("job", "sleep", "60")
    client = subprocess.Popen([need("gearman"), "-p", str(port), "-f", "job", "data"],
                              stdout=subprocess.PIPE)
    wait_for(lambda: "job\t1\t1\t1" in gearadmin(port, "--status"))
    workers.start("job", "rev")
    stuck.kill()  # the worker we started, by PID, mid-job
    out, _ = client.communicate(timeout=20)
    assert out == b"atad"


def test_status_and_data_reach_gearman_client(server: tuple[int, Workers]) -> None:
    port, _ = server
    with Peer(port) as w:
        w.send(P.CAN_DO, b"progress")
        client = subprocess.Popen([need("gearman"), "-p", str(port), "-f", "progress", "x"],
                                  stdout=subprocess.PIPE)
        assign = None
        deadline = time.monotonic() + 10
        while assign is None and time.monotonic() < deadline:
            w.send(P.GRAB_JOB)
            f = w.frame()
            if f.type is P.JOB_ASSIGN:
                assign = f
            else:
                time.sleep(0.05)
        assert assign is not None
        handle = assign.args[0]
        w.send(P.WORK_STATUS, handle, b"1", b"2")
        w.send(P.WORK_DATA, handle, b"partial,")
        w.send(P.WORK_COMPLETE, handle, b"final")
        out, _ = client.communicate(timeout=20)
    assert b"50% Complete" in out and b"partial,final" in out


def test_gearadmin_commands(server: tuple[int, Workers]) -> None:
    port, workers = server
    workers.start("reverse", "rev")
    assert gearman(port, "-b", "-u", "u-1", "-f", "queued", "x").returncode == 0
    assert gearadmin(port, "--status").splitlines() == ["reverse\t0\t0\t1", "queued\t1\t0\t0", "."]
    jobs = gearadmin(port, "--show-jobs").splitlines()
    assert len(jobs) == 2 and re.fullmatch(r"H:[^\t]+\t0\t0\t1", jobs[0])
    assert gearadmin(port, "--show-unique-jobs").splitlines() == ["u-1", "."]
    assert gearadmin(port, "--cancel-job", jobs[0].split("\t")[0]).strip() == "OK"
    assert gearadmin(port, "--cancel-job", "H:none:1").strip() == "Error: UNKNOWN_JOB"
    assert gearadmin(port, "--create-function", "made").strip() == "OK"
    assert "made\t0\t0\t0" in gearadmin(port, "--status")
    assert gearadmin(port, "--drop-function", "made").strip() == "OK"
    assert gearadmin(port, "--getpid").strip().isdigit()
    assert gearadmin(port, "--server-version").strip().startswith("geartool-")
    assert re.search(r"^\d+ 127\.0\.0\.1 - : reverse$", gearadmin(port, "--workers"), re.M)


SESSION = ["status", "prioritystatus", "show unique jobs", "maxqueue q1 5", "maxqueue",
           "create function", "drop function nope", "cancel job H:none:9", "show nothing",
           "frobnicate now", "workers", "show jobs", "verbose", "getpid", "version"]


def admin_transcript(port: int) -> list[str]:
    """Run SESSION over one raw connection, keeping exact line endings, normalising ids."""
    with Peer(port) as w:
        w.send(P.CAN_DO, b"q1")
        w.send(P.ECHO_REQ, b"sync")
        assert w.frame().type is P.ECHO_RES
        subprocess.run([need("gearman"), "-p", str(port), "-b", "-u", "uu", "-f", "q1", "d"],
                       check=True, timeout=20)
        import socket
        lines = []
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            for cmd in SESSION:
                s.sendall(cmd.encode() + b"\r\n")
                buf = b""
                deadline = time.monotonic() + 5
                list_cmd = cmd.split()[0] in ("status", "prioritystatus", "workers", "show") \
                    and not cmd.startswith("show nothing")
                while time.monotonic() < deadline:
                    buf += s.recv(65536)
                    if (list_cmd and buf.endswith(b".\n")) or (not list_cmd and
                                                                buf.endswith(b"\n")):
                        break
                text = buf.decode()
                text = re.sub(r"H:[^\t\n]+", "HANDLE", text)
                text = re.sub(r"^\d+ 127\.0\.0\.1", "FD 127.0.0.1", text, flags=re.M)
                text = re.sub(r"^OK \d+\n$", "OK PID\n", text) if cmd == "getpid" else text
                text = re.sub(r"^OK .+\n$", "OK VERSION\n", text) if cmd == "version" else text
                # Each reports its real log level (gearmand ERROR, geartool WARNING by default).
                text = re.sub(r"^OK (FATAL|ALERT|CRITICAL|ERROR|WARNING|NOTICE|INFO|DEBUG)\n$",
                              "OK LEVEL\n", text) if cmd == "verbose" else text
                if cmd == "workers":  # connection order is implementation-defined
                    text = "".join(sorted(text.splitlines(keepends=True)))
                lines.append(f"{cmd!r} -> {text!r}")
        return lines


def test_same_admin_session_as_gearmand(tmp_path: Path) -> None:
    transcripts = []
    for kind in ("gearmand", "geartool"):
        port = free_port()
        proc = (start_gearmand(port) if kind == "gearmand"
                else start_geartool(port, "--queue", f"sqlite://{tmp_path}/{kind}.db"))
        try:
            transcripts.append(admin_transcript(port))
        finally:
            stop(proc)
    gearmand_lines, geartool_lines = transcripts
    assert geartool_lines == gearmand_lines
