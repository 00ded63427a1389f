"""The choice between the mypyc-compiled modules and their Python sources (geartool/_compiled.py).

CI also runs the server, protocol and client tests with GEARTOOL_PURE_PYTHON=1 (.ci/run), so both
forms of the same code pass the same tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import geartool
from geartool import _compiled
from tests.conftest import IN_CI


def _which(env: dict[str, str]) -> list[str]:
    code = ("import geartool, geartool.server.core as c, geartool.protocol.codec as d;"
            "print(geartool.COMPILED, Path(c.__file__).suffix, Path(d.__file__).suffix)")
    out = subprocess.run([sys.executable, "-c", "from pathlib import Path;" + code],
                         capture_output=True, text=True, env=env, timeout=30, check=True)
    return out.stdout.split()


def test_ci_runs_the_compiled_modules() -> None:
    if not IN_CI and geartool.COMPILED != "compiled":
        pytest.skip(f"not compiled here ({geartool.COMPILED})")
    env = {k: v for k, v in os.environ.items() if k != "GEARTOOL_PURE_PYTHON"}
    assert _which(env) == ["compiled", ".so", ".so"]


def test_pure_python_switch_loads_the_sources() -> None:
    env = {**os.environ, "GEARTOOL_PURE_PYTHON": "1"}
    assert _which(env) == ["off", ".py", ".py"]


def _fake_tree(root: Path, *, built: bool, newer_source: str | None = None) -> None:
    """Sources and (optionally) compiled modules laid out as in an installed checkout."""
    suffix = _compiled._SUFFIX
    (root / ("_speedups__mypyc" + suffix)).write_bytes(b"")
    for module in _compiled.MODULES:
        source = root.joinpath(*module.split(".")[1:]).with_suffix(".py")
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text("")
        os.utime(source, (1_000, 1_000))
        if built:
            lib = source.with_name(source.stem + suffix)
            lib.write_bytes(b"")
            os.utime(lib, (2_000, 2_000))
        if module == newer_source:
            os.utime(source, (3_000, 3_000))


@pytest.mark.parametrize(("built", "newer", "expected"), [
    (True, None, "compiled"),
    (False, None, "absent"),
    (True, "geartool.server.wire", "stale"),
    (True, "geartool.protocol.codec", "stale"),
])
def test_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, built: bool,
               newer: str | None, expected: str) -> None:
    _fake_tree(tmp_path, built=built, newer_source=newer)
    monkeypatch.setattr(_compiled, "_ROOT", str(tmp_path))
    monkeypatch.delenv("GEARTOOL_PURE_PYTHON", raising=False)
    assert _compiled.state() == expected
    monkeypatch.setenv("GEARTOOL_PURE_PYTHON", "1")
    assert _compiled.state() == "off"


def test_one_missing_module_means_none_are_used(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # mypyc links the group together: a half-built group must not be loaded at all.
    _fake_tree(tmp_path, built=True)
    (tmp_path / "server" / ("core" + _compiled._SUFFIX)).unlink()
    monkeypatch.setattr(_compiled, "_ROOT", str(tmp_path))
    monkeypatch.delenv("GEARTOOL_PURE_PYTHON", raising=False)
    assert _compiled.state() == "absent"


def test_finder_only_answers_for_the_group() -> None:
    finder = _compiled._SourceFinder()
    assert finder.find_spec("geartool.server.app", None) is None
    spec = finder.find_spec("geartool.server.core", None)
    assert spec is not None and spec.origin is not None
    assert spec.origin.endswith(os.path.join("geartool", "server", "core.py"))
