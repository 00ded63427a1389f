"""top against real servers: live polling, actions, a server that dies and comes back,
and ``geartool top --once --json`` with real workers and jobs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from textual.widgets import Static

from geartool.client.admin import AdminClient
from geartool.tui.app import make_app
from geartool.tui.screens import ConfirmScreen, FunctionScreen, JobsScreen, PromptScreen
from geartool.tui.table import FastTable
from tests.conftest import free_port, need, start_gearmand, stop
from tests.tui.peers import scene, status, submit, worker
from tests.tui.scenes import until, until_async

SIZE = (130, 40)


def test_live_view_of_gearmand(gearmand: int) -> None:
    with worker(gearmand, "slow", "other"):
        scene(gearmand)

        async def go() -> None:
            app = make_app([f"127.0.0.1:{gearmand}"], interval=0.2, timeout=1.0,
                           idle_samples=2)
            async with app.run_test(size=SIZE) as pilot:
                await until(lambda: "slow" in app.functions_table._keys)
                rows = {r.function: r for r in app.model.rows(app.view, app.clock())}
                assert (rows["slow"].waiting, rows["slow"].running) == (2, 1)
                assert rows["nowork"].alert == "no workers"
                assert rows["slow"].oldest_wait is None  # gearmand does not say
                assert [w.functions for w in app.model.worker_views(app.view, app.clock())] \
                    == [("slow", "other")]
                assert "nowork: 1 waiting, no workers" in str(app.alerts_box.render())
                await pilot.press("q")
        asyncio.run(go())


def test_actions_on_gearmand(gearmand: int) -> None:
    server = f"127.0.0.1:{gearmand}"
    submit(gearmand, "doomed", n=2)
    submit(gearmand, "spare")

    async def handles() -> list[tuple[str, bool]]:
        async with AdminClient(server) as c:
            return [(j.handle, j.ignore) for j in await c.show_jobs()]

    async def go() -> None:
        app = make_app([server], interval=0.2, timeout=1.0)
        async with app.run_test(size=SIZE) as pilot:
            await until(lambda: len(app.functions_table._keys) == 2)
            # Cancel a job from the jobs screen, after confirming.
            await pilot.press("j")
            jobs = app.screen.query_one("#jobs")
            await until(lambda: len(jobs._keys) == 3)  # type: ignore[attr-defined]
            victim = jobs.current_key.split(" ")[1]  # type: ignore[attr-defined]
            await pilot.press("c")
            assert isinstance(app.screen, ConfirmScreen)
            await pilot.press("y")

            async def cancelled() -> bool:  # gearmand flags a cancelled queued job "ignore"
                return (victim, True) in await handles()
            await until_async(cancelled)
            assert isinstance(app.screen, JobsScreen)
            await pilot.press("escape")
            # maxqueue through the prompt, then a confirmation.
            await pilot.press("m")
            assert isinstance(app.screen, PromptScreen)
            await pilot.press("2", "enter")
            assert isinstance(app.screen, ConfirmScreen) and "to 2" in app.screen.question
            await pilot.press("y")
            await app.workers.wait_for_complete()
            # doomed holds two queued jobs (one cancelled, still queued): now it is full.
            full = await asyncio.to_thread(
                subprocess.run, [need("gearman"), "-h", "127.0.0.1", "-p", str(gearmand),
                                 "-b", "-f", "doomed", "x"], capture_output=True, text=True,
                timeout=10)
            assert "QUEUE_ERROR" in full.stderr
            # Drop the selected function (gearmand drops it even with queued jobs).
            app.sort, app.reverse = "function", False
            app.render_now()
            assert app.functions_table.current_key == "doomed"
            await pilot.press("d", "y")
            await until(lambda: "doomed" not in app.functions_table._keys)

    asyncio.run(go())
    assert "doomed" not in status(gearmand) and "spare" in status(gearmand)


def test_server_goes_away_and_comes_back() -> None:
    port = free_port()
    proc = start_gearmand(port)
    server = f"127.0.0.1:{port}"
    holder = [proc]

    async def go() -> None:
        app = make_app([server, f"127.0.0.1:{free_port()}"], interval=0.2, timeout=0.5)
        async with app.run_test(size=SIZE) as pilot:
            await until(lambda: server in app.model.live_servers(app.clock()))
            stop(holder[0])
            await until(lambda: app.model.is_stale(server, app.clock()))
            await pilot.pause()
            await until(lambda: "(stale)" in str(app.tabs.get_tab("view-1").label))
            # The screen keeps answering keys while the server is gone.
            await pilot.press("s")
            assert app.sort == "running"
            holder[0] = await asyncio.to_thread(start_gearmand, port)
            submit(port, "back")
            await until(lambda: "back" in app.functions_table._keys)
            assert not app.model.is_stale(server, app.clock())
            await until(lambda: "(stale)" not in str(app.tabs.get_tab("view-1").label))
    try:
        asyncio.run(go())
    finally:
        stop(holder[0])


def _top_once(*servers: str) -> subprocess.CompletedProcess[str]:
    args = [sys.executable, "-m", "geartool", "top", "--once", "--json"]
    for s in servers:
        args += ["-s", s]
    return subprocess.run(args, capture_output=True, text=True, timeout=60,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))


def test_once_json_with_real_workers(any_server: tuple[str, int]) -> None:
    kind, port = any_server
    with worker(port, "slow", "other"):
        scene(port)
        dead = f"127.0.0.1:{free_port()}"
        out = _top_once(f"127.0.0.1:{port}", dead)
        assert out.returncode == 3, out.stderr
        live, gone = json.loads(out.stdout)["servers"]
        assert gone == {"server": dead, "ok": False, "error": gone["error"]} and gone["error"]
        fns = {f["function"]: f for f in live["functions"]}
        assert (fns["slow"]["waiting"], fns["slow"]["running"]) == (2, 1)
        assert (fns["nowork"]["high"], fns["nowork"]["workers"]) == (1, 0)
        assert live["totals"]["workers"] == 1
        (w,) = live["workers"]
        assert sorted(w["functions"]) == ["other", "slow"]
        if kind == "geartool":
            assert live["extensions"] == {"stats": True, "running": True}
            assert live["version"].startswith("geartool-")
            assert fns["slow"]["submitted"] == 3 and fns["nowork"]["oldest_wait"] >= 0
            assert w["job"]["function"] == "slow"
        else:
            assert live["extensions"] == {"stats": False, "running": False}
            assert fns["slow"]["submitted"] is None and w["job"] is None
        ok = _top_once(f"127.0.0.1:{port}")
        assert ok.returncode == 0 and json.loads(ok.stdout)["servers"][0]["ok"]


def test_without_a_terminal_top_says_so() -> None:
    out = subprocess.run([sys.executable, "-m", "geartool", "top", "-s", "127.0.0.1:1"],
                         capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL,
                         cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert out.returncode == 2
    assert "needs a terminal" in out.stderr and "--once --json" in out.stderr
    assert "Traceback" not in out.stderr


def test_drill_down_shows_running_jobs_where_the_server_says(any_server: tuple[str, int]
                                                              ) -> None:
    kind, port = any_server
    with worker(port, "slow", "other"):
        scene(port)

        async def go() -> None:
            app = make_app([f"127.0.0.1:{port}"], interval=0.2, timeout=1.0)
            async with app.run_test(size=SIZE) as pilot:
                await until(lambda: "slow" in app.functions_table._keys)
                app.functions_table.move_cursor(app.functions_table._keys.index("slow"))
                await pilot.press("enter")
                screen = app.screen
                assert isinstance(screen, FunctionScreen) and screen.function == "slow"
                jobs = screen.query_one("#fn-jobs", FastTable)
                workers = screen.query_one("#fn-workers", FastTable)
                assert workers.row_count == 1
                note = str(screen.query_one("#fn-note", Static).render())
                if kind == "geartool":
                    await until(lambda: jobs.row_count == 1)
                    assert jobs.current_key is not None and jobs.current_key.startswith("H:")
                    assert note == ""
                    row = {r.function: r for r in app.model.rows(app.view, app.clock())}
                    assert row["nowork"].oldest_wait is not None
                    await until(lambda: app.model.rows(app.view, app.clock())[0].rates_exact)
                else:
                    assert jobs.row_count == 0 and "does not say" in note
                await pilot.press("escape")
                assert not isinstance(app.screen, FunctionScreen)
        asyncio.run(go())


def test_top_usage_errors() -> None:
    bad = _top_once("127.0.0.1:notaport")
    assert bad.returncode == 2 and "bad port" in bad.stderr and "Traceback" not in bad.stderr
    lone = subprocess.run([sys.executable, "-m", "geartool", "top", "--json", "-s", "x:1"],
                          capture_output=True, text=True, timeout=60,
                          cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert lone.returncode == 2 and "--json needs --once" in lone.stderr
