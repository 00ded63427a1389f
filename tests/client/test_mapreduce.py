"""examples/mapreduce_wordcount.py run for real: a coordinator fans out to separate mappers."""

from __future__ import annotations

import json
import random
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from tests.conftest import stop

from .helpers import status_of

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "mapreduce_wordcount.py"
WORDS = ["gear", "man", "job", "server", "worker", "client", "queue", "map", "reduce", "it's"]


def _wait_workers(port: int, function: str, n: int) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        st = status_of(port, function)
        if st is not None and st[2] >= n:
            return
        time.sleep(0.02)
    raise TimeoutError(f"{n} workers for {function} never registered")


def test_wordcount_mapreduce(any_server: tuple[str, int], tmp_path: Path) -> None:
    port = any_server[1]
    rng = random.Random(7)
    lines = [" ".join(rng.choice(WORDS).upper() if rng.random() < 0.1 else rng.choice(WORDS)
                      for _ in range(rng.randint(0, 12))) for _ in range(3000)]
    text = "\n".join(lines) + "\n"
    path = tmp_path / "input.txt"
    path.write_text(text)
    expected = Counter(w.lower() for line in lines for w in line.split())

    server = ["-s", f"127.0.0.1:{port}"]
    mappers = [subprocess.Popen([sys.executable, str(EXAMPLE), "mapper", *server,
                                 "--concurrency", "2"]) for _ in range(2)]
    coord = subprocess.Popen([sys.executable, str(EXAMPLE), "coordinator", *server,
                              "--chunk-size", "2048"])
    try:
        _wait_workers(port, "wordcount_map", 2)
        _wait_workers(port, "wordcount", 1)
        res = subprocess.run([sys.executable, "-m", "geartool", "submit", *server, "wordcount"],
                             input=text.encode(), capture_output=True, cwd=ROOT, timeout=60)
        assert res.returncode == 0, res.stderr
        out = json.loads(res.stdout)
        assert out["counts"] == dict(expected)
        assert list(out["counts"].values()) == sorted(expected.values(), reverse=True)
        assert out["chunks"] >= 10  # really fanned out
        assert set(out["mappers"]) <= {m.pid for m in mappers}
        assert coord.pid not in out["mappers"]  # the coordinator only reduces
        # Progress arrived as plain lines (stderr is not a terminal): one per chunk, plus 0/n.
        assert res.stderr.decode().count("complete") == out["chunks"] + 1

        top = subprocess.run([sys.executable, str(EXAMPLE), "count", str(path), *server,
                              "--top", "3"], capture_output=True, timeout=60)
        assert top.returncode == 0
        want = [f"{n:8d} {w}" for w, n in
                sorted(expected.items(), key=lambda kv: (-kv[1], kv[0]))[:3]]
        assert top.stdout.decode().splitlines() == want
    finally:
        for proc in [coord, *mappers]:
            stop(proc)
