"""Dialogs and drill-down screens of ``geartool top``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Footer, Input, Label, Static

from geartool.tui.model import ALL
from geartool.tui.rows import format_age
from geartool.tui.table import FastTable
from geartool.tui.widgets import worker_columns, worker_rows

if TYPE_CHECKING:
    from geartool.tui.app import TopApp

HELP = """\
geartool top: live view of Gearman servers

  ?          this help               q          quit
  /          filter functions (regex; start with ! to invert); Esc clears it
  s / S      sort by the next column / reverse the order (or click a header)
  p          pause / resume polling  r          change the refresh interval
  0 / t / T  aggregated view / next / previous server tab (or click a tab)
  Enter      drill down into the function: its workers and running jobs
  Esc        back
  j          jobs held by the server (show jobs); c cancels one
  d          drop the selected function  m   set its maxqueue

Functions in red have waiting jobs and no worker; in yellow, waiting jobs while
workers sat idle for several samples. IN/s and OUT/s come from the server's
counters (geartool), or prefixed with ~ from the change of queue depth (gearmand).
Actions ask for confirmation first; --read-only removes them.
"""


class HelpScreen(ModalScreen[None]):
    """The key reference; any of Esc, ? or q closes it."""

    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        yield Static(HELP, id="help")


class ConfirmScreen(ModalScreen[bool]):
    """Yes/no before an action that changes a server."""

    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question, id="question")
            with Horizontal(id="buttons"):
                yield Button("Yes (y)", variant="error", id="yes")
                yield Button("No (n)", variant="primary", id="no")

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, answer: bool) -> None:
        self.dismiss(answer)


class PromptScreen(ModalScreen[str | None]):
    """One line of input (e.g. maxqueue limits); Esc cancels."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, placeholder: str = "") -> None:
        super().__init__()
        self.question, self.placeholder = question, placeholder

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question, id="question")
            yield Input(placeholder=self.placeholder, id="answer")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class FunctionScreen(Screen[None]):
    """Drill-down: one function's workers and the jobs they run; refreshed with every poll."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("d", "drop", "Drop function"),
        Binding("m", "maxqueue", "Maxqueue"),
        Binding("question_mark", "app.help", "Help"),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, function: str) -> None:
        super().__init__()
        self.function = function

    @property
    def top(self) -> TopApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static(id="fn-title")
        yield Static("Workers", classes="section")
        yield FastTable(id="fn-workers")
        yield Static("Running jobs", classes="section")
        yield FastTable(id="fn-jobs")
        yield Static(id="fn-note")
        yield Footer()

    def on_mount(self) -> None:
        self.refresh_view()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("drop", "maxqueue"):
            return not self.top.read_only
        return True

    def refresh_view(self) -> None:
        app, now = self.top, self.top.clock()
        view = app.view
        rows = {r.function: r for r in app.model.function_rows(view, now)}
        row = rows.get(self.function)
        head = Text(f"{self.function}", style="bold")
        if row is None:
            head.append("  (gone from the server)", style="red")
        else:
            head.append(f"  waiting {row.waiting}  running {row.running}  workers {row.workers}"
                        f"  oldest {format_age(row.oldest_wait)}")
            if row.alert:
                head.append(f"  {row.alert}", style="bold red")
        self.query_one("#fn-title", Static).update(head)
        workers = self.query_one("#fn-workers", FastTable)
        workers.set_columns(worker_columns(view == ALL))
        workers.show(worker_rows(app.model.worker_views(view, now, self.function), view == ALL))
        jobs = self.query_one("#fn-jobs", FastTable)
        jobs.set_columns([("handle", "HANDLE", None), ("unique", "UNIQUE", None),
                          ("worker", "WORKER", None), ("age", "RUNNING FOR", 12)])
        running = app.model.running_jobs(view, now, self.function)
        jobs.show([(r.handle, (r.handle, r.unique, f"{r.ip} fd {r.fd}",
                               Text(format_age(r.seconds), justify="right")))
                   for r in running or ()])
        self.query_one("#fn-note", Static).update(
            "" if running is not None else
            "This server does not say which jobs run (gearmand has no `running` command).")

    def action_drop(self) -> None:
        self.top.confirm_drop(self.function)

    def action_maxqueue(self) -> None:
        self.top.ask_maxqueue(self.function)


class JobsScreen(Screen[None]):
    """Jobs the server holds (``show jobs``), fetched on open; ``c`` cancels one."""

    BINDINGS = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("c", "cancel", "Cancel job"),
        Binding("g", "reload", "Reload"),
        Binding("q", "app.quit", "Quit"),
    ]

    @property
    def top(self) -> TopApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Static("Jobs held by the server (show jobs)", id="jobs-title")
        yield FastTable(id="jobs")
        yield Footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not self.top.read_only if action == "cancel" else True

    def on_mount(self) -> None:
        table = self.query_one("#jobs", FastTable)
        table.set_columns([("server", "SERVER", None), ("handle", "HANDLE", None),
                           ("retries", "RETRIES", 8), ("ignore", "CANCELLED", 10),
                           ("persisted", "BACKGROUND", 11)])
        self.action_reload()

    def action_reload(self) -> None:
        self.run_worker(self._load(), exclusive=True)

    async def _load(self) -> None:
        rows = await self.top.fetch_jobs()
        self.query_one("#jobs", FastTable).show(
            [(f"{server} {j.handle}", (server, j.handle, Text(str(j.retries), justify="right"),
                                       "yes" if j.ignore else "", "yes" if j.persisted else ""))
             for server, j in rows])

    def action_cancel(self) -> None:
        key = self.query_one("#jobs", FastTable).current_key
        if key is not None:
            server, _, handle = key.partition(" ")
            self.top.confirm_cancel(server, handle, after=self.action_reload)
