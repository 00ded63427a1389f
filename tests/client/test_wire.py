"""What the worker and client put on the wire, seen by a scripted server on a real socket.

The scripted server decodes with the protocol core and answers by hand, so the tests can
check packet order (SET_CLIENT_ID, CAN_DO_TIMEOUT, GRAB_JOB_UNIQ, PRE_SLEEP) and how the
client treats ERROR replies and replies out of order.
"""

from __future__ import annotations

import asyncio

import pytest

from geartool.client import Client, ConnectionLost, ServerError, SubmitTimeout, Worker
from geartool.protocol import NEED_DATA, Decoder, Frame, PacketType, encode, res

from .helpers import run

P = PacketType


class Scripted:
    """A one-connection server: records every frame and lets the test reply."""

    def __init__(self) -> None:
        self.frames: asyncio.Queue[Frame] = asyncio.Queue()
        self.writer: asyncio.StreamWriter | None = None
        self.connected = asyncio.Event()

    async def start(self) -> int:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return int(self.server.sockets[0].getsockname()[1])

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.writer = writer
        self.connected.set()
        dec = Decoder()
        while data := await reader.read(65536):
            dec.feed(data)
            while (ev := dec.next_event()) is not NEED_DATA:
                assert isinstance(ev, Frame)
                await self.frames.put(ev)

    async def expect(self, ptype: PacketType) -> Frame:
        frame = await asyncio.wait_for(self.frames.get(), 5)
        assert frame.type is ptype, f"expected {ptype.name}, got {frame}"
        return frame

    def send(self, ptype: PacketType, *args: bytes) -> None:
        assert self.writer is not None
        self.writer.write(encode(res(ptype, *args)))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.server.close()


def test_worker_packet_sequence() -> None:
    async def main() -> None:
        srv = Scripted()
        port = await srv.start()
        worker = Worker(f"127.0.0.1:{port}", client_id="wire-test", timeout_grace=0.5)
        worker.register_task("slow", lambda job: job.data.upper(), timeout=2.0)
        worker.register_task("plain", lambda job: b"")
        wtask = asyncio.create_task(worker.work())
        assert (await srv.expect(P.SET_CLIENT_ID)).args == (b"wire-test",)
        assert (await srv.expect(P.CAN_DO_TIMEOUT)).args == (b"slow", b"2500")
        assert (await srv.expect(P.CAN_DO)).args == (b"plain",)
        await srv.expect(P.GRAB_JOB_UNIQ)
        srv.send(P.NO_JOB)
        await srv.expect(P.PRE_SLEEP)
        srv.send(P.NOOP)
        await srv.expect(P.GRAB_JOB_UNIQ)
        srv.send(P.JOB_ASSIGN_UNIQ, b"H:1", b"slow", b"u1", b"abc")
        # concurrency 1: the result comes before the next grab
        done = await srv.expect(P.WORK_COMPLETE)
        assert done.args == (b"H:1", b"ABC")
        await srv.expect(P.GRAB_JOB_UNIQ)
        worker.stop()
        await asyncio.wait_for(wtask, 5)
        srv.close()

    run(main())


def test_client_error_fails_only_its_own_request() -> None:
    async def main() -> None:
        srv = Scripted()
        port = await srv.start()
        async with Client(f"127.0.0.1:{port}", exceptions=False) as client:
            first = asyncio.create_task(client.submit("f", "1", background=True))
            second = asyncio.create_task(client.submit("f", "2", background=True))
            f1 = await srv.expect(P.SUBMIT_JOB_BG)
            await srv.expect(P.SUBMIT_JOB_BG)
            assert f1.args[0] == b"f" and len(f1.args[1]) == 32 and f1.args[2] == b"1"
            srv.send(P.ERROR, b"QUEUE_ERROR", b"Job queue is full")
            srv.send(P.JOB_CREATED, b"H:2")
            with pytest.raises(ServerError) as err:
                await first
            assert err.value.code == "QUEUE_ERROR" and "full" in str(err.value)
            assert (await second).handle == "H:2"

            # A foreground job whose only server goes away ends with ConnectionLost.
            job_task = asyncio.create_task(client.submit("g", "3"))
            await srv.expect(P.SUBMIT_JOB)
            srv.send(P.JOB_CREATED, b"H:3")
            job = await job_task
            srv.send(P.WORK_DATA, b"H:3", b"partial")
            srv.send(P.WORK_FAIL, b"H:3\0")  # gearmand's converted exception: stray NUL
            assert (await job.result(5)).state == "fail"
            job2_task = asyncio.create_task(client.submit("g", "4"))
            await srv.expect(P.SUBMIT_JOB)
            srv.send(P.JOB_CREATED, b"H:4")
            job2 = await job2_task
            srv.close()
            with pytest.raises(ConnectionLost):
                await job2.result(5)
        srv.close()

    run(main())


def test_submit_timeout_keeps_reply_pairing() -> None:
    async def main() -> None:
        srv = Scripted()
        port = await srv.start()
        async with Client(f"127.0.0.1:{port}", exceptions=False, submit_timeout=0.2) as client:
            with pytest.raises(SubmitTimeout) as err:
                await client.submit("f", "late")
            assert "no JOB_CREATED" in str(err.value) and isinstance(err.value, TimeoutError)
            await srv.expect(P.SUBMIT_JOB)
            nxt = asyncio.create_task(client.submit("f", "next"))
            await srv.expect(P.SUBMIT_JOB)
            srv.send(P.JOB_CREATED, b"H:late")  # belongs to the abandoned submit
            srv.send(P.JOB_CREATED, b"H:next")
            job = await nxt
            assert job.handle == "H:next"
            srv.send(P.WORK_COMPLETE, b"H:late", b"nobody listens")
            srv.send(P.WORK_COMPLETE, b"H:next", b"mine")
            assert (await job.result(5)).data == b"mine"
        srv.close()

    run(main())
