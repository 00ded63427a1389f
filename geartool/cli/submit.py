"""``geartool submit FUNCTION [DATA...]``: run jobs like ``gearman`` client mode, and more.

Exit codes: 0 every job completed (or was queued), 1 a job failed or raised, 2 usage,
3 cannot connect or timed out, 4 the server refused (e.g. queue full). With several jobs the
highest code wins.
"""

from __future__ import annotations

import sys
from collections.abc import Coroutine
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from geartool.cli.common import (
    EXIT_CONNECT,
    EXIT_FAILED,
    EXIT_OK,
    EXIT_SERVER,
    EXIT_USAGE,
    die,
    server_list,
)

if TYPE_CHECKING:
    from geartool.client import Client

T = TypeVar("T")
PARALLEL = 64  # jobs in flight at once when several are given


class PriorityName(StrEnum):
    high = "high"
    normal = "normal"
    low = "low"


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop when it is installed, else on asyncio's default loop."""
    import asyncio
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on CPython/Unix
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


def exit_code_for(exc: BaseException) -> int:
    """The documented exit code for a library error."""
    from geartool.client import ConnectError, ConnectionLost, ServerError
    if isinstance(exc, ServerError):
        return EXIT_SERVER
    if isinstance(exc, ConnectError | ConnectionLost | TimeoutError):
        return EXIT_CONNECT
    return EXIT_FAILED


def submit(
    function: Annotated[str | None, typer.Argument(
        help="Function to run (not with --status).")] = None,
    data: Annotated[list[str] | None, typer.Argument(
        help="Workloads, one job each; else stdin.")] = None,
    server: Annotated[list[str] | None, typer.Option(
        "--server", "-s", help="host[:port], repeatable or comma-separated "
        "(default: $GEARMAN_SERVERS, $GEARMAN_SERVER, 127.0.0.1:4730).")] = None,
    functions: Annotated[list[str] | None, typer.Option(
        "--function", "-f", help="Another function to send every workload to.")] = None,
    background: Annotated[bool, typer.Option(
        "--background", "-b", help="Queue the job and print its handle.")] = False,
    priority: Annotated[PriorityName, typer.Option("--priority")] = PriorityName.normal,
    high: Annotated[bool, typer.Option("--high", "-I", help="Same as --priority high.")] = False,
    low: Annotated[bool, typer.Option("--low", "-L", help="Same as --priority low.")] = False,
    unique: Annotated[str | None, typer.Option(
        "--unique", "-u", help="Unique id (coalescing).")] = None,
    each_line: Annotated[bool, typer.Option(
        "--each-line", "-n", help="One job per stdin line (newline kept).")] = False,
    strip: Annotated[bool, typer.Option(
        "--strip", "-N", help="One job per stdin line, newline removed.")] = False,
    prefix: Annotated[bool, typer.Option(
        "--prefix", "-P", help="Prefix output with the function name.")] = False,
    no_stdin: Annotated[bool, typer.Option(
        "--no-stdin", help="Send one empty workload; do not read stdin.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="One JSON object per job on stdout.")] = False,
    status: Annotated[str | None, typer.Option(
        "--status", help="Ask a job's status (GET_STATUS) by handle.")] = None,
    timeout: Annotated[float | None, typer.Option(
        "--timeout", help="Seconds the whole job may take (then exit 3).")] = None,
    connect_timeout: Annotated[float, typer.Option(
        "--connect-timeout", help="Seconds for each TCP connect.")] = 5.0,
    verbose: Annotated[bool, typer.Option(
        "--verbose", "-v", help="Report handles on stderr.")] = False,
) -> None:
    """Submit jobs and stream their results (like `gearman -f FUNCTION`)."""
    from geartool.client import as_addresses

    try:
        servers = as_addresses(server_list(server))
    except ValueError as exc:
        die(str(exc), EXIT_USAGE)
    if high and low:
        die("--high and --low contradict each other", EXIT_USAGE)
    prio = "high" if high else "low" if low else priority.value
    try:
        if status is not None:
            code = run_async(_status(servers, status, connect_timeout, timeout, as_json))
            raise SystemExit(code)
        if function is None:
            die("missing FUNCTION (or use --status HANDLE)", EXIT_USAGE)
        names = [function, *(functions or [])]
        loads = _workloads(data or [], each_line or strip, strip, no_stdin)
        from .submit_run import Options, run_jobs
        opts = Options(background, prio, unique, prefix, as_json, timeout, verbose)
        jobs = [(name, load) for load in loads for name in names]
        code = run_async(run_jobs(servers, connect_timeout, jobs, opts))
    except KeyboardInterrupt:
        raise SystemExit(130) from None
    raise SystemExit(code)


def _workloads(data: list[str], per_line: bool, strip: bool, no_stdin: bool) -> list[bytes]:
    if data:
        return [d.encode() for d in data]
    if no_stdin:
        return [b""]
    raw = sys.stdin.buffer.read()
    if not per_line:
        return [raw]
    lines = raw.splitlines(keepends=not strip)
    return lines


async def _status(servers: list[Any], handle: str, connect_timeout: float,
                  timeout: float | None, as_json: bool) -> int:
    import json

    from geartool.client import Client, GearmanError
    client: Client = Client(servers, connect_timeout=connect_timeout, exceptions=False)
    try:
        st = await client.get_status(handle, timeout=timeout or 10.0)
    except GearmanError as exc:
        print(f"geartool: {exc}", file=sys.stderr)
        return exit_code_for(exc)
    finally:
        await client.close()
    if as_json:
        print(json.dumps({"handle": st.handle, "known": st.known, "running": st.running,
                          "numerator": st.numerator, "denominator": st.denominator,
                          "server": str(st.server)}))
    elif not st.known:
        print(f"{st.handle}: not known")
    else:
        pct = f" ({st.numerator * 100 // st.denominator}%)" if st.denominator else ""
        state = "running" if st.running else "queued"
        print(f"{st.handle}: known, {state}, {st.numerator}/{st.denominator}{pct}")
    return EXIT_OK if st.known else EXIT_FAILED


def register(app: typer.Typer) -> None:
    app.command("submit", epilog=(
        "Exit codes: 0 every job completed (or was queued), 1 a job failed or raised (or "
        "--status: handle not known), 2 usage, 3 cannot connect or timed out, 4 the server "
        "refused (e.g. queue full). With several jobs the highest code wins."))(submit)
