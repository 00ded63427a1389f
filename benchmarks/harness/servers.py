"""Start and stop the job servers under test: Debian's C++ gearmand and ``geartool server``.

Each server gets a free loopback port and, for the durable workload, its own queue file. Servers
are ended by PID (terminate, then kill after a bound), never by name.
"""

from __future__ import annotations

import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from benchmarks.harness import cpus

ROOT = Path(__file__).resolve().parent.parent.parent
# 10,000 idle connections plus headroom; bounded by the hard limit.
NOFILE = 16384
TARGETS = ("gearmand", "geartool")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = NOFILE if hard == resource.RLIM_INFINITY else min(NOFILE, hard)
    if soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


def gearmand_path() -> str | None:
    """Where Debian's gearmand is, if installed."""
    found = shutil.which("gearmand")
    if found:
        return found
    return "/usr/sbin/gearmand" if Path("/usr/sbin/gearmand").exists() else None


@dataclass
class Server:
    """One server process of kind ``gearmand`` or ``geartool``; ``db`` makes it durable."""

    kind: str
    db: Path | None = None
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None
    # stderr goes to a file, not a pipe: a chatty server must never block on a full pipe.
    log: IO[bytes] | None = None

    def argv(self) -> list[str]:
        if self.kind == "gearmand":
            exe = gearmand_path()
            if exe is None:
                raise RuntimeError("gearmand is not installed (Debian: gearman-job-server)")
            argv = [exe, "--threads=0", "--listen=127.0.0.1", f"--port={self.port}",
                    "--log-file=none"]
            if self.db is not None:
                argv += ["-q", "libsqlite3", "--libsqlite3-db", str(self.db)]
            return argv
        if self.kind == "geartool":
            queue = f"sqlite:///{self.db}" if self.db is not None else "memory"
            return [sys.executable, "-m", "geartool", "server", "--listen", "127.0.0.1",
                    "--port", str(self.port), "--queue", queue]
        raise ValueError(f"unknown server kind {self.kind!r}; use one of {', '.join(TARGETS)}")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 20.0) -> Server:
        """Start the server and wait until it accepts connections."""
        self.log = tempfile.TemporaryFile()
        pin = cpus.for_server()

        def prepare() -> None:
            _raise_nofile()
            pin()

        self.proc = subprocess.Popen(self.argv(), cwd=ROOT, stdout=subprocess.DEVNULL,
                                     stderr=self.log, preexec_fn=prepare)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = self.stderr_tail()
                raise RuntimeError(f"{self.kind} exited with {self.proc.returncode}: "
                                   f"{err.strip()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.kind} did not listen on port {self.port} within {timeout} s")

    def kill9(self) -> None:
        """SIGKILL the server (the crash-durability check), then reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        """End the server by its PID: SIGTERM, then SIGKILL if it is still there after 10 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def stderr_tail(self, limit: int = 2000) -> str:
        """The last ``limit`` characters the server wrote to stderr."""
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-limit:]

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def geartool_code() -> str:
    """Which code a geartool server started now runs: compiled (mypyc), or why its sources."""
    try:
        proc = subprocess.run([sys.executable, "-c", "import geartool; print(geartool.COMPILED)"],
                              cwd=ROOT, capture_output=True, text=True, timeout=30)
        return proc.stdout.strip() or "?"
    except (OSError, subprocess.TimeoutExpired):
        return "?"


def versions() -> dict[str, str]:
    """Version strings of the servers under test, for the results file."""
    out = {"python": sys.version.split()[0]}
    exe = gearmand_path()
    if exe:
        try:
            proc = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10)
            out["gearmand"] = proc.stdout.strip().splitlines()[0] if proc.stdout else "?"
        except (OSError, subprocess.TimeoutExpired):
            out["gearmand"] = "?"
    out["geartool_code"] = geartool_code()
    try:
        proc = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10)
        out["geartool_commit"] = proc.stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        pass
    return out
