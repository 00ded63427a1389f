"""``geartool top``: a live monitor of Gearman servers (textual is imported only when it runs)."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from geartool.cli.common import EXIT_CONNECT, EXIT_USAGE, die, server_list


def register(app: typer.Typer) -> None:
    """Add the ``top`` command."""
    app.command("top")(top)


def top(
    server: Annotated[list[str] | None, typer.Option(
        "--server", "-s", help="host[:port]; repeatable or comma-separated. "
        "Default: GEARMAN_SERVERS, GEARMAN_SERVER, 127.0.0.1:4730.")] = None,
    interval: Annotated[float, typer.Option(
        "--interval", "-i", min=0.1, help="Seconds between polls (r cycles it live).")] = 1.0,
    timeout: Annotated[float, typer.Option(
        "--timeout", "-t", min=0.05, help="Seconds a poll may take before the server is "
        "marked stale.")] = 2.0,
    read_only: Annotated[bool, typer.Option(
        "--read-only", help="No actions: no cancel, drop or maxqueue.")] = False,
    once: Annotated[bool, typer.Option(
        "--once", help="Take one snapshot of every server, print it, exit.")] = False,
    as_json: Annotated[bool, typer.Option(
        "--json", help="With --once: print the snapshot as JSON.")] = False,
) -> None:
    """Live view of functions, queues, rates and workers; ? in the app lists the keys.

    With --once --json it prints one snapshot of every server and exits: 0 when every server
    answered, 3 when one could not be reached (its entry then says why).
    """
    from geartool.client.servers import parse_addresses

    try:
        servers = [str(a) for a in parse_addresses(server_list(server))]
    except ValueError as exc:
        die(str(exc), EXIT_USAGE)
    if once:
        raise SystemExit(_once(servers, timeout, as_json))
    if as_json:
        die("--json needs --once (the live view is for a terminal)", EXIT_USAGE)
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        die("top needs a terminal; for scripts use: geartool top --once --json", EXIT_USAGE)
    from geartool.tui.app import make_app

    make_app(servers, interval=interval, timeout=timeout, read_only=read_only,
             tune_gc=True).run()


def _once(servers: list[str], timeout: float, as_json: bool) -> int:
    import asyncio
    import json

    from geartool.cli.admin_run import render_table
    from geartool.tui.export import failure_json, snapshot_json
    from geartool.tui.poller import poll_all

    results = asyncio.run(poll_all(servers, timeout))
    docs = [failure_json(s, r) if isinstance(r, str) else snapshot_json(r)
            for s, r in zip(servers, results, strict=True)]
    if as_json:
        typer.echo(json.dumps({"servers": docs}, indent=2))
    else:
        cols = [("function", "FUNCTION"), ("waiting", "WAITING"), ("running", "RUNNING"),
                ("workers", "WORKERS"), ("high", "HIGH"), ("normal", "NORMAL"), ("low", "LOW"),
                ("oldest_wait", "OLDEST(s)")]
        for doc in docs:
            if doc["ok"]:
                typer.echo(f"== {doc['server']} ({doc['version']})")
                typer.echo(render_table(cols, doc["functions"]))
                t = doc["totals"]
                typer.echo(f"{t['functions']} functions, {t['waiting']} waiting, "
                           f"{t['running']} running, {t['workers']} workers")
    failed = [d for d in docs if not d["ok"]]
    for d in failed:
        print(f"geartool: {d['server']}: {d['error']}", file=sys.stderr)
    return EXIT_CONNECT if failed else 0
