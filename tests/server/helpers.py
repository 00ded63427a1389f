"""Drive the pure scheduler directly: fake clock, fake connections, decoded replies."""

from __future__ import annotations

from geartool.protocol import Decoder, Frame, Magic, PacketType, encode
from geartool.server.admin import handle_admin
from geartool.server.config import ServerConfig
from geartool.server.core import Core
from geartool.server.model import Conn, Job, ready_bytes
from geartool.server.store.base import NullStore, Store


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Harness:
    """A Core plus helpers to send frames and read back what each connection received."""

    def __init__(self, store: Store | None = None, wall: Clock | None = None,
                 **config: object) -> None:
        # One fake time for both of the core's clocks unless a test gives it a wall clock.
        self.clock = Clock()
        self.wall = wall or self.clock
        cfg = ServerConfig(queue="memory", job_handle_prefix="H:t", **config)  # type: ignore[arg-type]
        self.core = Core(cfg, store or NullStore(), clock=self.clock, wall=self.wall)
        self._next = 10

    def conn(self, ip: str = "127.0.0.1") -> Conn:
        self._next += 1
        return self.core.connect(self._next, ip, 5000 + self._next, loopback=ip == "127.0.0.1")

    def send(self, conn: Conn, ptype: PacketType, *args: bytes) -> None:
        # Through the real encoder and decoder, so the core sees exactly what a socket gives.
        dec = Decoder()
        dec.feed(encode(Frame(Magic.REQ, ptype, args)))
        for ev in dec.events():
            assert isinstance(ev, Frame)
            self.core.handle(conn, ev)

    def admin(self, conn: Conn, line: bytes) -> bytes:
        self.received_raw(conn)
        handle_admin(self.core, conn, line)
        return self.received_raw(conn)

    def received_raw(self, conn: Conn) -> bytes:
        ready = []
        n = 0
        for item in conn.out:
            chunk = ready_bytes(item)
            if chunk is None:
                break
            ready.append(chunk)
            n += 1
        del conn.out[:n]
        return b"".join(ready)

    def received(self, conn: Conn) -> list[Frame]:
        dec = Decoder()
        dec.feed(self.received_raw(conn))
        out = dec.events()
        assert all(isinstance(f, Frame) for f in out)
        return out  # type: ignore[return-value]

    def types(self, conn: Conn) -> list[PacketType]:
        return [f.type for f in self.received(conn)]

    def worker(self, *functions: bytes, sleep: bool = True) -> Conn:
        w = self.conn()
        for f in functions:
            self.send(w, PacketType.CAN_DO, f)
        if sleep:
            self.send(w, PacketType.PRE_SLEEP)
        self.received(w)
        return w

    def submit(self, client: Conn, fn: bytes, data: bytes = b"", unique: bytes = b"",
               ptype: PacketType = PacketType.SUBMIT_JOB) -> bytes:
        self.send(client, ptype, fn, unique, data)
        frames = self.received(client)
        assert frames[-1].type is PacketType.JOB_CREATED, frames
        return frames[-1].args[0]

    def job(self, handle: bytes) -> Job:
        """The live job with this handle (the test fails if there is none)."""
        job = self.core.find(handle)
        assert job is not None, handle
        return job

    def grab(self, worker: Conn, ptype: PacketType = PacketType.GRAB_JOB_UNIQ) -> Frame:
        self.send(worker, ptype)
        frames = self.received(worker)
        assert len(frames) == 1, frames
        return frames[0]


__all__ = ["Clock", "Harness"]
