"""A lean scrolling table for thousands of live rows (Textual's Line API).

Textual's DataTable re-renders every visible cell through Rich after any change and measures
every cell when rows are added; with 1,000 functions refreshed each second that dominated top's
CPU. This table keeps one pre-rendered strip per row, rebuilt only when that row's cells change,
and draws just the visible lines. Columns have fixed widths; the header stays on the first line.
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.events import Click
from textual.geometry import Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

Cells = tuple[object, ...]
Column = tuple[str, str, int | None]  # key, header, fixed width (None: fit the content)
PAD = 1


class FastTable(ScrollView, can_focus=True):
    """Rows of (key, cells); a row cursor; Enter selects; a header click asks to sort."""

    COMPONENT_CLASSES = {"fast-table--header", "fast-table--cursor", "fast-table--odd"}
    DEFAULT_CSS = """
    FastTable { background: $surface; }
    FastTable > .fast-table--header { text-style: bold; background: $panel; }
    FastTable > .fast-table--cursor { background: $accent 60%; text-style: bold; }
    FastTable:blur > .fast-table--cursor { background: $accent 25%; }
    FastTable > .fast-table--odd { background: $surface-lighten-1; }
    """
    BINDINGS = [
        Binding("up", "move(-1)", "Up", show=False),
        Binding("down", "move(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "move(-1000000000)", "Top", show=False),
        Binding("end", "move(1000000000)", "Bottom", show=False),
        Binding("enter", "select", "Select", show=False),
    ]

    class RowSelected(Message):
        """Enter on a row."""

        def __init__(self, table: FastTable, index: int, key: str) -> None:
            super().__init__()
            self.table, self.index, self.key = table, index, key

    class HeaderSelected(Message):
        """A click on a column header."""

        def __init__(self, table: FastTable, column: str) -> None:
            super().__init__()
            self.table, self.column = table, column

    def __init__(self, *, id: str | None = None) -> None:  # noqa: A002 (Textual's name)
        super().__init__(id=id)
        self._spec: list[Column] = []
        self._widths: list[int] = []
        self._keys: list[str] = []
        self._cells: list[Cells] = []
        self._strips: list[Strip | None] = []
        self._header: Strip | None = None
        self.cursor_row = 0

    # ---- data ----------------------------------------------------------------------------

    def set_columns(self, columns: Sequence[Column]) -> None:
        """(Re)define the columns; a change clears the rows."""
        if list(columns) != self._spec:
            self._spec = list(columns)
            self._widths = [w if w is not None else cell_len(label) for _, label, w in columns]
            self._keys, self._cells, self._strips = [], [], []
            self._header = None
            self._resize()

    @property
    def row_count(self) -> int:
        """Number of rows shown."""
        return len(self._keys)

    @property
    def current_key(self) -> str | None:
        """Key of the row under the cursor."""
        return self.key_at(self.cursor_row)

    def key_at(self, index: int) -> str | None:
        """Key of the row at ``index``, or None past the end."""
        return self._keys[index] if 0 <= index < len(self._keys) else None

    def show(self, rows: Sequence[tuple[str, Cells]]) -> None:
        """Replace the rows. Strips of rows whose cells are unchanged at their position are
        kept; the cursor follows its key when the row moved."""
        keep = self.current_key
        widths = [max(old, *(_width(cells[i]) for _, cells in rows)) if fixed is None and rows
                  else old for i, ((_, _, fixed), old) in enumerate(zip(self._spec, self._widths,
                                                                        strict=True))]
        if widths != self._widths:
            self._widths, self._header = widths, None
            strips: list[Strip | None] = [None] * len(rows)
        else:
            strips = [self._strips[i] if i < len(self._cells) and self._cells[i] == cells
                      else None for i, (_, cells) in enumerate(rows)]
        self._keys = [k for k, _ in rows]
        self._cells = [c for _, c in rows]
        self._strips = strips
        if keep is not None and keep in self._keys:
            self.cursor_row = self._keys.index(keep)
        self.cursor_row = max(0, min(self.cursor_row, len(rows) - 1))
        self._resize()
        self.refresh()

    def move_cursor(self, row: int) -> None:
        """Put the cursor on ``row`` (clamped) and scroll it into view."""
        self.cursor_row = max(0, min(row, len(self._keys) - 1))
        self._scroll_to_cursor()
        self.refresh()

    def _resize(self) -> None:
        width = sum(w + 2 * PAD for w in self._widths)
        self.virtual_size = Size(width, len(self._keys) + 1)

    # ---- drawing -------------------------------------------------------------------------

    def _render_cells(self, cells: Sequence[object]) -> Strip:
        segments: list[Segment] = []
        for cell, width in zip(cells, self._widths, strict=True):
            segments.append(Segment(" " * PAD))
            if isinstance(cell, Text):
                text = cell.copy()
                text.truncate(width)
                pad = width - text.cell_len
                if cell.justify == "right":
                    segments.append(Segment(" " * pad))
                segments.extend(text.render(self.app.console))
                if cell.justify != "right":
                    segments.append(Segment(" " * pad))
            else:
                segments.append(Segment(set_cell_size(str(cell), width)))
            segments.append(Segment(" " * PAD))
        return Strip(segments)

    def render_line(self, y: int) -> Strip:
        """Line ``y`` of the widget: the header, or a data row at the scroll offset."""
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        if y == 0:
            if self._header is None:
                self._header = self._render_cells([label for _, label, _ in self._spec])
            style = base + self.get_component_rich_style("fast-table--header")
            strip = self._header
        else:
            index = scroll_y + y - 1
            if index >= len(self._keys):
                return Strip.blank(width, base)
            strip = self._strips[index] or self._render_cells(self._cells[index])
            self._strips[index] = strip
            style = base
            if index == self.cursor_row:
                style += self.get_component_rich_style("fast-table--cursor")
            elif index % 2:
                style += self.get_component_rich_style("fast-table--odd")
        return strip.apply_style(style).crop_extend(scroll_x, scroll_x + width,
                                                    Style(bgcolor=style.bgcolor))

    # ---- keys and mouse ------------------------------------------------------------------

    def _scroll_to_cursor(self) -> None:
        visible = max(1, self.size.height - 1)
        top = self.scroll_offset.y
        if self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False)

    def action_move(self, delta: int) -> None:
        self.move_cursor(self.cursor_row + delta)

    def action_page(self, direction: int) -> None:
        self.move_cursor(self.cursor_row + direction * max(1, self.size.height - 2))

    def action_select(self) -> None:
        key = self.current_key
        if key is not None:
            self.post_message(self.RowSelected(self, self.cursor_row, key))

    def on_click(self, event: Click) -> None:
        if event.y == 0:
            x = event.x + self.scroll_offset.x
            for (key, _, _), width in zip(self._spec, self._widths, strict=True):
                x -= width + 2 * PAD
                if x < 0:
                    self.post_message(self.HeaderSelected(self, key))
                    return
        else:
            self.move_cursor(self.scroll_offset.y + event.y - 1)


def _width(cell: object) -> int:
    text = cell.plain if isinstance(cell, Text) else str(cell)
    return len(text) if text.isascii() else cell_len(text)
