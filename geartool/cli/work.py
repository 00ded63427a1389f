"""``geartool work FUNCTION [FUNCTION...] [-- CMD ARGS...]``: a worker like ``gearman -w``.

Each job runs CMD with the workload on stdin; exit 0 answers WORK_COMPLETE with its stdout,
anything else WORK_FAIL (after any stdout as WORK_DATA). Without CMD the workload is echoed
back. SIGTERM or Ctrl-C stops grabbing and lets running jobs finish; a second one kills them.
"""

from __future__ import annotations

import os
import shutil
from enum import StrEnum
from typing import Annotated, Any

import typer
from typer.core import TyperCommand

from geartool.cli.common import EXIT_USAGE, die, server_list

_CMD_KEY = "geartool.work.command"


class _CommandAfterDashes(TyperCommand):
    """Everything after ``--`` is the command to run, never options or function names."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if "--" in args:
            i = args.index("--")
            ctx.meta[_CMD_KEY] = args[i + 1:]
            args = args[:i]
        return super().parse_args(ctx, args)


class StderrMode(StrEnum):
    warning = "warning"
    log = "log"


def work(
    ctx: typer.Context,
    functions: Annotated[list[str], typer.Argument(
        help="Functions to serve; put the command after `--`.")],
    server: Annotated[list[str] | None, typer.Option(
        "--server", "-s", help="host[:port], repeatable or comma-separated "
        "(default: $GEARMAN_SERVERS, $GEARMAN_SERVER, 127.0.0.1:4730).")] = None,
    concurrency: Annotated[int, typer.Option(
        "--concurrency", "-j", min=1, help="Jobs to run in parallel.")] = 1,
    count: Annotated[int | None, typer.Option(
        "--count", "-c", min=1, help="Exit after this many jobs.")] = None,
    each_line: Annotated[bool, typer.Option(
        "--each-line", "-n", help="Send each stdout line as its own WORK_DATA.")] = False,
    strip: Annotated[bool, typer.Option(
        "--strip", "-N", help="Like --each-line, newline removed.")] = False,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", help="Seconds a job may run; then the command is killed and the job "
        "fails. Announced to the server as CAN_DO_TIMEOUT, plus 1 s of grace so that our "
        "WORK_FAIL, not the server's silent requeue, ends the job.")] = None,
    client_id: Annotated[str | None, typer.Option(
        "--client-id", help="Name shown by the server's `workers` listing.")] = None,
    stderr: Annotated[StderrMode, typer.Option(
        "--stderr", help="The command's stderr: send each line as WORK_WARNING, or log it "
        "here.")] = StderrMode.warning,
    connect_timeout: Annotated[float, typer.Option(
        "--connect-timeout", help="Seconds for each TCP connect.")] = 5.0,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every job.")] = False,
) -> None:
    """Serve FUNCTIONs, running CMD for each job (like `gearman -w -f F -- CMD`)."""
    import logging

    from geartool.client import as_addresses

    command: list[str] = list(ctx.meta.get(_CMD_KEY) or [])
    try:
        servers = as_addresses(server_list(server))
    except ValueError as exc:
        die(str(exc), EXIT_USAGE)
    if ctx.meta.get(_CMD_KEY) is not None and not command:
        die("nothing after `--`: give a command, or leave `--` out to echo workloads",
            EXIT_USAGE)
    if command and not _runnable(command[0]):
        die(f"command not found: {command[0]}", EXIT_USAGE)
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING,
                        format="geartool work: %(message)s")
    from .submit import run_async
    from .work_run import WorkOptions, serve
    opts = WorkOptions(command, each_line or strip, strip, timeout, stderr.value, verbose)
    try:
        code = run_async(serve(servers, functions, opts, concurrency=concurrency, count=count,
                               client_id=client_id, connect_timeout=connect_timeout))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    raise SystemExit(code)


def _runnable(program: str) -> bool:
    if os.sep in program:
        return os.path.isfile(program) and os.access(program, os.X_OK)
    return shutil.which(program) is not None


def register(app: typer.Typer) -> None:
    app.command("work", cls=_CommandAfterDashes, epilog=(
        "Exit codes: 0 stopped cleanly (SIGTERM, Ctrl-C, --count reached); 2 usage or "
        "command not found; 130 stopped by a second signal. Servers that are down are "
        "retried with backoff, never fatal."))(work)
