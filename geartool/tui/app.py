"""The ``geartool top`` application. Build it with :func:`make_app` (the CLI and tests do)."""

from __future__ import annotations

import gc
import time
from collections.abc import Callable

from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Footer, Input, Static, Tab, Tabs

from geartool.tui.actions import ActionsMixin
from geartool.tui.model import ALL, Monitor
from geartool.tui.poller import INTERVALS, Poller
from geartool.tui.rows import SORT_KEYS, SORT_ORDER, Snapshot, compile_filter, select
from geartool.tui.screens import FunctionScreen, HelpScreen, JobsScreen
from geartool.tui.table import FastTable
from geartool.tui.widgets import (
    FUNCTION_COLUMNS,
    FunctionCells,
    worker_columns,
    worker_rows,
)

# Keys that act on the main screen's tables; hidden while a drill-down screen is shown.
MAIN_ONLY = frozenset({"filter", "sort", "reverse", "jobs", "drop", "maxqueue", "tab",
                       "all_view", "clear_filter"})


class TopApp(ActionsMixin, App[None]):
    """Functions and workers of one or several Gearman servers, refreshed live."""

    CSS_PATH = "top.tcss"
    TITLE = "geartool top"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        Binding("slash", "filter", "Filter"),
        Binding("s", "sort", "Sort"),
        Binding("S", "reverse", "Reverse", show=False),
        Binding("p", "pause", "Pause"),
        Binding("r", "interval", "Interval"),
        Binding("j", "jobs", "Jobs"),
        Binding("d", "drop", "Drop", show=False),
        Binding("m", "maxqueue", "Maxqueue", show=False),
        Binding("t", "tab(1)", "Next tab", show=False),
        Binding("T", "tab(-1)", "Previous tab", show=False),
        Binding("0", "all_view", "All servers", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self, servers: list[str], interval: float = 1.0, timeout: float = 2.0,
                 read_only: bool = False, poll: bool = True,
                 clock: Callable[[], float] = time.monotonic, idle_samples: int = 3,
                 tune_gc: bool = False) -> None:
        super().__init__()
        self._tune_gc = tune_gc
        self.server_names = servers
        self.read_only = read_only
        self.poll = poll
        self._clock = clock
        self.model = Monitor(servers, idle_samples=idle_samples,
                             stale_after=max(5.0, 3 * interval))
        self.poller = Poller(servers, self.on_snapshot, self.on_poll_error, interval, timeout,
                             clock)
        self.views = ([ALL] if len(servers) > 1 else []) + list(servers)
        self.view = self.views[0]
        self.sort, self.reverse = "waiting", True
        self.filter_text, self.filter_error = "", ""
        self._paused_at: float | None = None
        self._render_pending = False
        self._function_cells = FunctionCells()

    # ---- layout and lifecycle ------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Tabs(*(Tab(self._tab_label(v), id=f"view-{i}") for i, v in enumerate(self.views)),
                   id="views")
        yield Static(id="status")
        yield FastTable(id="functions")
        yield Static("Workers", classes="section")
        yield FastTable(id="workers")
        yield Static(id="alerts")
        yield Input(placeholder="regex, ! to invert; Enter keeps it, Esc clears it", id="filter")
        yield Footer()

    def on_mount(self) -> None:
        # Kept as attributes: while a drill-down screen is on top, queries would not find them.
        self.functions_table = self.query_one("#functions", FastTable)
        self.workers_table = self.query_one("#workers", FastTable)
        self.alerts_box = self.query_one("#alerts", Static)
        self.status_box = self.query_one("#status", Static)
        self.filter_box = self.query_one("#filter", Input)
        self.tabs = self.query_one("#views", Tabs)
        self.functions_table.set_columns(FUNCTION_COLUMNS)
        self.functions_table.focus()
        if self._tune_gc:
            tune_gc()
        if self.poll:
            self.poller.start()
        self.render_now()

    async def on_unmount(self) -> None:
        await self.poller.stop()

    def clock(self) -> float:
        """Now, for staleness; frozen while paused so a paused screen does not go stale."""
        return self._paused_at if self._paused_at is not None else self._clock()

    # ---- data in -------------------------------------------------------------------------

    def on_snapshot(self, snap: Snapshot) -> None:
        self.model.update(snap)
        self.schedule_render()

    def on_poll_error(self, server: str, error: str, now: float) -> None:
        self.model.fail(server, error, now)
        self.schedule_render()

    def schedule_render(self) -> None:
        """Coalesce the updates of several servers into one redraw."""
        if not self._render_pending:
            self._render_pending = True
            self.set_timer(0.05, self.render_now)

    def render_now(self) -> None:
        self._render_pending = False
        if not self.screen_stack:  # a timer that fires while the app shuts down
            return
        now, view = self.clock(), self.view
        every = self.model.function_rows(view, now)
        rows = select(every, self.filter_text, self.sort, self.reverse)
        self.functions_table.show(
            [(r.function, self._function_cells(r)) for r in rows])
        workers = self.workers_table
        workers.set_columns(worker_columns(view == ALL))
        workers.show(worker_rows(self.model.worker_views(view, now), view == ALL))
        alerts = self.model.alerts(view, now, every)  # a filter never hides an alert
        self.alerts_box.update(
            Text("\n".join(alerts[:5]) + (f"\n... {len(alerts) - 5} more" if len(alerts) > 5
                                          else ""), style="bold red"))
        self.status_box.update(self._status_line(now, len(rows)))
        for i, v in enumerate(self.views):
            tab = self.tabs.get_tab(f"view-{i}")
            label = self._tab_label(v)
            if tab is not None and str(tab.label) != label:  # None while shutting down
                tab.label = label
        if isinstance(self.screen, FunctionScreen):
            self.screen.refresh_view()

    def _tab_label(self, view: str) -> str:
        if view == ALL:
            return "All servers"
        stale = view in self.model.servers and self.model.is_stale(view, self.clock())
        return f"{view} (stale)" if stale else view

    def _status_line(self, now: float, shown: int) -> Text:
        live = len(self.model.live_servers(now))
        arrow = "↓" if self.reverse else "↑"
        text = Text(f"{shown} functions │ {live}/{len(self.model.servers)} servers live │ "
                    f"every {self.poller.interval:g}s │ sort {self.sort} {arrow}")
        if self.filter_text:
            text.append(f" │ filter {self.filter_text}")
        if self.filter_error:
            text.append(f" │ {self.filter_error}", style="red")
        if self._paused_at is not None:
            text.append(" │ PAUSED", style="bold reverse")
        if self.read_only:
            text.append(" │ read-only")
        return text

    # ---- keys ----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in MAIN_ONLY and len(self.screen_stack) > 1:
            return False  # the drill-down screens have their own keys
        if action in ("drop", "maxqueue"):
            return not self.read_only
        return True

    def action_help(self) -> None:
        self.push_screen(HelpScreen())

    def action_filter(self) -> None:
        box = self.filter_box
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id != "filter":
            return
        try:
            compile_filter(event.value)
        except ValueError as exc:
            self.filter_error = str(exc)
        else:
            self.filter_text, self.filter_error = event.value, ""
        self.render_now()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id == "filter":
            self.functions_table.focus()

    def action_clear_filter(self) -> None:
        box = self.filter_box
        box.value = ""
        box.display = False
        self.filter_text, self.filter_error = "", ""
        self.functions_table.focus()
        self.render_now()

    def action_sort(self) -> None:
        self.sort = SORT_ORDER[(SORT_ORDER.index(self.sort) + 1) % len(SORT_ORDER)]
        self.reverse = self.sort != "function"
        self.render_now()

    def action_reverse(self) -> None:
        self.reverse = not self.reverse
        self.render_now()

    def on_fast_table_header_selected(self, event: FastTable.HeaderSelected) -> None:
        key = event.column
        if event.table.id != "functions" or key not in SORT_KEYS:
            return
        if key == self.sort:
            self.reverse = not self.reverse
        else:
            self.sort, self.reverse = key, key != "function"
        self.render_now()

    def action_pause(self) -> None:
        paused = self._paused_at is None
        self._paused_at = self._clock() if paused else None
        self.poller.paused = paused
        if not paused:
            self.poller.poll_now()
        self.render_now()

    def action_interval(self) -> None:
        i = INTERVALS.index(self.poller.interval) if self.poller.interval in INTERVALS else 0
        self.poller.interval = INTERVALS[(i + 1) % len(INTERVALS)]
        self.model.stale_after = max(5.0, 3 * self.poller.interval)
        self.poller.poll_now()
        self.render_now()

    def action_tab(self, step: int) -> None:
        self.tabs.active = \
            f"view-{(self.views.index(self.view) + step) % len(self.views)}"

    def action_all_view(self) -> None:
        self.tabs.active = "view-0"

    def on_tabs_tab_activated(self, event: Tabs.TabActivated) -> None:
        if event.tab is not None and event.tab.id:
            self.view = self.views[int(event.tab.id.split("-")[1])]
            self.render_now()

    def on_fast_table_row_selected(self, event: FastTable.RowSelected) -> None:
        if event.table.id == "functions":
            self.push_screen(FunctionScreen(event.key))

    def action_jobs(self) -> None:
        self.push_screen(JobsScreen())

    def _selected_function(self) -> str | None:
        return self.functions_table.current_key

    def action_drop(self) -> None:
        if (f := self._selected_function()) is not None:
            self.confirm_drop(f)

    def action_maxqueue(self) -> None:
        if (f := self._selected_function()) is not None:
            self.ask_maxqueue(f)


def tune_gc() -> None:
    """Garbage-collector settings for a process that is only ``top``.

    Each poll of 1,000 functions allocates tens of thousands of row objects that live a few
    seconds; with the default thresholds the collector rescans them dozens of times a second
    (about 40% of top's CPU in benchmarks/top_bench.py). A larger young generation and freezing
    what exists once the app is up (Textual, widgets, styles: alive as long as the app) cut
    that to a few percent. Process-wide, so only the CLI asks for it.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(20_000, 20, 10)


def make_app(servers: list[str], interval: float = 1.0, timeout: float = 2.0,
             read_only: bool = False, poll: bool = True,
             clock: Callable[[], float] = time.monotonic, idle_samples: int = 3,
             tune_gc: bool = False) -> TopApp:
    """The app as the CLI runs it; tests pass ``poll=False`` and feed ``app.model`` directly.

    ``tune_gc`` applies :func:`tune_gc` once the app is mounted (the CLI sets it).
    """
    return TopApp(servers, interval, timeout, read_only, poll, clock, idle_samples, tune_gc)

