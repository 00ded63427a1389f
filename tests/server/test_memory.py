"""Jobs, registrations and connections are freed at once by reference counting.

The server runs with a young-generation threshold of 50,000 (see ``heap.tune``), so garbage
cycles reach a collection only rarely: anything a job or a connection leaves in a cycle would
pile up in a busy server until then. And the server takes every Job off the collector's lists
(``Core.untrack``), so a Job left in a cycle would never be freed at all. These tests hold the
cyclic GC off and count objects; they keep jobs visible to the collector so it can count them.
"""

from __future__ import annotations

import asyncio
import gc

from geartool.protocol import PacketType as P
from geartool.protocol.frames import pack_bytes
from geartool.server.app import Server
from geartool.server.config import ServerConfig
from geartool.server.model import Conn, Job, Registration
from geartool.server.transport import Peer
from tests.server.helpers import Harness


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
                before = _alive(Peer), _alive(Conn)
                await _churn(server, port, 40)
                after = _alive(Peer), _alive(Conn)
            finally:
                gc.enable()
            assert server.core.conns == {}
            assert after == before, f"{after[0] - before[0]} peers and " \
                                    f"{after[1] - before[1]} connections left for the GC"
        finally:
            await server.shutdown(graceful=False)

    asyncio.run(main())


def test_every_way_a_job_ends_leaves_nothing_behind() -> None:
    """Completed, coalesced, failed, raised, requeued after a lost or timed-out worker,
    abandoned, cancelled and epoch jobs: once they end and their peers leave, no Job,
    Registration or Conn survives."""
    gc.collect()
    gc.disable()
    try:
        before = [_alive(t) for t in (Job, Registration, Conn)]
        _every_ending()
        after = [_alive(t) for t in (Job, Registration, Conn)]
    finally:
        gc.enable()
    assert after == before


def _every_ending() -> None:
    h = Harness()
    core = h.core
    core.untrack = None  # so that gc.get_objects() lists the jobs

    def grab(worker: Conn) -> None:
        h.received(worker)  # a NOOP or two from sleeping
        assert h.grab(worker).type is P.JOB_ASSIGN_UNIQ

    c1, c2, admin = h.conn(), h.conn(), h.conn()
    w = h.worker(b"f")
    # completed, with a second client coalesced onto it
    handle = h.submit(c1, b"f", b"d", unique=b"u")
    assert h.submit(c2, b"f", b"d", unique=b"u") == handle
    grab(w)
    h.send(w, P.WORK_COMPLETE, handle, b"r")
    # failed, raised, background
    for end in (P.WORK_FAIL, P.WORK_EXCEPTION):
        handle = h.submit(c1, b"f", b"x")
        grab(w)
        h.send(w, end, handle, *((b"boom",) if end is P.WORK_EXCEPTION else ()))
    handle = h.submit(c1, b"f", b"bg", ptype=P.SUBMIT_JOB_BG)
    grab(w)
    h.send(w, P.WORK_COMPLETE, handle, b"")
    # requeued after its worker vanished, then completed by another
    handle = h.submit(c1, b"f", b"again")
    lost = h.worker(b"f")
    grab(lost)
    core.disconnect(lost)
    grab(w)
    h.send(w, P.WORK_COMPLETE, handle, b"r")
    # requeued after a CAN_DO_TIMEOUT, then completed
    slow = h.conn()
    h.send(slow, P.CAN_DO_TIMEOUT, b"g", b"1000")
    w2 = h.worker(b"g")
    handle = h.submit(c1, b"g", b"t")
    grab(slow)
    h.clock.now += 2
    core.tick()
    grab(w2)
    h.send(w2, P.WORK_COMPLETE, handle, b"r")
    # abandoned by its only client, then reaped by a grab
    c3 = h.conn()
    h.submit(c3, b"f", b"nobody waits")
    core.disconnect(c3)
    h.send(w, P.GRAB_JOB_UNIQ)
    # cancelled by the admin
    handle = h.submit(c1, b"f", b"cancel me", ptype=P.SUBMIT_JOB_BG)
    assert h.admin(admin, b"cancel job " + handle) == b"OK\r\n"
    # an epoch job, due later, run when due
    h.send(c1, P.SUBMIT_JOB_EPOCH, b"f", b"", str(int(h.clock.now) + 5).encode(), b"later")
    handle = h.received(c1)[-1].args[0]
    h.clock.now += 10
    core.tick()
    grab(w)
    h.send(w, P.WORK_COMPLETE, handle, b"r")
    assert core.jobs == {}
    for conn in list(core.conns.values()):
        core.disconnect(conn)
    core.dirty.clear()


def test_finished_jobs_do_not_wait_for_their_timeout_in_memory() -> None:
    """A CAN_DO_TIMEOUT worker's finished jobs are not kept, data and all, until the deadline
    they no longer have (their heap entries are dropped once stale ones dominate)."""
    h = Harness()
    h.core.untrack = None  # so that gc.get_objects() lists the jobs
    w = h.conn()
    h.send(w, P.CAN_DO_TIMEOUT, b"f", b"3600000")  # one hour
    c = h.conn()
    gc.collect()
    before = _alive(Job)
    for _ in range(5000):
        handle = h.submit(c, b"f", b"x" * 1000)
        h.send(w, P.GRAB_JOB_UNIQ)
        assert h.received(w)[-1].type is P.JOB_ASSIGN_UNIQ
        h.send(w, P.WORK_COMPLETE, handle, b"ok")
        h.received(c)
    gc.collect()
    assert h.core.jobs == {}
    assert len(h.core._timers) <= 1024 + 1
    assert _alive(Job) - before <= 1024 + 1
    # and a timeout still fires for a job that does not finish
    handle = h.submit(c, b"f", b"slow")
    h.send(w, P.GRAB_JOB_UNIQ)
    h.received(w)
    h.clock.now += 3601
    h.core.tick()
    w2 = h.worker(b"f", sleep=False)
    assert h.grab(w2).args[0] == handle


def test_an_abandoned_job_keeps_its_place_but_not_its_payload() -> None:
    h = Harness()
    c = h.conn()
    handle = h.submit(c, b"nobody", b"x" * 100_000)
    h.core.disconnect(c)
    job = h.job(handle)
    assert job.ignore and job.data == b""
    assert h.admin(h.conn(), b"status") == b"nobody\t1\t0\t0\n.\n"  # still counted, as gearmand
    w = h.worker(b"nobody", sleep=False)
    assert h.grab(w).type is P.NO_JOB  # reaped at the grab, never run
    assert h.core.jobs == {}
