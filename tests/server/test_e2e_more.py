"""More real-socket behaviour: IPv6 listening, keepalive, epoch wake-up, timeouts, a client
that never reads its replies."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time

import pytest

from geartool.protocol import Frame, Magic, encode
from geartool.protocol import PacketType as P
from tests.conftest import free_port, start_geartool, stop, wait_port
from tests.wire import Peer


def test_listen_on_ipv6_loopback_too() -> None:
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    port = free_port()
    proc = start_geartool(port, "--queue", "memory", "--listen", "127.0.0.1", "--listen", "::1")
    try:
        with Peer(port, host="::1") as p6, Peer(port) as p4:
            p6.send(P.ECHO_REQ, b"six")
            assert p6.frame().args == (b"six",)
            rows = p4.admin("workers")
            assert any(" ::1 - :" in r for r in rows)
    finally:
        stop(proc)


def test_keepalive_option_sets_the_socket_timer() -> None:
    port = free_port()
    proc = start_geartool(port, "--queue", "memory", "--keepalive")
    try:
        with Peer(port) as p:
            p.send(P.ECHO_REQ, b"x")
            p.frame()
            out = subprocess.run(["ss", "-tno", "state", "established", f"( sport = :{port} )"],
                                 capture_output=True, text=True, timeout=10).stdout
            assert "keepalive" in out
    finally:
        stop(proc)


def test_epoch_job_wakes_sleeping_worker_on_time() -> None:
    port = free_port()
    proc = start_geartool(port, "--queue", "memory")
    try:
        with Peer(port) as w, Peer(port) as c:
            w.send(P.CAN_DO, b"cron")
            w.send(P.PRE_SLEEP)
            due = int(time.time()) + 2
            c.send(P.SUBMIT_JOB_EPOCH, b"cron", b"", str(due).encode(), b"tick")
            assert c.frame().type is P.JOB_CREATED
            noop = w.frame(timeout=6)  # nothing else happens: only the due time can wake it
            assert noop.type is P.NOOP and time.time() >= due - 0.05
            w.send(P.GRAB_JOB)
            assert w.frame().args[2] == b"tick"
    finally:
        stop(proc)


def test_can_do_timeout_requeues_to_another_worker() -> None:
    port = free_port()
    proc = start_geartool(port, "--queue", "memory")
    try:
        with Peer(port) as slow, Peer(port) as fast, Peer(port) as c:
            slow.send(P.CAN_DO_TIMEOUT, b"t", b"1000")
            c.send(P.SUBMIT_JOB, b"t", b"", b"data")
            handle = c.frame().args[0]
            slow.send(P.GRAB_JOB)
            assert slow.frame().type is P.JOB_ASSIGN
            fast.send(P.CAN_DO, b"t")
            fast.send(P.PRE_SLEEP)
            assert fast.frame(timeout=5).type is P.NOOP  # woken when the timeout requeues it
            fast.send(P.GRAB_JOB)
            assert fast.frame().args[0] == handle
            fast.send(P.WORK_COMPLETE, handle, b"done")
            assert c.frame().args == (handle, b"done")
            slow.send(P.WORK_COMPLETE, handle, b"too late")
            assert slow.frame().args[0] == b"JOB_NOT_FOUND"
    finally:
        stop(proc)


def test_client_that_never_reads_does_not_stall_others() -> None:
    port = free_port()
    proc = start_geartool(port, "--queue", "memory")
    try:
        greedy = socket.create_connection(("127.0.0.1", port))
        greedy.setblocking(False)
        echo = encode(Frame(Magic.REQ, P.ECHO_REQ, (b"z" * 65536,)))
        sent = 0
        deadline = time.monotonic() + 5
        while sent < 400 * len(echo) and time.monotonic() < deadline:
            try:
                sent += greedy.send(echo)
            except BlockingIOError:
                break  # the server stopped reading us: backpressure works
        assert sent < 400 * len(echo), "the server kept reading a client that never reads"
        with Peer(port) as other:
            other.send(P.ECHO_REQ, b"ok")
            assert other.frame(timeout=5).args == (b"ok",)
        status = open(f"/proc/{proc.pid}/status").read()
        rss_kb = int(next(line for line in status.splitlines()
                          if line.startswith("VmRSS")).split()[1])
        assert rss_kb < 200_000  # it did not buffer everything the greedy client sent
        greedy.close()
    finally:
        stop(proc)


def test_gearmand_port_environment_variable() -> None:
    port = free_port()
    env = dict(os.environ, GEARMAND_PORT=str(port))
    proc = subprocess.Popen([sys.executable, "-m", "geartool", "server", "--queue", "memory"],
                            env=env, stderr=subprocess.DEVNULL)
    try:
        wait_port(port, proc)
        with Peer(port) as p:
            p.send(P.ECHO_REQ, b"env")
            assert p.frame().args == (b"env",)
    finally:
        stop(proc)


def _flood(port: int, stop_at: float, done: list[int]) -> None:
    """Keep the server busy: one thread writes echo requests in 1 MB blocks, as fast as the
    server reads them, while this one reads the replies (large writes and reads, so the
    threads spend their time in the kernel, not waiting for the GIL)."""
    block = encode(Frame(Magic.REQ, P.ECHO_REQ, (b"f" * 4096,))) * 256
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(10)

        def write() -> None:
            while time.monotonic() < stop_at:
                sock.sendall(block)
            sock.shutdown(socket.SHUT_WR)

        writer = threading.Thread(target=write)
        writer.start()
        got = 0
        while chunk := sock.recv(1 << 20):
            got += len(chunk)
        writer.join()
        done.append(got)


def test_timers_fire_while_peers_keep_the_server_busy() -> None:
    # The server takes several passes over its ready sockets per wake-up of the event loop;
    # that must stay bounded, or a steady stream of requests would hold back every timer.
    port = free_port()
    proc = start_geartool(port, "--queue", "memory")
    try:
        with Peer(port) as slow, Peer(port) as fast, Peer(port) as c:
            slow.send(P.CAN_DO_TIMEOUT, b"t", b"500")
            c.send(P.SUBMIT_JOB, b"t", b"", b"data")
            handle = c.frame().args[0]
            slow.send(P.GRAB_JOB)
            assert slow.frame().type is P.JOB_ASSIGN  # the timer is armed: due in 0.5 s
            fast.send(P.CAN_DO, b"t")
            fast.send(P.PRE_SLEEP)  # asleep: nothing is queued
            stop_at = time.monotonic() + 4.0
            done: list[int] = []
            threads = [threading.Thread(target=_flood, args=(port, stop_at, done))
                       for _ in range(2)]
            for t in threads:
                t.start()
            try:
                assert fast.frame(timeout=3).type is P.NOOP  # the timeout requeued the job
                woken = time.monotonic()
            finally:
                for t in threads:
                    t.join()
            assert woken < stop_at - 1.0, "the timer waited for the flood to end"
            assert len(done) == 2 and min(done) > 0  # both flooders were answered to the end
            fast.send(P.GRAB_JOB)
            assert fast.frame().args[0] == handle
    finally:
        stop(proc)
