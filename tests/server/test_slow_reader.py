"""A client that stops reading while a worker streams to it is cut off; the server stays small."""

from __future__ import annotations

import socket
import time

from geartool.protocol import PacketType as P
from geartool.protocol.frames import pack_bytes
from tests.conftest import free_port, start_geartool, stop
from tests.wire import Peer


def _rss_mb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) // 1024
    return 0


def test_a_stuck_client_is_cut_off_not_buffered_without_bound() -> None:
    port = free_port()
    # 1 MB packets: the server lets 2 x 1 MB + 16 MB of replies pile up for one peer at most.
    proc = start_geartool(port, "--queue", "memory", "--max-packet-size", "1048576")
    stuck = socket.create_connection(("127.0.0.1", port))
    stuck.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    try:
        stuck.sendall(pack_bytes(b"\0REQ", P.SUBMIT_JOB, [b"flood", b"", b"x"]))
        with Peer(port) as w, Peer(port) as other:
            w.send(P.CAN_DO, b"flood")
            time.sleep(0.2)
            w.send(P.GRAB_JOB)
            handle = w.frame().args[0]
            chunk = pack_bytes(b"\0REQ", P.WORK_DATA, [handle, b"y" * 65536])
            w.sock.settimeout(10)
            for _ in range(1600):  # 100 MB, never read by the client
                w.sock.sendall(chunk)
            w.send(P.WORK_COMPLETE, handle, b"done")
            w.send(P.ECHO_REQ, b"after")
            assert w.frame(timeout=10).args == (b"after",)  # the worker was never stalled
            other.send(P.ECHO_REQ, b"others too")
            assert other.frame().args == (b"others too",)
            assert _rss_mb(proc.pid) < 90  # not the 100 MB the worker sent
            # Connections the server still has: the worker and this one, not the stuck client.
            assert len(other.admin("workers")) - 1 == 2
    finally:
        stuck.close()
        stop(proc)
    assert proc.stderr is not None
    log = proc.stderr.read()
    assert b"replies unread" in log and b"Traceback" not in log
