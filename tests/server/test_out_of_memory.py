"""A server that runs out of memory refuses new jobs, keeps serving the ones it has, and
recovers; it never spins on failed allocations or loses an acknowledged job.

The limit is real: RLIMIT_AS set on the running server process (``prlimit``), so its
allocations fail as they would under ``ulimit -v``.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

from geartool.protocol import PacketType as P
from geartool.server.heap import Reserve
from tests.conftest import free_port, start_geartool, stop
from tests.wire import Peer

DATA = b"m" * 40_000  # big jobs fill the limit within a few thousand submits
HEADROOM = 120 << 20  # address space the server may grow by before allocations fail


def _vm_size(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmSize")


def _flood(port: int) -> tuple[int, bytes]:
    """Submit background jobs until one is refused; how many were acknowledged, and why the
    refusal. A connection the server had to drop mid-request is replaced (its unacknowledged
    submits may or may not have become jobs, as with any dropped connection)."""
    acked = 0
    deadline = time.monotonic() + 60
    peer = Peer(port)
    try:
        while time.monotonic() < deadline and acked < 20_000:
            try:
                for _ in range(20):
                    peer.send(P.SUBMIT_JOB_BG, b"oom", b"", DATA)
                for _ in range(20):
                    reply = peer.frame(timeout=10)
                    if reply.type is not P.JOB_CREATED:
                        assert reply.type is P.ERROR, reply
                        return acked, reply.args[1]
                    acked += 1
            except (ConnectionError, OSError):
                peer.close()
                peer = Peer(port)
        raise AssertionError(f"no submit refused after {acked} acknowledged")
    finally:
        peer.close()


def _drain(port: int) -> int:
    """Run every queued job to completion; how many there were."""
    done = 0
    with Peer(port) as worker:
        worker.send(P.CAN_DO, b"oom")
        for _ in range(50_000):  # bounded: more than the flood can queue
            worker.send(P.GRAB_JOB)
            job = worker.frame(timeout=10)
            if job.type is P.NO_JOB:
                return done
            assert job.type is P.JOB_ASSIGN and job.args[-1] == DATA
            worker.send(P.WORK_COMPLETE, job.args[0], b"")
            done += 1
    raise AssertionError("the queue never emptied")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prlimit and /proc: Linux")
def test_out_of_memory_refuses_new_jobs_and_recovers() -> None:
    port = free_port()
    proc = start_geartool(port, "--queue", "memory")
    try:
        limit = _vm_size(proc.pid) + HEADROOM
        resource.prlimit(proc.pid, resource.RLIMIT_AS, (limit, limit))
        acked, why = _flood(port)
        assert why == b"Server is out of memory" and acked > 1000
        # Still serving: the admin protocol answers, and counts every acknowledged job.
        with Peer(port) as admin:
            status = admin.admin("status")
        queued = int(status[0].split("\t")[1])
        assert status[0].startswith("oom\t") and queued >= acked
        # Submits are refused while memory is short, not queued or dropped.
        with Peer(port) as client:
            client.send(P.SUBMIT_JOB_BG, b"oom", b"", b"more")
            reply = client.frame()
            assert reply.type is P.ERROR and reply.args[0] == b"QUEUE_ERROR"
        # A worker can take every job: nothing acknowledged was lost.
        assert _drain(port) == queued
        # Memory is free again: after the next check (once a second) submits are accepted.
        accepted = False
        for _ in range(50):
            with Peer(port) as client:
                client.send(P.SUBMIT_JOB_BG, b"after", b"", b"x")
                if client.frame().type is P.JOB_CREATED:
                    accepted = True
                    break
            time.sleep(0.1)
        assert accepted
    finally:
        stop(proc)
    assert proc.stderr is not None
    log = proc.stderr.read().decode(errors="replace")
    assert log.count("out of memory with") == 1, log[-2000:]
    assert log.count("memory available again") == 1 and "Traceback" not in log, log[-2000:]


def test_the_reserve_is_address_space_given_back_on_demand() -> None:
    code = """
import resource
from geartool.server.heap import Reserve
reserve = Reserve(32 << 20)
assert reserve.take() and reserve.held
with open("/proc/self/status") as f:
    vm = next(int(l.split()[1]) * 1024 for l in f if l.startswith("VmSize:"))
resource.setrlimit(resource.RLIMIT_AS, (vm + (16 << 20), vm + (16 << 20)))
try:
    bytearray(24 << 20)
except MemoryError:
    print("full")
reserve.release()
room = bytearray(24 << 20)  # the reserve's address space, now usable
print("room", len(room) >> 20)
del room
print("headroom", reserve.take(headroom=64 << 20), reserve.held)
print("retake", reserve.take(), reserve.held)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout.split("\n")
    assert out[:4] == ["full", "room 24", "headroom False False", "retake True True"], out
    assert not Reserve().held  # nothing is mapped until take()


def _limited(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def test_a_queue_too_big_to_replay_is_a_one_line_start_up_error(tmp_path: Path) -> None:
    from geartool.server.store.sqlite import SQLiteStore

    db = tmp_path / "big.db"
    store = SQLiteStore(db)
    for i in range(50):  # 50 commits of 50 jobs of 40 KB: 100 MB of payload
        for j in range(50):
            store.add(b"oom", b"u%d-%d" % (i, j), 1, DATA, 0, b"")
        store.write_batch(store.take_batch())
    store.close()
    # What an idle server with an empty queue maps, plus less than the queue needs.
    port = free_port()
    probe = start_geartool(port, "--queue", "memory")
    try:
        limit = _vm_size(probe.pid) + (40 << 20)
    finally:
        stop(probe)
    proc = subprocess.run([sys.executable, "-m", "geartool", "server", "--port", str(free_port()),
                           "--queue", f"sqlite:///{db}"], capture_output=True, text=True,
                          timeout=60, preexec_fn=lambda: _limited(limit))
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "out of memory replaying the queue" in proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    # The file is untouched: with the memory to hold it, every job comes back.
    port = free_port()
    server = start_geartool(port, "--queue", f"sqlite:///{db}")
    try:
        with Peer(port) as admin:
            assert admin.admin("status")[0].startswith("oom\t2500\t")
    finally:
        stop(server)
