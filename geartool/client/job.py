"""A submitted job as the client sees it: its handle, its progress events and its result."""

from __future__ import annotations

import asyncio
import enum
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import NamedTuple

from geartool.protocol import Priority

from .errors import JobTimeout
from .servers import Address


class EventKind(enum.StrEnum):
    """What a job event says. The last three end the job."""

    DATA = "data"
    WARNING = "warning"
    STATUS = "status"
    RETRY = "retry"  # the job's server went away and the job was submitted again elsewhere
    COMPLETE = "complete"
    FAIL = "fail"
    EXCEPTION = "exception"


TERMINAL = frozenset({EventKind.COMPLETE, EventKind.FAIL, EventKind.EXCEPTION})


class JobEvent(NamedTuple):
    """One WORK_* packet (or a client-side RETRY notice) for a job."""

    kind: EventKind
    data: bytes = b""
    numerator: int = 0
    denominator: int = 0


class JobStatus(NamedTuple):
    """A GET_STATUS answer."""

    handle: str
    known: bool
    running: bool
    numerator: int
    denominator: int
    server: Address | None = None


@dataclass(frozen=True, slots=True)
class JobResult:
    """How a job ended. ``state`` is ``complete``, ``fail``, ``exception`` or, for a background
    submit, ``queued``; ``data`` is the WORK_COMPLETE payload or the exception text."""

    function: str
    unique: str
    handle: str
    server: Address | None
    state: str
    data: bytes = b""
    submitted_at: float = 0.0  # time.perf_counter() stamps, for timings
    created_at: float = 0.0
    finished_at: float = 0.0
    attempts: int = 1

    @property
    def ok(self) -> bool:
        return self.state in ("complete", "queued")

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


class Job:
    """A job submitted by :class:`~geartool.client.Client`.

    Iterate it (``async for event in job``) for WORK_DATA / WARNING / STATUS events as they
    arrive, ending with the terminal event; or ``await job.result()``. Both may be used.
    """

    __slots__ = ("function", "data", "unique", "priority", "background", "handle", "server",
                 "attempts", "_hb", "_created", "_done", "_events", "_waiter", "_submitted",
                 "_created_at")

    def __init__(self, function: str, data: bytes, unique: bytes, priority: Priority,
                 background: bool) -> None:
        self.function = function
        self.data = data
        self.unique = unique
        self.priority = priority
        self.background = background
        self.handle = ""
        self.server: Address | None = None
        self.attempts = 0
        self._hb = b""
        loop = asyncio.get_running_loop()
        self._created: asyncio.Future[None] = loop.create_future()
        self._done: asyncio.Future[JobResult] = loop.create_future()
        self._done.add_done_callback(_quiet)
        self._events: deque[JobEvent] = deque()
        self._waiter: asyncio.Future[None] | None = None
        self._submitted = time.perf_counter()
        self._created_at = 0.0

    def __repr__(self) -> str:
        return f"<Job {self.function} {self.handle or '(not created)'} on {self.server}>"

    @property
    def created_at(self) -> float:
        """time.perf_counter() when JOB_CREATED arrived (0.0 before)."""
        return self._created_at

    def done(self) -> bool:
        return self._done.done()

    async def result(self, timeout: float | None = None) -> JobResult:
        """Wait for the job to end; JobTimeout after ``timeout`` seconds (the job keeps going)."""
        try:
            async with asyncio.timeout(timeout):
                return await asyncio.shield(self._done)
        except TimeoutError:
            if self._done.done():
                return self._done.result()
            raise JobTimeout(f"job {self.handle} ({self.function}) did not finish within "
                             f"{timeout:g} s") from None

    def __aiter__(self) -> AsyncIterator[JobEvent]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[JobEvent]:
        events = self._events
        while True:
            while events:
                ev = events.popleft()
                yield ev
                if ev.kind in TERMINAL:
                    return
            if self._done.done():
                self._done.result()  # re-raise a failure (lost connection, closed client)
                return
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    # called by the connection handler, synchronously from data_received

    def _set_created(self, handle: bytes, server: Address) -> None:
        self._hb = handle
        self.handle = handle.decode("utf-8", "replace")
        self.server = server
        self._created_at = time.perf_counter()
        if not self._created.done():
            self._created.set_result(None)
        if self.background:
            self._finish("queued", b"")

    def _event(self, ev: JobEvent) -> None:
        self._events.append(ev)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        if ev.kind in TERMINAL:
            self._finish(ev.kind.value, ev.data)

    def _finish(self, state: str, data: bytes) -> None:
        if self._done.done():
            return
        self._done.set_result(JobResult(
            self.function, self.unique.decode("utf-8", "replace"), self.handle, self.server,
            state, data, self._submitted, self._created_at,
            time.perf_counter(), self.attempts))

    def _fail(self, exc: BaseException) -> None:
        if not self._created.done():
            self._created.set_exception(exc)
            self._created.exception()
        if not self._done.done():
            self._done.set_exception(exc)
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)


def _quiet(fut: asyncio.Future[JobResult]) -> None:
    # A failure nobody awaited (e.g. a background job) must not log "never retrieved".
    if not fut.cancelled():
        fut.exception()
