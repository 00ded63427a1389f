"""The worker side of one server connection: the GRAB / NO_JOB / PRE_SLEEP / NOOP cycle.

States: ``grabbing`` (a GRAB_JOB_UNIQ is out), ``sleeping`` (PRE_SLEEP sent, waiting for NOOP),
``waiting`` (work may be there but every job slot is taken: grab as soon as one frees).
Slots are shared by all of a worker's connections; a GRAB reserves one until its reply.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from geartool.protocol import Frame, PacketType

from .connection import Connection
from .servers import Address

if TYPE_CHECKING:
    from .worker import Worker, WorkerJob

log = logging.getLogger("geartool.worker")
P = PacketType

GRABBING, SLEEPING, WAITING, IDLE = "grabbing", "sleeping", "waiting", "idle"


class WorkerConn:
    """Handler for one worker connection, driven by frames and by freed job slots."""

    def __init__(self, worker: Worker, address: Address) -> None:
        self.worker = worker
        self.address = address
        self.conn: Connection | None = None
        self.state = IDLE
        self.jobs: dict[bytes, tuple[WorkerJob, asyncio.Task[None]]] = {}
        self.closed: asyncio.Future[Exception] = asyncio.get_running_loop().create_future()

    def start(self) -> None:
        """Introduce ourselves: client id and abilities, then ask for work."""
        assert self.conn is not None
        if self.worker.client_id:
            self.conn.send(P.SET_CLIENT_ID, self.worker.client_id.encode())
        for name, task in self.worker.tasks.items():
            self.announce(name, task.timeout)
        self.want_work()

    def announce(self, function: str, timeout: float | None) -> None:
        if self.conn is None:
            return
        if timeout:
            # The server's timer is a safety net behind our own per-job timer, which fires first
            # and answers WORK_FAIL; gearmand's would silently requeue instead.
            ms = int((timeout + self.worker.timeout_grace) * 1000)
            self.conn.send(P.CAN_DO_TIMEOUT, function.encode(), str(ms).encode())
        else:
            self.conn.send(P.CAN_DO, function.encode())

    def withdraw(self, function: str) -> None:
        if self.conn is not None:
            self.conn.send(P.CANT_DO, function.encode())

    def want_work(self) -> None:
        """Work may be queued for us: grab now if a slot is free, else wait for one."""
        if self.conn is None or self.conn.closed or self.state == GRABBING:
            return
        w = self.worker
        if w.can_grab():
            self.state = GRABBING
            w.grabbing += 1
            self.conn.send(P.GRAB_JOB_UNIQ)
        elif not w.stopping:
            self.state = WAITING
            w.waiting.append(self)
        else:
            self.state = IDLE

    # FrameHandler

    def frame_received(self, frame: Frame) -> None:
        t = frame.type
        if t is P.JOB_ASSIGN_UNIQ or t is P.JOB_ASSIGN or t is P.JOB_ASSIGN_ALL:
            a = frame.args
            if t is P.JOB_ASSIGN:
                handle, function, unique, data = a[0], a[1], b"", a[2]
            else:
                handle, function, unique, data = a[0], a[1], a[2], a[-1]
            self._ungrab()
            self.worker.start_job(self, handle, function, unique, data)
            self.state = IDLE
            self.want_work()
        elif t is P.NO_JOB:
            self._ungrab()
            if self.conn is not None:
                self.conn.send(P.PRE_SLEEP)
            self.state = SLEEPING
            self.worker.slot_freed()
        elif t is P.NOOP:
            if self.state == SLEEPING:
                self.state = IDLE
                self.want_work()
        elif t is P.ERROR:
            # Typically JOB_NOT_FOUND for a result the server no longer wants (it requeued the
            # job after its CAN_DO_TIMEOUT): nothing to do but say so.
            log.warning("%s: server error %s: %s", self.address,
                        frame.args[0].decode(errors="replace"),
                        frame.args[1].decode(errors="replace"))
        else:
            log.debug("%s: ignoring %s", self.address, t.name)

    def _ungrab(self) -> None:
        if self.state == GRABBING:
            self.worker.grabbing -= 1

    def lost(self, exc: Exception) -> None:
        self._ungrab()
        self.state = IDLE
        for _, task in list(self.jobs.values()):
            # The server has requeued these jobs; their results could not be delivered anyway.
            task.cancel()
        if not self.closed.done():
            self.closed.set_result(exc)
        self.worker.slot_freed()
