"""`geartool top` in a real pseudo-terminal: it draws the server's functions and quits on q."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import sys
import termios
import time

from tests.conftest import stop
from tests.tui.peers import submit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _read_until(fd: int, want: bytes, timeout: float) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout
    while want not in out and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:  # the program closed the terminal
                break
    return out


def test_top_in_a_terminal(gearmand: int) -> None:
    submit(gearmand, "pty_function")
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 120, 0, 0))
    proc = subprocess.Popen(
        [sys.executable, "-m", "geartool", "top", "-s", f"127.0.0.1:{gearmand}", "-i", "0.5"],
        stdin=slave, stdout=slave, stderr=slave, cwd=ROOT, start_new_session=True,
        env=dict(os.environ, TERM="xterm-256color"))
    os.close(slave)
    try:
        screen = _read_until(master, b"no workers", 20)
        assert b"pty_function" in screen and b"no workers" in screen
        os.write(master, b"q")
        _read_until(master, b"\x1b[?1049l", 10)  # leaves the alternate screen
        assert proc.wait(10) == 0
    finally:
        stop(proc)
        os.close(master)
