"""Cells for ``geartool top``'s tables, made from the view-model's rows.

Refreshing 1,000 rows every second must stay cheap: cells are plain strings where possible and
a function's cells are rebuilt only when a shown value changed.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

from geartool.protocol.admin import RunningRow
from geartool.tui.rows import FunctionRow, WorkerView, format_age, format_rate, sparkline
from geartool.tui.table import Cells

# (key = sort key, header, fixed width or None for automatic)
FUNCTION_COLUMNS: list[tuple[str, str, int | None]] = [
    ("function", "FUNCTION", None), ("waiting", "WAITING", 8), ("running", "RUNNING", 8),
    ("workers", "WORKERS", 8), ("high", "HIGH", 6), ("normal", "NORMAL", 7), ("low", "LOW", 6),
    ("rate_in", "IN/s", 7), ("rate_out", "OUT/s", 7), ("oldest_wait", "OLDEST", 7),
    ("spark", "QUEUE", 12),
]
ALERT_STYLE = {"no workers": "bold red", "workers idle": "bold yellow"}


def function_cells(row: FunctionRow, spark: str | None = None) -> Cells:
    """One functions-table row; alert rows get a coloured name and waiting count.

    Numbers are plain strings padded to their fixed column width: a thousand rows of rich
    Text objects per refresh cost more than everything else top does.
    """
    style = ALERT_STYLE.get(row.alert or "", "")
    w = _WIDTHS
    values = (row.running, row.workers, row.high, row.normal, row.low)
    return (Text(("! " if row.alert else "  ") + row.function, style=style),
            Text(str(row.waiting).rjust(w["waiting"]), style=style) if style
            else str(row.waiting).rjust(w["waiting"]),
            *("-".rjust(n) if v is None else str(v).rjust(n)
              for v, n in zip(values, (w["running"], w["workers"], w["high"], w["normal"],
                                       w["low"]), strict=True)),
            format_rate(row.rate_in, row.rates_exact).rjust(w["rate_in"]),
            format_rate(row.rate_out, row.rates_exact).rjust(w["rate_out"]),
            format_age(row.oldest_wait).rjust(w["oldest_wait"]),
            Text(sparkline(row.spark) if spark is None else spark, style="cyan"))


_WIDTHS = {k: w or 0 for k, _, w in FUNCTION_COLUMNS}


def job_text(job: RunningRow | None) -> str:
    """A running job as one cell: handle, function, how long it has run."""
    if job is None:
        return "-"
    return f"{job.handle} {job.function} {format_age(job.seconds)}"


class FunctionCells:
    """Cells of function rows, rebuilt only for rows whose shown values changed."""

    def __init__(self) -> None:
        self._memo: dict[str, tuple[tuple[object, ...], Cells]] = {}

    def __call__(self, row: FunctionRow) -> Cells:
        spark = sparkline(row.spark)
        key = (row.waiting, row.running, row.workers, row.high, row.normal, row.low,
               format_rate(row.rate_in, row.rates_exact),
               format_rate(row.rate_out, row.rates_exact), format_age(row.oldest_wait), spark,
               row.alert)
        hit = self._memo.get(row.function)
        if hit is not None and hit[0] == key:
            return hit[1]
        cells = function_cells(row, spark)
        self._memo[row.function] = (key, cells)
        return cells


WORKER_COLUMNS: list[tuple[str, str, int | None]] = [
    ("fd", "FD", 5), ("ip", "ADDRESS", None), ("id", "ID", None),
    ("functions", "FUNCTIONS", None), ("job", "RUNNING JOB", None),
]


def worker_rows(views: Sequence[WorkerView], with_server: bool) -> list[tuple[str, Cells]]:
    """Rows for the workers table; the server column only in the aggregated view."""
    out = []
    for w in views:
        funcs = " ".join(w.functions)
        if len(funcs) > 60:
            funcs = funcs[:57] + "..."
        cells: Cells = (Text(str(w.fd), justify="right"), w.ip, w.client_id, funcs,
                        job_text(w.job))
        out.append((f"{w.server}/{w.fd}", ((w.server,) + cells) if with_server else cells))
    return out


def worker_columns(with_server: bool) -> list[tuple[str, str, int | None]]:
    """Columns of the workers table."""
    return ([("server", "SERVER", None)] if with_server else []) + WORKER_COLUMNS
