"""The pure view-model behind ``geartool top``: no textual, no sockets, no clock.

Pollers hand in :class:`Snapshot` objects (the time they were taken is part of them), and the
model turns the history into what the screen shows: per-function rows with rates, a sparkline of
queue depth and alerts, worker rows, an aggregated view over all servers, sorting and filtering
(the rows and their formats are in ``rows.py``). Tested without a terminal.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field

from geartool.protocol.admin import RunningRow, StatsRow, StatusRow

from .rows import FunctionRow, Snapshot, WorkerView, select

ALL = "*"  # the view that aggregates every server
HISTORY = 60  # samples of queue depth kept for sparklines
RATE_WINDOW = 5  # samples back used for rates, to smooth one-sample jitter


@dataclass
class ServerState:
    """History of one server plus its health."""

    name: str
    # Whole snapshots only as far back as rates look: 1,000 functions x 60 samples of row
    # objects would make every garbage collection crawl. Queue depth (plain str -> int dicts,
    # which the collector ignores) is kept for the whole sparkline history.
    history: deque[Snapshot] = field(default_factory=lambda: deque(maxlen=RATE_WINDOW + 1))
    depth: deque[dict[str, int]] = field(default_factory=lambda: deque(maxlen=HISTORY))
    error: str | None = None
    failed_at: float | None = None
    idle_streak: dict[str, int] = field(default_factory=dict)

    @property
    def last(self) -> Snapshot | None:
        """The newest good sample, if any."""
        return self.history[-1] if self.history else None


class Monitor:
    """Every server's history and the rows the screen shows, for one view at a time.

    ``view`` is a server name or :data:`ALL`. A server whose last poll failed, or whose last
    good sample is older than ``stale_after`` seconds, is stale: its tab keeps the last data
    (marked), and the aggregated view leaves it out.
    """

    def __init__(self, servers: Iterable[str], idle_samples: int = 3,
                 stale_after: float = 5.0) -> None:
        self.servers: dict[str, ServerState] = {s: ServerState(s) for s in servers}
        self.idle_samples = idle_samples
        self.stale_after = stale_after

    # ---- input ---------------------------------------------------------------------------

    def update(self, snap: Snapshot) -> None:
        """Record a good poll; it clears the server's error."""
        state = self.servers.setdefault(snap.server, ServerState(snap.server))
        if state.error is not None:
            # Back after an outage, perhaps restarted with fresh counters: rates start over
            # rather than spanning the gap. The sparkline keeps its history.
            state.history.clear()
        state.history.append(snap)
        state.depth.append({s.function: s.waiting for s in snap.status})
        state.error = None
        state.failed_at = None
        idle = _idle_functions(snap)
        state.idle_streak = {f: state.idle_streak.get(f, 0) + 1 for f in idle}

    def fail(self, server: str, error: str, now: float) -> None:
        """Record a failed poll (cannot connect, timeout, bad reply)."""
        state = self.servers.setdefault(server, ServerState(server))
        state.error = error
        if state.failed_at is None:
            state.failed_at = now

    def is_stale(self, server: str, now: float) -> bool:
        """Whether the server's last poll failed or its data is older than stale_after."""
        state = self.servers[server]
        last = state.last
        return state.error is not None or last is None or now - last.taken > self.stale_after

    def live_servers(self, now: float) -> list[str]:
        """Servers with fresh data, in the order given."""
        return [s for s in self.servers if not self.is_stale(s, now)]

    # ---- function rows -------------------------------------------------------------------

    def function_rows(self, view: str, now: float) -> list[FunctionRow]:
        """Unsorted, unfiltered rows of ``view``."""
        if view != ALL:
            return self._server_rows(self.servers[view])
        merged: dict[str, FunctionRow] = {}
        for name in self.live_servers(now):
            for row in self._server_rows(self.servers[name]):
                into = merged.get(row.function)
                merged[row.function] = row if into is None else _merge(into, row)
        return list(merged.values())

    def rows(self, view: str, now: float, filter_text: str = "", sort: str = "function",
             reverse: bool = False) -> list[FunctionRow]:
        """Rows as shown: filtered (regex, ``!`` inverts), sorted (name breaks ties)."""
        return select(self.function_rows(view, now), filter_text, sort, reverse)

    def _server_rows(self, state: ServerState) -> list[FunctionRow]:
        last = state.last
        if last is None:
            return []
        prio = {p.function: p for p in last.priority or ()}
        stats = {s.function: s for s in last.stats or ()}
        old = state.history[max(0, len(state.history) - 1 - RATE_WINDOW)]
        dt = last.taken - old.taken
        old_total = {s.function: s.total for s in old.status}
        old_stats = {s.function: s for s in old.stats or ()}
        depth = state.depth
        out = []
        for s in last.status:
            p, st = prio.get(s.function), stats.get(s.function)
            row = FunctionRow(s.function, s.waiting, s.running, s.workers,
                              p.high if p else None, p.normal if p else None,
                              p.low if p else None,
                              oldest_wait=st.oldest_wait if st else None,
                              spark=[d.get(s.function, 0) for d in depth])
            if dt > 0:
                _rates(row, dt, s, old_total.get(s.function), st, old_stats.get(s.function))
            row.alert = self._alert(state, s)
            out.append(row)
        return out

    def _alert(self, state: ServerState, s: StatusRow) -> str | None:
        if s.waiting > 0 and s.workers == 0:
            return "no workers"
        if state.idle_streak.get(s.function, 0) >= self.idle_samples:
            return "workers idle"
        return None

    def alerts(self, view: str, now: float, rows: list[FunctionRow] | None = None
               ) -> list[str]:
        """One line per alert in ``view``: stale servers, then functions in trouble (of
        ``rows`` when given, e.g. the filtered rows on screen)."""
        names = list(self.servers) if view == ALL else [view]
        out = []
        for name in names:
            if self.is_stale(name, now):
                err = self.servers[name].error
                out.append(f"{name} stale" + (f": {err}" if err else ""))
        if rows is None:
            rows = self.function_rows(view, now)
        for row in sorted(rows, key=lambda r: r.function):
            if row.alert:
                out.append(f"{row.function}: {row.waiting} waiting, {row.alert}")
        return out

    # ---- workers -------------------------------------------------------------------------

    def worker_views(self, view: str, now: float, function: str | None = None
                     ) -> list[WorkerView]:
        """Worker connections (with at least one function), optionally of one function."""
        names = self.live_servers(now) if view == ALL else [view]
        out = []
        for name in names:
            last = self.servers[name].last
            if last is None:
                continue
            jobs = {(r.fd, r.ip): r for r in last.running or ()}
            for w in last.workers:
                if w.functions and (function is None or function in w.functions):
                    out.append(WorkerView(name, w.fd, w.ip, w.client_id, w.functions,
                                          jobs.get((w.fd, w.ip))))
        return out

    def running_jobs(self, view: str, now: float, function: str) -> list[RunningRow] | None:
        """Jobs of ``function`` being run (geartool servers); None when no server says."""
        names = self.live_servers(now) if view == ALL else [view]
        lasts = [self.servers[n].last for n in names]
        known = [s.running for s in lasts if s is not None and s.running is not None]
        if not known:
            return None
        return [r for rows in known for r in rows if r.function == function]


def _idle_functions(snap: Snapshot) -> set[str]:
    """Functions whose jobs wait while a worker for them has nothing to do, in this sample.

    With the ``running`` extension we know exactly which workers are busy; gearmand only says
    how many jobs of the function run, so there "idle" means none runs at all.
    """
    waiting = {s.function for s in snap.status if s.waiting > 0 and s.workers > 0}
    if not waiting:
        return set()
    if snap.running is None:
        return {s.function for s in snap.status if s.function in waiting and s.running == 0}
    busy = {(r.fd, r.ip) for r in snap.running}
    return {f for w in snap.workers if (w.fd, w.ip) not in busy
            for f in w.functions if f in waiting}


def _rates(row: FunctionRow, dt: float, s: StatusRow, old_total: int | None,
           st: StatsRow | None, old_st: StatsRow | None) -> None:
    if st is not None and old_st is not None:
        done = st.completed + st.failed + st.exceptions
        old_done = old_st.completed + old_st.failed + old_st.exceptions
        if st.submitted >= old_st.submitted and done >= old_done:  # else: server restarted
            row.rate_in = (st.submitted - old_st.submitted) / dt
            row.rate_out = (done - old_done) / dt
            row.rates_exact = True
        return
    if old_total is None:
        old_total = 0
    # Without counters only the net change of the queue is known: a lower bound on each side.
    delta = s.total - old_total
    row.rate_in = max(delta, 0) / dt
    row.rate_out = max(-delta, 0) / dt


def _opt_sum(a: int | None, b: int | None) -> int | None:
    return None if a is None and b is None else (a or 0) + (b or 0)


def _merge(a: FunctionRow, b: FunctionRow) -> FunctionRow:
    """One function seen on two servers: counts add up, the oldest wait is the larger."""
    n = max(len(a.spark), len(b.spark))
    pa, pb = [0] * (n - len(a.spark)) + a.spark, [0] * (n - len(b.spark)) + b.spark
    ages = [x for x in (a.oldest_wait, b.oldest_wait) if x is not None]
    rate_in = None if a.rate_in is None and b.rate_in is None else \
        (a.rate_in or 0.0) + (b.rate_in or 0.0)
    rate_out = None if a.rate_out is None and b.rate_out is None else \
        (a.rate_out or 0.0) + (b.rate_out or 0.0)
    return FunctionRow(
        a.function, a.waiting + b.waiting, a.running + b.running, a.workers + b.workers,
        _opt_sum(a.high, b.high), _opt_sum(a.normal, b.normal), _opt_sum(a.low, b.low),
        rate_in, rate_out, a.rates_exact and b.rates_exact, max(ages) if ages else None,
        [x + y for x, y in zip(pa, pb, strict=True)], a.alert or b.alert, a.servers + b.servers)
