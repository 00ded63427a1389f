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


def _fake_tree(root: Path, monkeypatch: pytest.MonkeyPatch, *, built: bool = True,
               record: bool = True) -> None:
    """Sources, compiled modules and the build record laid out as in an installed package."""
    monkeypatch.setattr(_compiled, "_ROOT", str(root))
    monkeypatch.delenv("GEARTOOL_PURE_PYTHON", raising=False)
    suffix = _compiled._SUFFIX
    (root / ("_speedups__mypyc" + suffix)).write_bytes(b"")
    for module in _compiled.MODULES:
        source = root.joinpath(*module.split(".")[1:]).with_suffix(".py")
        source.parent.mkdir(parents=True, exist_ok=True)
        source.write_text(f"# {module}\n")
        if built:
            source.with_name(source.stem + suffix).write_bytes(b"")
    if record:
        _compiled.write_record()


def test_state_compiled_and_off(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tree(tmp_path, monkeypatch)
    assert _compiled.state() == "compiled"
    monkeypatch.setenv("GEARTOOL_PURE_PYTHON", "1")
    assert _compiled.state() == "off"


@pytest.mark.parametrize("module", ["geartool.server.wire", "geartool.protocol.codec"])
def test_an_edited_source_is_stale_whatever_its_mtime(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      module: str) -> None:
    _fake_tree(tmp_path, monkeypatch)
    source = tmp_path.joinpath(*module.split(".")[1:]).with_suffix(".py")
    source.write_text("# edited\n")
    os.utime(source, (1_000, 1_000))  # older than everything: only the contents tell
    assert _compiled.state() == "stale"


def test_a_source_written_after_its_module_is_not_stale(tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # As a wheel install may do: same contents, newer mtime.
    _fake_tree(tmp_path, monkeypatch)
    for source in tmp_path.rglob("*.py"):
        os.utime(source, (4_000_000_000, 4_000_000_000))
    assert _compiled.state() == "compiled"


def test_one_missing_module_means_none_are_used(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # mypyc links the group together: a half-built group must not be loaded at all.
    _fake_tree(tmp_path, monkeypatch)
    (tmp_path / "server" / ("core" + _compiled._SUFFIX)).unlink()
    assert _compiled.state() == "absent"


@pytest.mark.parametrize("record", ["missing", "garbled"])
def test_no_usable_record_means_not_compiled(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             record: str) -> None:
    _fake_tree(tmp_path, monkeypatch, record=record == "garbled")
    if record == "garbled":
        Path(_compiled.record_path()).write_text("geartool.server.core not-a-number\n")
    assert _compiled.state() == "absent"


def test_never_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tree(tmp_path, monkeypatch, built=False, record=False)
    assert _compiled.state() == "absent"


def test_finder_only_answers_for_the_group() -> None:
    finder = _compiled._SourceFinder()
    assert finder.find_spec("geartool.server.app", None) is None
    spec = finder.find_spec("geartool.server.core", None)
    assert spec is not None and spec.origin is not None
    assert spec.origin.endswith(os.path.join("geartool", "server", "core.py"))


def test_every_compiled_module_is_type_checked_strictly() -> None:
    # mypyc compiles from the annotations; CI's mypy run keeps them honest only where strict.
    import fnmatch
    import tomllib

    config = tomllib.loads((Path(__file__).parent.parent / "pyproject.toml").read_text())
    strict = [p for o in config["tool"]["mypy"]["overrides"] if o.get("strict")
              for p in o["module"]]
    for module in _compiled.MODULES:
        assert any(fnmatch.fnmatch(module, p) for p in strict), module


def test_leftovers_of_modules_no_longer_compiled_are_found(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # setup.py deletes these: in an in-place build they would shadow their .py files.
    _fake_tree(tmp_path, monkeypatch)
    suffix = _compiled._SUFFIX
    (tmp_path / "server" / "app.py").write_text("")
    stray = tmp_path / "server" / ("app" + suffix)
    stray.write_bytes(b"")
    (tmp_path / "decode").mkdir()
    (tmp_path / "decode" / ("_fastdecode" + suffix)).write_bytes(b"")  # a C extension: kept
    assert _compiled.strays() == [str(stray)]


def test_a_build_that_did_not_compile_leaves_no_record(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_tree(tmp_path, monkeypatch)
    assert _compiled.state() == "compiled"
    _compiled.forget_build()
    _compiled.forget_build()  # twice is fine
    assert _compiled.state() == "absent"
