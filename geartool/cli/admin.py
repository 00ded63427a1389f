"""``geartool admin``: gearmand's admin commands against one or several servers.

Tables by default, ``--json`` for scripts. "waiting" (total minus running) is shown, worker totals
come from ``workers`` (one per connection), and geartool's extension commands (``stats``,
``running``) add columns where the server has them. Exit codes are in ``admin_run``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any

import typer

from geartool.cli.admin_run import (
    Outcome,
    finish,
    print_done,
    print_rows,
    print_value,
    render_table,
    run_all,
    use_group_servers,
)
from geartool.cli.common import EXIT_FAILED, EXIT_USAGE, die

if TYPE_CHECKING:
    from geartool.client.admin import AdminClient

ServerOpt = Annotated[list[str] | None, typer.Option(
    "--server", "-s", help="host[:port]; repeatable or comma-separated. "
    "Default: GEARMAN_SERVERS, GEARMAN_SERVER, 127.0.0.1:4730.")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
TimeoutOpt = Annotated[float, typer.Option("--timeout", "-t", min=0.05,
                                           help="Seconds for connecting and for each reply.")]

admin = typer.Typer(help="Query and steer Gearman servers (like gearadmin, with tables and JSON).",
                    no_args_is_help=True, rich_markup_mode=None)


@admin.callback()
def _servers_first(server: ServerOpt = None) -> None:
    # `geartool admin -s HOST status` as well as `geartool admin status -s HOST`.
    use_group_servers(server)


def register(app: typer.Typer) -> None:
    """Add the ``admin`` command group."""
    app.add_typer(admin, name="admin")


STATUS_COLUMNS = [("function", "FUNCTION"), ("waiting", "WAITING"), ("running", "RUNNING"),
                  ("total", "TOTAL"), ("workers", "WORKERS"), ("high", "HIGH"),
                  ("normal", "NORMAL"), ("low", "LOW"), ("oldest_wait", "OLDEST(s)")]


async def _status(c: AdminClient) -> dict[str, Any]:
    from geartool.protocol import ServerError
    status = await c.status()
    try:
        prio = {r.function: r for r in await c.priority_status()}
    except ServerError:  # gearmand before 1.1.15 has no prioritystatus
        prio = {}
    stats = {r.function: r for r in await c.stats() or ()}
    workers = [w for w in await c.workers() if w.functions]
    rows = []
    for s in sorted(status, key=lambda r: r.function):
        p, st = prio.get(s.function), stats.get(s.function)
        rows.append({"function": s.function, "waiting": s.waiting, "running": s.running,
                     "total": s.total, "workers": s.workers,
                     "high": p.high if p else None, "normal": p.normal if p else None,
                     "low": p.low if p else None,
                     "oldest_wait": st.oldest_wait if st else None})
    return {"functions": rows, "worker_connections": len(workers)}


def _status_footer(v: dict[str, Any]) -> str:
    f = v["functions"]
    return (f"{len(f)} functions, {sum(r['waiting'] for r in f)} waiting, "
            f"{sum(r['running'] for r in f)} running, {v['worker_connections']} workers")


@admin.command()
def status(server: ServerOpt = None, as_json: JsonOpt = False, timeout: TimeoutOpt = 5.0) -> None:
    """Functions: jobs waiting, running, total, workers, and waiting per priority.

    With several servers, a last table adds them up per function ("all servers").
    """
    outcomes = run_all(server, timeout, _status)
    live = [o.value for o in outcomes if o.error is None]
    if len(outcomes) > 1 and len(live) > 1 and not as_json:
        for o in outcomes:
            if o.error is None:
                typer.echo(f"== {o.server}")
                typer.echo(render_table(STATUS_COLUMNS, o.value["functions"]))
                typer.echo(_status_footer(o.value))
        combined = combine_status(live)
        typer.echo(f"== all {len(live)} servers")
        typer.echo(render_table(STATUS_COLUMNS, combined["functions"]))
        typer.echo(_status_footer(combined))
        finish(outcomes)
        return
    print_rows(outcomes, as_json, lambda v: v["functions"],
               STATUS_COLUMNS, _status_footer, lambda v: {"workers": v["worker_connections"]})


def combine_status(values: list[dict[str, Any]]) -> dict[str, Any]:
    """Per-function sums over several servers' status (the oldest wait is the maximum)."""
    merged: dict[str, dict[str, Any]] = {}
    for v in values:
        for row in v["functions"]:
            into = merged.setdefault(row["function"], dict.fromkeys(row, None))
            into["function"] = row["function"]
            for key, value in row.items():
                if key == "function" or value is None:
                    continue
                if key == "oldest_wait":
                    into[key] = max(into[key] or 0.0, value)
                else:
                    into[key] = (into[key] or 0) + value
    return {"functions": [merged[k] for k in sorted(merged)],
            "worker_connections": sum(v["worker_connections"] for v in values)}


async def _workers(c: AdminClient) -> list[dict[str, Any]]:
    running = {(r.fd, r.ip): r for r in await c.running() or ()}
    rows = []
    for w in await c.workers():
        job = running.get((w.fd, w.ip))
        rows.append({"fd": w.fd, "ip": w.ip, "client_id": w.client_id,
                     "functions": list(w.functions), "job": job.handle if job else None,
                     "job_function": job.function if job else None,
                     "job_seconds": job.seconds if job else None})
    return rows


@admin.command()
def workers(server: ServerOpt = None, as_json: JsonOpt = False, timeout: TimeoutOpt = 5.0,
            show_all: Annotated[bool, typer.Option(
                "--all", "-a", help="Also list connections with no functions "
                "(clients, admin sessions).")] = False) -> None:
    """Worker connections, their functions, and the job each runs (geartool servers)."""
    out = run_all(server, timeout, _workers)
    cols = [("fd", "FD"), ("ip", "IP"), ("client_id", "ID"), ("functions", "FUNCTIONS"),
            ("job", "RUNNING"), ("job_function", "OF"), ("job_seconds", "FOR(s)")]
    print_rows(out, as_json, lambda v: [r for r in v if show_all or r["functions"]], cols,
               lambda v: f"{sum(1 for r in v if r['functions'])} workers")


@admin.command()
def jobs(server: ServerOpt = None, as_json: JsonOpt = False, timeout: TimeoutOpt = 5.0) -> None:
    """Jobs the server holds (show jobs): handle, retries, ignored, persisted."""
    async def act(c: AdminClient) -> list[dict[str, Any]]:
        return [asdict(j) for j in await c.show_jobs()]
    print_rows(run_all(server, timeout, act), as_json, lambda v: v,
               [("handle", "HANDLE"), ("retries", "RETRIES"), ("ignore", "IGNORED"),
                ("persisted", "PERSISTED")])


@admin.command("unique-jobs")
def unique_jobs(server: ServerOpt = None, as_json: JsonOpt = False,
                timeout: TimeoutOpt = 5.0) -> None:
    """Unique ids of the jobs the server holds (show unique jobs)."""
    async def act(c: AdminClient) -> list[dict[str, Any]]:
        return [{"unique": u} for u in await c.show_unique_jobs()]
    print_rows(run_all(server, timeout, act), as_json, lambda v: v, [("unique", "UNIQUE")])


@admin.command()
def cancel(handle: Annotated[str, typer.Argument(help="Job handle, e.g. H:host:42.")],
           server: ServerOpt = None, as_json: JsonOpt = False, timeout: TimeoutOpt = 5.0) -> None:
    """Cancel a queued job. With several servers, succeeds when the one holding it says OK."""
    out = run_all(server, timeout, lambda c: c.cancel_job(handle))
    if len(out) > 1 and any(o.error is None for o in out):
        # Only one server holds a handle; the others' UNKNOWN_JOB is expected, not a failure.
        out = [o for o in out if o.error is None or "UNKNOWN_JOB" not in o.error]
    print_done(out, as_json, f"cancelled {handle}")


@admin.command()
def create(function: str, server: ServerOpt = None, as_json: JsonOpt = False,
           timeout: TimeoutOpt = 5.0) -> None:
    """Create an empty function."""
    print_done(run_all(server, timeout, lambda c: c.create_function(function)), as_json,
               f"created {function}")


@admin.command()
def drop(function: str, server: ServerOpt = None, as_json: JsonOpt = False,
         timeout: TimeoutOpt = 5.0) -> None:
    """Drop a function that has no workers and no running jobs."""
    print_done(run_all(server, timeout, lambda c: c.drop_function(function)), as_json,
               f"dropped {function}")


@admin.command()
def maxqueue(function: str,
             limits: Annotated[list[int] | None, typer.Argument(
                 help="N for every priority, or HIGH NORMAL LOW; none = unlimited.")] = None,
             server: ServerOpt = None, as_json: JsonOpt = False,
             timeout: TimeoutOpt = 5.0) -> None:
    """Limit how many jobs may wait for FUNCTION (0 or nothing = unlimited)."""
    n = list(limits or [])
    if len(n) not in (0, 1, 3):
        die(f"maxqueue takes 0, 1 or 3 limits, not {len(n)}", EXIT_USAGE)
    shown = " ".join(map(str, n)) or "unlimited"
    print_done(run_all(server, timeout, lambda c: c.maxqueue(function, *n)), as_json,
               f"maxqueue {function} {shown}")


@admin.command()
def version(server: ServerOpt = None, as_json: JsonOpt = False, timeout: TimeoutOpt = 5.0) -> None:
    """The server's version."""
    print_value(run_all(server, timeout, lambda c: c.version()), as_json, "version")


@admin.command()
def getpid(server: ServerOpt = None, as_json: JsonOpt = False, timeout: TimeoutOpt = 5.0) -> None:
    """The server's process id."""
    print_value(run_all(server, timeout, lambda c: c.getpid()), as_json, "pid")


@admin.command()
def verbose(server: ServerOpt = None, as_json: JsonOpt = False, timeout: TimeoutOpt = 5.0) -> None:
    """The server's log level."""
    print_value(run_all(server, timeout, lambda c: c.verbose()), as_json, "verbose")


@admin.command()
def shutdown(graceful: Annotated[bool, typer.Option(
                 "--graceful", help="Let running jobs finish first.")] = False,
             server: ServerOpt = None, as_json: JsonOpt = False,
             timeout: TimeoutOpt = 5.0) -> None:
    """Stop the server (gearmand 1.1.15+ refuses: it dropped the command)."""
    out: list[Outcome] = run_all(server, timeout, lambda c: c.shutdown(graceful))
    for o in out:
        if o.error and "UNKNOWN_COMMAND" in o.error:
            o.error, o.code = "the server has no shutdown command (gearmand 1.1.15+)", EXIT_FAILED
    print_done(out, as_json, "shutting down")
