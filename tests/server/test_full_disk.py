"""A full disk (the queue file cannot grow): submits are refused, nothing acknowledged is lost,
and the server keeps serving."""

from __future__ import annotations

import resource
import signal
import subprocess
import sys
from pathlib import Path

from geartool.protocol import Frame, Magic, encode
from geartool.protocol import PacketType as P
from tests.conftest import free_port, stop, wait_port
from tests.wire import Peer

LIMIT = 400_000  # bytes any one file of the server may reach


def _limit_file_size() -> None:
    # RLIMIT_FSIZE makes writes past LIMIT fail with EFBIG, as a full disk fails them with
    # ENOSPC; ignoring SIGXFSZ turns the signal into that error instead of killing the server.
    resource.setrlimit(resource.RLIMIT_FSIZE, (LIMIT, LIMIT))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def test_queue_write_failure_refuses_submits_and_keeps_serving(tmp_path: Path) -> None:
    db = tmp_path / "q.db"
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "geartool", "server", "--port", str(port),
                             "--queue", f"sqlite://{db}"], stderr=subprocess.PIPE,
                            preexec_fn=_limit_file_size)
    try:
        wait_port(port, proc)
        payload = b"x" * 4000
        acked: list[bytes] = []
        refused = 0
        with Peer(port) as c:
            for i in range(300):  # 1.2 MB of payloads: far past the limit
                c.raw(encode(Frame(Magic.REQ, P.SUBMIT_JOB_BG, (b"big", b"u%d" % i, payload))))
                reply = c.frame(timeout=10)
                if reply.type is P.JOB_CREATED:
                    acked.append(reply.args[0])
                else:
                    assert reply.args[0] == b"QUEUE_ERROR", reply
                    refused += 1
            assert acked and refused  # some fit before the disk "filled", the rest were refused
            c.send(P.ECHO_REQ, b"alive")
            assert c.frame().args == (b"alive",)
            assert c.admin("status") == [f"big\t{len(acked)}\t0\t0", "."]
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        stop(proc)
    assert proc.stderr is not None
    assert b"queue write failed" in proc.stderr.read()
    # Every acknowledged job is still there after a restart without the limit.
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "geartool", "server", "--port", str(port),
                             "--queue", f"sqlite://{db}"], stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        with Peer(port) as admin:
            assert admin.admin("status") == [f"big\t{len(acked)}\t0\t0", "."]
    finally:
        stop(proc)
