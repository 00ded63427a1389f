"""The shell's engine: sessions to servers, sending packets and admin lines, showing replies.

Everything a command prints goes through ``Shell.say`` / ``Shell.fail`` under one lock, so the
REPL's background thread (which shows packets nobody waited for, such as a NOOP) never
interleaves with a running command. ``run_line`` never raises for bad input: it prints one error
line and returns an exit code.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TextIO

from geartool.client.servers import Address
from geartool.decode.render import format_admin_line, format_frame
from geartool.protocol import (
    AdminLine,
    Event,
    Frame,
    LocalProtocolError,
    PacketType,
    ServerError,
    encode,
    req,
)
from geartool.protocol.admin import check_reply_line, is_list_command
from geartool.protocol.spec import ASSIGN_TYPES

from .completion import LiveNames
from .parser import ParseError, split
from .session import Received, Session, SessionClosed
from .tables import admin_table, rows_of

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CONNECT, EXIT_SERVER = 0, 1, 2, 3, 4
MAX_REMEMBERED = 200
BARRIER_PREFIX = "geartool-shell-sync-"


def _is_barrier(ev: Event) -> bool:
    """Our own hidden ECHO barrier's reply (never shown)."""
    return isinstance(ev, Frame) and ev.type is PacketType.ECHO_RES and \
        ev.args[0].startswith(BARRIER_PREFIX.encode())


class CommandError(Exception):
    """A command could not run; ``code`` is the exit code a script reports for it."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.code = code


class ShellExit(Exception):
    """``quit`` was typed."""


@dataclass(slots=True)
class Settings:
    timeout: float = 5.0   # seconds to wait for a reply
    sync: bool = True      # follow silent packets with a hidden ECHO barrier
    full: bool = False     # show data whole instead of a preview


class Shell:
    """Runs shell command lines against one or more servers and prints what comes back."""

    def __init__(self, servers: list[Address], out: TextIO, err: TextIO, *,
                 color: bool = False, timeout: float = 5.0) -> None:
        self.sessions: list[Session | None] = [Session(a) for a in servers]
        self.current = 0
        self.out, self.err, self.color = out, err, color
        self.settings = Settings(timeout=timeout)
        self.lock = threading.RLock()
        self.functions: dict[str, None] = {}
        self.handles: dict[str, None] = {}
        self.last_handle: str | None = None
        self._barrier = itertools.count(1)

    # ---- output -------------------------------------------------------------------------
    def say(self, text: str) -> None:
        with self.lock:
            self.out.write(text + "\n")
            self.out.flush()

    def fail(self, text: str) -> None:
        with self.lock:
            self.out.flush()
            self.err.write(f"error: {text}\n")
            self.err.flush()

    def show_event(self, session: Session, got: Received) -> None:
        """One decoded event, with the time since this session last sent something."""
        if _is_barrier(got.event):
            return
        self._remember(got.event)
        ms = (got.at - session.sent_at) * 1000
        where = "" if session is self.session_or_none() else f"[{session.address}] "
        if isinstance(got.event, AdminLine):
            text = format_admin_line(got.event, full=self.settings.full)
        else:
            text = format_frame(got.event, full=self.settings.full, color=self.color)
        self.say(f"{where}<- {ms:8.1f}ms  {text}")

    def show_sent(self, frame: Frame) -> None:
        self.say(f"->             {format_frame(frame, full=self.settings.full, color=self.color)}")

    def _remember(self, event: Event) -> None:
        if not isinstance(event, Frame):
            return
        if event.type is PacketType.JOB_CREATED or event.type in ASSIGN_TYPES:
            handle = event.args[0].decode("utf-8", "replace")
            self.remember(handles=[handle])
            self.last_handle = handle
        if event.type in ASSIGN_TYPES:
            self.remember(functions=[event.args[1].decode("utf-8", "replace")])

    def remember(self, functions: Sequence[str] = (), handles: Sequence[str] = ()) -> None:
        """Keep names for completion (most recent last, bounded)."""
        for store, names in ((self.functions, functions), (self.handles, handles)):
            for name in names:
                store.pop(name, None)
                store[name] = None
            while len(store) > MAX_REMEMBERED:
                store.pop(next(iter(store)))

    def live_names(self) -> LiveNames:
        """Names for the completion engine."""
        return LiveNames(list(self.functions), list(reversed(self.handles)),
                         [str(s.address) for s in self.sessions if s is not None])

    # ---- sessions -----------------------------------------------------------------------
    def session_or_none(self) -> Session | None:
        if 0 <= self.current < len(self.sessions):
            return self.sessions[self.current]
        return None

    def session(self) -> Session:
        """The current server's session, connected (CommandError if it cannot be)."""
        s = self.session_or_none()
        if s is None:
            raise CommandError("no server selected: use connect HOST:PORT", EXIT_CONNECT)
        if not s.connected:
            try:
                s.connect()
            except OSError as exc:
                raise CommandError(f"cannot connect to {s.address}: {exc.strerror or exc}",
                                   EXIT_CONNECT) from None
        return s

    def drain(self) -> None:
        """Show every event that arrived without a command waiting for it."""
        with self.lock:
            for s in self.sessions:
                if s is None or not s.connected:
                    continue
                try:
                    for got in s.read(0):
                        self.show_event(s, got)
                except SessionClosed as exc:
                    self.fail(str(exc))

    # ---- exchanges ----------------------------------------------------------------------
    def send_frame(self, frame: Frame) -> Session:
        try:
            data = encode(frame)
        except LocalProtocolError as exc:
            raise CommandError(str(exc), EXIT_USAGE) from None
        s = self.session()
        self.show_sent(frame)
        s.send(data)
        return s

    def wait(self, s: Session, done: Callable[[Event], bool] | None, timeout: float,
             what: str, *, required: bool = True, barrier: bytes | None = None
             ) -> Event | None:
        """Show events until ``done`` accepts one (returned) or an ERROR comes.

        With ``done`` None, wait for the ``barrier`` echo (or the whole ``timeout``) and return
        None; an ERROR before the barrier is raised once the barrier is back, so nothing the
        command provoked spills into the next one. A timeout with a ``done`` is a CommandError
        unless not ``required``; an ERROR packet is always one (after it is shown).
        """
        deadline = time.monotonic() + timeout
        error: CommandError | None = None
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                if error is not None:
                    raise error
                if done is None or not required:
                    return None
                raise CommandError(f"no {what} within {timeout:g} s")
            got = s.next(left)
            if got is None:
                continue
            ev = got.event
            if _is_barrier(ev):
                if barrier is not None and ev.args[0] == barrier:  # type: ignore[union-attr]
                    if error is not None:
                        raise error
                    return None
                continue
            self.show_event(s, got)
            if done is not None and done(ev):
                return ev
            if isinstance(ev, Frame) and ev.type is PacketType.ERROR:
                code, text = (a.decode("utf-8", "replace") for a in ev.args)
                error = CommandError(f"server error {code}: {text}", EXIT_SERVER)
                if barrier is None:
                    raise error

    def sync(self, s: Session) -> None:
        """Show whatever a silent packet provoked: an ECHO barrier when sync is on, else a
        short pause."""
        if not self.settings.sync:
            self.wait(s, None, 0.1, "reply")
            return
        token = f"{BARRIER_PREFIX}{next(self._barrier)}".encode()
        sent_at = s.sent_at  # keep the timing relative to the user's packet
        s.send(encode(req(PacketType.ECHO_REQ, token)))
        s.sent_at = sent_at
        self.wait(s, None, self.settings.timeout, "reply", barrier=token)

    def admin(self, line: str) -> list[str]:
        """Send one admin line; show and return the reply (rows, or the one reply line)."""
        s = self.session()
        self.say(f"->             {format_admin_line(line.encode())}")
        s.send(line.encode() + b"\n")
        listing = is_list_command(line)
        lines: list[str] = []
        while True:
            text = self._admin_line(s).decode("utf-8", "replace")
            if not listing or (not lines and text.startswith("ERR ") and "\t" not in text):
                lines.append(text)
                break
            if text == ".":
                break
            lines.append(text)
        ms = (time.monotonic() - s.sent_at) * 1000
        self._show_admin(line, lines, listing, ms)
        return lines

    def _admin_line(self, s: Session) -> bytes:
        deadline = time.monotonic() + self.settings.timeout
        while time.monotonic() < deadline:
            got = s.next(deadline - time.monotonic())
            if got is not None:
                if isinstance(got.event, AdminLine):
                    if self.settings.full:
                        self.show_event(s, got)
                    return got.event.line
                self.show_event(s, got)
        raise CommandError(f"no admin reply within {self.settings.timeout:g} s")

    def _show_admin(self, command: str, lines: list[str], listing: bool, ms: float) -> None:
        if listing and not (lines and lines[0].startswith("ERR ") and "\t" not in lines[0]):
            shown = admin_table(command, lines)
            for text in shown if shown is not None else \
                    [format_admin_line(x.encode()) for x in lines]:
                self.say(text)
            self.remember(**rows_of(command, lines))
            self.say(f"({len(lines)} row{'' if len(lines) == 1 else 's'}, {ms:.1f} ms)")
            return
        reply = lines[0] if lines else ""
        try:
            value = check_reply_line(reply)
        except ServerError as exc:
            raise CommandError(f"server said: ERR {exc.code}"
                               + (f" {exc.text}" if exc.text else ""), EXIT_FAILED) from None
        self.say(f"{'OK ' + value if value else reply}  ({ms:.1f} ms)")

    # ---- command lines ------------------------------------------------------------------
    def run_line(self, line: str) -> int:
        """Run one command line; print errors; return an exit code. ShellExit on quit."""
        from .verbs import dispatch  # verbs imports this module for its types

        with self.lock:
            try:
                words = split(line)
                if not words:
                    return EXIT_OK
                self.drain()
                dispatch(self, words)
                return EXIT_OK
            except ParseError as exc:
                self.fail(f"bad quoting: {exc}")
                return EXIT_USAGE
            except CommandError as exc:
                self.fail(str(exc))
                return exc.code
            except SessionClosed as exc:
                self.fail(f"{exc} (the next command reconnects)")
                return EXIT_CONNECT
            except OSError as exc:
                self.fail(f"network error: {exc}")
                return EXIT_CONNECT
            except KeyboardInterrupt:
                self.fail("interrupted")
                return EXIT_FAILED

    def close(self) -> None:
        for s in self.sessions:
            if s is not None:
                s.close()
