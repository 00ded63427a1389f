"""Admin replies as aligned tables, parsed by the protocol core's typed-row parsers."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from geartool.protocol import ProtocolError
from geartool.protocol import admin as pa


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> list[str]:
    """Aligned columns, header first; columns whose every cell is a number align right."""
    cells = [[str(c) for c in row] for row in rows]
    numeric = [bool(cells) and all(_is_number(r[i]) for r in cells) for i in range(len(headers))]
    return pa.align_columns(headers, cells, numeric)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _status(lines: list[str]) -> list[str]:
    rows = pa.parse_status(lines)
    return table(("FUNCTION", "TOTAL", "RUNNING", "QUEUED", "WORKERS"),
                 [(r.function, r.total, r.running, r.waiting, r.workers) for r in rows])


def _priority(lines: list[str]) -> list[str]:
    rows = pa.parse_priority_status(lines)
    return table(("FUNCTION", "HIGH", "NORMAL", "LOW", "WORKERS"),
                 [(r.function, r.high, r.normal, r.low, r.workers) for r in rows])


def _workers(lines: list[str]) -> list[str]:
    rows = pa.parse_workers(lines)
    return table(("FD", "IP", "CLIENT_ID", "FUNCTIONS"),
                 [(r.fd, r.ip, r.client_id, " ".join(r.functions)) for r in rows])


def _jobs(lines: list[str]) -> list[str]:
    rows = pa.parse_jobs(lines)
    return table(("HANDLE", "RETRIES", "IGNORE", "PERSISTED"),
                 [(r.handle, r.retries, int(r.ignore), int(r.persisted)) for r in rows])


def _uniques(lines: list[str]) -> list[str]:
    return table(("UNIQUE",), [(u or "(none)",) for u in lines])


def _stats(lines: list[str]) -> list[str]:
    rows = pa.parse_stats(lines)
    return table(("FUNCTION", "SUBMITTED", "COMPLETED", "FAILED", "EXCEPTIONS", "REQUEUED",
                  "OLDEST_WAIT"),
                 [(r.function, r.submitted, r.completed, r.failed, r.exceptions, r.requeued,
                   f"{r.oldest_wait:.3f}") for r in rows])


def _running(lines: list[str]) -> list[str]:
    rows = pa.parse_running(lines)
    return table(("FD", "IP", "CLIENT_ID", "HANDLE", "FUNCTION", "UNIQUE", "SECONDS"),
                 [(r.fd, r.ip, r.client_id, r.handle, r.function, r.unique,
                   f"{r.seconds:.3f}") for r in rows])


def _kind(command: str) -> str:
    words = command.lower().split()
    if words[:3] == ["show", "unique", "jobs"]:
        return "uniques"
    if words[:2] == ["show", "jobs"]:
        return "jobs"
    return words[0] if words else ""


_VIEWS: dict[str, Callable[[list[str]], list[str]]] = {
    "status": _status, "prioritystatus": _priority, "workers": _workers, "jobs": _jobs,
    "uniques": _uniques, "stats": _stats, "running": _running,
}


def admin_table(command: str, lines: list[str]) -> list[str] | None:
    """The rows of a list reply as a table, or None when the command or rows are not known."""
    view = _VIEWS.get(_kind(command))
    if view is None:
        return None
    try:
        return view(lines)
    except ProtocolError:
        return None


def rows_of(command: str, lines: list[str]) -> dict[str, Any]:
    """Names worth remembering for completion: functions and job handles found in a reply."""
    kind = _kind(command)
    try:
        if kind == "status":
            return {"functions": [r.function for r in pa.parse_status(lines)]}
        if kind == "prioritystatus":
            return {"functions": [r.function for r in pa.parse_priority_status(lines)]}
        if kind == "jobs":
            return {"handles": [r.handle for r in pa.parse_jobs(lines)]}
        if kind == "workers":
            return {"functions": [f for r in pa.parse_workers(lines) for f in r.functions]}
    except ProtocolError:
        pass
    return {}
