"""The server's socket layer (transport.Hub) against real sockets: closes, errors, limits."""

from __future__ import annotations

import asyncio
import resource
import select
import socket
import subprocess
import sys
import time

import pytest

from geartool.protocol import PacketType as P
from geartool.protocol.frames import pack_bytes
from geartool.server import admin
from geartool.server.app import Server
from geartool.server.config import ServerConfig
from tests.conftest import free_port, start_geartool, stop, wait_port
from tests.wire import Peer

ECHO = pack_bytes(b"\0REQ", P.ECHO_REQ, [b"ping"])
ECHO_RES = pack_bytes(b"\0RES", P.ECHO_RES, [b"ping"])


def _read_to_eof(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    chunks = []
    while True:
        data = sock.recv(65536)
        if not data:
            return b"".join(chunks)
        chunks.append(data)


def test_a_half_closed_peer_gets_every_reply_before_the_close() -> None:
    """`printf 'status\\n' | nc` style: the request, then EOF at once. The answers still come."""
    port = free_port()
    proc = start_geartool(port, "--queue", "memory")
    try:
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(b"version\n" + ECHO + b"status\n")
            sock.shutdown(socket.SHUT_WR)
            reply = _read_to_eof(sock)
        assert reply.startswith(b"OK ")
        assert ECHO_RES in reply
        assert reply.endswith(b".\n")
        with Peer(port) as p:  # and the server is still there
            assert p.admin("version")[0].startswith("OK")
    finally:
        stop(proc)


def test_listening_on_a_name_listens_on_each_of_its_addresses() -> None:
    port = free_port()
    proc = start_geartool(port, "--queue", "memory", "--listen", "localhost")
    try:
        families = {info[0] for info in socket.getaddrinfo("localhost", port,
                                                           type=socket.SOCK_STREAM)}
        for host in ["127.0.0.1"] + (["::1"] if socket.AF_INET6 in families else []):
            with Peer(port, host=host) as p:
                p.raw(ECHO)
                assert p.frame().args == (b"ping",)
    finally:
        stop(proc)


def test_an_address_that_does_not_resolve_is_a_one_line_startup_error() -> None:
    proc = subprocess.run([sys.executable, "-m", "geartool", "server", "--port", "0",
                           "--listen", "no-such-host.invalid"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "cannot listen on no-such-host.invalid:0" in proc.stderr
    assert "Traceback" not in proc.stderr


def _few_fds() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (40, 40))


def test_out_of_descriptors_the_server_waits_and_accepts_again() -> None:
    """Connections beyond RLIMIT_NOFILE wait in the backlog: the server warns once a second
    (it does not spin on the ready listener) and takes them once descriptors are free."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "geartool", "server", "--port", str(port),
                             "--queue", "memory"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, preexec_fn=_few_fds)
    socks: list[socket.socket] = []
    try:
        wait_port(port, proc)
        for _ in range(45):  # more than the server can hold; the backlog takes the rest
            socks.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        last = socks[-1]
        last.sendall(ECHO)
        time.sleep(1.5)  # long enough for the warning and one retry
        for sock in socks[:-1]:
            sock.close()
        last.settimeout(10)
        assert last.recv(64) == ECHO_RES
        with Peer(port) as p:
            assert p.admin("version")[0].startswith("OK")
    finally:
        for sock in socks:
            sock.close()
        stop(proc)
    assert proc.stderr is not None
    log = proc.stderr.read().decode()
    warnings = log.count("cannot accept connections for 1 s")
    assert 1 <= warnings <= 10, log[-2000:]  # a spinning accept loop would log thousands
    assert "Traceback" not in log


def test_an_internal_error_costs_one_connection_not_the_server(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(core: object, conn: object, tokens: object) -> bytes:
        raise RuntimeError("a bug in a handler")

    monkeypatch.setitem(admin._COMMANDS, b"crash", broken)

    async def main() -> None:
        server = Server(ServerConfig(listen=["127.0.0.1"], port=0, queue="memory"))
        await server.start()
        port = server.addresses[0][1]
        try:
            other_r, other_w = await asyncio.open_connection("127.0.0.1", port)
            bad_r, bad_w = await asyncio.open_connection("127.0.0.1", port)
            bad_w.write(b"crash\n")
            assert await asyncio.wait_for(bad_r.read(), 5) == b""  # closed
            other_w.write(ECHO)
            assert await asyncio.wait_for(other_r.readexactly(len(ECHO_RES)), 5) == ECHO_RES
            assert len(server.core.conns) == 1
            other_w.close()
        finally:
            await server.shutdown(graceful=False)

    asyncio.run(main())


def test_a_failed_send_forgets_the_peer_and_its_jobs() -> None:
    """The peer vanished between its last request and our reply: the write fails (EPIPE),
    the scheduler forgets the connection, nothing is raised."""
    server = Server(ServerConfig(listen=["127.0.0.1"], port=0, queue="memory"))
    hub, core = server.hub, server.core
    ours, theirs = socket.socketpair()
    peer = hub.adopt(ours, "")
    conn = peer.conn
    assert conn is not None and core.conns[conn.id] is conn
    theirs.close()
    core.send(conn, b"x" * 100)
    hub.flush_now()
    assert conn.closed and conn.id not in core.conns
    assert peer.fd not in hub.peers
    hub.epoll.close()


def test_without_epoll_the_server_says_it_needs_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    from typer.testing import CliRunner

    from geartool.cli import app

    monkeypatch.delattr(select, "epoll")
    result = CliRunner().invoke(app, ["server", "--port", "0"])
    assert result.exit_code == 1
    assert "needs Linux (epoll)" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
