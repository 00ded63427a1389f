"""Workload b in slices alternating between two servers: the order of the slices, the pooling of
their jobs, a failing server, and the runner's report. Real servers and the real load generator;
no timing is asserted."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks.harness import build, interleave
from benchmarks.harness.servers import Server
from tests.conftest import need

ROOT = Path(__file__).resolve().parent.parent.parent
FG = {"clients": 2, "workers": 2, "depth": 3}
pytestmark = pytest.mark.interop


@pytest.fixture(scope="module")
def loadgen() -> Path:
    return build.build()


def _slice(jobs: int, seconds: float) -> dict[str, Any]:
    return {"jobs": jobs, "elapsed_s": seconds, "rate": jobs / seconds, "server_cpu_s": 0.01,
            "server_rss_before_kb": 100, "server_rss_after_kb": 110}


def test_pooled_figures_come_from_every_slice_job() -> None:
    a, b = interleave.Pool(), interleave.Pool()
    a.add(_slice(100, 0.1), [0.001] * 100)
    b.add(_slice(100, 0.3), [0.003] * 99 + [0.009])
    b.add(_slice(50, 0.1), [0.002] * 50)
    a.merge(b)
    res = a.figures()
    assert res["jobs"] == 250 and res["rate"] == pytest.approx(250 / 0.5)
    assert res["slices"] == 3 and res["slice_rates"] == [1000, 333, 500]
    # nearest rank over all 250: the 125th is a 2 ms job, the 248th a 3 ms one
    assert res["p50_ms"] == pytest.approx(2.0) and res["p99_ms"] == pytest.approx(3.0)
    assert res["max_ms"] == pytest.approx(9.0)
    assert res["server_cpu_s"] == pytest.approx(0.03)
    assert res["server_rss_before_kb"] == 100 and res["server_rss_after_kb"] == 110
    assert interleave.Pool().figures() == {"error": "no jobs ran"}


def test_a_single_slice_matches_the_load_generator(loadgen: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Pooled from its latency log, one slice gives the figures the load generator printed."""
    seen: list[dict[str, Any]] = []
    real = build.run

    def spy(binary: Path, mode: str, port: int, **opts: Any) -> dict[str, Any]:
        seen.append(real(binary, mode, port, **opts))
        return seen[-1]

    monkeypatch.setattr(build, "run", spy)
    rounds = interleave.run(loadgen, [("geartool", "geartool")], 400, 1, 1, FG, 30)
    res, printed = rounds["geartool"][0].figures(), seen[0]
    assert len(seen) == 1 and res["jobs"] == printed["jobs"] == 400 and res["slices"] == 1
    for key in ("p50_ms", "p99_ms", "max_ms", "server_cpu_s"):
        assert res[key] == pytest.approx(printed[key], abs=0.0015), key
    assert res["rate"] == pytest.approx(printed["rate"], rel=1e-4)  # elapsed_s has 6 digits


def test_slices_alternate_in_abba_order(loadgen: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    need("gearmand")
    order: list[int] = []
    real = build.run

    def spy(binary: Path, mode: str, port: int, **opts: Any) -> dict[str, Any]:
        order.append(port)
        return real(binary, mode, port, **opts)

    monkeypatch.setattr(build, "run", spy)
    kinds = [("gearmand", "gearmand"), ("geartool", "geartool")]
    with Server("gearmand") as g, Server("geartool") as t:
        pools = interleave.run_round(loadgen, kinds, {"gearmand": g, "geartool": t}, 800, 4,
                                     FG, 30)
        a, b = g.port, t.port
    assert order == [a, b, b, a, a, b, b, a]
    for pool in pools.values():
        assert pool.error is None and pool.jobs == 800 and len(pool.latencies) == 800
        assert len(pool.slice_rates) == 4


def test_a_dead_server_fails_alone(loadgen: Path) -> None:
    kinds = [("dead", "geartool"), ("alive", "geartool")]
    with Server("geartool") as dead, Server("geartool") as alive:
        dead.stop()
        pools = interleave.run_round(loadgen, kinds, {"dead": dead, "alive": alive}, 300, 3,
                                     FG, 30)
    assert pools["dead"].error and "connect" in pools["dead"].error
    assert pools["dead"].jobs == 0 and "error" in pools["dead"].figures()
    assert pools["alive"].error is None and pools["alive"].jobs == 300
    merged = interleave.pooled([pools["alive"], pools["dead"]])
    assert merged["error"] == pools["dead"].error and "rate" not in merged
    assert merged["each"][1] == {"error": pools["dead"].error}


def test_runner_pools_every_round(tmp_path: Path) -> None:
    need("gearmand")
    proc = subprocess.run(
        [sys.executable, "benchmarks/run.py", "--quick", "--only", "b", "--repeat", "2",
         "--candidate", "gearmand", "--out", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    doc = json.loads((tmp_path / "latest.json").read_text())
    assert doc["meta"]["b"] == "interleaved, 4 slices per repetition"
    for res in doc["results"]["b"].values():
        assert res["jobs"] == 2 * 20_000 and res["slices"] == 8 and len(res["each"]) == 2
        assert res["p50_ms"] <= res["p99_ms"] <= res["max_ms"]
        assert "server_cpu_us_per_job" in res
    md = (tmp_path / "latest.md").read_text()
    assert "- b gearmand, each slice (k/s): " in md and "b pools all of its repetitions" in md
