"""Job timelines: follow each job across the client's and the worker's connections.

A client's SUBMIT_* is answered by JOB_CREATED on the same connection, in order (gearmand keeps
per-connection reply order), which gives the handle. The handle then links JOB_ASSIGN* on a
worker's connection and the WORK_COMPLETE / WORK_FAIL / WORK_EXCEPTION that ends the job.
Handles are only unique per server and per server run, so jobs are keyed by (server, handle) and
a handle seen again after its job ended starts a new job.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field

from geartool.protocol import AdminLine, Frame, PacketType
from geartool.protocol.spec import (
    ASSIGN_TYPES,
    BACKGROUND_SUBMITS,
    JOB_ENDING,
    SUBMIT_TYPES,
)

from .dissect import Record, StreamInfo
from .stream import Anomaly

_OUTCOME = {PacketType.WORK_COMPLETE: "COMPLETE", PacketType.WORK_FAIL: "FAIL",
            PacketType.WORK_EXCEPTION: "EXCEPTION"}


def _text(value: bytes) -> str:
    return value.decode("utf-8", "backslashreplace")


@dataclass(slots=True)
class Job:
    """One job's life as the capture saw it; times are capture timestamps in seconds."""

    handle: str
    function: str = ""
    unique: str = ""
    submit_type: str = ""
    background: bool = False
    server: str = ""
    client_stream: int | None = None
    worker_stream: int | None = None
    submitted: float | None = None
    created: float | None = None
    assigned: float | None = None  # first JOB_ASSIGN
    last_assigned: float | None = None  # latest JOB_ASSIGN (a requeued job is assigned again)
    assigns: int = 0
    finished: float | None = None
    outcome: str = ""  # COMPLETE, FAIL, EXCEPTION, REJECTED; empty while unfinished
    first_frame: int = 0

    @property
    def wait(self) -> float | None:
        """Seconds from submission (or JOB_CREATED) to the first assignment."""
        start = self.submitted if self.submitted is not None else self.created
        return None if start is None or self.assigned is None else self.assigned - start

    @property
    def run(self) -> float | None:
        """Seconds from the last assignment to the worker's result."""
        if self.last_assigned is None or self.finished is None:
            return None
        return self.finished - self.last_assigned

    @property
    def total(self) -> float | None:
        start = self.submitted if self.submitted is not None else self.created
        return None if start is None or self.finished is None else self.finished - start


@dataclass(slots=True)
class _Submit:
    time: float
    frame: int
    function: str
    unique: str
    ptype: PacketType


@dataclass
class Timeline:
    """Feed it every Record in order; it builds jobs, counts and anomaly lists."""

    streams: list[StreamInfo]
    jobs: list[Job] = field(default_factory=list)
    by_type: Counter[str] = field(default_factory=Counter)
    anomalies: list[Record] = field(default_factory=list)
    _active: dict[tuple[str, str], Job] = field(default_factory=dict)
    _pending: dict[int, deque[_Submit]] = field(default_factory=dict)

    def add(self, rec: Record) -> None:
        item = rec.item
        if type(item) is Frame:
            self.by_type[item.type.name] += 1
            self._frame(rec, item)
        elif type(item) is AdminLine:
            self.by_type["TEXT (admin)"] += 1
        elif type(item) is Anomaly:
            self.anomalies.append(rec)

    def function_of(self, handle: str, server: str) -> str:
        job = self._active.get((server, handle))
        return job.function if job is not None else ""

    def _frame(self, rec: Record, frame: Frame) -> None:
        ptype = frame.type
        if ptype in SUBMIT_TYPES:
            self._pending.setdefault(rec.stream, deque()).append(
                _Submit(rec.time, rec.frame, _text(frame.args[0]), _text(frame.args[1]), ptype))
        elif ptype is PacketType.JOB_CREATED:
            self._created(rec, _text(frame.args[0]))
        elif ptype is PacketType.ERROR:
            queue = self._pending.get(rec.stream)
            if queue:  # an ERROR answering a submit: that job was never created
                sub = queue.popleft()
                self.jobs.append(Job("", sub.function, sub.unique, sub.ptype.name,
                                     sub.ptype in BACKGROUND_SUBMITS, self._server(rec),
                                     rec.stream, submitted=sub.time, outcome="REJECTED",
                                     finished=rec.time, first_frame=sub.frame))
        elif ptype in ASSIGN_TYPES:
            job = self._job(rec, _text(frame.args[0]))
            if not job.function:
                job.function = _text(frame.args[1])
            if ptype is not PacketType.JOB_ASSIGN and not job.unique:
                job.unique = _text(frame.args[2])
            job.worker_stream = rec.stream
            if job.assigned is None:
                job.assigned = rec.time
            job.last_assigned = rec.time
            job.assigns += 1
        elif ptype in JOB_ENDING:
            handle = _text(frame.args[0])
            if ptype is PacketType.WORK_FAIL:
                handle = handle.rstrip("\0")  # gearmand's forwarded WORK_FAIL may end in NUL
            key = (self._server(rec), handle)
            found = self._active.get(key)
            job = found if found is not None else self._job(rec, handle)
            if job.finished is None or rec.to_server:
                job.finished = rec.time  # the worker's own report wins over the forwarded copy
                job.outcome = _OUTCOME[ptype]
            if not rec.to_server or job.background:
                # The client has its answer (or nobody waits): the job is over.
                self._active.pop(key, None)

    def _server(self, rec: Record) -> str:
        return self.streams[rec.stream].server

    def _job(self, rec: Record, handle: str) -> Job:
        key = (self._server(rec), handle)
        job = self._active.get(key)
        if job is None:
            job = Job(handle, server=key[0], first_frame=rec.frame)
            self._active[key] = job
            self.jobs.append(job)
        return job

    def _created(self, rec: Record, handle: str) -> None:
        key = (self._server(rec), handle)
        queue = self._pending.get(rec.stream)
        sub = queue.popleft() if queue else None
        job = self._active.get(key)
        if job is not None and job.client_stream is not None and sub is not None:
            return  # a coalesced submit: the same job, one more listener
        if job is None:
            job = Job(handle, server=key[0], first_frame=rec.frame)
            self._active[key] = job
            self.jobs.append(job)
        job.created = rec.time
        job.client_stream = rec.stream
        if sub is not None:
            job.function = job.function or sub.function
            job.unique = job.unique or sub.unique
            job.submit_type = sub.ptype.name
            job.background = sub.ptype in BACKGROUND_SUBMITS
            job.submitted = sub.time
            job.first_frame = sub.frame
        if job.background and job.finished is not None:
            self._active.pop(key, None)


def percentile(sorted_values: list[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty list."""
    rank = max(1, -(-len(sorted_values) * pct // 100))
    return sorted_values[int(rank) - 1]


@dataclass(slots=True)
class FunctionStats:
    """Jobs of one function: counts by outcome and sorted wait / run times (seconds)."""

    function: str
    jobs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    waits: list[float] = field(default_factory=list)
    runs: list[float] = field(default_factory=list)

    def percentiles(self, which: str) -> dict[str, float] | None:
        values = self.waits if which == "wait" else self.runs
        if not values:
            return None
        return {f"p{p}": percentile(values, p) for p in (50, 90, 99)} | {"max": values[-1]}


def by_function(jobs: list[Job]) -> list[FunctionStats]:
    """Per-function statistics, functions sorted by name."""
    stats: dict[str, FunctionStats] = {}
    for job in jobs:
        st = stats.setdefault(job.function, FunctionStats(job.function))
        st.jobs += 1
        st.outcomes[job.outcome or "UNFINISHED"] += 1
        if job.wait is not None:
            st.waits.append(job.wait)
        if job.run is not None:
            st.runs.append(job.run)
    for st in stats.values():
        st.waits.sort()
        st.runs.sort()
    return [stats[k] for k in sorted(stats)]
