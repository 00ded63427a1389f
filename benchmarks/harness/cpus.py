"""Where the server under test and the load generator run: one CPU each, when there are two.

Unpinned on this 2-CPU machine, the two processes share one CPU now and then: a loopback send
wakes the reader with a "sync" wake-up, and the kernel may place the reader on the sender's
CPU until its load balancer moves one of them back. Traced with sched_migrate_task, the load
generator moved onto the server's CPU and back within 0.5-4 ms several times per foreground
run. Meanwhile both run at half speed and every job in flight is slow; at 1 % of a run's jobs,
such spells decide its p99. They are commonest at the start: in 8 unpinned runs (4 per
server) the first 40 ms ran at 0.45-0.73 of the run's mean rate in 7; pinned, at 0.92-1.01 in
7 of 8. Pinning measures the server rather than where the scheduler put the two processes.
Both servers are placed alike, and the runner records the placement with the results.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

_SYS = Path("/sys/devices/system/cpu")


@dataclass(frozen=True)
class Placement:
    """CPU sets for the server (with all its threads) and for the load generator."""

    server: frozenset[int]
    loadgen: frozenset[int]

    def describe(self) -> str:
        return f"server on CPU {_names(self.server)}, load generator on CPU {_names(self.loadgen)}"


def _names(cpus: frozenset[int]) -> str:
    return ",".join(str(c) for c in sorted(cpus))


def siblings(cpu: int, root: Path = _SYS) -> set[int]:
    """The CPUs sharing ``cpu``'s core (SMT threads), itself included; just ``cpu`` when the
    kernel does not say."""
    try:
        text = (root / f"cpu{cpu}" / "topology" / "thread_siblings_list").read_text().strip()
    except OSError:
        return {cpu}
    out: set[int] = set()
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        try:
            out.update(range(int(lo), int(hi or lo) + 1))
        except ValueError:
            return {cpu}
    return out | {cpu}


def choose(enabled: bool, allowed: set[int] | None = None,
           sibling_of: Callable[[int], set[int]] = siblings) -> Placement | None:
    """One CPU for the server and another for the load generator, from the CPUs this process
    may use: on another core if there is one, as two threads of one core share its execution
    units. None when pinning is off or fewer than two CPUs are available."""
    if not enabled or not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(allowed if allowed is not None else os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None
    server = cpus[0]
    shared = sibling_of(server)
    loadgen = next((c for c in cpus[1:] if c not in shared), cpus[1])
    return Placement(frozenset({server}), frozenset({loadgen}))


_current: Placement | None = None


def use(placement: Placement | None) -> None:
    """Set the placement for the servers and load generators started from now on."""
    global _current
    _current = placement


def _pin(cpus: frozenset[int] | None) -> Callable[[], None]:
    def pin() -> None:  # runs in the child between fork and exec: its threads inherit the mask
        if cpus is not None:
            os.sched_setaffinity(0, cpus)
    return pin


def for_server() -> Callable[[], None]:
    """A ``preexec_fn`` step that pins a server process (no-op when unpinned)."""
    return _pin(_current.server if _current is not None else None)


def for_loadgen() -> Callable[[], None]:
    """A ``preexec_fn`` step that pins a load generator process (no-op when unpinned)."""
    return _pin(_current.loadgen if _current is not None else None)
