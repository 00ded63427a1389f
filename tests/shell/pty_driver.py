"""Drive a program in a pseudo-terminal: type keys, wait for text on the screen."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import subprocess
import termios
import time

from .helpers import ANSI


def _take_terminal() -> None:
    """In the child, after setsid: make the pty its controlling terminal, as a real terminal
    is, so Ctrl-C typed on it becomes SIGINT."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """A child process on a pty; ``expect`` waits (bounded) for text in its stripped output."""

    def __init__(self, argv: list[str], env: dict[str, str], cwd: str) -> None:
        master, slave = pty.openpty()
        os.set_blocking(master, False)
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env,
                                     cwd=cwd, start_new_session=True,
                                     preexec_fn=_take_terminal)
        os.close(slave)
        self.fd = master
        self.raw = b""
        self.seen = 0  # offset in text() already matched

    def text(self) -> str:
        return ANSI.sub("", self.raw.decode("utf-8", "replace")).replace("\r", "")

    def _pump(self, timeout: float) -> None:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if ready:
            try:
                self.raw += os.read(self.fd, 65536)
            except OSError:
                time.sleep(timeout)

    def expect(self, needle: str, timeout: float = 10.0) -> str:
        """Wait for ``needle`` after the last match; return the text up to it."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.text()
            at = text.find(needle, self.seen)
            if at >= 0:
                chunk = text[self.seen:at + len(needle)]
                self.seen = at + len(needle)
                return chunk
            self._pump(0.05)
        raise AssertionError(f"{needle!r} not seen; screen tail:\n{self.text()[-2000:]}")

    def send(self, keys: str) -> None:
        os.write(self.fd, keys.encode())

    def close(self) -> int:
        if self.proc.poll() is None:
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        os.close(self.fd)
        return self.proc.returncode
