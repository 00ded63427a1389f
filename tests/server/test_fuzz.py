"""Random and damaged packets from many peers at once: the server stays up and correct.

Bounded: 400 connections of up to 30 packets each, about five seconds.
"""

from __future__ import annotations

import random
import socket

from geartool.protocol import PacketType as P
from geartool.protocol.frames import pack_bytes
from tests.conftest import free_port, start_geartool, stop
from tests.wire import Peer

ADMIN = [b"status\n", b"workers\n", b"show jobs\n", b"show unique jobs\n", b"cancel job H:x:1\n",
         b"maxqueue f 1\n", b"drop function f\n", b"create function g\n", b"prioritystatus\n",
         b"getpid\n", b"verbose\n", b"version\n", b"stats\n", b"running\n"]
ARGS = [b"", b"f", b"g", b"H:x:1", b"-", b"1", b"999999999999999999999", b"\xff\xfe"]


def _packet(rnd: random.Random) -> bytes:
    if rnd.random() < 0.05:
        return rnd.choice(ADMIN)
    args = [rnd.choice(ARGS) for _ in range(rnd.randrange(0, 6))]
    data = pack_bytes(rnd.choice([b"\0REQ", b"\0REQ", b"\0RES"]), int(rnd.choice(list(P))), args)
    if rnd.random() < 0.1:  # a damaged byte somewhere, header included
        mutable = bytearray(data)
        mutable[rnd.randrange(len(mutable))] = rnd.randrange(256)
        data = bytes(mutable)
    return data


def test_random_packets_from_many_peers() -> None:
    port = free_port()
    proc = start_geartool(port, "--queue", "memory")
    rnd = random.Random(4730)
    held: list[socket.socket] = []
    try:
        for _ in range(400):
            s = socket.create_connection(("127.0.0.1", port))
            s.settimeout(0.05)
            try:
                for _ in range(rnd.randrange(1, 30)):
                    s.sendall(_packet(rnd))
                s.recv(65536)
            except OSError:
                pass
            if rnd.random() < 0.5:
                held.append(s)  # kept open: many peers at once
            else:
                s.close()
        assert proc.poll() is None
        with Peer(port) as w, Peer(port) as c:  # and it still does its job
            w.send(P.CAN_DO, b"ok")
            c.send(P.SUBMIT_JOB, b"ok", b"", b"data")
            handle = c.frame().args[0]
            w.send(P.GRAB_JOB)
            assert w.frame().args == (handle, b"ok", b"data")
            w.send(P.WORK_COMPLETE, handle, b"done")
            assert c.frame().args == (handle, b"done")
    finally:
        for s in held:
            s.close()
        stop(proc)
    assert proc.stderr is not None
    assert b"Traceback" not in proc.stderr.read()
