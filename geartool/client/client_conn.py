"""The client side of one server connection: pairs replies with requests, routes WORK_* by handle.

Gearman servers answer one connection's requests strictly in order, so every request that
expects a reply (SUBMIT_*, GET_STATUS, OPTION_REQ, ECHO_REQ) joins one FIFO, and each reply or
ERROR settles the oldest entry. A job is registered under its handle in the same callback that
reads its JOB_CREATED, so a WORK_COMPLETE arriving in the same read is never lost.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Callable
from typing import Any

from geartool.protocol import Frame, PacketType, ServerError

from .connection import Connection
from .errors import ConnectionLost
from .job import EventKind, Job, JobEvent
from .servers import Address

log = logging.getLogger("geartool.client")

P = PacketType
_SIMPLE_EVENTS = {
    P.WORK_DATA: EventKind.DATA,
    P.WORK_WARNING: EventKind.WARNING,
    P.WORK_COMPLETE: EventKind.COMPLETE,
    P.WORK_EXCEPTION: EventKind.EXCEPTION,
}
_REPLIES = frozenset({P.JOB_CREATED, P.STATUS_RES, P.OPTION_RES, P.ECHO_RES,
                      P.STATUS_RES_UNIQUE})


def _int(raw: bytes) -> int:
    try:
        return int(raw)
    except ValueError:
        return 0


def _retrieved(fut: asyncio.Future[Any]) -> None:
    # Whoever waits re-raises the error; one nobody waits for must not log "never retrieved".
    if not fut.cancelled():
        fut.exception()


class ClientConn:
    """Handler for one client connection (see :class:`~geartool.client.connection.Connection`)."""

    def __init__(self, address: Address, on_lost: Callable[[ClientConn, list[Job]], None]) -> None:
        self.address = address
        self.conn: Connection | None = None
        self._on_lost = on_lost
        # (expected reply type, Job for a submit or Future for anything else)
        self._pending: deque[tuple[PacketType, Job | asyncio.Future[Frame]]] = deque()
        self.jobs: dict[bytes, list[Job]] = {}

    @property
    def closed(self) -> bool:
        return self.conn is None or self.conn.closed

    # requests

    def submit(self, job: Job, ptype: PacketType, args: tuple[bytes, ...]) -> asyncio.Future[None]:
        """Send a SUBMIT_* packet; the returned future settles on JOB_CREATED or ERROR."""
        assert self.conn is not None
        job._created = asyncio.get_running_loop().create_future()
        job._created.add_done_callback(_retrieved)
        self._pending.append((P.JOB_CREATED, job))
        self.conn.send(ptype, *args)
        return job._created

    def request(self, ptype: PacketType, arg: bytes, expect: PacketType) -> asyncio.Future[Frame]:
        """Send a one-argument request and return a future for its reply frame."""
        assert self.conn is not None
        fut: asyncio.Future[Frame] = asyncio.get_running_loop().create_future()
        fut.add_done_callback(_retrieved)
        self._pending.append((expect, fut))
        self.conn.send(ptype, arg)
        return fut

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()

    # FrameHandler

    def frame_received(self, frame: Frame) -> None:
        t = frame.type
        kind = _SIMPLE_EVENTS.get(t)
        if kind is not None:
            self._route(frame.args[0], JobEvent(kind, frame.args[1]))
        elif t is P.WORK_STATUS:
            a = frame.args
            self._route(a[0], JobEvent(EventKind.STATUS, b"", _int(a[1]), _int(a[2])))
        elif t is P.WORK_FAIL:
            # gearmand may glue a NUL onto the handle of a converted WORK_EXCEPTION.
            self._route(frame.args[0].rstrip(b"\0"), JobEvent(EventKind.FAIL))
        elif t in _REPLIES:
            self._reply(frame)
        elif t is P.ERROR:
            self._error(frame)
        else:
            log.debug("%s: ignoring %s", self.address, t.name)

    def _route(self, handle: bytes, ev: JobEvent) -> None:
        jobs = self.jobs.get(handle)
        if not jobs:
            return  # a job we gave up on (timed out, abandoned) or never knew
        if ev.kind in (EventKind.COMPLETE, EventKind.FAIL, EventKind.EXCEPTION):
            del self.jobs[handle]
        for job in jobs:
            job._event(ev)

    def _reply(self, frame: Frame) -> None:
        if not self._pending:
            log.warning("%s: unexpected %s", self.address, frame.type.name)
            return
        expect, target = self._pending.popleft()
        if expect is not frame.type:
            self._broken(f"{frame.type.name} arrived where {expect.name} was due")
            return
        if isinstance(target, Job):
            if target._created.done():
                return  # the submit was given up (timeout); the job lives on without us
            handle = frame.args[0]
            if not target.background:
                self.jobs.setdefault(handle, []).append(target)
            target._set_created(handle, self.address)
        elif not target.done():
            target.set_result(frame)

    def _error(self, frame: Frame) -> None:
        code = frame.args[0].decode("utf-8", "replace")
        text = frame.args[1].decode("utf-8", "replace")
        if not self._pending:
            log.warning("%s: server error %s: %s", self.address, code, text)
            return
        _, target = self._pending.popleft()
        exc = ServerError(code, text)
        fut = target._created if isinstance(target, Job) else target
        if not fut.done():
            fut.set_exception(exc)

    def _broken(self, why: str) -> None:
        log.warning("%s: %s; closing", self.address, why)
        if self.conn is not None:
            self.conn.abort(ConnectionLost(f"protocol error from {self.address}: {why}"))

    def lost(self, exc: Exception) -> None:
        pending, self._pending = self._pending, deque()
        for _, target in pending:
            fut = target._created if isinstance(target, Job) else target
            if not fut.done():
                fut.set_exception(exc)
        jobs = [j for js in self.jobs.values() for j in js if not j.done()]
        self.jobs.clear()
        self._on_lost(self, jobs)
