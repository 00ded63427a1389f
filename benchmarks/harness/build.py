"""Compile the C load generator on demand and run it.

The binary is cached under ``benchmarks/.cache/`` (git-ignored), keyed by a hash of the sources
(``benchmarks/loadgen/*.c`` and ``*.h``) and the compiler, so an edited source is rebuilt
automatically and a stale binary is never used.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from benchmarks.harness import cpus

BENCH_DIR = Path(__file__).resolve().parent.parent
SOURCE_DIR = BENCH_DIR / "loadgen"
CACHE = BENCH_DIR / ".cache"


class LoadgenError(RuntimeError):
    """The load generator failed: a wrong or lost reply, a timeout, or a crash."""


def build(cc: str | None = None) -> Path:
    """Return the path of a loadgen binary built from the current source with ``cc -O2``."""
    compiler = cc or os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise LoadgenError("no C compiler found (install gcc)")
    sources = sorted(SOURCE_DIR.glob("*.c"))
    digest = hashlib.sha256(compiler.encode())
    for path in sorted(SOURCE_DIR.glob("*.[ch]")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    binary = CACHE / f"loadgen-{digest.hexdigest()[:16]}"
    if binary.exists():
        return binary
    CACHE.mkdir(exist_ok=True)
    tmp = binary.with_suffix(".tmp")
    proc = subprocess.run([compiler, "-O2", "-Wall", "-o", str(tmp), *map(str, sources)],
                          capture_output=True, text=True, timeout=120)
    if proc.returncode != 0:
        raise LoadgenError(f"compiling loadgen failed:\n{proc.stderr}")
    tmp.replace(binary)
    return binary


def command(binary: Path, mode: str, port: int, **opts: Any) -> list[str]:
    """The loadgen argv for ``mode`` with ``--name value`` options (True means a bare flag)."""
    argv = [str(binary), mode, "--port", str(port)]
    for key, value in opts.items():
        if value is None or value is False:
            continue
        flag = "--" + key.replace("_", "-")
        argv += [flag] if value is True else [flag, str(value)]
    return argv


def parse(stdout: str, stderr: str, returncode: int) -> dict[str, Any]:
    """The JSON result line of a loadgen run; raise LoadgenError when the run failed."""
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise LoadgenError(f"loadgen exited {returncode} without a result: {stderr.strip()}")
    result: dict[str, Any] = json.loads(lines[-1])
    if returncode != 0 or not result.get("ok"):
        raise LoadgenError(result.get("error") or f"loadgen exited {returncode}")
    return result


def run(binary: Path, mode: str, port: int, *, timeout: float, **opts: Any) -> dict[str, Any]:
    """Run one loadgen measurement to completion and return its parsed result."""
    argv = command(binary, mode, port, timeout=timeout, **opts)
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=timeout + 30,
                              preexec_fn=cpus.for_loadgen())
    except subprocess.TimeoutExpired as exc:
        raise LoadgenError(f"loadgen {mode} did not finish within {timeout + 30:.0f} s") from exc
    return parse(proc.stdout, proc.stderr, proc.returncode)


def error_text(exc: BaseException) -> str:
    """A failed run's error for the report: the last line of its message, or its type."""
    text = str(exc).strip()
    return text.splitlines()[-1] if text else type(exc).__name__
