"""Plumbing for ``geartool admin``: run one action on every server, then print tables or JSON.

Exit codes: 0 every server answered OK, 1 a server answered ERR, 3 a server could not be reached
(or timed out), 4 a garbled reply, 2 bad usage. Every server is tried; the worst code wins.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import typer

from geartool.cli.common import EXIT_CONNECT, EXIT_FAILED, EXIT_SERVER, EXIT_USAGE, die, server_list

if TYPE_CHECKING:
    from geartool.client.admin import AdminClient

Action = Callable[["AdminClient"], Awaitable[Any]]
Rows = Callable[[Any], list[dict[str, Any]]]


@dataclass
class Outcome:
    """What one server answered: a value, or an error line and its exit code."""

    server: str
    value: Any = None
    error: str | None = None
    code: int = 0


# Servers named before the command (``geartool admin -s HOST status``), where gearadmin users
# put its -h; set by the group's callback on every invocation. A command's own -s wins.
_group_servers: list[str] | None = None


def use_group_servers(servers: list[str] | None) -> None:
    global _group_servers
    _group_servers = servers


def run_all(servers: list[str] | None, timeout: float, action: Action) -> list[Outcome]:
    """Run ``action`` against every server concurrently; one Outcome per server, in order."""
    servers = servers or _group_servers
    import asyncio

    from geartool.client.admin import AdminClient
    from geartool.client.servers import Address, parse_addresses
    from geartool.protocol import ProtocolError, ServerError

    try:
        addresses = parse_addresses(server_list(servers))
    except ValueError as exc:
        die(str(exc), EXIT_USAGE)

    async def one(address: Address) -> Outcome:
        name = str(address)
        try:
            async with AdminClient(address, timeout=timeout) as client:
                return Outcome(name, await action(client))
        except ServerError as exc:
            # gearmand's ERR lines do not always carry a code word; show them as sent.
            text = " ".join(x for x in (exc.code, exc.text) if x)
            return Outcome(name, error=f"ERR {text}", code=EXIT_FAILED)
        except (ProtocolError, ValueError) as exc:  # ValueError: a number that is not one
            return Outcome(name, error=f"bad reply: {exc}", code=EXIT_SERVER)
        except TimeoutError:
            return Outcome(name, error="timed out", code=EXIT_CONNECT)
        except OSError as exc:
            return Outcome(name, error=f"cannot connect: {exc.strerror or exc}",
                           code=EXIT_CONNECT)

    async def every() -> list[Outcome]:
        return list(await asyncio.gather(*(one(a) for a in addresses)))

    return asyncio.run(every())


def render_table(columns: Sequence[tuple[str, str]], rows: list[dict[str, Any]]) -> str:
    """Columns are (key, HEADER); numbers align right, text left, ``None`` shows as ``-``."""
    def cell(v: Any) -> str:
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "yes" if v else "no"
        if isinstance(v, float):
            return f"{v:.1f}"
        if isinstance(v, list | tuple):
            return " ".join(map(str, v))
        return str(v)

    from geartool.protocol.admin import align_columns  # here: --help need not load it

    grid = [[cell(r.get(k)) for k, _ in columns] for r in rows]
    numeric = [bool(rows) and all(isinstance(r.get(k), int | float) and
                                  not isinstance(r.get(k), bool) for r in rows)
               for k, _ in columns]
    return "\n".join(align_columns([h for _, h in columns], grid, numeric))


def print_rows(outcomes: list[Outcome], as_json: bool, to_rows: Rows,
               columns: Sequence[tuple[str, str]],
               footer: Callable[[Any], str] | None = None,
               extra: Callable[[Any], dict[str, Any]] | None = None) -> None:
    """Print every server's rows, errors on stderr, and exit with the worst code.

    ``extra`` adds whole-server fields next to the rows in JSON (the footer's facts).
    """
    several = len(outcomes) > 1
    if as_json:
        doc = [_entry(o, lambda v: {"rows": to_rows(v), **(extra(v) if extra else {})})
               for o in outcomes]
        typer.echo(json.dumps(doc if several else doc[0], indent=2))
    else:
        for o in outcomes:
            if o.error is not None:
                continue
            if several:
                typer.echo(f"== {o.server}")
            typer.echo(render_table(columns, to_rows(o.value)))
            if footer is not None:
                typer.echo(footer(o.value))
    finish(outcomes)


def print_value(outcomes: list[Outcome], as_json: bool, key: str) -> None:
    """Print a one-value reply (version, pid, verbosity) per server."""
    several = len(outcomes) > 1
    if as_json:
        doc = [_entry(o, lambda v: {key: v}) for o in outcomes]
        typer.echo(json.dumps(doc if several else doc[0], indent=2))
    else:
        for o in outcomes:
            if o.error is None:
                typer.echo(f"{o.server}\t{o.value}" if several else str(o.value))
    finish(outcomes)


def print_done(outcomes: list[Outcome], as_json: bool, what: str) -> None:
    """Print the result of an action (OK, or the error) per server."""
    if as_json:
        doc = [_entry(o, lambda v: {}) for o in outcomes]
        typer.echo(json.dumps(doc if len(doc) > 1 else doc[0], indent=2))
    else:
        for o in outcomes:
            if o.error is None:
                typer.echo(f"{o.server}: {what}")
    finish(outcomes)


def _entry(o: Outcome, body: Callable[[Any], dict[str, Any]]) -> dict[str, Any]:
    entry: dict[str, Any] = {"server": o.server, "ok": o.error is None}
    entry.update(body(o.value) if o.error is None else {"error": o.error})
    return entry


def finish(outcomes: list[Outcome]) -> None:
    """Errors on stderr, one line per server; exit with the worst code (0 when all is well)."""
    for o in outcomes:
        if o.error is not None:
            print(f"geartool: {o.server}: {o.error}", file=sys.stderr)
    worst = max((o.code for o in outcomes), default=0)
    if worst:
        raise SystemExit(worst)
