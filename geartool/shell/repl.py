"""``geartool shell``: the interactive prompt (prompt_toolkit) and the non-interactive runner.

Commands given with ``-c``, in a script file or on a non-terminal stdin run through the same
``Shell.run_line`` as typed ones, so they print exactly the same, just without a prompt.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from geartool.client.servers import Address

from .completion import CompletionEngine
from .live import LiveSource
from .runner import EXIT_OK, Shell, ShellExit

DRAIN_SECONDS = 0.2
STYLE = {
    "verb": "ansigreen bold", "admin": "ansiyellow bold", "packet": "ansicyan bold",
    "unknown": "ansired", "option": "ansimagenta", "string": "ansibrightgreen",
    "variable": "ansiblue bold", "comment": "ansibrightblack italic",
}


def history_path() -> Path:
    """Where typed commands are kept between sessions (the user's data directory)."""
    import platformdirs

    return platformdirs.user_data_path("geartool") / "shell_history"


def run_lines(shell: Shell, lines: Iterable[str]) -> int:
    """Run commands without a prompt; the exit code of the last command that failed, else 0."""
    code = EXIT_OK
    try:
        for line in lines:
            rc = shell.run_line(line.rstrip("\r\n"))
            if rc != EXIT_OK:
                code = rc
        shell.drain()
    except ShellExit:
        pass
    return code


def script_lines(path: Path) -> Iterator[str]:
    with path.open(encoding="utf-8") as fh:
        yield from fh


def run_interactive(shell: Shell) -> int:
    """The prompt: completion, hints, highlighting, history; unsolicited packets shown live."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.patch_stdout import patch_stdout
    from prompt_toolkit.styles import Style

    path = history_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    source = LiveSource(shell.live_names, lambda: _current_address(shell))
    engine = CompletionEngine(source)
    session: PromptSession[str] = PromptSession(
        history=FileHistory(str(path)), completer=_completer(engine), lexer=_lexer(engine),
        style=Style.from_dict(STYLE), complete_in_thread=True, complete_while_typing=False,
        bottom_toolbar=lambda: engine.hint(session.default_buffer.document.text_before_cursor)
        or " Tab completes; help lists commands; Ctrl-D leaves")
    # A shell started from something that ignores SIGINT (a background job of a script, nohup)
    # inherits the ignore, and Python then never raises KeyboardInterrupt: Ctrl-C could not
    # interrupt a waiting command. At an interactive prompt Ctrl-C must always work.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stop = threading.Event()
    with patch_stdout(raw=True):
        shell.out, shell.err = sys.stdout, sys.stderr
        shell.say("geartool shell: help lists commands, Tab completes, Ctrl-D leaves")
        _greet(shell)
        watcher = threading.Thread(target=_watch, args=(shell, stop), daemon=True)
        watcher.start()
        try:
            while True:
                try:
                    line = session.prompt(lambda: _prompt(shell))
                except KeyboardInterrupt:
                    continue
                except EOFError:
                    break
                try:
                    shell.run_line(line)
                except ShellExit:
                    break
        finally:
            stop.set()
            watcher.join(1.0)
    return EXIT_OK


def _greet(shell: Shell) -> None:
    for n, s in enumerate(shell.sessions, 1):
        if s is None:
            continue
        try:
            s.connect()
            shell.say(f"server {n}: connected to {s.address}")
        except OSError as exc:
            shell.fail(f"server {n}: cannot connect to {s.address}: {exc.strerror or exc}")


def _current_address(shell: Shell) -> Address | None:
    s = shell.session_or_none()
    return s.address if s is not None else None


def _prompt(shell: Shell) -> str:
    addr = _current_address(shell)
    return f"gear {addr}> " if addr is not None else "gear (no server)> "


def _watch(shell: Shell, stop: threading.Event) -> None:
    """Show packets that arrive while the user is typing (NOOP, late WORK_* ...)."""
    while not stop.wait(DRAIN_SECONDS):
        if shell.lock.acquire(blocking=False):
            try:
                shell.drain()
            finally:
                shell.lock.release()


def _completer(engine: CompletionEngine) -> Any:
    from prompt_toolkit.completion import Completer, Completion

    class _Adapter(Completer):
        def get_completions(self, document: Any, complete_event: Any) -> Iterator[Completion]:
            for c in engine.complete(document.text_before_cursor):
                yield Completion(c.text, start_position=-c.replace, display=c.display,
                                 display_meta=c.meta)

    return _Adapter()


def _lexer(engine: CompletionEngine) -> Any:
    from prompt_toolkit.lexers import Lexer

    class _ShellLexer(Lexer):
        def lex_document(self, document: Any) -> Any:
            lines = document.lines

            def line_fragments(n: int) -> list[tuple[str, str]]:
                if n >= len(lines):
                    return []
                return [(f"class:{cls}" if cls else "", text)
                        for cls, text in engine.highlight(lines[n])]

            return line_fragments

    return _ShellLexer()


def main(addresses: list[Address], command: str | None, script: Path | None,
         timeout: float) -> int:
    """Entry point for the CLI: run ``-c``, a script, piped stdin, or the prompt."""
    interactive = command is None and script is None and sys.stdin.isatty()
    shell = Shell(addresses, sys.stdout, sys.stderr, color=interactive and sys.stdout.isatty(),
                  timeout=timeout)
    try:
        if command is not None:
            return run_lines(shell, command.splitlines())
        if script is not None:
            return run_lines(shell, script_lines(script))
        if not interactive:
            return run_lines(shell, sys.stdin)
        return run_interactive(shell)
    finally:
        shell.close()
