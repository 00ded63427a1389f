"""``geartool decode`` end to end in a subprocess: output formats, filters, exit codes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from geartool.protocol.frames import pack_bytes
from tests.conftest import need

from .helpers import PCAPS, port

ROOT = Path(__file__).resolve().parents[2]


def decode(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "geartool", "decode", *args], cwd=ROOT,
                          input=stdin.decode("latin-1") if stdin is not None else None,
                          capture_output=True, text=True, timeout=60, encoding="latin-1")


def cap(name: str) -> list[str]:
    return [str(PCAPS / name), "--port", str(port(name))]


def test_text_view() -> None:
    r = decode(*cap("gearman-tool.pcap"), "--no-color")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].startswith("# stream ")
    submit = next(line for line in lines if "SUBMIT_JOB " in line)
    assert "C>S" in submit and "function='reverse'" in submit and "data=13B 'hello gearman'" \
        in submit
    assert "\x1b[" not in r.stdout
    assert "\x1b[" in decode(*cap("gearman-tool.pcap"), "--color").stdout


def test_json_lines_with_wireshark_names() -> None:
    r = decode(*cap("gearman-tool.pcap"), "--json")
    assert r.returncode == 0
    objs = [json.loads(line) for line in r.stdout.splitlines()]
    assert len(objs) == 61
    assign = next(o for o in objs if o.get("gearman.pkt_name") == "JOB_ASSIGN_UNIQ")
    assert assign["gearman.magic_code"] == "RES" and assign["gearman.pkt_type"] == 31
    assert assign["gearman.func.name"] == "reverse" and assign["gearman.job.handle"]
    assert "gearman.uniq_id" in assign and assign["to_server"] is False
    assert any(o.get("gearman.mgr_cmd") == "status" for o in objs)


def test_summary_and_jobs() -> None:
    r = decode(*cap("gearman-tool.pcap"), "--summary", "--jobs")
    assert r.returncode == 0
    assert "packets by type:" in r.stdout and "jobs by function" in r.stdout
    assert "reverse" in r.stdout and "5 jobs (* = background)" in r.stdout
    s = json.loads(decode(*cap("gearman-tool.pcap"), "--summary", "--json").stdout)
    funcs = {f["function"]: f for f in s["functions"]}
    assert funcs["reverse"]["jobs"] == 3 and set(funcs["reverse"]["wait"]) == {
        "p50", "p90", "p99", "max"}
    jobs = [json.loads(x) for x in decode(*cap("gearman-tool.pcap"), "--jobs",
                                          "--json").stdout.splitlines()]
    assert {j["outcome"] for j in jobs} == {"COMPLETE", "FAIL"}


def test_filters() -> None:
    r = decode(*cap("gearman-tool.pcap"), "--type", "SUBMIT_*", "--json")
    names = {json.loads(x)["gearman.pkt_name"] for x in r.stdout.splitlines()}
    assert names == {"SUBMIT_JOB", "SUBMIT_JOB_HIGH", "SUBMIT_JOB_LOW_BG"}
    r = decode(*cap("gearman-tool.pcap"), "--function", "lines", "--json")
    objs = [json.loads(x) for x in r.stdout.splitlines()]
    kinds = [o["gearman.pkt_name"] for o in objs]
    assert kinds.count("WORK_DATA") == 4 and "JOB_ASSIGN_UNIQ" in kinds and "SUBMIT_JOB" in kinds
    handle = next(o["gearman.job.handle"] for o in objs if "gearman.job.handle" in o)
    r = decode(*cap("gearman-tool.pcap"), "--handle", handle, "--json")
    assert {json.loads(x)["gearman.job.handle"] for x in r.stdout.splitlines()} == {handle}
    r = decode(*cap("gearman-tool.pcap"), "--stream", "2", "--json")
    assert {json.loads(x)["stream"] for x in r.stdout.splitlines()} == {2}
    r = decode(*cap("gearman-tool.pcap"), "--type", "text", "--json")
    assert r.stdout and all("gearman.text" in x for x in r.stdout.splitlines())


def test_full_shows_everything() -> None:
    short = decode(*cap("large.pcap")).stdout
    full = decode(*cap("large.pcap"), "--full").stdout
    assert "..." in short and len(full) > len(short) + 100_000


def test_stdin() -> None:
    data = (PCAPS / "protocol.pcapng").read_bytes()
    r = decode("-", "--port", str(port("protocol.pcapng")), stdin=data)
    assert r.returncode == 0
    assert r.stdout == decode(*cap("protocol.pcapng")).stdout


def test_scapy_view() -> None:
    r = decode(*cap("ipv6.pcap"), "--scapy", "--count", "1")
    assert r.returncode == 0 and "###[ Gearman SUBMIT_JOB_BG ]###" in r.stdout


@pytest.mark.parametrize(("args", "code", "message"), [
    (["fixtures/pcaps/not-a-capture.txt"], 5, "not a pcap or pcapng capture"),
    (["/nonexistent/file.pcap"], 5, "No such file"),
    (["fixtures/pcaps"], 5, "cannot read"),
    (["fixtures/pcaps/empty.pcap"], 1, "no Gearman traffic"),
    (["fixtures/pcaps/no-gearman.pcap"], 1, "no Gearman traffic"),
    (["fixtures/pcaps/truncated.pcap"], 6, "cut short"),
    ([], 2, ""),
    (["fixtures/pcaps/empty.pcap", "--live", "lo"], 2, "not both"),
    (["fixtures/pcaps/empty.pcap", "--type", "NOPE"], 2, "no packet type matches"),
    (["fixtures/pcaps/empty.pcap", "--port", "70000"], 2, "not a TCP port"),
    (["--live", "no-such-iface0"], 7, "no-such-iface0"),
])
def test_bad_input_exit_codes(args: list[str], code: int, message: str) -> None:
    r = decode(*args)
    assert r.returncode == code, (r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert message in r.stderr + r.stdout


def test_port_hint_when_gearman_is_elsewhere() -> None:
    manifest = json.loads(Path("fixtures/pcaps/manifest.json").read_text())
    port = manifest["geartool-geartool.pcap"]["port"]
    r = decode("fixtures/pcaps/geartool-geartool.pcap")
    assert r.returncode == 1 and f"try --port {port}" in r.stderr
    r = decode("fixtures/pcaps/no-gearman.pcap")
    assert r.returncode == 1 and "try --port" not in r.stderr


def test_empty_and_tiny_files(tmp_path: Path) -> None:
    for content, code in ((b"", 5), (b"\xd4\xc3", 5), (b"\xd4\xc3\xb2\xa1" + bytes(10), 5)):
        f = tmp_path / "x.pcap"
        f.write_bytes(content)
        r = decode(str(f))
        assert r.returncode == code and "Traceback" not in r.stderr
        assert r.stderr.count("\n") == 1


def test_damaged_captures_show_anomalies_and_exit_0() -> None:
    for name in ("gap.pcap", "snaplen.pcap", "garbage.pcap", "sll2-any.pcap"):
        r = decode(*cap(name))
        assert r.returncode == 0 and "!! " in r.stdout, name
        assert "Traceback" not in r.stderr


def test_help_does_not_import_scapy() -> None:
    code = "import sys, geartool.cli.typer_app; print('scapy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False"
    assert "--live" in decode("--help").stdout


@pytest.mark.skipif(os.geteuid() != 0, reason="live capture needs root")
def test_live_capture_on_loopback(gearmand: int) -> None:
    need("tcpdump")
    proc = subprocess.Popen([sys.executable, "-m", "geartool", "decode", "--live", "lo",
                             "--port", str(gearmand), "--count", "2", "--no-color"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):  # until tcpdump is up and has seen one echo
            if proc.poll() is not None:
                break
            with socket.create_connection(("127.0.0.1", gearmand), timeout=2) as s:
                s.sendall(pack_bytes(b"\0REQ", 16, [b"live!"]))
                s.recv(100)
            time.sleep(0.2)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert proc.returncode == 0, err
    assert "ECHO_REQ data=5B 'live!'" in out and "ECHO_RES" in out


def test_admin_replies_in_context() -> None:
    r = decode(*cap("admin.pcap"), "--type", "TEXT", "--json")
    objs = [json.loads(x) for x in r.stdout.splitlines()]
    status_rows = [o["gearman.admin.row"] for o in objs
                   if o.get("gearman.admin.command") == "status" and "gearman.admin.row" in o]
    assert {"function": "nobody", "total": 1, "running": 0, "workers": 0} in status_rows
    workers = [o["gearman.admin.row"] for o in objs
               if o.get("gearman.admin.command") == "workers" and "gearman.admin.row" in o]
    assert any(w["functions"] == ["idle"] for w in workers)
    version = next(o for o in objs if o.get("gearman.admin.command") == "version"
                   and "gearman.admin_reply" in o)
    assert version["gearman.admin_reply"].startswith("OK ")
    text = decode(*cap("admin.pcap"), "--type", "TEXT").stdout
    assert "ADMIN-REPLY[frobnicate] 'ERR UNKNOWN_COMMAND Unknown+server+commandfrobnicate'" \
        in text


@pytest.mark.skipif(os.geteuid() != 0, reason="live capture needs root")
def test_live_capture_summary_after_ctrl_c(gearmand: int) -> None:
    import signal
    need("tcpdump")
    proc = subprocess.Popen([sys.executable, "-m", "geartool", "decode", "--live", "lo",
                             "--port", str(gearmand), "--summary"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(15):  # a few echoes over ~3 s: tcpdump starts within that time
            with socket.create_connection(("127.0.0.1", gearmand), timeout=2) as s:
                s.sendall(pack_bytes(b"\0REQ", 16, [b"x"]))
                s.recv(100)
            time.sleep(0.2)
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert "Traceback" not in err
    assert "packets by type:" in out and "ECHO_REQ" in out
