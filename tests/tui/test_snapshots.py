"""SVG snapshots of top's screens, from fixed data (no polling, no clock on screen).

Update after an intended change of the look: ``python -m pytest tests/tui/test_snapshots.py
--snapshot-update``, then review the SVGs in ``__snapshots__``.
"""

from __future__ import annotations

from typing import Any

from tests.tui.scenes import A, B, fed_app

SIZE = (130, 36)


def test_functions_and_workers(snap_compare: Any) -> None:
    assert snap_compare(fed_app(), terminal_size=SIZE)


def test_aggregated_view_with_a_stale_server(snap_compare: Any) -> None:
    app = fed_app([A, B])
    app.model.fail(B, "timed out", 999.0)
    assert snap_compare(app, terminal_size=SIZE)


def test_drill_down(snap_compare: Any) -> None:
    assert snap_compare(fed_app(), press=["enter"], terminal_size=SIZE)


def test_filter_inverted_and_sort_keys(snap_compare: Any) -> None:
    assert snap_compare(fed_app(), press=["slash", "!", "m", "a", "enter", "s", "S", "S"],
                        terminal_size=SIZE)


def test_help(snap_compare: Any) -> None:
    assert snap_compare(fed_app(), press=["question_mark"], terminal_size=SIZE)


def test_confirm_drop(snap_compare: Any) -> None:
    assert snap_compare(fed_app(), press=["d"], terminal_size=SIZE)
