"""The text admin protocol: tokenising commands, formatting replies byte for byte as gearmand
1.1.x does, and parsing replies back into typed rows.

Line endings are gearmand's and deliberately inconsistent: list rows, ``.`` and ``OK <value>``
end in ``\\n``; a bare ``OK`` and every ``ERR`` end in ``\\r\\n``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import RemoteProtocolError, ServerError

MAX_TOKENS = 5
END = b".\n"
OK = b"OK\r\n"

# Commands that answer with rows ending in a "." line (gearmand's and geartool's own).
LIST_COMMANDS = frozenset({"workers", "status", "prioritystatus", "show", "stats", "running"})
# geartool extensions: new command words gearmand answers with ERR UNKNOWN_COMMAND.
EXTENSION_COMMANDS = ("stats", "running", "uptime")


def tokenize(line: bytes) -> list[bytes]:
    """Split an admin line as gearmand does.

    Tokens are separated by single spaces and runs of spaces after a separator are skipped, but
    a leading space gives an empty first token. More than five tokens breaks the connection in
    gearmand (no reply), so it is a protocol error here.
    """
    if not line:
        return [b""]
    head, sep, rest = line.partition(b" ")
    tokens = [head]
    while sep:
        rest = rest.lstrip(b" ")
        if not rest:
            break
        head, sep, rest = rest.partition(b" ")
        tokens.append(head)
    if len(tokens) > MAX_TOKENS:
        raise RemoteProtocolError("admin command with more than five tokens", code=None)
    return tokens


def ok_value(value: str | int | bytes) -> bytes:
    if isinstance(value, bytes):
        return b"OK " + value + b"\n"
    return f"OK {value}\n".encode()


def err(code: str, text: str = "") -> bytes:
    return (f"ERR {code} {text}\r\n" if text else f"ERR {code}\r\n").encode()


def err_unknown_command(word: bytes) -> bytes:
    return b"ERR UNKNOWN_COMMAND Unknown+server+command" + word + b"\r\n"


def err_invalid_arguments(command: str) -> bytes:
    return err("INVALID_ARGUMENTS",
               "An+incomplete+set+of+arguments+was+sent+to+this+command+" + command)


ERR_UNKNOWN_SHOW = b"ERR UNKNOWN_SHOW_ARGUMENTS\r\n"
ERR_UNKNOWN_JOB = b"ERR UNKNOWN_JOB\r\n"
ERR_UNKNOWN_ERROR = b"ERR UNKNOWN_ERROR\r\n"
ERR_FUNCTION_NOT_FOUND = b"ERR function not found\r\n"
ERR_FUNCTION_BUSY = b"ERR there are still connected workers or executing clients\r\n"
ERR_NOT_ALLOWED = b"ERR NOT_ALLOWED shutdown+is+only+accepted+from+loopback\r\n"
VERBOSE_LEVELS = ("FATAL", "ALERT", "CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG")


@dataclass(frozen=True, slots=True)
class StatusRow:
    function: str
    total: int
    running: int
    workers: int

    @property
    def waiting(self) -> int:
        return self.total - self.running

    def format(self) -> bytes:
        return f"{self.function}\t{self.total}\t{self.running}\t{self.workers}\n".encode()


@dataclass(frozen=True, slots=True)
class PriorityStatusRow:
    function: str
    high: int
    normal: int
    low: int
    workers: int

    def format(self) -> bytes:
        return (f"{self.function}\t{self.high}\t{self.normal}\t{self.low}\t"
                f"{self.workers}\n").encode()


@dataclass(frozen=True, slots=True)
class WorkerRow:
    """One connection as ``workers`` lists it (clients and admin connections included)."""

    fd: int
    ip: str
    client_id: str
    functions: tuple[str, ...]

    def format(self) -> bytes:
        funcs = "".join(" " + f for f in self.functions)
        return f"{self.fd} {self.ip} {self.client_id} :{funcs}\n".encode()


@dataclass(frozen=True, slots=True)
class JobRow:
    handle: str
    retries: int
    ignore: bool
    persisted: bool

    def format(self) -> bytes:
        return (f"{self.handle}\t{self.retries}\t{int(self.ignore)}\t"
                f"{int(self.persisted)}\n").encode()


@dataclass(frozen=True, slots=True)
class StatsRow:
    """geartool extension ``stats``: cumulative counters and the oldest waiting job's age."""

    function: str
    submitted: int
    completed: int
    failed: int
    exceptions: int
    requeued: int
    oldest_wait: float  # seconds the oldest queued job has waited; 0 when none wait

    def format(self) -> bytes:
        return (f"{self.function}\t{self.submitted}\t{self.completed}\t{self.failed}\t"
                f"{self.exceptions}\t{self.requeued}\t{self.oldest_wait:.3f}\n").encode()


@dataclass(frozen=True, slots=True)
class RunningRow:
    """geartool extension ``running``: one job being run, by which worker connection."""

    fd: int
    ip: str
    client_id: str
    handle: str
    function: str
    unique: str
    seconds: float

    def format(self) -> bytes:
        return (f"{self.fd}\t{self.ip}\t{self.client_id}\t{self.handle}\t{self.function}\t"
                f"{self.unique}\t{self.seconds:.3f}\n").encode()


def format_rows(rows: Iterable[StatusRow | PriorityStatusRow | WorkerRow | JobRow | StatsRow
                               | RunningRow]) -> bytes:
    return b"".join(r.format() for r in rows) + END


def format_unique_rows(uniques: Iterable[bytes]) -> bytes:
    return b"".join(u + b"\n" for u in uniques) + END


def align_columns(headers: Sequence[str], rows: Sequence[Sequence[str]],
                  numeric: Sequence[bool]) -> list[str]:
    """Rows as aligned text lines for a terminal, header line first: two spaces between
    columns, numeric columns (header included) right-aligned, others left, no trailing space."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(c.rjust(w) if num else c.ljust(w)
                         for c, w, num in zip(cells, widths, numeric, strict=True)).rstrip()

    return [line(headers), *(line(r) for r in rows)]


# ---- parsing replies (clients, monitors, the shell) --------------------------------------

def _fields(line: str, n: int, what: str) -> list[str]:
    parts = line.split("\t")
    if len(parts) != n:
        raise RemoteProtocolError(f"bad {what} row {line!r}: expected {n} tab-separated fields")
    return parts


def _int(value: str, line: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise RemoteProtocolError(f"bad number {value!r} in row {line!r}") from None


def parse_status(lines: Sequence[str]) -> list[StatusRow]:
    out = []
    for line in lines:
        f = _fields(line, 4, "status")
        out.append(StatusRow(f[0], _int(f[1], line), _int(f[2], line), _int(f[3], line)))
    return out


def parse_priority_status(lines: Sequence[str]) -> list[PriorityStatusRow]:
    out = []
    for line in lines:
        f = _fields(line, 5, "prioritystatus")
        n = [_int(x, line) for x in f[1:]]
        out.append(PriorityStatusRow(f[0], n[0], n[1], n[2], n[3]))
    return out


def parse_workers(lines: Sequence[str]) -> list[WorkerRow]:
    out = []
    for line in lines:
        # The IP may be IPv6 ("::1"), so split off fd and ip before looking for " :".
        parts = line.split(" ", 2)
        if len(parts) != 3:
            raise RemoteProtocolError(f"bad workers row {line!r}")
        client_id, sep, funcs = parts[2].partition(" :")
        if not sep:
            raise RemoteProtocolError(f"bad workers row {line!r}")
        out.append(WorkerRow(_int(parts[0], line), parts[1], client_id,
                             tuple(f for f in funcs.split(" ") if f)))
    return out


def parse_jobs(lines: Sequence[str]) -> list[JobRow]:
    out = []
    for line in lines:
        f = _fields(line, 4, "show jobs")
        out.append(JobRow(f[0], _int(f[1], line), f[2] == "1", f[3] == "1"))
    return out


def parse_stats(lines: Sequence[str]) -> list[StatsRow]:
    out = []
    for line in lines:
        f = _fields(line, 7, "stats")
        n = [_int(x, line) for x in f[1:6]]
        out.append(StatsRow(f[0], n[0], n[1], n[2], n[3], n[4], float(f[6])))
    return out


def parse_running(lines: Sequence[str]) -> list[RunningRow]:
    out = []
    for line in lines:
        f = _fields(line, 7, "running")
        out.append(RunningRow(_int(f[0], line), f[1], f[2], f[3], f[4], f[5], float(f[6])))
    return out


def is_list_command(command: str) -> bool:
    """Whether a command's reply is a list of rows ending in ``.`` (else a single line)."""
    words = command.strip().split()
    return bool(words) and words[0].lower() in LIST_COMMANDS


def check_reply_line(line: str) -> str:
    """Return an ``OK`` reply's value (empty for a bare OK); raise ServerError for ``ERR``."""
    if line.startswith("ERR"):
        _, _, rest = line.partition(" ")
        code, _, text = rest.partition(" ")
        raise ServerError(code or "ERR", text.replace("+", " "))
    if line == "OK":
        return ""
    if line.startswith("OK "):
        return line[3:]
    return line
