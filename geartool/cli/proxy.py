"""``geartool proxy``: watch what any client and server say, without root or Wireshark."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from .common import EXIT_USAGE, die

LISTEN_PORT = 4731


def register(app: typer.Typer) -> None:
    """Add the ``proxy`` command."""

    @app.command("proxy")
    def proxy(
        listen: Annotated[str, typer.Option(
            "--listen", "-l", help="HOST:PORT to accept clients on (a bare PORT means "
            "127.0.0.1).")] = f"127.0.0.1:{LISTEN_PORT}",
        upstream: Annotated[str, typer.Option(
            "--upstream", "-u", help="HOST:PORT of the real job server.")] = "127.0.0.1:4730",
        json_out: Annotated[bool, typer.Option(
            "--json", help="One JSON object per packet.")] = False,
        write: Annotated[Path | None, typer.Option(
            "--write", "-w", help="Also write what passed to this pcap file.")] = None,
        full: Annotated[bool, typer.Option(
            "--full", help="Show data whole, not a preview.")] = False,
    ) -> None:
        """Relay clients to a job server unchanged, printing every packet both ways live."""
        from geartool.client.servers import parse_address

        try:
            listen_addr = parse_address(f"127.0.0.1:{listen}" if listen.isdigit() else listen,
                                        LISTEN_PORT)
            upstream_addr = parse_address(upstream)
        except ValueError as exc:
            die(str(exc), EXIT_USAGE)
        if write is not None and not (write.parent.resolve()).is_dir():
            die(f"cannot write {write}: no such directory", EXIT_USAGE)
        from geartool.shell.proxy import ProxyConfig, run

        config = ProxyConfig(listen_addr, upstream_addr, json=json_out, write=write, full=full,
                             color=not json_out and sys.stdout.isatty())
        raise typer.Exit(run(config))
