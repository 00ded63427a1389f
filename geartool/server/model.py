"""The scheduler's state objects: connections, functions, registrations and jobs.

Plain classes with __slots__: the server makes one Job per submit and touches these on every
packet, so attribute access and allocation cost matter more than dataclass conveniences.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Final

from geartool.protocol.spec import Priority

PRIORITIES = (Priority.HIGH, Priority.NORMAL, Priority.LOW)


class Conn:
    """One peer connection as the scheduler sees it. ``out`` collects replies in order.

    Items in ``out`` are bytes, or a background Job standing for its JOB_CREATED (or ERROR)
    reply until its durable write commits: nothing after it may be sent before it
    (python-gearman pairs replies by order). Using the Job itself as the placeholder costs no
    allocation per durable submit.
    """

    __slots__ = ("id", "ip", "port", "client_id", "exceptions", "registrations", "sleeping",
                 "noop_sent", "listening", "out", "loopback", "closed", "extra",
                 "held")

    def __init__(self, cid: int, ip: str, port: int = 0, *, exceptions: bool = False,
                 loopback: bool = True) -> None:
        self.id = cid
        self.ip = ip
        self.port = port
        self.client_id = b"-"
        self.exceptions = exceptions
        self.registrations: list[Registration] = []
        self.sleeping = False
        self.noop_sent = False
        # Jobs this connection submitted in the foreground, with how many submits each.
        self.listening: dict[Job, int] = {}
        self.out: list[Any] = []
        self.loopback = loopback
        self.closed = False
        self.extra: Any = None  # the transport's own handle
        self.held = 0  # Jobs in ``out`` whose durable write has not committed yet

    def __repr__(self) -> str:
        return f"<Conn {self.id} {self.ip}>"


class Registration:
    """One CAN_DO of one connection. Running jobs belong to a registration (PROTOCOL.md 3.9)."""

    __slots__ = ("conn", "function", "timeout_ms", "jobs")

    def __init__(self, conn: Conn, function: Function, timeout_ms: int) -> None:
        self.conn = conn
        self.function = function
        self.timeout_ms = timeout_ms
        self.jobs: list[Job] = []


# Queued jobs per worker below which a function's queue is short: replies to its clients are
# not deferred then (see outgoing.Outgoing._defer_clients), since a client's next submit is a
# worker's next job. Matches the transport's four passes of deferral, in each of which a worker
# takes at most one job.
SHORT_QUEUE: Final = 4


class Function:
    """Queues, workers, limits and counters of one function name."""

    __slots__ = ("name", "queues", "workers", "sleepers", "max_queue", "waiting",
                 "running", "uniques", "by_data", "submitted", "completed", "failed",
                 "exceptions", "requeued")

    def __init__(self, name: bytes) -> None:
        self.name = name
        # One queue per priority, typed variable-length: compiled, a fixed-length tuple is an
        # unboxed struct, boxed into a new tuple object each time it is indexed by a variable.
        self.queues: tuple[deque[Job], ...] = (deque(), deque(), deque())
        self.workers: list[Registration] = []
        # Connections that slept while registered here, oldest first (a dict is an ordered
        # set, so a worker is listed once however often it sleeps). Entries for workers that
        # woke meanwhile are skipped when popped; waking the oldest first spreads NOOPs.
        self.sleepers: dict[Conn, None] = {}
        self.max_queue = [0, 0, 0]
        self.waiting = [0, 0, 0]  # queued per priority, including epoch jobs not yet due
        self.running = 0
        self.uniques: dict[bytes, Job] = {}
        self.by_data: dict[bytes, Job] = {}  # jobs submitted with unique "-": keyed by data
        self.submitted = 0
        self.completed = 0
        self.failed = 0
        self.exceptions = 0
        self.requeued = 0

    @property
    def total(self) -> int:
        return self.waiting[0] + self.waiting[1] + self.waiting[2] + self.running

    def short_queue(self) -> bool:
        """Too few queued jobs to keep its workers busy while replies are deferred."""
        waiting = self.waiting
        return waiting[0] + waiting[1] + waiting[2] < SHORT_QUEUE * len(self.workers)


class Job:
    """One job, from submit until it completes, fails, is dropped or is cancelled."""

    __slots__ = ("handle", "seq", "function", "unique", "data", "priority", "background", "when",
                 "reducer", "listeners", "worker", "retries", "numerator", "denominator",
                 "ignore", "store_id", "created", "assigned_at", "timer_token", "pending",
                 "queued", "reply")

    def __init__(self, handle: bytes, seq: object, function: Function, unique: bytes, data: bytes,
                 priority: int, background: bool, when: int, reducer: bytes,
                 created: float) -> None:
        self.handle = handle
        # The number in the handle, as the very int object that keys Core.jobs: typed object,
        # the compiled class keeps that object, so the job's own lookups there match by
        # identity and box no new int (a tagged int field would box one per lookup).
        self.seq = seq
        self.function = function
        self.unique = unique
        self.data = data
        self.priority = priority
        self.background = background
        self.when = when
        self.reducer = reducer
        # Foreground clients waiting for the result. The shared empty tuple until the first
        # one attaches: background jobs (most of a big queue) then cost no list each.
        self.listeners: list[Conn] | tuple[()] = ()
        self.worker: Registration | None = None
        self.retries = 0
        self.numerator = b"0"
        self.denominator = b"0"
        self.ignore = False
        self.store_id = 0  # 0: not in the durable store
        self.created = created
        self.assigned_at = 0.0
        self.timer_token = 0
        # Connections owed a reply once the job's durable write commits (None once it has),
        # and that reply: JOB_CREATED, or ERROR if the write failed.
        self.pending: list[Conn] | None = None
        self.reply = b""
        self.queued = False

    def __repr__(self) -> str:
        return f"<Job {self.handle!r} {self.function.name!r}>"


def ready_bytes(item: bytes | Job) -> bytes | None:
    """An ``out`` item's bytes, or None while it still waits for its commit."""
    if type(item) is bytes:
        return item
    assert isinstance(item, Job)
    return None if item.pending is not None else item.reply
