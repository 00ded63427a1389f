"""Which modules run compiled, and the switch back to their Python sources.

The server's hot path and the protocol codec are compiled with mypyc when geartool is installed
with a C compiler at hand (``setup.py``). The ``.py`` files stay the reference: they ship beside
the compiled modules, every test passes on both, and the sources are used instead whenever

- ``GEARTOOL_PURE_PYTHON`` is set (also turns off the decoder's fast path), or
- any compiled module is missing or older than its source: a checkout edited or pulled since the
  last ``pip install -e .`` must run what it says, not stale machine code.

mypyc links the modules into one shared library and calls across them directly, so they are
used all together or not at all. This module is loaded by ``setup.py`` by path, so it imports
nothing from geartool.
"""

from __future__ import annotations

import importlib.machinery
import os
import sys
from collections.abc import Sequence
from types import ModuleType

# Compiled as one mypyc group. Each must type-check under mypy --strict: mypyc trusts the types.
MODULES = (
    "geartool.protocol.frames",
    "geartool.protocol.codec",
    "geartool.server.wire",
    "geartool.server.model",
    "geartool.server.workers",
    "geartool.server.core",
    "geartool.server.transport",
    "geartool.server.store.base",
    "geartool.server.store.sqlite",
)
GROUP = "geartool._speedups"  # its shared library is the module geartool._speedups__mypyc

_ROOT = os.path.dirname(os.path.abspath(__file__))
_SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _source(module: str) -> str:
    return os.path.join(_ROOT, *module.split(".")[1:]) + ".py"


def _mtime(path: str) -> float | None:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return None


def state() -> str:
    """'compiled', 'off' (by request), 'absent' (never built) or 'stale' (sources newer)."""
    if os.environ.get("GEARTOOL_PURE_PYTHON"):
        return "off"
    lib = _mtime(os.path.join(_ROOT, GROUP.split(".")[1] + "__mypyc" + _SUFFIX))
    if lib is None:
        return "absent"
    for module in MODULES:
        built, source = _mtime(_source(module)[:-3] + _SUFFIX), _mtime(_source(module))
        if built is None:
            return "absent"
        if source is not None and source > built:
            return "stale"
    return "compiled"


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
