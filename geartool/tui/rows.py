"""The rows ``geartool top`` shows, and how they are filtered, sorted and formatted.

Pure data and functions (no textual, no sockets, no clock): the snapshots pollers take, the
function and worker rows the view-model (``model.py``) makes of them, and the cell formats.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import lru_cache

from geartool.protocol.admin import (
    PriorityStatusRow,
    RunningRow,
    StatsRow,
    StatusRow,
    WorkerRow,
)

SPARK = "▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Snapshot:
    """One poll of one server. ``None`` for what the server does not offer (gearmand)."""

    server: str
    taken: float  # monotonic seconds
    status: tuple[StatusRow, ...] = ()
    priority: tuple[PriorityStatusRow, ...] | None = None
    workers: tuple[WorkerRow, ...] = ()
    stats: tuple[StatsRow, ...] | None = None
    running: tuple[RunningRow, ...] | None = None
    version: str | None = None
    uptime: float | None = None


@dataclass
class FunctionRow:
    """One line of the functions table. Rates are jobs/s, None until two samples exist."""

    function: str
    waiting: int
    running: int
    workers: int
    high: int | None = None
    normal: int | None = None
    low: int | None = None
    rate_in: float | None = None
    rate_out: float | None = None
    rates_exact: bool = False  # from server counters, not inferred from queue depth
    oldest_wait: float | None = None
    spark: list[int] = field(default_factory=list)
    alert: str | None = None
    servers: int = 1


@dataclass(frozen=True)
class WorkerView:
    """One worker connection (a connection with at least one registered function)."""

    server: str
    fd: int
    ip: str
    client_id: str
    functions: tuple[str, ...]
    job: RunningRow | None = None


SORT_KEYS: dict[str, Callable[[FunctionRow], object]] = {
    "function": lambda r: r.function,
    "waiting": lambda r: r.waiting,
    "running": lambda r: r.running,
    "workers": lambda r: r.workers,
    "high": lambda r: r.high or 0,
    "normal": lambda r: r.normal or 0,
    "low": lambda r: r.low or 0,
    "rate_in": lambda r: r.rate_in or 0.0,
    "rate_out": lambda r: r.rate_out or 0.0,
    "oldest_wait": lambda r: r.oldest_wait or 0.0,
}
SORT_ORDER = list(SORT_KEYS)


def compile_filter(text: str) -> Callable[[str], bool]:
    """A case-insensitive regex filter; a leading ``!`` inverts it. ValueError when malformed."""
    import re

    invert = text.startswith("!")
    pattern = text[1:] if invert else text
    if not pattern:
        return lambda name: True
    try:
        rx = re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ValueError(f"bad filter {pattern!r}: {exc}") from None
    return lambda name: (rx.search(name) is None) == invert


def select(rows: Iterable[FunctionRow], filter_text: str = "", sort: str = "function",
           reverse: bool = False) -> list[FunctionRow]:
    """Filter (regex, ``!`` inverts) and sort rows; the name breaks ties."""
    keep = compile_filter(filter_text)
    out = [r for r in rows if keep(r.function)]
    out.sort(key=lambda r: r.function)
    out.sort(key=SORT_KEYS[sort], reverse=reverse)  # type: ignore[arg-type]
    return out


def sparkline(values: Iterable[int], width: int = 12) -> str:
    """Queue depth as block characters, scaled to the largest value shown."""
    return _spark(tuple(values)[-width:])


@lru_cache(maxsize=4096)
def _spark(vals: tuple[int, ...]) -> str:
    top = max(vals, default=0)
    if top <= 0:
        return SPARK[0] * len(vals)
    return "".join(SPARK[min(len(SPARK) - 1, v * (len(SPARK) - 1) // top)] if v > 0 else " "
                   for v in vals)


def format_age(seconds: float | None) -> str:
    """Compact age: 42s, 3m05s, 2h10m; '-' when unknown."""
    if seconds is None:
        return "-"
    s = int(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def format_rate(rate: float | None, exact: bool) -> str:
    """Jobs/s for a cell; ``~`` marks a rate inferred from queue depth."""
    if rate is None:
        return "-"
    text = f"{rate:.1f}" if rate < 100 else f"{rate:.0f}"
    return text if exact else "~" + text
