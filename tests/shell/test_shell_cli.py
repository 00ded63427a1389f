"""``geartool shell`` without a terminal (-c, script files, piped stdin) against C++ gearmand."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port, need, start_gearmand, stop

from .helpers import ROOT, gearadmin_status, normalise, shell, wait_workers


def test_echo_and_binary_data(any_server: tuple[str, int]) -> None:
    port = any_server[1]
    out = shell(port, "-c", 'ECHO_REQ ping\nECHO_REQ "a\\x00b\\n"')
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("->") and "ECHO_REQ data=4B 'ping'" in lines[0]
    assert re.match(r"<- +[0-9.]+ms  ECHO_RES data=4B 'ping'$", lines[1])
    assert re.match(r"<- +[0-9.]+ms  ECHO_RES data=4B 'a\\x00b\\n'$", lines[3])
    assert out.stderr == ""


def test_admin_tables_agree_with_gearadmin(any_server: tuple[str, int]) -> None:
    port = any_server[1]
    out = shell(port, "-c", "submit -b reverse hello\nsubmit -b --high reverse x\n"
                "status\nprioritystatus\nshow jobs\nworkers\nversion\nmaxqueue reverse 5")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    handles = re.findall(r"JOB_CREATED handle='([^']+)'", text)
    assert len(handles) == 2
    assert re.search(r"^FUNCTION +TOTAL +RUNNING +QUEUED +WORKERS$", text, re.M)
    assert re.search(r"^reverse +2 +0 +2 +0$", text, re.M)
    assert gearadmin_status(port).splitlines()[0] == "reverse\t2\t0\t0"
    assert re.search(r"^reverse +1 +1 +0 +0$", text, re.M)  # prioritystatus: high normal low
    for h in handles:
        assert re.search(rf"^{re.escape(h)} +0 +0 +1$", text, re.M)
    assert re.search(r"^FD +IP +CLIENT_ID +FUNCTIONS$", text, re.M)
    assert re.search(r"^OK (1\.1\.|geartool-)", text, re.M)
    assert re.search(r"^OK  \(", text, re.M)  # maxqueue's bare OK


def test_submit_foreground_with_a_real_worker(any_server: tuple[str, int]) -> None:
    port = any_server[1]
    worker = subprocess.Popen([need("gearman"), "-h", "127.0.0.1", "-p", str(port), "-w",
                               "-f", "reverse", "--", "rev"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_workers(port, "reverse")
        out = shell(port, "-c", "submit reverse hello\nsubmit -u u1 --low reverse abc")
    finally:
        stop(worker)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "SUBMIT_JOB function='reverse' unique='' data=5B 'hello'" in text
    assert re.search(r"WORK_COMPLETE handle='[^']+' data=5B 'olleh'", text)
    assert "SUBMIT_JOB_LOW function='reverse' unique='u1' data=3B 'abc'" in text
    assert re.search(r"WORK_COMPLETE handle='[^']+' data=3B 'cba'", text)
    assert len(re.findall(r"^job \S+ complete in [0-9.]+ ms$", text, re.M)) == 2


def test_work_by_hand_answers_a_real_client(any_server: tuple[str, int]) -> None:
    port = any_server[1]
    client = subprocess.Popen([need("gearman"), "-h", "127.0.0.1", "-p", str(port),
                               "-f", "reverse", "hello"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out = shell(port, "-c", "work --wait 10 reverse\nWORK_STATUS $handle 1 2\n"
                    "WORK_DATA $handle ol\nWORK_COMPLETE $handle leh")
        stdout, _ = client.communicate(timeout=10)
    finally:
        stop(client)  # type: ignore[arg-type]
    assert out.returncode == 0, out.stderr
    assert re.search(r"JOB_ASSIGN_UNIQ handle='[^']+' function='reverse' unique='[^']*' "
                     r"data=5B 'hello'", out.stdout)
    assert "WORK_COMPLETE handle='H:" in out.stdout
    # The gearman client printed our WORK_DATA then the result, and our WORK_STATUS.
    assert stdout.startswith("olleh") and "50% Complete" in stdout


def test_status_of_a_handle_and_grab(any_server: tuple[str, int]) -> None:
    port = any_server[1]
    out = shell(port, "-c", "submit -b -u k1 slow data\nstatus $handle\n"
                "GET_STATUS_UNIQUE k1\nGET_STATUS H:nowhere:1\nCAN_DO slow\nGRAB_JOB_ALL\n"
                "GRAB_JOB")
    assert out.returncode == 0, out.stderr
    handle = re.search(r"JOB_CREATED handle='([^']+)'", out.stdout).group(1)  # type: ignore[union-attr]
    assert f"job {handle}: queued, progress 0/0" in out.stdout
    assert "STATUS_RES_UNIQUE unique='k1' known='1' running='0'" in out.stdout
    assert "known='0'" in out.stdout
    assert re.search(rf"JOB_ASSIGN_UNIQ handle='{re.escape(handle)}' function='slow' "
                     r"unique='k1' data=4B 'data'", out.stdout)
    assert out.stdout.rstrip().endswith("NO_JOB")


def test_script_stdin_and_c_give_the_same_output(any_server: tuple[str, int],
                                                 tmp_path: Path) -> None:
    port = any_server[1]
    commands = "# a script\nECHO_REQ one\nstatus\n\nOPTION_REQ exceptions\nhelp ECHO_REQ\n"
    script = tmp_path / "s.gsh"
    script.write_text(commands)
    by_c = shell(port, "-c", commands)
    by_file = shell(port, str(script))
    by_stdin = shell(port, stdin=commands)
    assert by_c.returncode == by_file.returncode == by_stdin.returncode == 0
    assert "OPTION_RES option='exceptions'" in by_c.stdout
    assert "gear " not in by_c.stdout  # no prompt
    assert normalise(by_c.stdout) == normalise(by_file.stdout) == normalise(by_stdin.stdout)


def test_bad_input_gives_a_message_and_keeps_going(any_server: tuple[str, int]) -> None:
    port = any_server[1]
    out = shell(port, "-c", 'frobnicate\nSUBMIT_JOB reverse ""\nECHO_REQ "open\n'
                "ECHO_REQ \\q\nsubmit\nuse 9\nset sync maybe\nWORK_FAIL H:none:1\n"
                "ECHO_REQ still-alive")
    errors = out.stderr.splitlines()
    assert errors == [
        "error: unknown command 'frobnicate' (try help)",
        "error: SUBMIT_JOB takes 3 arguments, got 2; usage: SUBMIT_JOB FUNCTION UNIQUE DATA",
        'error: bad quoting: unclosed " quote starting at column 10',
        "error: bad quoting: unknown escape \\q (use \\\\ for a backslash)",
        "error: usage: " + "submit [-b] [--high|--low] [-u UNIQUE] [--timeout S] FUNCTION [DATA]",
        "error: no server 9 (see servers)",
        "error: usage: set timeout S | set sync on|off | set full on|off",
        "error: server error JOB_NOT_FOUND: Job given in work result not found",
    ]
    assert "ERROR code='JOB_NOT_FOUND'" in out.stdout
    assert "ECHO_RES data=11B 'still-alive'" in out.stdout
    assert out.returncode == 4  # the code of the last command that failed


def test_exit_code_is_the_last_failure(any_server: tuple[str, int]) -> None:
    port = any_server[1]
    assert shell(port, "-c", "ECHO_REQ x\nnope").returncode == 2
    assert shell(port, "-c", "admin foo").returncode == 1
    assert shell(port, "-c", "WORK_FAIL H:x:1").returncode == 4
    out = shell(free_port(), "-c", "ECHO_REQ x")
    assert out.returncode == 3 and "cannot connect to 127.0.0.1:" in out.stderr
    assert "Traceback" not in out.stderr


def test_server_closing_the_connection_then_reconnect(any_server: tuple[str, int]) -> None:
    port = any_server[1]
    # A bad magic makes port hang up; the next command reconnects by itself.
    out = shell(port, "-c", 'raw "\\x00XYZ\\x00\\x00\\x00\\x10\\x00\\x00\\x00\\x00"\n'
                "ECHO_REQ a\nECHO_REQ b")
    assert "closed the connection" in out.stderr
    assert "ECHO_RES data=1B 'b'" in out.stdout
    assert out.returncode == 3  # the failure is still reported at the end


def test_several_servers(gearmand: int) -> None:
    port2 = free_port()
    other = start_gearmand(port2)
    try:
        out = shell(gearmand, "-c", f"submit -b only-on-one x\nconnect 127.0.0.1:{port2}\n"
                    "servers\nstatus\nuse 1\nstatus\nclose 2\nservers",)
    finally:
        stop(other)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert f"connected to 127.0.0.1:{port2} as server 2" in text
    assert re.search(rf"^\* 2  127\.0\.0\.1:{port2}  connected", text, re.M)
    tables = text.split("FUNCTION")
    assert "only-on-one" not in tables[1] and "only-on-one" in tables[2]
    assert f"closed server 2: 127.0.0.1:{port2}" in text
    assert text.rstrip().splitlines()[-1].startswith(f"* 1  127.0.0.1:{gearmand}")


def test_help_lists_every_packet(gearmand: int) -> None:
    out = shell(gearmand, "-c", "help\nhelp submit\nhelp GRAB_JOB_UNIQ\nhelp nothing")
    assert "SUBMIT_REDUCE_JOB_BACKGROUND FUNCTION UNIQUE REDUCER AGGREGATOR DATA" in out.stdout
    assert "-b sends a background job" in out.stdout
    assert "packet 30, to the server" in out.stdout
    assert out.stderr == "error: no help for 'nothing': not a command or packet\n"


def test_bad_command_line_options(tmp_path: Path) -> None:
    out = shell(1, str(tmp_path / "missing.gsh"))
    assert out.returncode == 2 and "no such script file" in out.stderr
    bad = shell(1, extra=("--server", "host:notaport"), stdin="")
    assert bad.returncode == 2 and "bad port" in bad.stderr


def test_admin_cancel_create_drop(any_server: tuple[str, int]) -> None:
    port = any_server[1]
    out = shell(port, "-c", "submit -b doomed x\ncancel job $handle\nshow jobs\n"
                "create function made\ndrop function nosuch")
    text = out.stdout
    handle = re.search(r"JOB_CREATED handle='([^']+)'", text).group(1)  # type: ignore[union-attr]
    assert f"TEXT 'cancel job {handle}'" in text
    assert re.search(r"^OK  \(", text, re.M)
    assert out.stderr == "error: server said: ERR function not found\n"
    assert out.returncode == 1


def test_set_full_and_timeout(any_server: tuple[str, int]) -> None:
    port = any_server[1]
    out = shell(port, "-c", f"ECHO_REQ {'x' * 100}\nset full on\nECHO_REQ {'y' * 100}\n"
                "set timeout 0.3\nsubmit --timeout 0.5 no-worker-here data")
    lines = out.stdout.splitlines()
    assert any(line.endswith("data=100B '" + "x" * 64 + "'...") for line in lines)
    assert any(line.endswith("data=100B '" + "y" * 100 + "'") for line in lines)
    assert "timeout = 0.3" in out.stdout and "JOB_CREATED" in out.stdout
    assert out.stderr == "error: no end of the job within 0.5 s\n" and out.returncode == 1


def test_live_names_for_completion(any_server: tuple[str, int]) -> None:
    from geartool.client.servers import Address
    from geartool.shell.completion import CompletionEngine, LiveNames
    from geartool.shell.live import LiveSource, query_names

    port = any_server[1]
    out = shell(port, "-c", "submit -b live-one a\nsubmit -b live-two b")
    handles = re.findall(r"JOB_CREATED handle='([^']+)'", out.stdout)
    functions, seen = query_names(Address("127.0.0.1", port))
    assert {"live-one", "live-two"} <= set(functions) and set(handles) <= set(seen)
    source = LiveSource(lambda: LiveNames(["local-fn"], [], []),
                        lambda: Address("127.0.0.1", port))
    engine = CompletionEngine(source)
    assert [c.text for c in engine.complete("submit live-")] == ["live-one", "live-two"]
    assert [c.text for c in engine.complete("submit loc")] == ["local-fn"]
    assert handles[0] in [c.text for c in engine.complete("GET_STATUS H")]
    gone = LiveSource(lambda: LiveNames(), lambda: Address("127.0.0.1", free_port()))
    assert gone().functions == []  # a server that is not there gives no names, no error


def test_cli_help_does_not_load_the_shell() -> None:
    code = ("import sys, geartool.cli.typer_app; print(sorted(m for m in ('prompt_toolkit', "
            "'geartool.shell', 'asyncio') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert "prompt_toolkit" not in out.stdout and "geartool.shell" not in out.stdout
