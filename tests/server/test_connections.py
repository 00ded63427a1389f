"""Closed connections are freed at once by reference counting, not left to the cyclic GC.

The server runs with a young-generation threshold of 50,000 (see ``app.tune_gc``), so garbage
cycles reach a collection only rarely; a client that connects once per job would otherwise leave
a few KB behind per connection until then.
"""

from __future__ import annotations

import asyncio
import gc

from geartool.protocol import PacketType as P
from geartool.protocol.frames import pack_bytes
from geartool.server.app import Server
from geartool.server.config import ServerConfig
from geartool.server.model import Conn
from geartool.server.transport import GearmanProtocol


def _alive(kind: type) -> int:
    return sum(1 for o in gc.get_objects() if type(o) is kind)


async def _churn(server: Server, port: int, n: int) -> None:
    for i in range(n):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        # A client and a worker's worth of state: a job it waits for, a function it can do.
        writer.write(pack_bytes(b"\0REQ", P.CAN_DO, [b"f%d" % i])
                     + pack_bytes(b"\0REQ", P.SUBMIT_JOB, [b"nobody", b"u%d" % i, b"x"]))
        header = await asyncio.wait_for(reader.readexactly(12), 5)
        assert header[:4] == b"\0RES"
        writer.close()
        await writer.wait_closed()
    for _ in range(200):  # until the server has seen every close
        if not server.core.conns:
            break
        await asyncio.sleep(0.01)


def test_closed_connections_leave_no_garbage_cycles() -> None:
    async def main() -> None:
        server = Server(ServerConfig(listen=["127.0.0.1"], port=0, queue="memory"))
        await server.start()
        port = server.addresses[0][1]
        try:
            await _churn(server, port, 5)  # warm up: first-use allocations of the loop
            gc.collect()
            gc.disable()  # from here only reference counting frees anything
            try:
                before = _alive(GearmanProtocol), _alive(Conn)
                await _churn(server, port, 40)
                after = _alive(GearmanProtocol), _alive(Conn)
            finally:
                gc.enable()
            assert server.core.conns == {}
            assert after == before, f"{after[0] - before[0]} protocols and " \
                                    f"{after[1] - before[1]} connections left for the GC"
        finally:
            await server.shutdown(graceful=False)

    asyncio.run(main())
