"""While the server is busy, clients' replies wait a few passes to leave together; workers' never
wait, and nothing waits beyond the wake-up or DEFER_NS. Real sockets (socket pairs) and the
server's own hub, driven pass by pass without an event loop."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from geartool.protocol import Decoder, Frame, Magic, PacketType
from geartool.protocol.frames import pack_bytes
from geartool.server.app import Server
from geartool.server.config import ServerConfig
from geartool.server.model import SHORT_QUEUE, Conn
from geartool.server.outgoing import DEFER_NS


class Pair:
    """One adopted socket pair: the server's end in the hub, ours to write and read."""

    def __init__(self, server: Server) -> None:
        ours, self.theirs = socket.socketpair()
        self.theirs.setblocking(False)
        conn = server.hub.adopt(ours, "").conn
        assert conn is not None
        self.conn: Conn = conn

    def received(self) -> bytes:
        try:
            return self.theirs.recv(1 << 20)
        except BlockingIOError:
            return b""


@pytest.fixture
def server() -> Iterator[Server]:
    srv = Server(ServerConfig(listen=["127.0.0.1"], port=0, queue="memory"))
    yield srv
    srv.hub.close_all()


def _worker(server: Server) -> Pair:
    w = Pair(server)
    w.theirs.sendall(pack_bytes(b"\0REQ", PacketType.CAN_DO, [b"f"]))
    server.hub.on_ready()
    assert w.conn.registrations
    return w


def test_a_busy_pass_defers_a_clients_replies_not_a_workers(server: Server) -> None:
    hub, core = server.hub, server.core
    worker, client = _worker(server), Pair(server)
    hub.deferring, hub.deferred_since = True, time.monotonic_ns()
    core.send(worker.conn, b"to the worker")
    core.send(client.conn, b"to the client")
    hub.flush_now()
    assert worker.received() == b"to the worker"
    assert client.received() == b""
    hub.deferring = False  # the wake-up's last pass
    hub.flush_now()
    assert client.received() == b"to the client"


def test_replies_wait_no_longer_than_defer_ns(server: Server) -> None:
    hub, core = server.hub, server.core
    client = Pair(server)
    hub.deferring = True
    core.send(client.conn, b"first ")
    hub.flush_now()
    assert client.received() == b"" and hub.deferred
    core.send(client.conn, b"second")
    hub.flush_now()  # a pass later, well within DEFER_NS: still deferred
    assert client.received() == b""
    hub.deferred_since -= DEFER_NS  # the first reply has now waited DEFER_NS
    hub.flush_now()
    assert client.received() == b"first second" and not hub.deferred


def test_a_wake_up_never_ends_with_replies_deferred(server: Server) -> None:
    client = Pair(server)
    echo = pack_bytes(b"\0REQ", PacketType.ECHO_REQ, [b"ping"])
    client.theirs.sendall(echo)
    server.hub.on_ready()
    assert client.received() == pack_bytes(b"\0RES", PacketType.ECHO_RES, [b"ping"])
    assert not server.hub.deferred and not server.hub.deferring


def _job_done_with_queue(server: Server, queued: int) -> tuple[Pair, Pair]:
    """A client's foreground job completes, with ``queued`` more of its function's jobs
    waiting for the one worker: returns (worker, client) with nothing left to read."""
    hub, core = server.hub, server.core
    worker, client = _worker(server), Pair(server)
    for i in range(1 + queued):
        core.handle(client.conn, Frame(Magic.REQ, PacketType.SUBMIT_JOB, (b"f", b"u%d" % i, b"x")))
    core.handle(worker.conn, Frame(Magic.REQ, PacketType.GRAB_JOB, ()))
    hub.flush_now()
    dec = Decoder()
    dec.feed(worker.received())
    assign = [e for e in dec.events() if isinstance(e, Frame)]
    assert [f.type for f in assign] == [PacketType.JOB_ASSIGN]
    client.received()  # the JOB_CREATEDs
    hub.deferring, hub.deferred_since = True, time.monotonic_ns()
    core.handle(worker.conn, Frame(Magic.REQ, PacketType.WORK_COMPLETE, (assign[0].args[0], b"r")))
    hub.flush_now()
    return worker, client


def test_a_result_is_not_deferred_when_its_queue_runs_short(server: Server) -> None:
    """Its client's next submit is the worker's next job: with fewer than SHORT_QUEUE jobs
    queued per worker, the result goes out at once even in a deferring pass."""
    _, client = _job_done_with_queue(server, SHORT_QUEUE - 1)
    assert b"r" in client.received() and not server.core.hurry


def test_a_result_is_deferred_while_its_queue_is_long(server: Server) -> None:
    _, client = _job_done_with_queue(server, SHORT_QUEUE)
    assert client.received() == b"" and server.hub.deferred
    server.hub.deferring = False
    server.hub.flush_now()
    assert b"r" in client.received()


def test_a_job_created_is_deferred_only_while_the_queue_is_long(server: Server) -> None:
    """A client that waits for JOB_CREATED before it submits more gets it at once while the
    workers could run short; behind a long queue it may wait with the other replies."""
    hub, core = server.hub, server.core
    _worker(server)
    client = Pair(server)
    hub.deferring, hub.deferred_since = True, time.monotonic_ns()
    for i in range(SHORT_QUEUE):  # the last one makes SHORT_QUEUE jobs queued for one worker
        core.handle(client.conn, Frame(Magic.REQ, PacketType.SUBMIT_JOB, (b"f", b"q%d" % i, b"")))
        hub.flush_now()
        created = client.received()
        if i < SHORT_QUEUE - 1:
            assert created.count(b"H:") == 1, i
        else:
            assert created == b"" and hub.deferred


def test_every_reply_of_a_many_pass_wake_up_arrives_in_order(server: Server) -> None:
    """400 KB of requests take a pass per 64 KB read: replies are deferred and written in turns,
    and each arrives once, in order."""
    client = Pair(server)
    payloads = [b"%06d" % i + b"x" * 1000 for i in range(400)]
    todo = memoryview(b"".join(pack_bytes(b"\0REQ", PacketType.ECHO_REQ, [p])
                               for p in payloads))
    dec, got = Decoder(), []
    for _ in range(400):  # bounded; one thread, so we write what the socket takes, in turns
        if todo:
            try:
                todo = todo[client.theirs.send(todo):]
            except BlockingIOError:
                pass
        server.hub.on_ready()
        dec.feed(client.received())
        got += [e.args[0] for e in dec.events() if isinstance(e, Frame)]
        if len(got) == len(payloads):
            break
    assert got == payloads
