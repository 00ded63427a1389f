"""The worker side of the scheduler: abilities, sleep and wake-up, grabbing jobs, results.

A mixin of ``core.Core``, kept in its own module for size; it shares Core's state (declared
below for the type checker) and calls back into Core for job endings.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable
from typing import Final

from geartool.protocol import Frame, PacketType
from geartool.protocol.errors import ErrorCode, RemoteProtocolError

from .config import ServerConfig
from .model import Conn, Function, Job, Registration
from .wire import NO_JOB, NOOP, parse_strtoll, res, res_args

log = logging.getLogger("geartool.server")
P = PacketType
# Final module constants for the hot paths: see the note in clients.py.
_GRAB_JOB: Final = P.GRAB_JOB
_GRAB_JOB_ALL: Final = P.GRAB_JOB_ALL
_JOB_ASSIGN: Final = int(P.JOB_ASSIGN)
_JOB_ASSIGN_UNIQ: Final = int(P.JOB_ASSIGN_UNIQ)
_JOB_ASSIGN_ALL: Final = int(P.JOB_ASSIGN_ALL)
_WORK_STATUS: Final = P.WORK_STATUS
_WORK_COMPLETE: Final = P.WORK_COMPLETE
_WORK_FAIL: Final = P.WORK_FAIL
_WORK_EXCEPTION: Final = P.WORK_EXCEPTION
_WORK_FAIL_TYPE: Final = int(P.WORK_FAIL)
_NOOP: Final = NOOP
_NO_JOB: Final = NO_JOB
_NOT_FOUND_TEXT = {
    P.WORK_DATA: b"Job does not exist on server",
    P.WORK_WARNING: b"Job does not exist on server",
    P.WORK_EXCEPTION: b"An exception was received for a job that does not exist",
}




class WorkerSide:
    """Handlers for the packets workers send; ``Core`` supplies the state and the helpers."""

    config: ServerConfig
    clock: Callable[[], float]
    draining: bool
    jobs: dict[object, Job]  # by handle number (see Job.seq)
    _seq: int
    _timers: list[tuple[float, int, Job]]
    _armed: int  # entries of _timers whose job still waits on them

    def _disarm(self, job: Job) -> None:
        """The job's CAN_DO_TIMEOUT no longer matters (it ended, or its worker went away)."""
        if job.timer_token:
            job.timer_token = 0
            self._armed -= 1

    def _compact_timers(self) -> None:
        """Drop the heap entries of jobs that ended before their deadline.

        Entries are left in the heap when a job ends (removing one is O(n)), and each holds its
        Job, data and all: with a one-hour timeout a busy worker's finished jobs would stay in
        memory for an hour. Rebuilding once stale entries outnumber live ones keeps the heap
        within about twice the jobs actually running, at O(1) amortised cost per job.
        """
        self._timers = [e for e in self._timers if e[2].timer_token == e[1]]
        heapq.heapify(self._timers)

    # Defined by Core; declared here so this module type-checks (and compiles) on its own.
    def send(self, conn: Conn, data: bytes) -> None:
        raise NotImplementedError

    def error(self, conn: Conn, code: str, text: bytes | str) -> None:
        raise NotImplementedError

    def function(self, name: bytes) -> Function:
        raise NotImplementedError

    def _finish(self, job: Job) -> None:
        raise NotImplementedError

    def find(self, handle: bytes) -> Job | None:
        raise NotImplementedError

    def _fail_listeners(self, job: Job) -> None:
        raise NotImplementedError

    # ---- workers: abilities, sleep, grab ---------------------------------------------

    def _can_do(self, conn: Conn, frame: Frame) -> None:
        timeout = 0
        if frame.type is P.CAN_DO_TIMEOUT:
            raw = frame.args[1]
            if len(raw) > 20:
                raise RemoteProtocolError("CAN_DO_TIMEOUT value too long", code=None)
            timeout = parse_strtoll(raw)
            if 0 < timeout < 1000:
                timeout = 1000  # gearmand's minimum: one second
        fn = self.function(frame.args[0])
        reg = Registration(conn, fn, max(timeout, 0))
        conn.registrations.insert(0, reg)  # most recent CAN_DO first, as gearmand lists them
        fn.workers.append(reg)
        if conn.sleeping:
            fn.sleepers[conn] = None

    def _cant_do(self, conn: Conn, frame: Frame) -> None:
        keep = []
        for reg in conn.registrations:
            if reg.function.name == frame.args[0]:
                self._drop_registration(reg)
            else:
                keep.append(reg)
        conn.registrations = keep

    def _reset_abilities(self, conn: Conn, frame: Frame) -> None:
        for reg in conn.registrations:
            self._drop_registration(reg)
        conn.registrations = []

    def _drop_registration(self, reg: Registration) -> None:
        fn = reg.function
        fn.sleepers.pop(reg.conn, None)
        try:
            fn.workers.remove(reg)
        except ValueError:
            pass
        jobs, reg.jobs = reg.jobs, []
        for job in jobs:
            self._requeue(job, "worker lost")

    def _runnable(self, conn: Conn) -> bool:
        for reg in conn.registrations:
            q = reg.function.queues
            if q[0] or q[1] or q[2]:
                return True
        return False

    def _pre_sleep(self, conn: Conn, frame: Frame) -> None:
        if self._runnable(conn):
            self.send(conn, _NOOP)
            return
        if not conn.sleeping:
            conn.sleeping = True
            for reg in conn.registrations:
                reg.function.sleepers[conn] = None

    def _wake(self, fn: Function) -> None:
        """NOOP sleeping workers of a function that has new work (at most --worker-wakeup)."""
        sleepers = fn.sleepers
        if not sleepers:
            return
        limit = self.config.worker_wakeup or len(sleepers)
        sent = 0
        while sleepers and sent < limit:
            conn = next(iter(sleepers))
            del sleepers[conn]
            if conn.sleeping and not conn.noop_sent and not conn.closed:
                conn.noop_sent = True
                self.send(conn, _NOOP)
                sent += 1

    def _grab(self, conn: Conn, frame: Frame) -> None:
        conn.sleeping = False
        conn.noop_sent = False
        if self.draining:
            self.send(conn, _NO_JOB)
            return
        regs = conn.registrations
        for prio in range(3):  # (compiled, a C loop; a tuple literal makes an iterator)
            for i, reg in enumerate(regs):
                queue = reg.function.queues[prio]
                while queue:
                    job = queue.popleft()
                    fn = job.function
                    waiting = fn.waiting  # (a generic subtract as ``-= 1``: see new_job)
                    waiting[prio] = waiting[prio] - 1
                    job.queued = False
                    if job.ignore:
                        self._finish(job)  # abandoned or cancelled: reaped here, never run
                        continue
                    if len(regs) > 1:
                        regs.append(regs.pop(i))  # round robin across this worker's functions
                    self._assign(conn, reg, job, frame.type)
                    return
        self.send(conn, _NO_JOB)

    def _assign(self, conn: Conn, reg: Registration, job: Job, grab: PacketType) -> None:
        fn = job.function
        fn.running += 1
        job.worker = reg
        reg.jobs.append(job)
        now = self.clock()
        job.assigned_at = now
        if reg.timeout_ms > 0:
            self._seq += 1
            job.timer_token = self._seq
            heapq.heappush(self._timers, (now + reg.timeout_ms / 1000.0, self._seq, job))
            self._armed += 1
            if len(self._timers) > 2 * self._armed + 1024:
                self._compact_timers()
        if grab is _GRAB_JOB:
            self.send(conn, res(_JOB_ASSIGN, job.handle, fn.name, job.data))
        elif grab is _GRAB_JOB_ALL and job.reducer:
            self.send(conn, res(_JOB_ASSIGN_ALL, job.handle, fn.name, job.unique, job.reducer,
                                 job.data))
        else:
            self.send(conn, res(_JOB_ASSIGN_UNIQ, job.handle, fn.name, job.unique, job.data))

    # ---- worker results ------------------------------------------------------------------

    def _work(self, conn: Conn, frame: Frame) -> None:
        ptype = frame.type
        args = frame.args
        handle = args[0]
        job = self._running(conn, handle)
        if job is None and handle.endswith(b"\0"):
            job = self._running(conn, handle[:-1])
        if job is None:
            text = _NOT_FOUND_TEXT.get(ptype, b"Job given in work result not found")
            self.error(conn, ErrorCode.JOB_NOT_FOUND, text)
            return
        fn = job.function
        if ptype is _WORK_EXCEPTION:
            fn.exceptions += 1
            exc = res_args(ptype, args)
            fail = res(_WORK_FAIL_TYPE, job.handle)
            for c in job.listeners:
                self.send(c, exc if c.exceptions else fail)
            self._finish(job)
            return
        listeners = job.listeners
        if isinstance(listeners, list) and listeners:  # (narrowed: a direct list loop)
            data = res_args(ptype, args)
            for c in listeners:
                self.send(c, data)
        if ptype is _WORK_STATUS:
            job.numerator = args[1]
            job.denominator = args[2]
        elif ptype is _WORK_COMPLETE:
            fn.completed += 1
            self._finish(job)
        elif ptype is _WORK_FAIL:
            fn.failed += 1
            self._finish(job)

    def _running(self, conn: Conn, handle: bytes) -> Job | None:
        """The job with this handle if this connection is running it (a work result counts
        only from the job's own worker).

        A worker's own few jobs are searched first: a bytes compare each, cheaper than reading
        the number out of the handle for the table (measured: 1.5 % of a foreground job). One
        holding many registrations or jobs is looked up through the table instead.
        """
        regs = conn.registrations
        if len(regs) <= 8:
            for reg in regs:
                jobs = reg.jobs
                if len(jobs) > 8:
                    break
                for job in jobs:
                    if job.handle == handle:
                        return job
            else:
                return None  # searched every job this worker runs
        found = self.find(handle)
        if found is None or found.worker is None or found.worker.conn is not conn:
            return None
        return found

    def _requeue(self, job: Job, why: str) -> None:
        """A job's worker went away or timed out: run it again, up to --job-retries."""
        fn = job.function
        job.worker = None
        fn.running -= 1
        self._disarm(job)
        if job.ignore:
            self._finish(job)
            return
        job.retries += 1
        retries = self.config.job_retries
        if retries > 0 and job.retries >= retries:
            log.warning("Dropped job due to max retry count: %s (%s)", job.handle.decode(), why)
            fn.failed += 1
            self._fail_listeners(job)
            self._finish(job)
            return
        fn.requeued += 1
        job.numerator = job.denominator = b"0"
        fn.waiting[job.priority] += 1
        job.queued = True
        fn.queues[job.priority].append(job)
        self._wake(fn)
