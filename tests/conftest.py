"""Shared fixtures: free ports, real peers (C++ gearmand, gearman, gearadmin) and geartool servers.

With CI=true a test whose real peer is missing fails instead of skipping, so CI can never go
green by quietly testing nothing.
"""

from __future__ import annotations

import importlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


@pytest.fixture(autouse=True, scope="session")
def _own_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """geartool processes the tests start keep their caches (the --help text) out of ~/.cache."""
    saved = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield
    if saved is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = saved


def need(tool: str) -> str:
    """Path of a real peer program; skip without it locally, fail without it in CI."""
    path = shutil.which(tool) or (f"/usr/sbin/{tool}" if os.path.exists(f"/usr/sbin/{tool}")
                                  else None)
    if path is None:
        msg = f"{tool} is not installed (Debian: gearman-job-server / gearman-tools / tshark)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return path


def c_module(name: str) -> ModuleType:
    """One of geartool's optional C modules; skip without it locally, fail without it in CI
    (where .ci/run installs a compiler, so a missing module is a broken build)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        msg = f"{name} is not built (setup.py needs a C compiler)"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, proc: subprocess.Popen[bytes] | None = None,
              timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode} before listening")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a process this test started, by its PID."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def start_gearmand(port: int, *extra: str) -> subprocess.Popen[bytes]:
    exe = need("gearmand")
    proc = subprocess.Popen(
        [exe, "--listen=127.0.0.1", f"--port={port}", "--log-file=none", "--threads=0", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, proc)
    return proc


def start_geartool(port: int, *extra: str, env: dict[str, str] | None = None
                   ) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "geartool", "server", "--port", str(port), *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    wait_port(port, proc)
    return proc


@pytest.fixture
def gearmand() -> Iterator[int]:
    """A C++ gearmand on a free loopback port; yields the port."""
    port = free_port()
    proc = start_gearmand(port)
    try:
        yield port
    finally:
        stop(proc)


@pytest.fixture
def geartool_server(tmp_path: Path) -> Iterator[int]:
    """``geartool server`` in a subprocess on a free loopback port with a SQLite queue file."""
    port = free_port()
    proc = start_geartool(port, "--queue", f"sqlite:///{tmp_path / 'queue.db'}")
    try:
        yield port
    finally:
        stop(proc)


@pytest.fixture(params=["geartool", "gearmand"])
def any_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, int]]:
    """Each test runs once against geartool's server and once against C++ gearmand."""
    port = free_port()
    if request.param == "gearmand":
        proc = start_gearmand(port)
    else:
        proc = start_geartool(port, "--queue", f"sqlite:///{tmp_path / 'q.db'}")
    try:
        yield request.param, port
    finally:
        stop(proc)
