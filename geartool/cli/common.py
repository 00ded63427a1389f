"""Helpers shared by the command modules: exit codes, server lists, error reporting."""

from __future__ import annotations

import os
import sys
from typing import NoReturn

# Documented exit codes (README "Exit codes").
EXIT_OK = 0
EXIT_FAILED = 1      # the job failed or raised; or an admin command answered ERR
EXIT_USAGE = 2       # bad arguments (Typer/Click use 2 too)
EXIT_CONNECT = 3     # cannot connect, or timed out
EXIT_SERVER = 4      # the server refused (queue full, protocol error, ...)


def die(message: str, code: int) -> NoReturn:
    """One clear line on stderr, then exit with a documented code; never a traceback."""
    print(f"geartool: {message}", file=sys.stderr)
    raise SystemExit(code)


def server_list(explicit: list[str] | None) -> list[str]:
    """Servers from --server options, else GEARMAN_SERVERS, else GEARMAN_SERVER, else localhost.

    Each value may itself be a comma-separated list of ``host[:port]``.
    """
    raw = list(explicit or [])
    if not raw:
        env = os.environ.get("GEARMAN_SERVERS") or os.environ.get("GEARMAN_SERVER")
        if env:
            raw = [env]
    out = [s.strip() for item in raw for s in item.split(",") if s.strip()]
    return out or ["127.0.0.1:4730"]
