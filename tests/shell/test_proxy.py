"""``geartool proxy`` between the real gearman tools and the real gearmand."""

from __future__ import annotations

import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from geartool.protocol import Decoder, Frame, PacketType, encode, req
from tests.conftest import free_port, need, start_gearmand, stop, wait_port

from .helpers import ROOT, gearadmin_status, read_pcap, streams, wait_for, wait_workers


class Proxy:
    """``geartool proxy`` in a subprocess, its stdout in a file."""

    def __init__(self, tmp: Path, upstream: int, *extra: str) -> None:
        self.port = free_port()
        self.log = tmp / f"proxy-{self.port}.log"
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "geartool", "proxy", "--listen",
                 f"127.0.0.1:{self.port}", "--upstream", f"127.0.0.1:{upstream}", *extra],
                stdout=out, stderr=subprocess.PIPE, cwd=ROOT, env=env)
        wait_port(self.port, self.proc)

    def text(self) -> str:
        return self.log.read_text()

    def wait_text(self, needle: str) -> None:
        wait_for(lambda: needle in self.text(), what=f"{needle!r} in the proxy log")

    def wait_closed(self, count: int) -> None:
        """Wait until ``count`` connections were logged as closed (the first is always the
        readiness probe of wait_port)."""
        marker = '"event": "close"' if "--json" in self.proc.args else " -- closed ("
        wait_for(lambda: self.text().count(marker) >= count, what=f"{count} closed connections")

    def stop(self) -> None:
        stop(self.proc)
        assert self.proc.stderr is not None
        self.stderr = self.proc.stderr.read().decode()
        self.proc.stderr.close()


@pytest.fixture
def proxied(any_server: tuple[str, int], tmp_path: Path) -> Iterator[tuple[int, Proxy]]:
    """A proxy in front of geartool's server, then in front of gearmand."""
    proxy = Proxy(tmp_path, any_server[1])
    try:
        yield any_server[1], proxy
    finally:
        proxy.stop()


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    """Read exactly ``size`` bytes (a relay may deliver a packet in pieces)."""
    got = b""
    while len(got) < size:
        chunk = sock.recv(size - len(got))
        assert chunk, f"connection closed after {len(got)} of {size} bytes"
        got += chunk
    return got


def gearman(port: int, *args: str, data: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([need("gearman"), "-h", "127.0.0.1", "-p", str(port), *args],
                          input=data, capture_output=True, text=True, timeout=20)


def start_worker(port: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen([need("gearman"), "-h", "127.0.0.1", "-p", str(port), "-w", "-f",
                             "reverse", "--", "rev"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def test_gearman_client_and_worker_through_the_proxy(proxied: tuple[int, Proxy]) -> None:
    server, proxy = proxied
    worker = start_worker(proxy.port)
    try:
        wait_workers(server, "reverse")
        through = gearman(proxy.port, "-f", "reverse", "hello world")
        direct = gearman(server, "-f", "reverse", "hello world")
        admin_direct = gearadmin_status(server)
        admin_through = gearadmin_status(proxy.port)
    finally:
        stop(worker)
    assert through.stdout == direct.stdout == "dlrow olleh"
    assert admin_through == admin_direct and "reverse\t0\t0\t1" in admin_through
    proxy.wait_text("S>C TEXT '.'")
    log = proxy.text()
    for shown in ("C>S CAN_DO function='reverse'", "C>S PRE_SLEEP", "S>C NOOP",
                  "C>S SUBMIT_JOB function='reverse'", "data=11B 'hello world'",
                  "S>C JOB_CREATED handle='H:", "S>C JOB_ASSIGN_UNIQ handle='H:",
                  "C>S WORK_COMPLETE handle='H:", "data=11B 'dlrow olleh'",
                  "S>C WORK_COMPLETE handle='H:", "C>S TEXT 'status'",
                  "S>C TEXT 'reverse\\t0\\t0\\t1'", "connected, relaying to", "closed ("):
        assert shown in log, shown


def test_json_output(any_server: tuple[str, int], tmp_path: Path) -> None:
    proxy = Proxy(tmp_path, any_server[1], "--json")
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            sock.sendall(encode(req(PacketType.ECHO_REQ, b"j\0son")))
            assert recv_exactly(sock, 17) == b"\0RES" + bytes([0, 0, 0, 17, 0, 0, 0, 5]) + \
                b"j\0son"
        proxy.wait_closed(2)
    finally:
        proxy.stop()
    records = [json.loads(line) for line in proxy.text().splitlines()]
    packets = [r for r in records if "gearman.pkt_name" in r]
    assert [(r["dir"], r["gearman.pkt_name"], r["gearman.data"]) for r in packets] == [
        ("C>S", "ECHO_REQ", "j\x00son"), ("S>C", "ECHO_RES", "j\x00son")]
    assert packets[0]["gearman.magic"] == "REQ" and packets[0]["gearman.data_size"] == 5
    conn = packets[0]["conn"]  # an earlier connection was the readiness probe
    assert [r["event"] for r in records if "event" in r and r["conn"] == conn] == [
        "open", "close"]
    assert all(r["conn"] == conn for r in packets)
    assert all(isinstance(r["time"], float) for r in records)


def test_pcap_is_read_by_tshark_and_the_decoder(gearmand: int, tmp_path: Path) -> None:
    pcap = tmp_path / "through.pcap"
    proxy = Proxy(tmp_path, gearmand, "--write", str(pcap))
    big = bytes(range(256)) * 300  # 76800 bytes: several segments in the capture
    try:
        worker = start_worker(proxy.port)
        try:
            wait_workers(gearmand, "reverse")
            assert gearman(proxy.port, "-f", "reverse", "abc").stdout == "cba"
        finally:
            stop(worker)
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            sock.sendall(encode(req(PacketType.ECHO_REQ, big)))
            got = b""
            while len(got) < 12 + len(big):
                chunk = sock.recv(65536)
                assert chunk
                got += chunk
        proxy.wait_closed(4)  # probe, worker, client, echo
    finally:
        proxy.stop()
    # Our own reader: valid checksums, gap-free streams, frames the Decoder understands.
    segments = read_pcap(pcap)
    assert segments and all(s.tcp_ok and s.ip_ok for s in segments)
    frames: list[Frame] = []
    for _, data in sorted(streams(segments).items()):
        dec = Decoder()
        dec.feed(data)
        frames += [f for f in dec.events() if isinstance(f, Frame)]
        assert dec.buffered == 0
    names = {f.type.name for f in frames}
    assert {"CAN_DO", "SUBMIT_JOB", "JOB_CREATED", "JOB_ASSIGN_UNIQ", "WORK_COMPLETE",
            "ECHO_REQ", "ECHO_RES"} <= names
    assert [f.args[0] for f in frames if f.type is PacketType.ECHO_RES] == [big]
    # tshark reads the same packets (the upstream port is not 4730, so say it is gearman).
    tshark = need("tshark")
    out = subprocess.run([tshark, "-r", str(pcap), "-d", f"tcp.port=={gearmand},gearman",
                          "-T", "fields", "-e", "gearman.pkt_type", "-Y", "gearman"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    seen = [int(c) for line in out.stdout.split() for c in line.split(",") if c]
    assert sorted(seen) == sorted(int(f.type) for f in frames)
    # And `geartool decode` reads it too: the same packets, no anomalies, the job linked up.
    out = subprocess.run([sys.executable, "-m", "geartool", "decode", "--port", str(gearmand),
                          "--json", str(pcap)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    records = [json.loads(line) for line in out.stdout.splitlines()]
    decoded = [r["gearman.pkt_type"] for r in records if "gearman.pkt_type" in r]
    assert sorted(decoded) == sorted(int(f.type) for f in frames)
    out = subprocess.run([sys.executable, "-m", "geartool", "decode", "--port", str(gearmand),
                          "--jobs", str(pcap)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "reverse" in out.stdout and "COMPLETE" in out.stdout


def test_upstream_down_closes_the_client_and_the_proxy_keeps_serving(tmp_path: Path) -> None:
    upstream = free_port()
    proxy = Proxy(tmp_path, upstream)
    try:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            assert sock.recv(100) == b""  # closed cleanly, nothing sent
        proxy.wait_text("unreachable")
        server = start_gearmand(upstream)
        try:
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
                sock.sendall(encode(req(PacketType.ECHO_REQ, b"one")))
                assert recv_exactly(sock, 15).endswith(b"one")
                stop(server)  # the upstream dies mid-conversation
                assert sock.recv(100) == b""
            server = start_gearmand(upstream)
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
                sock.sendall(encode(req(PacketType.ECHO_REQ, b"two")))
                assert recv_exactly(sock, 15).endswith(b"two")
        finally:
            stop(server)
        assert proxy.proc.poll() is None
    finally:
        proxy.stop()
    assert "Traceback" not in proxy.stderr


class _Echo(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.request.sendall(data)


def test_undecodable_stream_is_still_forwarded(tmp_path: Path) -> None:
    echo = socketserver.ThreadingTCPServer(("127.0.0.1", 0), _Echo)
    echo.daemon_threads = True
    threading.Thread(target=echo.serve_forever, daemon=True).start()
    proxy = Proxy(tmp_path, echo.server_address[1])
    try:
        junk = b"\0BAD" + bytes(range(256)) * 4
        good = encode(req(PacketType.ECHO_REQ, b"after"))
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=5) as sock:
            sock.sendall(good + junk + good)
            want = good + junk + good
            got = b""
            while len(got) < len(want):
                chunk = sock.recv(65536)
                assert chunk
                got += chunk
            assert got == want  # every byte both ways, unchanged
        proxy.wait_closed(2)
    finally:
        proxy.stop()
        echo.shutdown()
        echo.server_close()
    log = proxy.text()
    assert log.count("C>S stream no longer decodable") == 1
    assert log.count("S>C stream no longer decodable") == 1
    assert log.count("C>S ECHO_REQ data=5B 'after'") == 1  # the one before the junk
    assert f"({len(want)} bytes to server, {len(want)} bytes to client)" in log


def test_bad_options() -> None:
    from .helpers import geartool
    out = geartool("proxy", "--upstream", "host:99999")
    assert out.returncode == 2 and "out of range" in out.stderr
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    try:
        port = taken.getsockname()[1]
        out = geartool("proxy", "--listen", f"127.0.0.1:{port}", "--upstream", "127.0.0.1:1")
    finally:
        taken.close()
    assert out.returncode == 3 and "cannot listen on" in out.stderr
    assert "Traceback" not in out.stderr


def test_unwritable_pcap_is_a_clear_error() -> None:
    from .helpers import geartool
    out = geartool("proxy", "--listen", f"127.0.0.1:{free_port()}", "--write", "/dev/full")
    assert out.returncode == 2 and "cannot write /dev/full" in out.stderr


def test_reader_of_the_output_going_away_does_not_stop_relaying(gearmand: int) -> None:
    port = free_port()
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([sys.executable, "-m", "geartool", "proxy", "--listen",
                             f"127.0.0.1:{port}", "--upstream", f"127.0.0.1:{gearmand}"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT, env=env)
    try:
        wait_port(port, proc)
        assert proc.stdout is not None
        proc.stdout.close()  # like `geartool proxy | head -1` once head has exited
        for n in range(3):
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(encode(req(PacketType.ECHO_REQ, b"n%d" % n)))
                assert recv_exactly(sock, 14).endswith(b"n%d" % n)
        assert proc.poll() is None
    finally:
        stop(proc)
