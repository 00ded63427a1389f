"""Tables for ``geartool top``, fed from the view-model's rows.

Refreshing 1,000 rows every second must stay cheap: when the set and order of rows is unchanged
only the cells that changed are updated; otherwise the table is rebuilt and the cursor stays on
the same key.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from geartool.protocol.admin import RunningRow
from geartool.tui.model import FunctionRow, WorkerView, format_age, format_rate, sparkline

Cells = tuple[object, ...]

# (key = sort key, header, fixed width or None for automatic)
FUNCTION_COLUMNS: list[tuple[str, str, int | None]] = [
    ("function", "FUNCTION", None), ("waiting", "WAITING", 8), ("running", "RUNNING", 8),
    ("workers", "WORKERS", 8), ("high", "HIGH", 6), ("normal", "NORMAL", 7), ("low", "LOW", 6),
    ("rate_in", "IN/s", 7), ("rate_out", "OUT/s", 7), ("oldest_wait", "OLDEST", 7),
    ("spark", "QUEUE", 12),
]
ALERT_STYLE = {"no workers": "bold red", "workers idle": "bold yellow"}


def _num(value: int | None) -> Text:
    return Text("-" if value is None else str(value), justify="right")


def function_cells(row: FunctionRow) -> Cells:
    """One functions-table row; alert rows get a coloured name and waiting count."""
    style = ALERT_STYLE.get(row.alert or "", "")
    return (Text(("! " if row.alert else "  ") + row.function, style=style),
            Text(str(row.waiting), style=style, justify="right"), _num(row.running),
            _num(row.workers), _num(row.high), _num(row.normal), _num(row.low),
            Text(format_rate(row.rate_in, row.rates_exact), justify="right"),
            Text(format_rate(row.rate_out, row.rates_exact), justify="right"),
            Text(format_age(row.oldest_wait), justify="right"),
            Text(sparkline(row.spark), style="cyan"))


def job_text(job: RunningRow | None) -> str:
    if job is None:
        return "-"
    return f"{job.handle} {job.function} {format_age(job.seconds)}"


class KeyedTable(DataTable[object]):
    """A DataTable refreshed from (key, cells) rows with as little work as possible."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._keys: list[str] = []
        self._cells: list[Cells] = []
        self._columns: list[str] = []

    def set_columns(self, columns: Sequence[tuple[str, str, int | None]]) -> None:
        """(Re)define the columns; a change clears the rows."""
        keys = [k for k, _, _ in columns]
        if keys == self._columns:
            return
        self.clear(columns=True)
        self._keys, self._cells, self._columns = [], [], keys
        for key, label, width in columns:
            self.add_column(label, key=key, width=width)

    @property
    def current_key(self) -> str | None:
        if not self._keys or not 0 <= self.cursor_row < len(self._keys):
            return None
        return self._keys[self.cursor_row]

    def show(self, rows: Sequence[tuple[str, Cells]]) -> None:
        keys = [k for k, _ in rows]
        if keys == self._keys:
            for i, (key, cells) in enumerate(rows):
                old = self._cells[i]
                if cells != old:
                    for col, new, prev in zip(self._columns, cells, old, strict=True):
                        if new != prev:
                            self.update_cell(key, col, new)
                    self._cells[i] = cells
            return
        keep = self.current_key
        self.clear()
        for key, cells in rows:
            self.add_row(*cells, key=key)
        self._keys, self._cells = keys, [c for _, c in rows]
        if keep in keys:
            self.move_cursor(row=keys.index(keep), animate=False)


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
    return ([("server", "SERVER", None)] if with_server else []) + WORKER_COLUMNS
