"""The real interactive shell, driven in a pseudo-terminal against a real gearmand."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from tests.conftest import free_port, start_gearmand, stop

from .helpers import ROOT
from .pty_driver import Terminal


def start_shell(tmp_path: Path, port: int) -> Terminal:
    env = dict(os.environ, PYTHONPATH=str(ROOT), XDG_DATA_HOME=str(tmp_path / "data"),
               TERM="xterm", PROMPT_TOOLKIT_NO_CPR="1", COLUMNS="120", LINES="40")
    argv = [sys.executable, "-m", "geartool", "shell", "-s", f"127.0.0.1:{port}"]
    term = Terminal(argv, env, str(ROOT))
    term.expect(f"gear 127.0.0.1:{port}>")
    return term


def run(term: Terminal, line: str, *expected: str) -> None:
    """Type a command, wait for each expected text, then for the next prompt."""
    term.send(line + "\r")
    for text in expected:
        term.expect(text)
    term.expect("gear ")


def test_interactive_session(tmp_path: Path) -> None:
    port = free_port()
    server = start_gearmand(port)
    term = start_shell(tmp_path, port)
    try:
        run(term, "ECHO_REQ ping", "ECHO_RES data=4B 'ping'")
        # Tab completes a packet name from the packet table...
        term.send("GET_STATUS_UN\t")
        term.expect("IQUE")
        run(term, " nothing", "STATUS_RES_UNIQUE unique='nothing' known='0'")
        # ...and a live function name from the server (asked over its own connection).
        run(term, "submit -b zebra-func x", "JOB_CREATED")
        term.send("CAN_DO zeb\t")
        term.expect("ra-func")
        run(term, "", "CAN_DO function='zebra-func'")
        run(term, "GRAB_JOB", "JOB_ASSIGN handle=")
        # Bad input: one message, and the prompt comes back.
        run(term, "SUBMIT_JOB reverse", "error: SUBMIT_JOB takes 3 arguments, got 1")
        run(term, 'ECHO_REQ "unclosed', "error: bad quoting")
        run(term, "frobnicate", "error: unknown command 'frobnicate'")
        # The server goes away: the shell says so and keeps running; it comes back.
        stop(server)
        run(term, "ECHO_REQ gone", "error:")
        run(term, "ECHO_REQ again", "cannot connect to")
        server = start_gearmand(port)
        run(term, "ECHO_REQ back", "ECHO_RES data=4B 'back'")
        run(term, "help work", "act as a worker by hand")
        # Ctrl-C stops a command that waits (nobody works on this function) and the shell stays.
        term.send("submit nobody-works-here x\r")
        term.expect("JOB_CREATED")
        term.send("\x03")
        term.expect("error: interrupted")
        run(term, "ECHO_REQ after-ctrl-c", "ECHO_RES data=12B 'after-ctrl-c'")
        term.send("\x04")  # Ctrl-D leaves
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.send("quit\r")
            term.close()
        stop(server)
    history = (tmp_path / "data" / "geartool" / "shell_history").read_text()
    assert "+ECHO_REQ ping" in history and "+ECHO_REQ back" in history


def test_unsolicited_packets_show_up_at_the_prompt(any_server: tuple[str, int],
                                                   tmp_path: Path) -> None:
    port = any_server[1]
    term = start_shell(tmp_path, port)
    try:
        run(term, "work --wait 0.2 later", "no job within 0.2 s")
        # Another shell submits: the sleeping worker's NOOP appears without a command typed.
        other = start_shell(tmp_path, port)
        try:
            run(other, "submit -b later payload", "JOB_CREATED")
            other.send("quit\r")
            assert other.close() == 0
        finally:
            if other.proc.poll() is None:
                other.close()
        term.expect("NOOP")
        run(term, "GRAB_JOB_UNIQ", "JOB_ASSIGN_UNIQ", "data=7B 'payload'")
        term.send("quit\r")
        assert term.close() == 0
    finally:
        if term.proc.poll() is None:
            term.close()
