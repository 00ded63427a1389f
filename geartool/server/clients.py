"""The client side of the scheduler: submits, unique-id coalescing, durable commits, status.

A mixin of ``core.Core`` like ``workers.WorkerSide`` (which it extends), kept in its own module
for size; it shares Core's state, declared below for the type checker and the compiler.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Final

from geartool.protocol import Frame, PacketType
from geartool.protocol.errors import ErrorCode
from geartool.protocol.frames import TYPES, pack_header
from geartool.protocol.spec import BACKGROUND_SUBMITS, MAGIC_RES, SUBMIT_PRIORITY

from .config import MAX_UNIQUE
from .model import Conn, Function, Job
from .store.base import Store
from .wire import parse_strtoll, res
from .workers import WorkerSide

P = PacketType
# Hot-path names bound as Final module constants: compiled (mypyc), a Final is a C static, where
# any other global is a dict lookup, and an enum member (EnumType has a Python __getattr__)
# costs ~100 ns per use.
_LOW_BG: Final = int(P.SUBMIT_JOB_LOW_BG)
_EPOCH: Final = P.SUBMIT_JOB_EPOCH
# A submit's priority and kind by packet number: tuples indexed by the number as a C integer,
# where indexing, comparing or hashing the enum member itself is a generic call each.
_PRIORITY: Final = tuple(int(SUBMIT_PRIORITY.get(t, 0)) if t is not None else 0 for t in TYPES)
_BACKGROUND: Final = tuple(t in BACKGROUND_SUBMITS for t in TYPES)
_pack_header: Final = pack_header
_RES: Final = MAGIC_RES
_MAX_UNIQUE: Final = MAX_UNIQUE
_JOB_CREATED: Final = int(P.JOB_CREATED)
# JOB_CREATED headers by handle length, made once: a struct.pack call per submit showed in the
# profile of background submits.
_CREATED_HEADERS: Final = tuple(pack_header(MAGIC_RES, _JOB_CREATED, n) for n in range(256))


def created_reply(handle: bytes) -> bytes:
    """The JOB_CREATED packet for a handle."""
    n = len(handle)
    if n < 256:
        return _CREATED_HEADERS[n] + handle
    return _pack_header(_RES, _JOB_CREATED, n) + handle
_STATUS_RES: Final = int(P.STATUS_RES)


class ClientSide(WorkerSide):
    """Handlers for the packets clients send; ``Core`` supplies the state and the helpers."""

    functions: dict[bytes, Function]
    store: Store
    durable: bool  # the store's flag, read once: Store is a Protocol, so each read is generic
    dirty: list[Conn]
    hurry: bool  # see Core.__init__
    uncommitted: list[Job]
    _prefix: bytes
    _handle_seq: int
    _epochs: list[tuple[float, int, Job]]
    untrack: Callable[[object], None] | None
    memory_low: bool
    wall: Callable[[], float]

    def _submit(self, conn: Conn, frame: Frame) -> None:
        # The hottest request: kept flat (no helper calls on the common path) on purpose.
        ptype = frame.type
        kind: int = ptype  # (compiled, unboxed once to a C integer; int(ptype) is a call)
        args = frame.args
        name = args[0]
        unique = args[1]
        data = args[-1]
        when = 0
        reducer = b""
        if kind > _LOW_BG:  # the epoch and reduce variants carry extra fields
            if ptype is _EPOCH:
                when = parse_strtoll(args[2])
            else:
                reducer = args[2]
        if len(unique) > _MAX_UNIQUE:
            self.error(conn, ErrorCode.ARGUMENT_TOO_LARGE, "Unique value too large")
            return
        if self.memory_low:
            self.error(conn, ErrorCode.QUEUE_ERROR, "Server is out of memory")
            return
        background = _BACKGROUND[kind]
        fn = self.functions.get(name)
        if fn is None:
            fn = self.function(name)
        if unique:
            existing = self._coalesce(fn, unique, data)
            if existing is not None:
                if not background:
                    self._listen(conn, existing)
                self._reply_created(conn, existing)
                return
        prio = _PRIORITY[kind]
        limit = fn.max_queue[prio]
        if limit and fn.total >= limit:
            self.error(conn, ErrorCode.QUEUE_ERROR, "Job queue is full")
            return
        job = self.new_job(fn, unique, data, prio, background, when, reducer)
        if not background:
            self._listen(conn, job)
        elif self.durable:
            job.store_id = self.store.add(name, unique, prio, data, when, reducer)
            job.pending = []
            self.uncommitted.append(job)
            self._reply_created(conn, job)
            return
        self._enqueue(job)
        handle = job.handle
        conn.out.append(created_reply(handle))
        self.dirty.append(conn)
        if fn.short_queue():  # a client that waits for its JOB_CREATED to submit more
            self.hurry = True

    def new_job(self, fn: Function, unique: bytes, data: bytes, prio: int, background: bool,
                when: int, reducer: bytes) -> Job:
        seq = self._handle_seq = self._handle_seq + 1
        key: object = seq  # boxed once: see Job.seq
        job = Job(b"%b%d" % (self._prefix, seq), key, fn, unique, data, prio, background, when,
                  reducer, self.clock())
        self.jobs[key] = job
        untrack = self.untrack
        if untrack is not None:
            untrack(job)
        if unique == b"-":
            if data:
                fn.by_data[data] = job
        elif unique:
            fn.uniques[unique] = job
        fn.submitted += 1
        waiting = fn.waiting  # (compiled, ``x[i] += 1`` on a list item is a generic add)
        waiting[prio] = waiting[prio] + 1
        return job

    def _coalesce(self, fn: Function, unique: bytes, data: bytes) -> Job | None:
        if not unique:
            return None
        if unique == b"-":
            return fn.by_data.get(data) if data else None
        return fn.uniques.get(unique)

    def _listen(self, conn: Conn, job: Job) -> None:
        listeners = job.listeners
        if isinstance(listeners, list):  # the narrowing makes the compiled append a direct one
            listeners.append(conn)
        else:
            job.listeners = [conn]
        conn.listening[job] = conn.listening.get(job, 0) + 1

    def _reply_created(self, conn: Conn, job: Job) -> None:
        if job.pending is None:
            # Built once per job and kept: a coalescing job may owe it to a thousand clients.
            reply = job.reply
            if not reply:
                reply = job.reply = created_reply(job.handle)
            conn.out.append(reply)
            self.dirty.append(conn)
            return
        job.pending.append(conn)
        conn.out.append(job)
        conn.held += 1
        self.dirty.append(conn)

    def _enqueue(self, job: Job) -> None:
        """Put a counted job on its queue (or in the epoch heap if it is not due yet)."""
        if job.when and job.when > self.wall():  # the clock is read only for epoch jobs
            self._seq += 1
            heapq.heappush(self._epochs, (float(job.when), self._seq, job))
            return
        fn = job.function
        job.queued = True
        fn.queues[job.priority].append(job)
        if fn.sleepers:
            self._wake(fn)

    def committed(self, jobs: list[Job], error: str | None) -> None:
        """The store committed (or failed to commit) the durable writes of these jobs."""
        for job in jobs:
            owed, job.pending = job.pending or [], None
            if error is None:
                reply = created_reply(job.handle)
                if job.ignore:  # cancelled while its write was in flight: never queue it
                    job.function.waiting[job.priority] -= 1
                    self._finish(job)
                else:
                    self._enqueue(job)
            else:
                reply = res(P.ERROR, ErrorCode.QUEUE_ERROR.encode(), error.encode())
                job.store_id = 0
                job.function.waiting[job.priority] -= 1
                self._finish(job)
            job.reply = reply
            for conn in owed:
                conn.held -= 1
                self.dirty.append(conn)

    def find(self, handle: bytes) -> Job | None:
        """The live job with this handle, if any."""
        prefix = self._prefix
        if not handle.startswith(prefix):
            return None
        digits = handle[len(prefix):]
        # Only the exact form this server writes: int() would also take "+7", " 7", "0_7".
        if not digits.isdigit() or digits[0] == 48 or len(digits) > 19:
            return None
        return self.jobs.get(int(digits))

    def _get_status(self, conn: Conn, frame: Frame) -> None:
        handle = frame.args[0]
        job = self.find(handle)
        if job is None:
            self.send(conn, res(_STATUS_RES, handle, b"0", b"0", b"0", b"0"))
        else:
            running = b"1" if job.worker is not None else b"0"
            self.send(conn, res(_STATUS_RES, handle, b"1", running, job.numerator,
                                 job.denominator))

    def _get_status_unique(self, conn: Conn, frame: Frame) -> None:
        unique = frame.args[0]
        job = None
        if unique:
            for fn in self.functions.values():
                job = fn.uniques.get(unique)
                if job is not None:
                    break
        if job is None:
            self.send(conn, res(P.STATUS_RES_UNIQUE, unique, b"0", b"0", b"0", b"0", b"0"))
            return
        running = b"1" if job.worker is not None else b"0"
        self.send(conn, res(P.STATUS_RES_UNIQUE, unique, b"1", running, job.numerator,
                             job.denominator, str(len(job.listeners)).encode()))
