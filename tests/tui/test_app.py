"""The Textual app driven with Pilot: keys, filter, sort, drill-down, tabs, dialogs."""

from __future__ import annotations

import asyncio

from geartool.tui.app import TopApp
from geartool.tui.screens import ConfirmScreen, FunctionScreen, HelpScreen, PromptScreen
from tests.tui.scenes import A, B, fed_app

SIZE = (130, 40)


def keys(app: TopApp) -> list[str]:
    return list(app.functions_table._keys)


def test_sort_keys_and_header_click() -> None:
    async def go() -> None:
        app = fed_app()
        async with app.run_test(size=SIZE) as pilot:
            assert keys(app) == ["resize", "mail", "reverse", "thumbs"]  # waiting, largest first
            await pilot.press("s")
            assert (app.sort, app.reverse) == ("running", True)
            assert keys(app)[:2] == ["resize", "reverse"]
            await pilot.press("S")
            assert app.reverse is False and keys(app)[:2] == ["mail", "thumbs"]
            await pilot.click("#functions", offset=(3, 0))  # the FUNCTION header
            assert (app.sort, app.reverse) == ("function", False)
            assert keys(app) == ["mail", "resize", "reverse", "thumbs"]
            await pilot.click("#functions", offset=(3, 0))
            assert keys(app) == ["thumbs", "reverse", "resize", "mail"]
    asyncio.run(go())


def test_filter_with_regex_and_inversion() -> None:
    async def go() -> None:
        app = fed_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("slash", "r", "e")
            assert app.filter_box.has_focus
            assert sorted(keys(app)) == ["resize", "reverse"]
            await pilot.press("enter")
            assert app.functions_table.has_focus and app.filter_text == "re"
            await pilot.press("slash", "home", "exclamation_mark")
            assert sorted(keys(app)) == ["mail", "thumbs"]
            await pilot.press("left_square_bracket")  # an unfinished regex keeps the last filter
            assert app.filter_error and sorted(keys(app)) == ["mail", "thumbs"]
            await pilot.press("escape")
            assert app.filter_text == "" and len(keys(app)) == 4
            assert not app.filter_box.display
    asyncio.run(go())


def test_drill_down_and_back() -> None:
    async def go() -> None:
        app = fed_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("enter")  # cursor on the first row: resize
            screen = app.screen
            assert isinstance(screen, FunctionScreen) and screen.function == "resize"
            workers = screen.query_one("#fn-workers")._keys  # type: ignore[attr-defined]
            assert workers == [f"{A}/{fd}" for fd in (20, 21, 22, 23)]
            jobs = screen.query_one("#fn-jobs")._keys  # type: ignore[attr-defined]
            assert jobs == ["H:app:100", "H:app:101", "H:app:102", "H:app:103"]
            await pilot.press("s")  # main-screen keys do nothing here
            assert app.sort == "waiting"
            await pilot.press("escape")
            assert not isinstance(app.screen, FunctionScreen)
            await pilot.press("down", "down", "enter")
            assert isinstance(app.screen, FunctionScreen) and app.screen.function == "reverse"
    asyncio.run(go())


def test_help_pause_interval_and_quit() -> None:
    async def go() -> None:
        app = fed_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen)
            await pilot.press("escape")
            assert not isinstance(app.screen, HelpScreen)
            await pilot.press("p")
            assert app.poller.paused and "PAUSED" in str(app.status_box.render())
            await pilot.press("p")
            assert not app.poller.paused
            before = app.poller.interval
            await pilot.press("r")
            assert app.poller.interval != before and "every 2s" in str(app.status_box.render())
            await pilot.press("q")
            await pilot.pause()
        assert not app.is_running
    asyncio.run(go())


def test_tabs_per_server_and_aggregate() -> None:
    async def go() -> None:
        app = fed_app([A, B])
        async with app.run_test(size=SIZE) as pilot:
            assert app.view == "*"
            total = {r.function: r.waiting for r in app.model.rows("*", app.clock())}
            one = {r.function: r.waiting for r in app.model.rows(A, app.clock())}
            two = {r.function: r.waiting for r in app.model.rows(B, app.clock())}
            assert total["resize"] == one["resize"] + two["resize"]
            await pilot.press("t")
            assert app.view == A
            await pilot.press("t")
            assert app.view == B
            await pilot.press("T", "T")
            assert app.view == "*"
            await pilot.press("t", "0")
            assert app.view == "*"
    asyncio.run(go())


def test_actions_need_confirmation_and_read_only_removes_them() -> None:
    async def go() -> None:
        app = fed_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("d")
            assert isinstance(app.screen, ConfirmScreen)
            assert "Drop function resize" in app.screen.question
            await pilot.press("n")
            assert not isinstance(app.screen, ConfirmScreen)
            await pilot.press("m")
            assert isinstance(app.screen, PromptScreen)
            await pilot.press("escape")
        ro = fed_app(read_only=True)
        async with ro.run_test(size=SIZE) as pilot:
            await pilot.press("d", "m")
            assert type(ro.screen).__name__ == "Screen"
            await pilot.press("enter", "d")
            assert isinstance(ro.screen, FunctionScreen)  # no dialog on top of it
            assert not ro.screen.check_action("drop", ())
    asyncio.run(go())


def test_maxqueue_limits_are_parsed_strictly() -> None:
    from geartool.tui.actions import parse_limits
    assert parse_limits("") == [] and parse_limits(" 7 ") == [7]
    assert parse_limits("1 2 3") == [1, 2, 3] == parse_limits("1,2,3")
    for bad in ("1 2", "x", "1 2 3 4"):
        try:
            parse_limits(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad!r} was accepted")

    async def go() -> None:
        app = fed_app()
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("m", "x", "enter")
            await pilot.pause()
            # A bad answer never reaches the confirmation (nor the server).
            assert not isinstance(app.screen, (PromptScreen, ConfirmScreen))
    asyncio.run(go())
