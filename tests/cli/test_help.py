"""`geartool --help` must not pay for textual, scapy or prompt_toolkit, and comes from a cache
(``geartool/cli/helpcache.py``) once Typer has rendered it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI

HEAVY = ("textual", "scapy", "prompt_toolkit", "geartool.server.core", "asyncio")


def test_help_loads_no_heavy_modules() -> None:
    # Typer's own rendering (the path a help-cache miss takes), with every command group loaded.
    code = ("import sys; sys.argv = ['geartool', '--help']\n"
            "from geartool.cli.typer_app import app\n"
            "try:\n    app()\nexcept SystemExit:\n    pass\n"
            f"print(sorted(m for m in {HEAVY!r} if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert "Usage" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "[]"


def test_version_and_unknown_command() -> None:
    r = subprocess.run([sys.executable, "-m", "geartool", "--version"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 0 and r.stdout.startswith("geartool ")
    env = {**os.environ, "GEARTOOL_PURE_PYTHON": "1"}
    r = subprocess.run([sys.executable, "-m", "geartool", "--version"], capture_output=True,
                       text=True, timeout=60, env=env)
    assert r.returncode == 0 and r.stdout.strip().endswith(
        "(pure Python: GEARTOOL_PURE_PYTHON is set)")
    r = subprocess.run([sys.executable, "-m", "geartool", "frobnicate"], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 2 and "Traceback" not in r.stderr


def _script() -> Path:
    script = Path(sys.executable).parent / "geartool"
    if not script.exists():
        if IN_CI:
            pytest.fail(f"no console script at {script} (pip install -e .)")
        pytest.skip("the geartool console script is not installed beside this Python")
    return script


def _help(env: dict[str, str], *extra: str) -> tuple[str, bool]:
    """The console script's --help output, and whether that process imported Typer."""
    r = subprocess.run([str(_script()), "--help"], capture_output=True, text=True, timeout=60,
                       env={**os.environ, "PYTHONPROFILEIMPORTTIME": "1", **env})
    assert r.returncode == 0, r.stderr[-500:]
    typer = any(line.split("|")[-1].strip() == "typer" for line in r.stderr.splitlines()
                if line.startswith("import time:"))
    return r.stdout, typer


def test_help_comes_from_the_cache_once_rendered(tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path), "COLUMNS": "80"}
    rendered, typer_first = _help(env)
    assert rendered.startswith("Usage: geartool [OPTIONS] COMMAND") and typer_first
    assert len(list((tmp_path / "geartool").glob("help-*.txt"))) == 1
    cached, typer_again = _help(env)
    assert cached == rendered and not typer_again
    # Another terminal width is another key: rendered by Typer again, then cached alone.
    wide, typer_wide = _help({**env, "COLUMNS": "120"})
    assert typer_wide and wide.startswith("Usage: geartool")
    assert len(list((tmp_path / "geartool").glob("help-*.txt"))) == 1


def test_help_without_a_usable_cache_is_rendered_each_time(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    env = {"XDG_CACHE_HOME": str(blocker)}
    first, typer_first = _help(env)
    second, typer_second = _help(env)
    assert first == second and first.startswith("Usage: geartool")
    assert typer_first and typer_second


def test_a_changed_command_module_is_a_cache_miss(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from geartool.cli import helpcache

    module = tmp_path / "decode.py"
    module.write_text("x = 1\n")
    monkeypatch.setattr(helpcache, "_CLI", tmp_path)
    before = helpcache.key()
    stat = module.stat()
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    touched = helpcache.key()
    module.write_text("x = 22\n")
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    resized = helpcache.key()  # same time, other size
    (tmp_path / "new.py").write_text("")
    added = helpcache.key()
    assert len({before, touched, resized, added}) == 4


def test_no_home_and_a_relative_xdg_cache_write_nothing(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from geartool.cli import helpcache

    monkeypatch.setenv("XDG_CACHE_HOME", "relative/cache")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert helpcache.cache_dir() == tmp_path / ".cache" / "geartool"
    monkeypatch.delenv("HOME")
    monkeypatch.setattr(os.path, "expanduser", lambda p: p)  # as with no passwd entry either
    assert helpcache.cache_dir() is None
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["geartool", "--help"])
    helpcache.serve()  # rendered by Typer, cached nowhere
    assert list(tmp_path.iterdir()) == []
