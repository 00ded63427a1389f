"""The server's heap set-up: jobs off the cyclic collector's lists, arenas mapped resident."""

from __future__ import annotations

import gc
import subprocess
import sys
from types import ModuleType

import pytest

from geartool.protocol import PacketType as P
from geartool.server import heap
from tests.conftest import c_module
from tests.server.helpers import Harness


def _c() -> ModuleType:
    return c_module("geartool.server._heap")


def test_the_core_takes_each_job_off_the_collectors_lists() -> None:
    _c()
    h = Harness()
    if h.core.untrack is None:  # GEARTOOL_PURE_PYTHON: the Python path keeps jobs tracked
        assert heap.untrack is None
        pytest.skip("C modules switched off")
    c = h.conn()
    fg = h.job(h.submit(c, b"f", b"fg"))
    bg = h.job(h.submit(c, b"f", b"bg", ptype=P.SUBMIT_JOB_BG))
    assert not gc.is_tracked(fg) and not gc.is_tracked(bg)
    # Untracked, a job still works: it runs, reports and ends as any other.
    w = h.worker(b"f", sleep=False)
    assert h.grab(w).args[0] == fg.handle
    h.send(w, P.WORK_COMPLETE, fg.handle, b"done")
    assert h.received(c)[-1].args == (fg.handle, b"done")
    assert fg.seq not in h.core.jobs


def test_untrack_leaves_untracked_objects_and_atoms_alone() -> None:
    untrack = _c().untrack
    items: list[object] = [1, b"x", "y", None]
    box = [items]
    untrack(box)
    assert not gc.is_tracked(box)
    untrack(box)  # twice is harmless
    for atom in items:
        untrack(atom)
    assert box[0] is items


_GROWTH = """
import os, sys
PAGE = os.sysconf("SC_PAGE_SIZE")

def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE

if sys.argv[1] == "on":
    from geartool.server import _heap
    _heap.prefault_arenas()
keep = [None] * 40_000  # made up front: only the strings below take new memory
for step in range(40):  # ~64 KB of small strings a step, all from pymalloc arenas
    before = rss()
    for i in range(1_000 * step, 1_000 * step + 1_000):
        keep[i] = str(i) * 2
    print((rss() - before) // 1024)
"""


def _growth_kb(mode: str) -> list[int]:
    """How much the resident set grew at each of 40 steps of ~64 KB of new small objects."""
    out = subprocess.run([sys.executable, "-c", _GROWTH, mode], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    return [int(line) for line in out.split()]


def test_prefaulted_arenas_are_resident_as_soon_as_they_are_mapped() -> None:
    _c()
    # Page by page, each step's new objects fault in the pages they land on.
    off = _growth_kb("off")
    assert len(off) == 40 and sum(kb < 8 for kb in off) <= 2, off
    # Mapped resident, a new arena arrives whole (1 MiB at once), and the steps after it
    # fault nothing in until it is used up.
    on = _growth_kb("on")
    assert max(on) >= 1000 and sum(kb < 8 for kb in on) >= 30, on


def test_tune_sets_the_collector_up_in_a_fresh_process() -> None:
    code = ("import gc; from geartool.server import heap; heap.tune(); "
            "print(gc.get_threshold()[0], gc.get_freeze_count() > 0)")
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True, timeout=60).stdout.split()
    assert out == ["50000", "True"]
