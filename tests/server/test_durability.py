"""kill -9 with thousands of acknowledged background jobs: every one survives and runs."""

from __future__ import annotations

import signal
from pathlib import Path

from geartool.protocol import PacketType as P
from tests.conftest import free_port, start_geartool, stop
from tests.wire import Peer

COUNT = 3000


def submit_all(port: int) -> set[bytes]:
    """Pipeline COUNT background submits; return the payloads acknowledged with JOB_CREATED."""
    payloads = []
    with Peer(port) as c:
        batch = []
        for i in range(COUNT):
            data = b"job-%d" % i
            # A third each: explicit unique, empty unique, "-" (coalesce by data; all differ).
            unique = (b"u-%d" % i, b"", b"-")[i % 3]
            batch.append((unique, data))
            payloads.append(data)
        from geartool.protocol import Frame, Magic, encode
        c.raw(b"".join(encode(Frame(Magic.REQ, P.SUBMIT_JOB_BG, (b"dur", u, d)))
                       for u, d in batch))
        acked = set()
        for data in payloads:
            f = c.frame(timeout=30)
            assert f.type is P.JOB_CREATED, f
            acked.add(data)
    return acked


def test_kill_9_loses_no_acknowledged_job(tmp_path: Path) -> None:
    db = tmp_path / "queue.db"
    port = free_port()
    proc = start_geartool(port, "--queue", f"sqlite://{db}")
    try:
        acked = submit_all(port)
        proc.send_signal(signal.SIGKILL)  # the server we started, by PID, no chance to flush
        proc.wait(10)
    finally:
        stop(proc)
    assert len(acked) == COUNT

    port = free_port()
    proc = start_geartool(port, "--queue", f"sqlite://{db}")
    try:
        with Peer(port) as admin:
            assert admin.admin("status") == [f"dur\t{COUNT}\t0\t0", "."]
        seen: list[bytes] = []
        with Peer(port) as w:
            w.send(P.CAN_DO, b"dur")
            for _ in range(COUNT):
                w.send(P.GRAB_JOB)
                job = w.frame(timeout=10)
                assert job.type is P.JOB_ASSIGN
                seen.append(job.args[2])
                w.send(P.WORK_COMPLETE, job.args[0], b"")
            w.send(P.GRAB_JOB)
            assert w.frame().type is P.NO_JOB
        assert sorted(seen) == sorted(acked)
        with Peer(port) as admin:
            assert admin.admin("status") == ["dur\t0\t0\t0", "."]
    finally:
        stop(proc)
    # Completed jobs were deleted from the file too: a third start finds nothing to replay.
    port = free_port()
    proc = start_geartool(port, "--queue", f"sqlite://{db}")
    try:
        with Peer(port) as admin:
            assert admin.admin("status") == ["."]
    finally:
        stop(proc)
