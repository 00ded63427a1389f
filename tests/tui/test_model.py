"""The view-model, without Textual: rates, sparklines, sorting, filtering, alerts, staleness."""

from __future__ import annotations

import sys

import pytest

from geartool.protocol.admin import PriorityStatusRow as P
from geartool.protocol.admin import RunningRow, StatsRow, StatusRow, WorkerRow
from geartool.tui.export import snapshot_json
from geartool.tui.model import ALL, Monitor
from geartool.tui.rows import Snapshot, compile_filter, format_age, format_rate, sparkline

A, B = "a:4730", "b:4730"


def snap(server: str, t: float, status: list[StatusRow], **kw: object) -> Snapshot:
    return Snapshot(server, t, tuple(status), **kw)  # type: ignore[arg-type]


def stats(fn: str, submitted: int, done: int, oldest: float = 0.0) -> StatsRow:
    return StatsRow(fn, submitted, done, 0, 0, 0, oldest)


def test_rates_from_counters_are_exact() -> None:
    m = Monitor([A])
    m.update(snap(A, 10.0, [StatusRow("f", 5, 1, 2)], stats=(stats("f", 100, 90),)))
    (row,) = m.rows(A, 10.0)
    assert row.rate_in is None and row.rate_out is None  # one sample: no rate yet
    m.update(snap(A, 12.0, [StatusRow("f", 5, 1, 2)], stats=(stats("f", 120, 100, 3.5),)))
    (row,) = m.rows(A, 12.0)
    assert (row.rate_in, row.rate_out, row.rates_exact) == (10.0, 5.0, True)
    assert row.oldest_wait == 3.5 and row.waiting == 4


def test_rates_without_counters_come_from_queue_depth() -> None:
    m = Monitor([A])
    m.update(snap(A, 0.0, [StatusRow("f", 10, 0, 0)]))
    m.update(snap(A, 2.0, [StatusRow("f", 16, 0, 0)]))
    (row,) = m.rows(A, 2.0)
    assert (row.rate_in, row.rate_out, row.rates_exact) == (3.0, 0.0, False)
    m.update(snap(A, 4.0, [StatusRow("f", 4, 0, 0)]))
    (row,) = m.rows(A, 4.0)  # window reaches back to t=0: 10 -> 4 over 4 s
    assert (row.rate_in, row.rate_out) == (0.0, 1.5)
    assert format_rate(row.rate_out, row.rates_exact) == "~1.5"
    assert format_rate(2.0, True) == "2.0" and format_rate(None, True) == "-"


def test_counter_reset_gives_no_rate() -> None:
    m = Monitor([A])
    m.update(snap(A, 0.0, [StatusRow("f", 0, 0, 0)], stats=(stats("f", 50, 50),)))
    m.update(snap(A, 1.0, [StatusRow("f", 0, 0, 0)], stats=(stats("f", 2, 1),)))
    (row,) = m.rows(A, 1.0)
    assert row.rate_in is None and row.rate_out is None


def test_sparkline_follows_queue_depth() -> None:
    m = Monitor([A])
    for t, total in enumerate([0, 2, 4, 8, 8, 0]):
        m.update(snap(A, float(t), [StatusRow("f", total, 0, 1)]))
    (row,) = m.rows(A, 5.0)
    assert row.spark == [0, 2, 4, 8, 8, 0]
    assert sparkline(row.spark) == " ▂▄██ "
    assert sparkline([0, 0]) == "▁▁" and sparkline([]) == ""
    assert len(sparkline(range(100), width=12)) == 12


def test_sort_and_reverse_and_ties() -> None:
    m = Monitor([A])
    m.update(snap(A, 0.0, [StatusRow("b", 3, 0, 1), StatusRow("a", 3, 0, 1),
                           StatusRow("c", 9, 1, 1)]))
    names = lambda **kw: [r.function for r in m.rows(A, 0.0, **kw)]  # noqa: E731
    assert names() == ["a", "b", "c"]
    assert names(sort="waiting", reverse=True) == ["c", "a", "b"]  # ties stay by name
    assert names(sort="waiting") == ["a", "b", "c"]
    assert names(sort="running", reverse=True)[0] == "c"


def test_filter_regex_and_inverse() -> None:
    m = Monitor([A])
    m.update(snap(A, 0.0, [StatusRow(n, 0, 0, 0) for n in ("resize", "reverse", "mail")]))
    assert [r.function for r in m.rows(A, 0.0, filter_text="^re")] == ["resize", "reverse"]
    assert [r.function for r in m.rows(A, 0.0, filter_text="!^re")] == ["mail"]
    assert [r.function for r in m.rows(A, 0.0, filter_text="MAIL")] == ["mail"]
    assert len(m.rows(A, 0.0, filter_text="!")) == 3
    with pytest.raises(ValueError, match="bad filter"):
        compile_filter("([")


def test_alert_no_workers() -> None:
    m = Monitor([A])
    m.update(snap(A, 0.0, [StatusRow("orphan", 2, 0, 0), StatusRow("empty", 0, 0, 0)]))
    rows = {r.function: r for r in m.rows(A, 0.0)}
    assert rows["orphan"].alert == "no workers" and rows["empty"].alert is None
    assert m.alerts(A, 0.0) == ["orphan: 2 waiting, no workers"]


def test_alert_idle_workers_needs_several_samples() -> None:
    m = Monitor([A], idle_samples=3)
    for t in range(3):
        m.update(snap(A, float(t), [StatusRow("f", 4, 0, 2)]))
        alert = m.rows(A, float(t))[0].alert
        assert alert == (None if t < 2 else "workers idle")
    m.update(snap(A, 3.0, [StatusRow("f", 4, 1, 2)]))  # a job started: the streak resets
    assert m.rows(A, 3.0)[0].alert is None


def test_idle_uses_running_extension_when_present() -> None:
    w1, w2 = WorkerRow(7, "1.2.3.4", "-", ("f",)), WorkerRow(8, "1.2.3.4", "-", ("f", "g"))
    busy = (RunningRow(7, "1.2.3.4", "-", "H:x:1", "f", "", 1.0),
            RunningRow(8, "1.2.3.4", "-", "H:x:2", "g", "", 1.0))
    m = Monitor([A], idle_samples=1)
    # Every worker of f is busy (one on g): waiting jobs of f are not an "idle" alert.
    m.update(snap(A, 0.0, [StatusRow("f", 3, 1, 2), StatusRow("g", 1, 1, 1)],
                  workers=(w1, w2), running=busy))
    assert m.rows(A, 0.0)[0].alert is None
    m.update(snap(A, 1.0, [StatusRow("f", 3, 1, 2), StatusRow("g", 0, 0, 1)],
                  workers=(w1, w2), running=busy[:1]))
    assert {r.function: r.alert for r in m.rows(A, 1.0)}["f"] == "workers idle"


def test_stale_servers_and_aggregate() -> None:
    m = Monitor([A, B], stale_after=5.0)
    m.update(snap(A, 0.0, [StatusRow("f", 3, 1, 1)], priority=(P("f", 1, 1, 0, 1),),
                  stats=(stats("f", 1, 0, 2.0),)))
    m.update(snap(B, 0.0, [StatusRow("f", 5, 0, 2), StatusRow("g", 0, 0, 1)],
                  priority=(P("f", 0, 5, 0, 2), P("g", 0, 0, 0, 1)),
                  stats=(stats("f", 1, 0, 9.0), stats("g", 0, 0))))
    rows = {r.function: r for r in m.rows(ALL, 1.0)}
    f = rows["f"]
    assert (f.waiting, f.running, f.workers, f.servers) == (7, 1, 3, 2)
    assert (f.high, f.normal, f.low, f.oldest_wait) == (1, 6, 0, 9.0)
    assert m.live_servers(1.0) == [A, B]
    m.fail(B, "timed out", 2.0)
    assert m.is_stale(B, 2.0) and not m.is_stale(A, 2.0)
    assert {r.function: r.waiting for r in m.rows(ALL, 2.0)} == {"f": 2}  # B left out
    assert m.rows(B, 2.0)[0].waiting == 5  # B's own tab keeps its last data
    assert m.alerts(ALL, 2.0)[0] == "b:4730 stale: timed out"
    assert m.is_stale(A, 6.0)  # no fresh sample for longer than stale_after
    m.update(snap(B, 7.0, [StatusRow("f", 0, 0, 2)]))
    assert not m.is_stale(B, 7.0)
    (f_b,) = m.rows(B, 7.0)
    assert f_b.rate_in is None  # no rate across the outage
    assert f_b.spark == [5, 0]  # but the queue-depth history survives it


def test_workers_with_jobs_and_function_drilldown() -> None:
    m = Monitor([A])
    m.update(snap(A, 0.0, [StatusRow("f", 1, 1, 1)],
                  workers=(WorkerRow(7, "::1", "w1", ("f", "g")), WorkerRow(8, "::1", "-", ()),
                           WorkerRow(9, "::1", "w2", ("g",))),
                  running=(RunningRow(7, "::1", "w1", "H:x:1", "f", "u", 4.0),)))
    views = m.worker_views(A, 0.0)
    assert [v.fd for v in views] == [7, 9]  # the connection without functions is no worker
    assert views[0].job is not None and views[0].job.handle == "H:x:1"
    assert [v.fd for v in m.worker_views(A, 0.0, function="g")] == [7, 9]
    assert [v.fd for v in m.worker_views(A, 0.0, function="f")] == [7]
    jobs = m.running_jobs(A, 0.0, "f")
    assert jobs is not None and [j.handle for j in jobs] == ["H:x:1"]
    m2 = Monitor([B])
    m2.update(snap(B, 0.0, [StatusRow("f", 1, 1, 1)]))
    assert m2.running_jobs(B, 0.0, "f") is None  # gearmand: unknown, not "none"


def test_snapshot_json_shape() -> None:
    s = snap(A, 0.0, [StatusRow("f", 3, 1, 1)], priority=(P("f", 0, 2, 0, 1),),
             workers=(WorkerRow(7, "::1", "-", ("f",)), WorkerRow(8, "::1", "-", ())),
             version="1.1.20")
    doc = snapshot_json(s)
    assert doc["functions"] == [{
        "function": "f", "total": 3, "running": 1, "waiting": 2, "workers": 1, "high": 0,
        "normal": 2, "low": 0, "submitted": None, "completed": None, "failed": None,
        "exceptions": None, "requeued": None, "oldest_wait": None}]
    assert [w["fd"] for w in doc["workers"]] == [7]
    assert doc["extensions"] == {"stats": False, "running": False}
    assert doc["totals"] == {"functions": 1, "workers": 1, "waiting": 2, "running": 1}


def test_format_age() -> None:
    assert [format_age(x) for x in (None, 5.9, 65, 7300)] == ["-", "5s", "1m05s", "2h01m"]


def test_model_does_not_import_textual() -> None:
    import subprocess
    code = ("import sys, geartool.tui.model, geartool.tui.rows, geartool.tui.poller, "
            "geartool.tui.export; "
            "assert 'textual' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)
