"""The same binary conversation against C++ gearmand and geartool: the same replies.

Handles differ by design (host name, counter); they are normalised. Where geartool
deliberately differs (PROTOCOL.md fixes), the test says so explicitly.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from geartool.protocol import Frame
from geartool.protocol import PacketType as P
from tests.conftest import free_port, start_gearmand, start_geartool, stop
from tests.wire import Peer

pytestmark = pytest.mark.interop


def norm(frame: Frame) -> tuple[str, tuple[bytes, ...]]:
    return frame.type.name, tuple(re.sub(rb"H:[^:\0]+:(\d+)", rb"H:host:\1", a)
                                  for a in frame.args)


def conversation(port: int) -> list[tuple[str, tuple[bytes, ...]]]:
    got: list[tuple[str, tuple[bytes, ...]]] = []
    with Peer(port) as c, Peer(port) as fancy, Peer(port) as w:
        def ask(peer: Peer, ptype: P, *args: bytes) -> Frame:
            peer.send(ptype, *args)
            f = peer.frame()
            got.append(norm(f))
            return f
        ask(c, P.ECHO_REQ, b"hello\0world")
        ask(c, P.OPTION_REQ, b"bogus")
        ask(fancy, P.OPTION_REQ, b"exceptions")
        ask(c, P.GET_STATUS, b"H:nobody:42")
        ask(c, P.GET_STATUS_UNIQUE, b"nope")
        ask(c, P.ALL_YOURS)
        ask(c, P.SUBMIT_JOB_SCHED, b"f", b"", b"1", b"2", b"3", b"4", b"5", b"d")
        ask(w, P.GRAB_JOB)  # no abilities yet
        w.send(P.CAN_DO, b"rev")
        w.send(P.SET_CLIENT_ID, b"worker-1")
        handle = ask(c, P.SUBMIT_JOB, b"rev", b"uniq-1", b"abc").args[0]
        ask(fancy, P.SUBMIT_JOB, b"rev", b"uniq-1", b"ignored")  # coalesces
        ask(c, P.GET_STATUS, handle)
        ask(w, P.GRAB_JOB_ALL)  # no reducer: JOB_ASSIGN_UNIQ
        w.send(P.WORK_STATUS, handle, b"1", b"3")
        got.append(norm(c.frame()))
        got.append(norm(fancy.frame()))
        ask(c, P.GET_STATUS, handle)
        w.send(P.WORK_DATA, handle, b"partial")
        got.append(norm(c.frame()))
        w.send(P.WORK_COMPLETE, handle, b"cba")
        got.append(norm(c.frame()))
        got.append(norm(fancy.frame()))
        ask(w, P.WORK_COMPLETE, handle, b"again")  # job is gone: JOB_NOT_FOUND
        ask(w, P.WORK_DATA, b"H:x:999", b"d")
        handle = ask(c, P.SUBMIT_JOB_HIGH, b"rev", b"", b"x").args[0]
        ask(w, P.GRAB_JOB)
        w.send(P.WORK_FAIL, handle)
        got.append(norm(c.frame()))
        ask(c, P.SUBMIT_JOB, b"rev", b"u" * 65, b"x")  # unique too long
        ask(c, P.SUBMIT_REDUCE_JOB, b"rev", b"r1", b"reducer", b"", b"payload")
        ask(w, P.GRAB_JOB_ALL)
        w.send(P.PRE_SLEEP)
        time.sleep(0.2)
        ask(c, P.SUBMIT_JOB_LOW_BG, b"rev", b"bg-1", b"later")
        got.append(norm(w.frame()))  # NOOP for the sleeping worker
    return got


def test_binary_conversation_matches_gearmand(tmp_path: Path) -> None:
    results = []
    for kind in ("gearmand", "geartool"):
        port = free_port()
        proc = (start_gearmand(port) if kind == "gearmand"
                else start_geartool(port, "--queue", f"sqlite://{tmp_path}/q.db"))
        try:
            results.append(conversation(port))
        finally:
            stop(proc)
    gearmand, geartool = results
    assert len(gearmand) == len(geartool)
    for i, (theirs, ours) in enumerate(zip(gearmand, geartool, strict=True)):
        assert ours == theirs, f"step {i}: gearmand {theirs} geartool {ours}"
