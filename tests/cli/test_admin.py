"""`geartool admin` against real servers, checked against the real `gearadmin` tool."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import geartool
from geartool.cli import app
from geartool.protocol import PacketType
from tests.conftest import free_port, need, start_geartool, stop
from tests.tui.peers import scene, status, submit, wait_for, worker
from tests.wire import Peer

runner = CliRunner()


def cli(port: int | str, *args: str) -> Any:
    server = port if isinstance(port, str) else f"127.0.0.1:{port}"
    return runner.invoke(app, ["admin", *args, "-s", server])


def gearadmin(port: int, *args: str) -> list[str]:
    out = subprocess.run([need("gearadmin"), "-h", "127.0.0.1", "-p", str(port), *args],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    return [line for line in out.splitlines() if line != "."]


def test_status_matches_gearadmin(any_server: tuple[str, int]) -> None:
    kind, gearmand = any_server  # the same comparison against both servers
    with worker(gearmand, "slow", "other"):
        scene(gearmand)
        theirs = {}
        for line in gearadmin(gearmand, "--status"):
            f, total, running, workers = line.split("\t")
            theirs[f] = (int(total), int(running), int(workers))
        result = cli(gearmand, "status", "--json")
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        ours = {r["function"]: (r["total"], r["running"], r["workers"]) for r in doc["rows"]}
        assert ours == theirs
        rows = {r["function"]: r for r in doc["rows"]}
        assert rows["slow"]["waiting"] == 2 and rows["slow"]["running"] == 1
        assert (rows["nowork"]["high"], rows["nowork"]["normal"]) == (1, 0)
        assert rows["slow"]["normal"] == 2
        assert (rows["slow"]["oldest_wait"] is None) == (kind == "gearmand")
        assert doc["workers"] == 1  # one worker connection, though it has two functions

        table = cli(gearmand, "status").stdout.splitlines()
        assert table[0].split() == ["FUNCTION", "WAITING", "RUNNING", "TOTAL", "WORKERS",
                                    "HIGH", "NORMAL", "LOW", "OLDEST(s)"]
        assert table[1:4] == sorted(table[1:4])  # sorted by name, unlike gearmand
        assert next(r for r in table if r.startswith("slow")).split()[:8] == \
            ["slow", "2", "1", "3", "1", "0", "2", "0"]
        assert table[-1] == "3 functions, 3 waiting, 1 running, 1 workers"


def test_workers_jobs_and_uniques_match_gearadmin(any_server: tuple[str, int]) -> None:
    kind, gearmand = any_server
    with worker(gearmand, "slow", "other"):
        scene(gearmand)
        theirs = {tuple(line.split(" : ")) for line in gearadmin(gearmand, "--workers")
                  if " : " in line}
        doc = json.loads(cli(gearmand, "workers", "--json").stdout)
        ours = {(f"{r['fd']} {r['ip']} {r['client_id']}", " ".join(r["functions"]))
                for r in doc["rows"]}
        assert ours == theirs and len(ours) == 1
        job = doc["rows"][0]["job"]
        assert (job is None) == (kind == "gearmand")  # gearmand cannot say which job runs

        handles = {line.split("\t")[0] for line in gearadmin(gearmand, "--show-jobs")}
        jobs = json.loads(cli(gearmand, "jobs", "--json").stdout)["rows"]
        assert {j["handle"] for j in jobs} == handles and len(handles) == 4
        assert all(j["persisted"] and not j["ignore"] for j in jobs)

        uniques = set(gearadmin(gearmand, "--show-unique-jobs"))
        mine = {r["unique"] for r in json.loads(cli(gearmand, "unique-jobs", "--json").stdout)
                ["rows"]}
        assert mine == uniques and "u-nowork" in mine

        every = cli(gearmand, "workers", "--all").stdout.splitlines()
        assert len(every) >= 3  # header, the worker, and at least our own admin connection


def test_single_values_match_gearadmin(any_server: tuple[str, int]) -> None:
    _, gearmand = any_server
    assert cli(gearmand, "version").stdout.strip() == gearadmin(gearmand, "--server-version")[0]
    assert cli(gearmand, "getpid").stdout.strip() == gearadmin(gearmand, "--getpid")[0]
    assert cli(gearmand, "verbose").stdout.strip() == gearadmin(gearmand, "--server-verbose")[0]
    doc = json.loads(cli(gearmand, "getpid", "--json").stdout)
    assert doc["ok"] and isinstance(doc["pid"], int)


def test_actions_and_their_exit_codes(gearmand: int) -> None:
    submit(gearmand, "queued", n=1)
    handle = json.loads(cli(gearmand, "jobs", "--json").stdout)["rows"][0]["handle"]
    ok = cli(gearmand, "cancel", handle)
    assert ok.exit_code == 0 and f"cancelled {handle}" in ok.stdout
    # gearmand keeps a cancelled queued job, flagged "ignore", until a worker would grab it.
    jobs = json.loads(cli(gearmand, "jobs", "--json").stdout)["rows"]
    assert [j["ignore"] for j in jobs if j["handle"] == handle] in ([True], [])
    unknown = cli(gearmand, "cancel", "H:nowhere:1")
    assert unknown.exit_code == 1 and "UNKNOWN_JOB" in unknown.stderr

    assert cli(gearmand, "create", "made").exit_code == 0
    assert "made" in status(gearmand)
    assert cli(gearmand, "maxqueue", "made", "5").exit_code == 0
    assert cli(gearmand, "maxqueue", "made", "1", "2", "3").exit_code == 0
    bad = cli(gearmand, "maxqueue", "made", "1", "2")
    assert bad.exit_code == 2 and "0, 1 or 3" in bad.stderr
    assert cli(gearmand, "drop", "made").exit_code == 0
    assert "made" not in status(gearmand)
    with worker(gearmand, "busy"):
        busy = cli(gearmand, "drop", "busy")
        assert busy.exit_code == 1
        assert "still connected workers" in busy.stderr
    off = cli(gearmand, "shutdown", "--graceful")
    assert off.exit_code == 1 and "no shutdown command" in off.stderr
    assert status(gearmand) is not None  # gearmand is still up


def test_unreachable_and_bad_addresses() -> None:
    dead = cli(free_port(), "status")
    assert dead.exit_code == 3 and "cannot connect" in dead.stderr
    bad = cli("127.0.0.1:notaport", "status")
    assert bad.exit_code == 2 and "bad port" in bad.stderr
    assert "Traceback" not in dead.output + bad.output


def test_several_servers_and_environment(gearmand: int, monkeypatch: pytest.MonkeyPatch
                                         ) -> None:
    dead = free_port()
    monkeypatch.setenv("GEARMAN_SERVERS", f"127.0.0.1:{gearmand},127.0.0.1:{dead}")
    result = runner.invoke(app, ["admin", "version", "--json"])
    assert result.exit_code == 3
    doc = json.loads(result.stdout)
    assert [d["ok"] for d in doc] == [True, False]
    assert doc[1]["server"] == f"127.0.0.1:{dead}"
    text = runner.invoke(app, ["admin", "status"])
    assert f"== 127.0.0.1:{gearmand}" in text.stdout and "cannot connect" in text.stderr


def test_cancel_across_servers_only_fails_when_no_server_has_it(gearmand: int) -> None:
    other = free_port()
    from tests.conftest import start_gearmand, stop
    proc = start_gearmand(other)
    try:
        submit(gearmand, "queued")
        handle = json.loads(cli(gearmand, "jobs", "--json").stdout)["rows"][0]["handle"]
        both = f"127.0.0.1:{gearmand},127.0.0.1:{other}"
        assert runner.invoke(app, ["admin", "cancel", handle, "-s", both]).exit_code == 0
        gone = runner.invoke(app, ["admin", "cancel", "H:nowhere:1", "-s", both])
        assert gone.exit_code == 1 and gone.stderr.count("UNKNOWN_JOB") == 2
    finally:
        stop(proc)


def test_extensions_on_geartool_server(any_server: tuple[str, int]) -> None:
    kind, port = any_server
    with worker(port, "slow"):
        submit(port, "slow", n=2)
        wait_for(port, lambda s: s.get("slow", (0, 0, 0))[1] == 1, "a running job")
        doc = json.loads(cli(port, "status", "--json").stdout)
        slow = next(r for r in doc["rows"] if r["function"] == "slow")
        assert (slow["waiting"], slow["running"]) == (1, 1)
        workers = json.loads(cli(port, "workers", "--json").stdout)["rows"]
        if kind == "geartool":
            assert slow["oldest_wait"] is not None and slow["oldest_wait"] >= 0
            assert [w["job_function"] for w in workers] == ["slow"]
            assert workers[0]["job"].startswith("H:")
            assert cli(port, "version").stdout.startswith("geartool-")
        else:
            assert slow["oldest_wait"] is None and workers[0]["job"] is None


def test_cli_help_does_not_load_textual() -> None:
    code = ("import sys; from geartool.cli import app; "
            "assert 'textual' not in sys.modules, 'textual loaded'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


def test_table_alignment() -> None:
    from geartool.cli.admin_run import render_table
    out = render_table([("f", "FUNCTION"), ("n", "N"), ("b", "OK"), ("x", "X")],
                       [{"f": "a", "n": 5, "b": True, "x": None},
                        {"f": "longer", "n": 12345, "b": False, "x": 1.25}])
    assert out.splitlines() == [
        "FUNCTION      N  OK   X",
        "a             5  yes  -",
        "longer    12345  no   1.2",
    ]


def test_status_adds_up_several_servers(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    procs = [start_geartool(p, "--queue", "memory") for p in ports]
    try:
        for port, fn in ((ports[0], b"f"), (ports[1], b"f"), (ports[1], b"g")):
            with Peer(port) as c:
                c.send(PacketType.SUBMIT_JOB_BG, fn, b"", b"x")
                assert c.frame().type is PacketType.JOB_CREATED
        servers = [arg for p in ports for arg in ("-s", f"127.0.0.1:{p}")]
        r = subprocess.run([sys.executable, "-m", "geartool", "admin", "status", *servers],
                           capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        combined = r.stdout.split("== all 2 servers\n")[1].splitlines()
        assert combined[1].split()[:5] == ["f", "2", "0", "2", "0"]
        assert combined[2].split()[:5] == ["g", "1", "0", "1", "0"]
        assert combined[3] == "2 functions, 3 waiting, 0 running, 0 workers"
        assert r.stdout.count("== 127.0.0.1:") == 2
    finally:
        for p in procs:
            stop(p)


def test_servers_named_before_the_command(geartool_server: int) -> None:
    live, dead = f"127.0.0.1:{geartool_server}", f"127.0.0.1:{free_port()}"
    first = runner.invoke(app, ["admin", "-s", live, "version", "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout) == {"server": live, "ok": True,
                                        "version": f"geartool-{geartool.__version__}"}
    assert runner.invoke(app, ["admin", "-s", dead, "version"]).exit_code == 3
    # the command's own -s wins over the group's
    own = runner.invoke(app, ["admin", "-s", dead, "version", "-s", live, "--json"])
    assert own.exit_code == 0 and json.loads(own.stdout)["server"] == live
    # and nothing lingers into the next invocation in the same process
    after = runner.invoke(app, ["admin", "version", "--json"], env={"GEARMAN_SERVERS": dead})
    assert after.exit_code == 3
