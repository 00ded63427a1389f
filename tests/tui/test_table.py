"""The Line-API table on its own: scrolling, cursor, header clicks, cached rows."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual.app import App, ComposeResult

from geartool.tui.table import FastTable

COLUMNS = [("name", "NAME", None), ("n", "N", 6)]


class One(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.headers: list[str] = []
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield FastTable(id="t")

    def on_fast_table_header_selected(self, event: FastTable.HeaderSelected) -> None:
        self.headers.append(event.column)

    def on_fast_table_row_selected(self, event: FastTable.RowSelected) -> None:
        self.selected.append(event.key)


def rows(n: int, bump: int = 0) -> list[tuple[str, tuple[object, ...]]]:
    return [(f"k{i}", (Text(f"row-{i}"), str(i + bump).rjust(6))) for i in range(n)]


def line(table: FastTable, y: int) -> str:
    return table.render_line(y).text


def test_scrolling_cursor_and_selection() -> None:
    async def go() -> None:
        app = One()
        async with app.run_test(size=(40, 10)) as pilot:
            t = app.query_one(FastTable)
            t.set_columns(COLUMNS)
            t.show(rows(100))
            t.focus()
            await pilot.pause()
            assert line(t, 0).split() == ["NAME", "N"]
            assert line(t, 1).split() == ["row-0", "0"]
            await pilot.press("end")
            assert t.cursor_row == 99 and t.scroll_offset.y > 0
            await pilot.pause()
            assert "row-99" in line(t, t.size.height - 1)
            assert line(t, 0).split() == ["NAME", "N"]  # the header stays on top
            await pilot.press("home", "down", "down", "enter")
            assert app.selected == ["k2"] and t.scroll_offset.y == 0
            await pilot.press("pagedown")
            assert t.cursor_row > 2
    asyncio.run(go())


def test_header_click_and_row_click() -> None:
    async def go() -> None:
        app = One()
        async with app.run_test(size=(40, 10)) as pilot:
            t = app.query_one(FastTable)
            t.set_columns(COLUMNS)
            t.show(rows(5))
            await pilot.pause()
            await pilot.click(FastTable, offset=(1, 0))
            await pilot.click(FastTable, offset=(12, 0))  # NAME is 6 wide + 2 padding
            assert app.headers == ["name", "n"]
            await pilot.click(FastTable, offset=(1, 3))
            assert t.cursor_row == 2 and t.current_key == "k2"
    asyncio.run(go())


def test_cursor_follows_its_key_and_cells_update() -> None:
    async def go() -> None:
        app = One()
        async with app.run_test(size=(40, 10)) as pilot:
            t = app.query_one(FastTable)
            t.set_columns(COLUMNS)
            t.show(rows(5))
            t.move_cursor(3)
            t.show(list(reversed(rows(5, bump=10))))  # re-sorted, new values
            await pilot.pause()
            assert t.current_key == "k3" and t.cursor_row == 1
            assert line(t, 1).split() == ["row-4", "14"]
            t.show(rows(2))  # the cursor's row is gone: it stays in range
            assert t.cursor_row == 1 and t.row_count == 2
            t.show([("wide", (Text("a-much-longer-name"), "1"))])
            await pilot.pause()
            assert "a-much-longer-name" in line(t, 1)  # the column grew to fit
    asyncio.run(go())
