"""`geartool submit` and `geartool work` as subprocesses, against real servers and real tools."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.client.helpers import admin, status_of
from tests.conftest import free_port, need, start_gearmand, stop

ROOT = Path(__file__).resolve().parents[2]
# A worker written with the sync facade: progress, and an exception.
PY_WORKER = """
import sys
from geartool.client.sync import GearmanWorker
w = GearmanWorker(sys.argv[1])
def progress(worker, job):
    worker.send_job_status(job, 1, 4)
    worker.send_job_status(job, 4, 4)
    return b'done'
def boom(worker, job):
    raise ValueError('no good: ' + job.data.decode())
w.register_task('progress', progress)
w.register_task('boom', boom)
w.work(count=int(sys.argv[2]))
"""


def cli(*args: str, input: bytes | None = b"", timeout: float = 30
        ) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([sys.executable, "-m", "geartool", *args], cwd=ROOT, input=input,
                          capture_output=True, timeout=timeout)


def spawn(*args: str, **kw: object) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "geartool", *args], cwd=ROOT,  # type: ignore
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kw)


def wait_workers(port: int, function: str, n: int = 1, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = status_of(port, function)
        if st is not None and st[2] >= n:
            return
        time.sleep(0.02)
    raise TimeoutError(f"no worker for {function} registered")


def wait_running(port: int, function: str, n: int = 1, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        st = status_of(port, function)
        if st is not None and st[1] >= n:
            return
        time.sleep(0.02)
    raise TimeoutError(f"no job of {function} running")


class Workers:
    """`geartool work` processes started by a test, ended by PID afterwards."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, function: str, *args: str) -> subprocess.Popen[bytes]:
        proc = spawn("work", "-s", f"127.0.0.1:{self.port}", function, *args)
        self.procs.append(proc)
        wait_workers(self.port, function)
        return proc


@pytest.fixture
def workers(any_server: tuple[str, int]) -> Iterator[Workers]:
    w = Workers(any_server[1])
    yield w
    for proc in w.procs:
        stop(proc)


def no_traceback(res: subprocess.CompletedProcess[bytes]) -> None:
    assert b"Traceback" not in res.stderr, res.stderr.decode()


# interop with the gearman tool, both ways


def test_submit_to_gearman_worker(any_server: tuple[str, int]) -> None:
    port = any_server[1]
    gw = subprocess.Popen([need("gearman"), "-h", "127.0.0.1", "-p", str(port), "-w",
                           "-f", "reverse", "-f", "reverse2", "--", "rev"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_workers(port, "reverse")
        s = f"127.0.0.1:{port}"
        res = cli("submit", "-s", s, "reverse", "hello")
        assert (res.returncode, res.stdout) == (0, b"olleh")
        res = cli("submit", "-s", s, "reverse", input=b"abc\n")
        assert (res.returncode, res.stdout) == (0, b"cba\n")
        res = cli("submit", "-s", s, "-P", "reverse", "-f", "reverse2", input=b"abc\n")
        assert res.returncode == 0
        assert sorted(res.stdout.splitlines()) == [b"reverse2: cba", b"reverse: cba"]
        res = cli("submit", "-s", s, "reverse", "--each-line", "--json", input=b"ab\ncd\n")
        assert res.returncode == 0
        records = [json.loads(line) for line in res.stdout.decode().splitlines()]
        assert sorted(r["data"] for r in records) == ["ba\n", "dc\n"]
        assert {r["status"] for r in records} == {"complete"}
        assert all(r["handle"].startswith("H:") and r["server"] == s for r in records)
        assert all(r["timings"]["total_ms"] >= r["timings"]["created_ms"] > 0
                   for r in records)
    finally:
        stop(gw)


def test_gearman_client_to_geartool_work(workers: Workers) -> None:
    workers.start("reverse", "--", "rev")
    res = subprocess.run([need("gearman"), "-h", "127.0.0.1", "-p", str(workers.port),
                          "-f", "reverse", "hello"], capture_output=True, timeout=30)
    assert res.returncode == 0 and res.stdout.startswith(b"olleh"), res
    res = subprocess.run([need("gearman"), "-h", "127.0.0.1", "-p", str(workers.port),
                          "-f", "reverse"], input=b"stdin data\n", capture_output=True,
                         timeout=30)
    assert res.stdout.startswith(b"atad nidts\n")


# errors: clear message, documented exit code, no traceback


def test_unreachable_server_exits_3() -> None:
    port = free_port()
    res = cli("submit", "-s", f"127.0.0.1:{port}", "reverse", "x")
    assert res.returncode == 3
    assert res.stderr.decode().startswith(f"geartool: cannot connect to 127.0.0.1:{port}")
    assert b"refused" in res.stderr.lower()
    no_traceback(res)
    res = cli("submit", "-s", f"127.0.0.1:{port}", "--status", "H:x:1")
    assert res.returncode == 3
    no_traceback(res)


def test_usage_errors_exit_2() -> None:
    assert cli("submit").returncode == 2
    assert cli("submit", "-I", "-L", "f", "x").returncode == 2
    res = cli("submit", "-s", "host:notaport", "f", "x")
    assert res.returncode == 2 and b"bad port" in res.stderr
    res = cli("work", "f", "--", "no-such-command-xyz")
    assert res.returncode == 2
    assert res.stderr.decode().strip() == "geartool: command not found: no-such-command-xyz"
    no_traceback(res)


def test_background_queue_full_exits_4(any_server: tuple[str, int]) -> None:
    s = f"127.0.0.1:{any_server[1]}"
    first = cli("submit", "-s", s, "-b", "capped", "a")
    assert first.returncode == 0 and first.stdout.startswith(b"H:")
    assert admin(any_server[1], "maxqueue capped 1").startswith("OK")
    res = cli("submit", "-s", s, "-b", "capped", "b")
    assert res.returncode == 4 and res.stdout == b""
    assert b"QUEUE_ERROR" in res.stderr
    no_traceback(res)
    handle = first.stdout.decode().strip()
    st = cli("submit", "-s", s, "--status", handle)
    assert st.returncode == 0 and st.stdout.decode().startswith(f"{handle}: known, queued")
    assert cli("submit", "-s", s, "--status", "H:nope:99").returncode == 1


def test_priorities_reach_the_server(any_server: tuple[str, int]) -> None:
    s = f"127.0.0.1:{any_server[1]}"
    assert cli("submit", "-s", s, "-b", "-I", "prio", "a").returncode == 0
    assert cli("submit", "-s", s, "-b", "-L", "prio", "b", "c").returncode == 0
    assert cli("submit", "-s", s, "-b", "--priority", "normal", "prio", "d").returncode == 0
    rows = admin(any_server[1], "prioritystatus").splitlines()
    assert "prio\t1\t1\t2\t0" in rows  # high, normal, low queued; no workers


def test_timeout_without_worker_exits_3(any_server: tuple[str, int]) -> None:
    res = cli("submit", "-s", f"127.0.0.1:{any_server[1]}", "--timeout", "0.3", "nobody", "x")
    assert res.returncode == 3 and b"timed out after 0.3 s" in res.stderr
    no_traceback(res)


# geartool work


def test_crashing_command_fails_job_with_its_output(workers: Workers) -> None:
    workers.start("crash", "--", "sh", "-c", "echo partial; echo oops >&2; kill -SEGV $$")
    res = cli("submit", "-s", f"127.0.0.1:{workers.port}", "crash", "x")
    assert res.returncode == 1
    assert res.stdout == b"partial\n"
    err = res.stderr.decode()
    assert "oops" in err and "killed by signal 11" in err and "failed" in err
    no_traceback(res)


def test_megabytes_of_output(workers: Workers) -> None:
    workers.start("big", "--", "head", "-c", "5000000", "/dev/zero")
    workers.start("lines", "--each-line", "--", "seq", "1", "20000")
    s = f"127.0.0.1:{workers.port}"
    res = cli("submit", "-s", s, "big", "x")
    assert res.returncode == 0 and res.stdout == bytes(5_000_000)
    res = cli("submit", "-s", s, "lines", "x")
    # Each line exactly once: gearman -n resends the whole buffer with every line.
    assert res.returncode == 0
    assert res.stdout.decode() == "".join(f"{i}\n" for i in range(1, 20001))


def test_echo_count_client_id_prefix_and_functions(workers: Workers) -> None:
    proc = workers.start("echo_a", "--count", "2", "--client-id", "echo-worker")
    assert "echo-worker" in admin(workers.port, "workers")
    s = f"127.0.0.1:{workers.port}"
    res = cli("submit", "-s", s, "-P", "echo_a", "one", "two")
    assert res.returncode == 0
    assert sorted(res.stdout.decode().replace("echo_a: ", "\n").split()) == ["one", "two"]
    assert proc.wait(10) == 0  # --count 2: done


def test_each_line_strip_and_stderr_log(workers: Workers) -> None:
    proc = workers.start("shout", "-N", "--stderr", "log", "--",
                         "sh", "-c", "tr a-z A-Z; echo to-the-log >&2")
    res = cli("submit", "-s", f"127.0.0.1:{workers.port}", "shout", "--json",
              input=b"ab\ncd\n")
    assert res.returncode == 0
    assert '"data": "ABCD"' in res.stdout.decode() and '"warnings": []' in res.stdout.decode()
    stop(proc)
    assert b"to-the-log" in proc.stderr.read()  # type: ignore[union-attr]


def test_timeout_kills_command(workers: Workers) -> None:
    workers.start("hang", "--timeout", "0.5", "--", "sleep", "30")
    res = cli("submit", "-s", f"127.0.0.1:{workers.port}", "hang", "x")
    assert res.returncode == 1 and b"failed" in res.stderr


def test_concurrency_runs_jobs_together(workers: Workers, tmp_path: Path) -> None:
    # Each job waits (bounded) until three jobs have checked in: only parallel runs finish.
    script = ('d=$1; touch "$d/$$"; i=0; '
              'while [ "$(ls "$d" | wc -l)" -lt 3 ] && [ $i -lt 500 ]; do sleep 0.02; '
              'i=$((i+1)); done; [ "$(ls "$d" | wc -l)" -ge 3 ] && echo together')
    workers.start("meet", "--concurrency", "3", "--", "sh", "-c", script, "sh", str(tmp_path))
    res = cli("submit", "-s", f"127.0.0.1:{workers.port}", "meet", "a", "b", "c")
    assert res.returncode == 0 and res.stdout == b"together\n" * 3


def test_sigterm_finishes_running_job(workers: Workers, tmp_path: Path) -> None:
    go = tmp_path / "go"
    proc = workers.start("wait", "--", "sh", "-c",
                         f'i=0; while [ ! -e "{go}" ] && [ $i -lt 500 ]; do sleep 0.02; '
                         'i=$((i+1)); done; cat')
    sub = spawn("submit", "-s", f"127.0.0.1:{workers.port}", "wait", "payload")
    wait_running(workers.port, "wait")
    proc.send_signal(signal.SIGTERM)
    assert proc.poll() is None
    go.touch()
    out, err = sub.communicate(timeout=20)
    assert sub.returncode == 0 and out == b"payload", err
    assert proc.wait(10) == 0
    assert b"finishing 1 running job(s)" in proc.stderr.read()  # type: ignore[union-attr]


def test_progress_lines_when_not_a_terminal(any_server: tuple[str, int]) -> None:
    port = any_server[1]
    proc = subprocess.Popen([sys.executable, "-c", PY_WORKER, f"127.0.0.1:{port}", "1"], cwd=ROOT,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_workers(port, "progress")
        res = cli("submit", "-s", f"127.0.0.1:{port}", "progress", "x")
        assert res.returncode == 0 and res.stdout == b"done"
        lines = res.stderr.decode().splitlines()
        assert [ln.split(": ", 1)[1] for ln in lines] == ["25% complete (1/4)",
                                                          "100% complete (4/4)"]
        assert proc.wait(10) == 0
    finally:
        stop(proc)


def test_one_dead_server_in_the_list(any_server: tuple[str, int]) -> None:
    dead = f"127.0.0.1:{free_port()}"
    live = f"127.0.0.1:{any_server[1]}"
    proc = spawn("work", "-s", f"{dead},{live}", "twice", "--", "sed", "p")
    try:
        wait_workers(any_server[1], "twice")
        for _ in range(3):  # whichever server the rotation starts at, the job gets through
            res = cli("submit", "-s", dead, "-s", live, "twice", "x")
            assert (res.returncode, res.stdout) == (0, b"x\nx")
        # The worker keeps serving, and says once (not per retry) that a server is down.
        stop(proc)
        err = proc.stderr.read().decode()  # type: ignore[union-attr]
        assert err.count(f"cannot connect to {dead}") == 1
        assert "Traceback" not in err
    finally:
        stop(proc)


def test_exception_text_goes_to_stderr(any_server: tuple[str, int]) -> None:
    port = any_server[1]
    proc = subprocess.Popen([sys.executable, "-c", PY_WORKER, f"127.0.0.1:{port}", "1"],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        wait_workers(port, "boom")
        res = cli("submit", "-s", f"127.0.0.1:{port}", "boom", "input")
        assert res.returncode == 1 and res.stdout == b""
        assert b"raised: ValueError: no good: input" in res.stderr
        no_traceback(res)
        assert proc.wait(10) == 0
    finally:
        stop(proc)


def test_progress_bar_on_a_terminal(any_server: tuple[str, int]) -> None:
    port = any_server[1]
    proc = subprocess.Popen([sys.executable, "-c", PY_WORKER, f"127.0.0.1:{port}", "1"],
                            cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)})
    leader, follower = os.openpty()
    try:
        wait_workers(port, "progress")
        res = subprocess.run([sys.executable, "-m", "geartool", "submit", "-s",
                              f"127.0.0.1:{port}", "progress", "x"], cwd=ROOT, input=b"",
                             stdout=subprocess.PIPE, stderr=follower, timeout=30)
        os.close(follower)
        follower = -1
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: the terminal's other end is closed and drained
                break
            if not chunk:
                break
            drawn += chunk
        assert res.returncode == 0 and res.stdout == b"done"
        assert b"\r\x1b[K" in drawn  # the bar redraws in place...
        assert b"[#######" in drawn and b"25% (1/4)" in drawn and b"100% (4/4)" in drawn
        assert b"complete (" not in drawn  # ...instead of the plain lines
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
        stop(proc)


def test_server_dying_mid_job_exits_3(tmp_path: Path) -> None:
    port = free_port()
    server = start_gearmand(port)
    go = tmp_path / "go"
    w = Workers(port)
    try:
        w.start("stuck", "--", "sh", "-c",
                f'i=0; while [ ! -e "{go}" ] && [ $i -lt 500 ]; do sleep 0.02; '
                'i=$((i+1)); done; cat')
        sub = spawn("submit", "-s", f"127.0.0.1:{port}", "stuck", "x")
        wait_running(port, "stuck")
        stop(server)
        out, err = sub.communicate(timeout=20)
        assert sub.returncode == 3 and out == b""
        assert f"lost connection to 127.0.0.1:{port}".encode() in err
        assert b"Traceback" not in err
    finally:
        go.touch()
        stop(server)
        for proc in w.procs:
            stop(proc)
