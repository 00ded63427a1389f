"""A client that stops reading while a worker streams to it is cut off; the server stays small."""

from __future__ import annotations

import asyncio
import socket
import time

from geartool.protocol import Decoder, Frame
from geartool.protocol import PacketType as P
from geartool.protocol.frames import pack_bytes
from geartool.server.app import Server
from geartool.server.config import ServerConfig
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


def test_one_reply_larger_than_the_limit_still_goes_out_whole() -> None:
    """The limit is checked before each write: a single large reply (here `show jobs`, 7 MB
    against a 1 MB limit) reaches a peer that reads it, and the peer is not cut off."""
    async def main() -> None:
        server = Server(ServerConfig(listen=["127.0.0.1"], port=0, queue="memory"))
        await server.start()
        port = server.addresses[0][1]
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            submit = b"".join(pack_bytes(b"\0REQ", P.SUBMIT_JOB_BG, [b"f", b"%d" % i, b"x"])
                              for i in range(400_000))
            writer.write(submit + pack_bytes(b"\0REQ", P.ECHO_REQ, [b"end"]))
            decoder, echoed = Decoder(), False
            while not echoed:  # every job exists once the echo behind them comes back
                data = await asyncio.wait_for(reader.read(1 << 16), 30)
                assert data
                echoed = any(isinstance(e, Frame) and e.type is P.ECHO_RES
                             for e in decoder.receive(data))
            server.write_limit = 1 << 20
            # A small receive buffer: the reply waits in the server's own buffer, not the kernel.
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect(("127.0.0.1", port))
            sock.setblocking(False)
            admin_r, admin_w = await asyncio.open_connection(sock=sock, limit=16 << 20)
            admin_w.write(b"show jobs\n")
            reply = await asyncio.wait_for(admin_r.readuntil(b"\n.\n"), 30)
            assert reply.count(b"\n") == 400_000 + 1 and len(reply) > server.write_limit
            admin_w.write(b"version\n")  # still connected
            assert (await asyncio.wait_for(admin_r.readline(), 5)).startswith(b"OK")
            writer.close()
            admin_w.close()
        finally:
            await server.shutdown(graceful=False)

    asyncio.run(main())
