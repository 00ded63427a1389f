"""The ``geartool`` command.

The Typer app lives in ``typer_app``; importing it costs about 40 ms (Typer itself and every
command group), which is most of what ``geartool --help`` took. ``main`` answers that one
request from a cache when it can (``helpcache``), and ``geartool.cli.app`` still names the app.
"""

from __future__ import annotations

import os
import sys
from typing import Any


def main() -> None:
    argv = sys.argv
    if len(argv) == 2 and argv[1] in ("--help", "-h") and \
            os.path.basename(argv[0]) == "geartool":
        from . import helpcache

        helpcache.serve()
        return
    from .typer_app import app

    app()


def __getattr__(name: str) -> Any:
    if name == "app":
        from .typer_app import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
