"""Which modules run compiled, and the switch back to their Python sources.

The server's hot path and the protocol codec are compiled with mypyc when geartool is installed
with a C compiler at hand (``setup.py``). The ``.py`` files stay the reference: they ship beside
the compiled modules, every test passes on both, and the sources are used instead whenever

- ``GEARTOOL_PURE_PYTHON`` is set (also turns off the decoder's fast path), or
- any compiled module is missing, or any source differs from the one compiled (setup.py records
  each source's CRC-32 in ``_compiled.crc``): a checkout edited or pulled since the last
  ``pip install -e .`` must run what it says, not stale machine code. (Contents, not mtimes: a
  wheel install may write a source after its compiled module.)

mypyc links the modules into one shared library and calls across them directly, so they are
used all together or not at all. This module is loaded by ``setup.py`` by path, so it imports
nothing from geartool.
"""

from __future__ import annotations

import binascii
import importlib
import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType

# Compiled as one mypyc group. mypyc trusts their annotations (and checks them where compiled code
# meets other code), so each must type-check; CI runs mypy on them. A module taken off this list
# leaves its old .so in an in-place build, where it would shadow the .py: setup.py removes those
# (see strays()).
MODULES = (
    "geartool.protocol.frames",
    "geartool.protocol.codec",
    "geartool.server.wire",
    "geartool.server.model",
    "geartool.server.workers",
    "geartool.server.clients",
    "geartool.server.core",
    "geartool.server.outgoing",
    "geartool.server.transport",
    "geartool.server.store.base",
    "geartool.server.store.sqlite",
)
GROUP = "geartool._speedups"  # its shared library is the module geartool._speedups__mypyc

_ROOT = os.path.dirname(os.path.abspath(__file__))
_SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _source(module: str) -> str:
    return os.path.join(_ROOT, *module.split(".")[1:]) + ".py"


def crc(path: str) -> int | None:
    try:
        with open(path, "rb") as f:
            return binascii.crc32(f.read())
    except OSError:
        return None


def extension(name: str) -> ModuleType | None:
    """One of the hand-written optional C modules (the decoder's fast path, the server's socket
    calls and heap set-up, the codec's frame builder), or None when it was not built or
    GEARTOOL_PURE_PYTHON is set: the caller then runs its Python path, which gives the same
    results."""
    if os.environ.get("GEARTOOL_PURE_PYTHON"):
        return None
    try:
        return importlib.import_module(name)
    except ImportError:  # installed without a C compiler
        return None


def state() -> str:
    """'compiled', 'off' (by request), 'absent' (never built) or 'stale' (sources changed)."""
    if os.environ.get("GEARTOOL_PURE_PYTHON"):
        return "off"
    if not os.path.exists(os.path.join(_ROOT, GROUP.split(".")[1] + "__mypyc" + _SUFFIX)):
        return "absent"
    for module in MODULES:
        if not os.path.exists(_source(module)[:-3] + _SUFFIX):
            return "absent"
    built = read_record()
    if built is None:
        return "absent"
    for module in MODULES:
        if built.get(module) != crc(_source(module)):
            return "stale"
    return "compiled"


def record_path() -> str:
    return os.path.join(_ROOT, "_compiled.crc")


def strays() -> list[str]:
    """Compiled modules beside a .py that is not on the list any more (setup.py deletes them).

    Only files with a .py of the same name count, so C extensions such as the decoder's fast
    path are never taken for leftovers.
    """
    out = []
    for folder, _, files in os.walk(_ROOT):
        for name in files:
            if not name.endswith(_SUFFIX):
                continue
            path = os.path.join(folder, name)
            source = path[:-len(_SUFFIX)] + ".py"
            rel = os.path.relpath(source[:-3], _ROOT).split(os.sep)
            if os.path.exists(source) and ".".join(["geartool", *rel]) not in MODULES:
                out.append(path)
    return out


def forget_build() -> None:
    """setup.py, when it does not compile: without a record, old compiled modules go unused."""
    try:
        os.remove(record_path())
    except FileNotFoundError:
        pass


def write_record() -> None:
    """setup.py, when it compiles: each source's CRC-32, as 'module crc' lines."""
    with open(record_path(), "w") as f:
        f.writelines(f"{m} {crc(_source(m))}\n" for m in MODULES)


def read_record() -> dict[str, int] | None:
    try:
        with open(record_path()) as f:
            return {m: int(c) for m, c in (line.split() for line in f if line.strip())}
    except (OSError, ValueError):
        return None


# What each state means, for `geartool --version` and the server's start-up line.
DESCRIPTIONS = {
    "compiled": "compiled",
    "off": "pure Python: GEARTOOL_PURE_PYTHON is set",
    "absent": "pure Python: not compiled at install",
    "stale": "pure Python: sources changed since the compiled build; pip install rebuilds it",
}


class _SourceFinder:
    """A meta path finder that loads the compiled group's modules from their .py files."""

    def find_spec(self, fullname: str, path: Sequence[str] | None,
                  target: ModuleType | None = None) -> importlib.machinery.ModuleSpec | None:
        if fullname not in MODULES:
            return None
        import importlib.util  # only when the sources run: keeps the compiled start-up lean

        return importlib.util.spec_from_file_location(fullname, _source(fullname))


def install() -> str:
    """Decide once per process; returns the state. Called by ``geartool/__init__.py``.

    Quietly: a stale build is a developer's checkout, and the server's start-up line says
    which code runs (``geartool server`` logs "compiled" or why not).
    """
    current = state()
    if current != "compiled" and not any(isinstance(f, _SourceFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _SourceFinder())
    return current
