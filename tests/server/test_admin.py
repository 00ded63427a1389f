"""Server-side admin replies, byte for byte as gearmand 1.1.x sends them."""

from __future__ import annotations

import os

import pytest

from geartool.protocol import PacketType as P
from geartool.protocol import RemoteProtocolError

from .helpers import Harness


def test_status_workers_and_jobs_lists() -> None:
    h = Harness()
    admin = h.conn()
    c = h.conn()
    w = h.worker(b"reverse", b"upper", sleep=False)
    h.send(w, P.SET_CLIENT_ID, b"w-1")
    j1 = h.submit(c, b"reverse", b"a", b"u1", ptype=P.SUBMIT_JOB_BG)
    h.submit(c, b"reverse", b"b", ptype=P.SUBMIT_JOB_HIGH)
    h.submit(c, b"upper", b"c", b"u3", ptype=P.SUBMIT_JOB_LOW_BG)
    h.grab(w)
    assert h.admin(admin, b"status") == b"reverse\t2\t1\t1\nupper\t1\t0\t1\n.\n"
    assert h.admin(admin, b"prioritystatus") == b"reverse\t0\t1\t0\t1\nupper\t0\t0\t1\t1\n.\n"
    workers = h.admin(admin, b"workers").decode().splitlines()
    assert f"{w.id} 127.0.0.1 w-1 : upper reverse" in workers  # most recent CAN_DO first
    assert f"{admin.id} 127.0.0.1 - :" in workers and workers[-1] == "."
    jobs = h.admin(admin, b"show jobs")
    assert jobs.startswith(j1 + b"\t0\t0\t1\n") and jobs.endswith(b"\t0\t0\t1\n.\n")
    assert h.admin(admin, b"show unique jobs") == b"u1\n\nu3\n.\n"
    assert h.admin(admin, b"SHOW JOBS").endswith(b".\n")  # command words ignore case


def test_single_line_replies() -> None:
    h = Harness()
    a = h.conn()
    assert h.admin(a, b"version").startswith(b"OK geartool-")
    assert h.admin(a, b"getpid") == f"OK {os.getpid()}\n".encode()
    assert h.admin(a, b"verbose").startswith(b"OK ")
    assert h.admin(a, b"frobnicate") == b"ERR UNKNOWN_COMMAND Unknown+server+commandfrobnicate\r\n"
    assert h.admin(a, b"") == b"ERR UNKNOWN_COMMAND Unknown+server+command\r\n"
    assert h.admin(a, b"show stuff") == b"ERR UNKNOWN_SHOW_ARGUMENTS\r\n"
    assert h.admin(a, b"cancel job") == b"ERR UNKNOWN_COMMAND Unknown+server+commandcancel\r\n"
    assert h.admin(a, b"cancel foo bar") == b"ERR UNKNOWN_ERROR\r\n"
    assert h.admin(a, b"maxqueue") == (b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was"
                                       b"+sent+to+this+command+maxqueue\r\n")
    assert h.admin(a, b"maxqueue nosuch 3") == b"OK\r\n"
    assert b"nosuch" not in h.core.functions  # maxqueue creates nothing
    with pytest.raises(RemoteProtocolError):
        h.admin(a, b"a b c d e f")


def test_create_and_drop_function() -> None:
    h = Harness()
    a = h.conn()
    assert h.admin(a, b"create function") .startswith(b"ERR INVALID_ARGUMENTS")
    assert h.admin(a, b"create function Resize") == b"OK\r\n"
    assert h.admin(a, b"status") == b"Resize\t0\t0\t0\n.\n"
    w = h.worker(b"Resize", sleep=False)
    assert h.admin(a, b"drop function resize") == (
        b"ERR there are still connected workers or executing clients\r\n")
    h.core.disconnect(w)
    c = h.conn()
    h.submit(c, b"Resize", b"x", ptype=P.SUBMIT_JOB_BG)
    assert h.admin(a, b"drop function resize").startswith(b"ERR there are")  # queued jobs too
    wk = h.worker(b"Resize", sleep=False)
    handle = h.grab(wk).args[0]
    h.send(wk, P.WORK_COMPLETE, handle, b"")
    h.core.disconnect(wk)
    assert h.admin(a, b"drop function RESIZE") == b"OK\r\n"
    assert h.admin(a, b"drop function resize") == b"ERR function not found\r\n"


def test_shutdown_only_from_loopback() -> None:
    h = Harness()
    remote = h.conn("192.0.2.7")
    assert h.admin(remote, b"shutdown").startswith(b"ERR NOT_ALLOWED")
    assert h.core.shutdown_requested is None
    local = h.conn()
    assert h.admin(local, b"shutdown graceful") == b"OK\r\n"
    assert h.core.shutdown_requested == "graceful"


def test_extensions_stats_running_uptime() -> None:
    h = Harness()
    a, c = h.conn(), h.conn()
    w = h.worker(b"f", sleep=False)
    h1 = h.submit(c, b"f", b"1", b"uniq")
    h.submit(c, b"f", b"2", ptype=P.SUBMIT_JOB_BG)
    h.grab(w)
    h.clock.now += 2.5
    running = h.admin(a, b"running").decode()
    assert running == f"{w.id}\t127.0.0.1\t-\t{h1.decode()}\tf\tuniq\t2.500\n.\n"
    stats = h.admin(a, b"stats").decode().splitlines()
    assert stats == ["f\t2\t0\t0\t0\t0\t2.500", "."]
    h.send(w, P.WORK_FAIL, h1)
    assert h.admin(a, b"stats").decode().splitlines()[0].split("\t")[1:4] == ["2", "0", "1"]
    assert h.admin(a, b"uptime") == b"OK 2.500\n"
