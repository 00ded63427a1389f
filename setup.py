"""The optional compiled parts; everything else is in pyproject.toml.

- The decoder's fast path, a C extension (``geartool/decode/_fast*.c``).
- The server's hot path and the protocol codec, compiled from their Python sources with mypyc
  (the list is ``geartool/_compiled.py``).

Both are optional: without a C compiler the install still succeeds and geartool runs the same
code as plain Python, slower. ``GEARTOOL_PURE_PYTHON=1`` at install time skips the mypyc step.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from types import ModuleType

from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


def _compiled_list() -> ModuleType:
    # By path: importing the geartool package here would run its __init__.
    spec = importlib.util.spec_from_file_location("_geartool_compiled", "geartool/_compiled.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def mypyc_extensions() -> list[Extension]:
    listing = _compiled_list()
    for path in listing.strays():  # an in-place build's leftovers would shadow their sources
        os.remove(path)
    if os.environ.get("GEARTOOL_PURE_PYTHON"):
        listing.forget_build()
        return []
    paths = [m.replace(".", "/") + ".py" for m in listing.MODULES]
    try:
        from mypyc.build import mypycify

        extensions = mypycify(paths, group_name=listing.GROUP, opt_level="3")
    except (Exception, SystemExit) as exc:  # no mypy, or it rejects the code (it exits)
        print(f"geartool: not compiling the server's hot path ({exc}); it runs as Python",
              file=sys.stderr)
        listing.forget_build()
        return []
    listing.write_record()  # which sources these were built from (dropped if the build fails)
    for ext in extensions:
        ext.optional = True  # a failed compile leaves some absent: the sources are used
    BuildExt.mypyc_names = {ext.name for ext in extensions}
    return extensions


class BuildExt(build_ext):
    """build_ext that drops the record of compiled sources when any mypyc module fails to build.

    The record is written before compiling. If the compile then fails, an in-place (editable)
    build keeps the previous build's modules, and with a fresh record they would pass for the
    new sources: stale machine code reported as compiled. Without the record the sources run.
    """

    mypyc_names: set[str] = set()

    def run(self) -> None:
        self.failed: list[str] = []
        super().run()
        if self.mypyc_names & set(self.failed):
            print("geartool: the compiled hot path failed to build; it runs as Python",
                  file=sys.stderr)
            _compiled_list().forget_build()

    def build_extension(self, ext: Extension) -> None:
        try:
            super().build_extension(ext)
        except Exception:
            self.failed.append(ext.name)
            raise  # (build_ext then skips it: the extensions are optional)


def c_module(name: str, sources: list[str], **extra: list[str]) -> Extension:
    """One of the hand-written C modules: optional, since each has a Python path that gives
    the same results (geartool/_compiled.py, extension())."""
    return Extension(name, sources=sources, extra_compile_args=["-O2", "-std=c11", "-Wall",
                                                                "-Wextra"],
                     optional=True, **extra)


setup(ext_modules=[
    c_module("geartool.decode._fastdecode",
             [f"geartool/decode/_fast{part}.c"
              for part in ("decode", "capture", "stream", "frame", "format", "escape")],
             depends=["geartool/decode/_fastdecode.h"], libraries=["m"]),
    c_module("geartool.protocol._cframe", ["geartool/protocol/_cframe.c"]),
    c_module("geartool.server._fastio", ["geartool/server/_fastio.c"]),
    c_module("geartool.server._heap", ["geartool/server/_heap.c"]),
    *mypyc_extensions(),
], cmdclass={"build_ext": BuildExt})
