"""``geartool shell``: talk to job servers by hand, packet by packet."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .common import EXIT_USAGE, die, server_list


def register(app: typer.Typer) -> None:
    """Add the ``shell`` command."""

    @app.command("shell")
    def shell(
        script: Annotated[Path | None, typer.Argument(
            help="Run the commands in this file (one a line) instead of prompting.")] = None,
        command: Annotated[str | None, typer.Option(
            "-c", "--command", help="Run these commands (one a line) and exit.")] = None,
        server: Annotated[list[str] | None, typer.Option(
            "--server", "-s", help="HOST[:PORT]; repeat for several (first is current).")
        ] = None,
        timeout: Annotated[float, typer.Option(
            "--timeout", help="Seconds to wait for a reply.")] = 5.0,
    ) -> None:
        """An interactive Gearman protocol shell: every packet and admin command by name.

        Non-interactive with -c, a SCRIPT file, or commands piped on stdin: the same output,
        no prompt. Exit code: that of the last failing command (1 failed, 2 usage, 3 connect,
        4 server error), else 0.
        """
        from geartool.client.servers import parse_addresses

        try:
            addresses = parse_addresses(server_list(server))
        except ValueError as exc:
            die(str(exc), EXIT_USAGE)
        if timeout <= 0:
            die("--timeout must be positive", EXIT_USAGE)
        if script is not None and not script.is_file():
            die(f"no such script file: {script}", EXIT_USAGE)
        if script is not None and command is not None:
            die("give -c or a script file, not both", EXIT_USAGE)
        from geartool.shell.repl import main

        raise typer.Exit(main(addresses, command, script, timeout))
