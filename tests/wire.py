"""A tiny blocking Gearman peer for tests: real sockets, the protocol core's codec."""

from __future__ import annotations

import socket
import time

from geartool.protocol import AdminLine, Decoder, Frame, Magic, PacketType, encode


class Peer:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout)
        # Without this, two small writes in a row wait for a delayed ACK (40 ms each).
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.dec = Decoder()
        self.pending: list[Frame | AdminLine] = []

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Peer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(self, ptype: PacketType, *args: bytes) -> None:
        self.sock.sendall(encode(Frame(Magic.REQ, ptype, args)))

    def raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def recv(self, timeout: float = 5.0) -> Frame | AdminLine:
        deadline = time.monotonic() + timeout
        while not self.pending:
            self.pending.extend(self.dec.events())
            if self.pending:
                break
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("no reply")
            self.sock.settimeout(left)
            data = self.sock.recv(65536)
            if not data:
                raise ConnectionError("closed by server")
            self.dec.feed(data)
        return self.pending.pop(0)

    def frame(self, timeout: float = 5.0) -> Frame:
        ev = self.recv(timeout)
        assert isinstance(ev, Frame), ev
        return ev

    def admin(self, command: str, timeout: float = 5.0) -> list[str]:
        """Send a text command; read one line, or lines up to '.' for list commands."""
        from geartool.protocol.admin import is_list_command

        self.sock.sendall(command.encode() + b"\r\n")
        lines = []
        while True:
            ev = self.recv(timeout)
            assert isinstance(ev, AdminLine), ev
            line = ev.line.decode()
            lines.append(line)
            if not is_list_command(command) or line == "." or line.startswith("ERR"):
                return lines

    def closed_by_server(self, timeout: float = 3.0) -> bool:
        """True if the server closes the connection (after any final bytes)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    return True
                self.dec.feed(data)
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False
