"""The ``geartool`` command's Typer app.

Each command group lives in its own module with a ``register(app)`` function. Heavy libraries
(textual, scapy, prompt_toolkit) and even the server are imported inside the command functions,
so ``geartool --help`` stays fast.
"""

from __future__ import annotations

import importlib

import typer

from geartool import COMPILED, __version__, _compiled

# Command-group modules, in the order their commands appear in --help.
GROUPS = ("server", "submit", "work", "admin", "top", "shell", "proxy", "decode")

app = typer.Typer(
    name="geartool",
    help="Gearman toolkit: job server, client, worker, admin, monitor, shell and decoder.",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode=None,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        # Which code runs belongs in every bug report: the compiled modules or their sources.
        typer.echo(f"geartool {__version__} ({_compiled.DESCRIPTIONS[COMPILED]})")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(False, "--version", "-V", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """Gearman toolkit: job server, client, worker, admin, monitor, shell and decoder."""


for _name in GROUPS:
    try:
        _module = importlib.import_module(f"geartool.cli.{_name}")
    except ModuleNotFoundError as exc:  # a command group not built yet
        if exc.name != f"geartool.cli.{_name}":
            raise
        continue
    _module.register(app)
