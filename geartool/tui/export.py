"""``geartool top --once --json``: one snapshot of every server as plain JSON data."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from geartool.tui.rows import Snapshot


def snapshot_json(snap: Snapshot) -> dict[str, Any]:
    """Functions (with waiting and, where known, per-priority and counter fields) and workers.

    Keys a server does not provide are ``null`` rather than missing, so scripts can rely on
    the shape; ``extensions`` says whether geartool's ``stats``/``running`` were available.
    """
    prio = {p.function: p for p in snap.priority or ()}
    stats = {s.function: s for s in snap.stats or ()}
    running = {(r.fd, r.ip): r for r in snap.running or ()}
    functions = []
    for s in sorted(snap.status, key=lambda r: r.function):
        p, st = prio.get(s.function), stats.get(s.function)
        functions.append({
            "function": s.function, "total": s.total, "running": s.running,
            "waiting": s.waiting, "workers": s.workers,
            "high": p.high if p else None, "normal": p.normal if p else None,
            "low": p.low if p else None,
            "submitted": st.submitted if st else None,
            "completed": st.completed if st else None,
            "failed": st.failed if st else None,
            "exceptions": st.exceptions if st else None,
            "requeued": st.requeued if st else None,
            "oldest_wait": st.oldest_wait if st else None,
        })
    workers = []
    for w in snap.workers:
        if not w.functions:
            continue  # clients and admin sessions are connections, not workers
        job = running.get((w.fd, w.ip))
        workers.append({"fd": w.fd, "ip": w.ip, "client_id": w.client_id,
                        "functions": list(w.functions),
                        "job": None if job is None else asdict(job)})
    return {
        "server": snap.server, "ok": True, "version": snap.version, "uptime": snap.uptime,
        "extensions": {"stats": snap.stats is not None, "running": snap.running is not None},
        "functions": functions, "workers": workers,
        "totals": {"functions": len(functions), "workers": len(workers),
                   "waiting": sum(f["waiting"] for f in functions),
                   "running": sum(f["running"] for f in functions)},
    }


def failure_json(server: str, error: str) -> dict[str, Any]:
    """The entry of a server that could not be polled."""
    return {"server": server, "ok": False, "error": error}
