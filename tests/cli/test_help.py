"""`geartool --help` must not pay for textual, scapy or prompt_toolkit."""

from __future__ import annotations

import os
import subprocess
import sys

HEAVY = ("textual", "scapy", "prompt_toolkit", "geartool.server.core", "asyncio")


def test_help_loads_no_heavy_modules() -> None:
    code = ("import sys; sys.argv = ['geartool', '--help']\n"
            "import geartool.cli\n"
            "try:\n    geartool.cli.main()\nexcept SystemExit:\n    pass\n"
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
