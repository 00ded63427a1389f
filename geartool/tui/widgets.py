"""Tables for ``geartool top``, fed from the view-model's rows.

Refreshing 1,000 rows every second must stay cheap: when the set and order of rows is unchanged
only the cells that changed are updated; otherwise the table is rebuilt and the cursor stays on
the same key.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import ColumnKey, RowKey

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


def function_cells(row: FunctionRow, spark: str | None = None) -> Cells:
    """One functions-table row; alert rows get a coloured name and waiting count."""
    style = ALERT_STYLE.get(row.alert or "", "")
    return (Text(("! " if row.alert else "  ") + row.function, style=style),
            Text(str(row.waiting), style=style, justify="right"), _num(row.running),
            _num(row.workers), _num(row.high), _num(row.normal), _num(row.low),
            Text(format_rate(row.rate_in, row.rates_exact), justify="right"),
            Text(format_rate(row.rate_out, row.rates_exact), justify="right"),
            Text(format_age(row.oldest_wait), justify="right"),
            Text(sparkline(row.spark) if spark is None else spark, style="cyan"))


def job_text(job: RunningRow | None) -> str:
    if job is None:
        return "-"
    return f"{job.handle} {job.function} {format_age(job.seconds)}"


class KeyedTable(DataTable[object]):
    """A DataTable refreshed from (key, cells) rows with as little work as possible.

    Table rows are keyed by position, not by our key: when a re-sort moves rows around, only
    the cells whose text changed at a position are rewritten, instead of rebuilding 1,000 rows
    (which makes Textual measure every cell again). Every column has a fixed width, computed
    here, so updates never trigger a re-measure either; a wider value rebuilds the table once.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)  # type: ignore[arg-type]
        self._keys: list[str] = []
        self._cells: list[Cells] = []
        self._spec: list[tuple[str, str, int | None]] = []
        self._widths: list[int] = []

    def set_columns(self, columns: Sequence[tuple[str, str, int | None]]) -> None:
        """(Re)define the columns; a change clears the rows."""
        if list(columns) != self._spec:
            self._spec = list(columns)
            self._rebuild([], [len(label) for _, label, _ in columns])

    @property
    def current_key(self) -> str | None:
        return self.key_at(self.cursor_row)

    def key_at(self, index: int) -> str | None:
        return self._keys[index] if 0 <= index < len(self._keys) else None

    def _rebuild(self, rows: Sequence[tuple[str, Cells]], widths: list[int]) -> None:
        self.clear(columns=True)
        self._widths = widths
        for (key, label, _), width in zip(self._spec, widths, strict=True):
            self.add_column(label, key=key, width=width)
        for i, (_, cells) in enumerate(rows):
            self.add_row(*cells, key=str(i))
        self._keys, self._cells = [k for k, _ in rows], [c for _, c in rows]

    def _needed_widths(self, rows: Sequence[tuple[str, Cells]]) -> list[int]:
        """Fixed widths as given; automatic ones fit the widest cell and never shrink while
        the columns stay the same (a shrink would cost a rebuild for nothing but looks)."""
        widths = []
        for i, (_, label, fixed) in enumerate(self._spec):
            if fixed is not None:
                widths.append(fixed)
            else:
                shown = self._widths[i] if i < len(self._widths) else 0
                widths.append(max([len(label), shown, *(_width(cells[i]) for _, cells in rows)]))
        return widths

    def _rewrite(self, rows: Sequence[tuple[str, Cells]]) -> None:
        """Put new cells at existing positions; only what changed is touched."""
        columns = [ColumnKey(k) for k, _, _ in self._spec]
        data = getattr(self, "_data", None)
        fast = isinstance(data, dict) and hasattr(self, "_update_count")
        changed = False
        for i, (_, cells) in enumerate(rows):
            prev = self._cells[i]
            if cells == prev:
                continue
            changed = True
            if fast:
                # DataTable.update_cell repaints per cell: 10,000 repaints after a re-sort.
                # Writing the row's cells and invalidating once does the same work once.
                assert data is not None
                row = data[RowKey(str(i))]
                for col, new in zip(columns, cells, strict=True):
                    row[col] = new
            else:
                for col, new, was in zip(columns, cells, prev, strict=True):
                    if new != was:
                        self.update_cell(str(i), col, new)
        if changed and fast:
            self._update_count += 1
            self.refresh()

    def show(self, rows: Sequence[tuple[str, Cells]]) -> None:
        keep = self.current_key
        widths = self._needed_widths(rows)
        old = len(self._cells)
        if widths != self._widths or len(rows) < old // 2:
            self._rebuild(rows, widths)
        else:
            self._rewrite(rows[:old])
            for i in range(old, len(rows)):
                self.add_row(*rows[i][1], key=str(i))
            for i in range(len(rows), old):
                self.remove_row(str(i))
            self._keys, self._cells = [k for k, _ in rows], [c for _, c in rows]
        if keep is not None and keep in self._keys:
            index = self._keys.index(keep)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False)


def _width(cell: object) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(str(cell))


class FunctionCells:
    """Cells of function rows, rebuilt only for rows whose shown values changed."""

    def __init__(self) -> None:
        self._memo: dict[str, tuple[tuple[object, ...], Cells]] = {}

    def __call__(self, row: FunctionRow) -> Cells:
        spark = sparkline(row.spark)
        key = (row.waiting, row.running, row.workers, row.high, row.normal, row.low,
               row.rate_in, row.rate_out, row.rates_exact, row.oldest_wait, spark, row.alert)
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
    return ([("server", "SERVER", None)] if with_server else []) + WORKER_COLUMNS
