"""``geartool --help`` from a cache: the text Typer printed last time, if nothing it depends on
has changed since.

Rendering the help means importing Typer and every command group (about 40 ms of the 90 a cold
``geartool --help`` took; Python's own start-up is most of the rest). The text depends only on
the command modules, Typer's and Click's code, the program name and the terminal width, so the
cache key is made of those: the size and modification time of every ``geartool/cli`` module and
of Typer's and Click's packages, geartool's version and the width. Any change is a miss, which
renders the help through Typer as before and stores it. The cache is one small file under
``$XDG_CACHE_HOME/geartool`` (``~/.cache/geartool``); when it cannot be read or written the help
is rendered every time. Only the console script's bare ``--help``/``-h`` takes this path.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import io
import os
import shutil
import sys
from pathlib import Path

from geartool import __version__

_CLI = Path(__file__).resolve().parent
_PREFIX = "help-"


def cache_dir() -> Path | None:
    """Where the cache lives; None when there is no sensible place (no home directory)."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(base):  # unset, empty or relative: the XDG spec says ignore it
        home = os.path.expanduser("~")
        if not os.path.isabs(home):  # no $HOME and no passwd entry: never write into the cwd
            return None
        base = os.path.join(home, ".cache")
    return Path(base) / "geartool"


def _package_stamp(name: str) -> str:
    """Where an installed package is and when it last changed (a reinstall changes both)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return f"{name}:absent"
    st = os.stat(spec.origin)
    return f"{spec.origin}:{st.st_mtime_ns}:{st.st_size}"


def key() -> str:
    parts = [__version__, sys.argv[0], str(shutil.get_terminal_size().columns),
             _package_stamp("typer"), _package_stamp("click")]
    with os.scandir(_CLI) as entries:
        for entry in sorted(entries, key=lambda e: e.name):
            if entry.name.endswith(".py"):
                st = entry.stat()
                parts.append(f"{entry.name}:{st.st_mtime_ns}:{st.st_size}")
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()[:20]


def render() -> tuple[int, str]:
    """Typer's own help text and exit status, captured."""
    from .typer_app import app

    out = io.StringIO()
    code: int | str | None = 0
    with contextlib.redirect_stdout(out):
        try:
            app()
        except SystemExit as exc:
            code = exc.code
    return (code if isinstance(code, int) else 0 if code is None else 1), out.getvalue()


def _store(path: Path, text: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        for old in path.parent.glob(_PREFIX + "*.txt"):  # earlier versions' entries
            old.unlink(missing_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)  # readers see the whole file or none
    except OSError:
        pass  # a read-only or full disk: render each time


def serve() -> None:
    """Print the help (cached or rendered), exiting with Typer's status if it was not 0."""
    path: Path | None = None
    try:
        where = cache_dir()
        if where is None:
            raise FileNotFoundError("no cache directory")
        path = where / f"{_PREFIX}{key()}.txt"
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError):  # (a UnicodeDecodeError is a ValueError)
        code, text = render()
        if code != 0:
            sys.stdout.write(text)
            raise SystemExit(code) from None
        if text and path is not None:
            _store(path, text)
    sys.stdout.write(text)
