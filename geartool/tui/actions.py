"""What ``top`` does to servers: drop a function, set maxqueue, list and cancel jobs.

Every change goes through a confirmation dialog and runs on its own short admin connection, so a
slow action never holds up polling. ``--read-only`` turns these off (see ``check_action``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, cast

from geartool.client.admin import AdminClient
from geartool.protocol.admin import JobRow
from geartool.tui.model import ALL
from geartool.tui.poller import POLL_ERRORS, describe
from geartool.tui.screens import ConfirmScreen, PromptScreen

if TYPE_CHECKING:
    from geartool.tui.app import TopApp

Act = Callable[[AdminClient], Any]


def parse_limits(text: str) -> list[int]:
    """``""`` (unlimited), ``"N"`` or ``"HIGH NORMAL LOW"``; ValueError otherwise."""
    parts = text.replace(",", " ").split()
    if len(parts) not in (0, 1, 3):
        raise ValueError("give one limit for every priority, or three: HIGH NORMAL LOW")
    try:
        return [int(p) for p in parts]
    except ValueError:
        raise ValueError(f"not a number in {text!r}") from None


class ActionsMixin:
    """Methods of TopApp that change servers; also called from the drill-down screens."""

    def target_servers(self, function: str | None = None) -> list[str]:
        """The current tab's server, or in the aggregated view every live server (that has
        ``function``, when given)."""
        app = cast("TopApp", self)
        if app.view != ALL:
            return [app.view]
        now = app.clock()
        live = app.model.live_servers(now)
        if function is None:
            return live
        return [s for s in live if any(r.function == function
                                       for r in app.model.function_rows(s, now))]

    def confirm_drop(self, function: str) -> None:
        app = cast("TopApp", self)
        if app.read_only:
            return
        servers = app.target_servers(function)

        def done(yes: bool | None) -> None:
            if yes:
                app.run_on(servers, lambda c: c.drop_function(function), f"dropped {function}")
        app.push_screen(ConfirmScreen(f"Drop function {function} on {', '.join(servers)}?"),
                        done)

    def ask_maxqueue(self, function: str) -> None:
        app = cast("TopApp", self)
        if app.read_only:
            return
        servers = app.target_servers(function)

        def got(text: str | None) -> None:
            if text is None:
                return
            try:
                limits = parse_limits(text)
            except ValueError as exc:
                app.notify(str(exc), severity="error")
                return
            shown = " ".join(map(str, limits)) or "unlimited"

            def done(yes: bool | None) -> None:
                if yes:
                    app.run_on(servers, lambda c: c.maxqueue(function, *limits),
                               f"maxqueue {function} {shown}")
            app.push_screen(ConfirmScreen(
                f"Set maxqueue of {function} to {shown} on {', '.join(servers)}?"), done)
        app.push_screen(PromptScreen(f"maxqueue for {function}: N, or HIGH NORMAL LOW "
                                     "(empty = unlimited)", "e.g. 100"), got)

    def confirm_cancel(self, server: str, handle: str,
                       after: Callable[[], None] | None = None) -> None:
        app = cast("TopApp", self)
        if app.read_only:
            return

        def done(yes: bool | None) -> None:
            if yes:
                app.run_on([server], lambda c: c.cancel_job(handle), f"cancelled {handle}",
                           after)
        app.push_screen(ConfirmScreen(f"Cancel job {handle} on {server}?"), done)

    def run_on(self, servers: list[str], act: Act, what: str,
               after: Callable[[], None] | None = None) -> None:
        """Run ``act`` on each server in the background; a toast says how it went."""
        app = cast("TopApp", self)
        async def go() -> None:
            for server in servers:
                try:
                    await app.poller.run_action(server, act)
                except POLL_ERRORS as exc:
                    app.notify(f"{server}: {describe(exc)}", severity="error")
                else:
                    app.notify(f"{server}: {what}")
            if after is not None:
                after()
        app.run_worker(go(), group="actions")

    async def fetch_jobs(self) -> list[tuple[str, JobRow]]:
        """``show jobs`` of the servers in view, each bounded by the poll timeout."""
        app = cast("TopApp", self)
        out: list[tuple[str, JobRow]] = []
        for server in app.target_servers():
            try:
                async with AdminClient(server, timeout=app.poller.timeout) as client:
                    out.extend((server, j) for j in await client.show_jobs())
            except POLL_ERRORS as exc:
                app.notify(f"{server}: {describe(exc)}", severity="error")
        return out
