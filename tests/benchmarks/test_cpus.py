"""The benchmark's CPU placement: one CPU for the server (all its threads), another for the load
generator, checked on real processes through the kernel's own affinity masks."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from benchmarks.harness import cpus
from benchmarks.harness.servers import Server
from geartool.protocol.spec import PacketType
from tests.wire import Peer


@pytest.fixture
def placement() -> Iterator[cpus.Placement]:
    chosen = cpus.choose(True)
    if chosen is None:
        pytest.skip("pinning needs two CPUs")
    cpus.use(chosen)
    yield chosen
    cpus.use(None)


def test_choose_takes_two_distinct_cpus_from_the_allowed_set() -> None:
    chosen = cpus.choose(True, {7, 2, 5})
    assert chosen == cpus.Placement(frozenset({2}), frozenset({5}))
    assert chosen.describe() == "server on CPU 2, load generator on CPU 5"
    assert cpus.choose(True, {3}) is None  # one CPU: nothing to separate
    assert cpus.choose(False, {0, 1}) is None


def test_choose_keeps_the_two_off_one_core(tmp_path: Path) -> None:
    # cpu0 and cpu1 are two threads of one core, as the kernel lists them in sysfs
    for cpu, text in ((0, "0-1"), (1, "0-1"), (2, "2,3"), (3, "2,3")):
        topo = tmp_path / f"cpu{cpu}" / "topology"
        topo.mkdir(parents=True)
        (topo / "thread_siblings_list").write_text(text + "\n")
    assert cpus.siblings(0, tmp_path) == {0, 1} and cpus.siblings(3, tmp_path) == {2, 3}
    assert cpus.siblings(9, tmp_path) == {9}  # not listed: only itself
    chosen = cpus.choose(True, {0, 1, 2, 3}, lambda c: cpus.siblings(c, tmp_path))
    assert chosen == cpus.Placement(frozenset({0}), frozenset({2}))
    # one core with two threads and nothing else: share it rather than not pin at all
    only = cpus.choose(True, {0, 1}, lambda c: cpus.siblings(c, tmp_path))
    assert only == cpus.Placement(frozenset({0}), frozenset({1}))


def _affinity_of_child(preexec: Callable[[], object]) -> set[int]:
    code = "import os; print(' '.join(map(str, sorted(os.sched_getaffinity(0)))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30, preexec_fn=preexec, check=True).stdout
    return {int(n) for n in out.split()}


def test_load_generator_runs_on_its_cpu(placement: cpus.Placement) -> None:
    assert _affinity_of_child(cpus.for_loadgen()) == set(placement.loadgen)
    cpus.use(None)  # unpinned: the child keeps everything this process may use
    assert _affinity_of_child(cpus.for_loadgen()) == os.sched_getaffinity(0)


def _threads_allowed(pid: int) -> list[str]:
    allowed = []
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        for line in status.read_text().splitlines():
            if line.startswith("Cpus_allowed_list:"):
                allowed.append(line.split(":", 1)[1].strip())
    return allowed


def _submit_background(port: int) -> None:
    """One durable submit, answered after its commit: the store's thread has run by then."""
    with Peer(port, timeout=10) as peer:
        peer.send(PacketType.SUBMIT_JOB_BG, b"pin", b"", b"x")
        assert peer.frame(timeout=10).type == PacketType.JOB_CREATED


@pytest.mark.parametrize("durable", [False, True])
def test_server_and_every_thread_on_its_cpu(placement: cpus.Placement, tmp_path: Path,
                                            durable: bool) -> None:
    # The durable store commits from a thread: it must inherit the mask like the main thread.
    with Server("geartool", db=tmp_path / "q.db" if durable else None) as srv:
        if durable:
            _submit_background(srv.port)
        assert os.sched_getaffinity(srv.pid) == set(placement.server)
        allowed = _threads_allowed(srv.pid)
    (cpu,) = placement.server
    assert len(allowed) == (2 if durable else 1)  # the main thread, and the commit thread
    assert set(allowed) == {str(cpu)}
