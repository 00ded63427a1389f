"""One blocking connection to one job server, decoded by the protocol core.

The shell owns one Session per server. Reads wait with ``select`` so a command can say "wait at
most this long for the reply", and every event carries the monotonic time it arrived, so the
shell can show how long the server took.
"""

from __future__ import annotations

import select
import socket
import time
from collections import deque
from dataclasses import dataclass

from geartool.client.servers import Address
from geartool.protocol import NEED_DATA, Decoder, Event, ProtocolError

CONNECT_TIMEOUT = 5.0


class SessionClosed(ConnectionError):
    """The server closed the connection, or it broke."""


@dataclass(frozen=True, slots=True)
class Received:
    """One decoded event and when it arrived (time.monotonic())."""

    at: float
    event: Event


class Session:
    """A connection to one server: send bytes, then read decoded events with a deadline."""

    def __init__(self, address: Address) -> None:
        self.address = address
        self.sock: socket.socket | None = None
        self.decoder = Decoder()
        self.sent_at = time.monotonic()
        self.sent = 0
        self.received = 0
        self._ready: deque[Received] = deque()
        self._broken: SessionClosed | None = None

    @property
    def connected(self) -> bool:
        return self.sock is not None

    def connect(self) -> None:
        """Open the connection (a no-op when open); OSError with the reason when it fails."""
        if self.sock is not None:
            return
        sock = socket.create_connection((self.address.host, self.address.port),
                                        timeout=CONNECT_TIMEOUT)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.settimeout(None)
        self.sock = sock
        self.decoder = Decoder()
        self._ready.clear()
        self._broken = None

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.close()
            finally:
                self.sock = None

    def send(self, data: bytes) -> None:
        """Send bytes, connecting first if needed; SessionClosed if the server is gone."""
        self.connect()
        assert self.sock is not None
        try:
            self.sock.sendall(data)
        except OSError as exc:
            self.close()
            raise SessionClosed(f"connection to {self.address} lost: {exc}") from None
        self.sent_at = time.monotonic()
        self.sent += 1

    def next(self, timeout: float) -> Received | None:
        """The next event, waiting at most ``timeout`` seconds; None if none came."""
        if not self._ready:
            self._ready.extend(self.read(timeout))
        return self._ready.popleft() if self._ready else None

    def read(self, timeout: float) -> list[Received]:
        """Events that arrive within ``timeout`` seconds (returns as soon as some do).

        SessionClosed when the server closes the connection or breaks the protocol (events
        decoded before a protocol error come first; the next read raises).
        """
        if self._ready:
            events = list(self._ready)
            self._ready.clear()
            return events
        if self._broken is not None:
            broken, self._broken = self._broken, None
            raise broken
        if self.sock is None:
            return []
        events = self._decoded()
        if events:
            return events
        deadline = time.monotonic() + max(timeout, 0.0)
        while True:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.sock], [], [], max(left, 0.0))
            if not ready:
                return []
            try:
                data = self.sock.recv(65536)
            except OSError as exc:
                self.close()
                raise SessionClosed(f"connection to {self.address} lost: {exc}") from None
            if not data:
                self.close()
                raise SessionClosed(f"{self.address} closed the connection")
            self.decoder.feed(data)
            events = self._decoded()
            if events or left <= 0:
                return events

    def _decoded(self) -> list[Received]:
        """Whole events now buffered. Events before a protocol error are still returned; the
        error is raised by the next read."""
        now = time.monotonic()
        events: list[Received] = []
        try:
            while (ev := self.decoder.next_event()) is not NEED_DATA:
                events.append(Received(now, ev))  # type: ignore[arg-type]
        except ProtocolError as exc:
            self.close()
            self._broken = SessionClosed(f"{self.address} broke the protocol: {exc}")
            if not events:
                raise self._broken from None
        self.received += len(events)
        return events
