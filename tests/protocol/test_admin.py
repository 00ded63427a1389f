"""Admin text protocol: tokenising like gearmand, exact reply bytes, parsing rows back."""

from __future__ import annotations

import pytest

from geartool.protocol import RemoteProtocolError, ServerError
from geartool.protocol import admin as A


@pytest.mark.parametrize(("line", "tokens"), [
    (b"status", [b"status"]),
    (b"show  jobs", [b"show", b"jobs"]),
    (b" status", [b"", b"status"]),
    (b"maxqueue f 1 2 3", [b"maxqueue", b"f", b"1", b"2", b"3"]),
    (b"", [b""]),
    (b"status   ", [b"status"]),
    (b"a\tb", [b"a\tb"]),
])
def test_tokenize(line: bytes, tokens: list[bytes]) -> None:
    assert A.tokenize(line) == tokens


def test_six_tokens_break_the_connection() -> None:
    with pytest.raises(RemoteProtocolError):
        A.tokenize(b"a b c d e f")


def test_reply_bytes() -> None:
    assert A.err_unknown_command(b"frobnicate") == (
        b"ERR UNKNOWN_COMMAND Unknown+server+commandfrobnicate\r\n")
    assert A.err_invalid_arguments("create") == (
        b"ERR INVALID_ARGUMENTS An+incomplete+set+of+arguments+was+sent+to+this+command+create\r\n")
    assert A.ok_value("1.1.20") == b"OK 1.1.20\n"
    assert A.format_rows([A.StatusRow("reverse", 2, 1, 3)]) == b"reverse\t2\t1\t3\n.\n"
    assert A.WorkerRow(12, "127.0.0.1", "-", ("reverse", "upper")).format() == (
        b"12 127.0.0.1 - : reverse upper\n")
    assert A.WorkerRow(3, "::1", "-", ()).format() == b"3 ::1 - :\n"
    assert A.format_unique_rows([b"u1", b""]) == b"u1\n\n.\n"


def test_parse_rows_roundtrip() -> None:
    status = [A.StatusRow("a", 5, 1, 2), A.StatusRow("b b", 0, 0, 0)]
    lines = b"".join(r.format() for r in status).decode().splitlines()
    assert A.parse_status(lines) == status
    assert status[0].waiting == 4
    workers = [A.WorkerRow(7, "127.0.0.1", "my-id", ("f", "g")), A.WorkerRow(8, "::1", "-", ())]
    lines = b"".join(r.format() for r in workers).decode().splitlines()
    assert A.parse_workers(lines) == workers
    jobs = [A.JobRow("H:x:1", 2, False, True)]
    assert A.parse_jobs([jobs[0].format().decode().rstrip("\n")]) == jobs
    prio = [A.PriorityStatusRow("f", 1, 2, 3, 4)]
    assert A.parse_priority_status([prio[0].format().decode().rstrip("\n")]) == prio
    stats = [A.StatsRow("f", 10, 7, 1, 1, 2, 0.5)]
    assert A.parse_stats([stats[0].format().decode().rstrip("\n")]) == stats
    running = [A.RunningRow(9, "127.0.0.1", "-", "H:x:3", "f", "u", 1.25)]
    assert A.parse_running([running[0].format().decode().rstrip("\n")]) == running


def test_parse_bad_rows() -> None:
    with pytest.raises(RemoteProtocolError):
        A.parse_status(["only\ttwo"])
    with pytest.raises(RemoteProtocolError):
        A.parse_status(["f\tx\t0\t0"])
    with pytest.raises(RemoteProtocolError):
        A.parse_workers(["garbage"])


def test_check_reply_line() -> None:
    assert A.check_reply_line("OK") == ""
    assert A.check_reply_line("OK 1.1.20") == "1.1.20"
    with pytest.raises(ServerError) as info:
        A.check_reply_line("ERR UNKNOWN_JOB")
    assert info.value.code == "UNKNOWN_JOB"
    assert A.is_list_command("show jobs") and not A.is_list_command("version")


def test_align_columns() -> None:
    lines = A.align_columns(["FUNCTION", "QUEUED", "NOTE"],
                            [["resize", "12", "x"], ["thumbnail-big", "3", ""]],
                            [False, True, False])
    assert lines == ["FUNCTION       QUEUED  NOTE",
                     "resize             12  x",
                     "thumbnail-big       3"]
    assert A.align_columns(["A", "B"], [], [False, False]) == ["A  B"]
