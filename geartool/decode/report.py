"""The --summary and --jobs reports, as text tables or JSON."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from .dissect import Dissector
from .stream import Anomaly
from .timeline import FunctionStats, Job, Timeline, by_function


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.3f}"


def _pcts(st: FunctionStats, which: str) -> str:
    p = st.percentiles(which)
    if p is None:
        return "-"
    return "/".join(f"{v * 1000:.2f}" for v in p.values())


def summary_text(source: str, dissector: Dissector, timeline: Timeline) -> str:
    """Counts per packet type and per function, job time percentiles, anomalies."""
    lines = [f"capture: {source}: {dissector.frames} frames, {dissector.segments} TCP segments "
             f"on ports {','.join(map(str, sorted(dissector.ports)))}, "
             f"{len(dissector.streams)} Gearman streams",
             "", "packets by type:"]
    width = max((len(k) for k in timeline.by_type), default=10)
    for name, count in sorted(timeline.by_type.items(), key=lambda kv: (-kv[1], kv[0])):
        lines.append(f"  {name:<{width}}  {count:>9}")
    if not timeline.by_type:
        lines.append("  (none)")
    stats = by_function(timeline.jobs)
    lines += ["", "jobs by function (times in ms: p50/p90/p99/max):"]
    if stats:
        fw = max(8, *(len(s.function) for s in stats))
        lines.append(f"  {'function':<{fw}}  {'jobs':>7}  {'done':>7}  {'failed':>7}  "
                     f"{'except':>7}  {'open':>7}  {'wait':<28}  run")
        for st in stats:
            o = st.outcomes
            lines.append(f"  {st.function or '?':<{fw}}  {st.jobs:>7}  {o['COMPLETE']:>7}  "
                         f"{o['FAIL'] + o['REJECTED']:>7}  {o['EXCEPTION']:>7}  "
                         f"{o['UNFINISHED']:>7}  {_pcts(st, 'wait'):<28}  {_pcts(st, 'run')}")
    else:
        lines.append("  (no jobs)")
    lines += ["", f"anomalies: {len(timeline.anomalies)}"]
    kinds: Counter[str] = Counter()
    for rec in timeline.anomalies:
        kinds[rec.item.kind] += 1  # type: ignore[union-attr]
    for kind, count in sorted(kinds.items()):
        first = next(r for r in timeline.anomalies if r.item.kind == kind)  # type: ignore[union-attr]
        item = first.item
        assert type(item) is Anomaly
        lines.append(f"  {kind:<12} {count:>6}   first in frame {first.frame}, stream "
                     f"{first.stream}: {item.text}")
    return "\n".join(lines) + "\n"


def summary_json(source: str, dissector: Dissector, timeline: Timeline) -> str:
    out: dict[str, Any] = {
        "capture": source, "frames": dissector.frames, "segments": dissector.segments,
        "ports": sorted(dissector.ports), "streams": len(dissector.streams),
        "packets_by_type": dict(sorted(timeline.by_type.items())),
        "functions": [
            {"function": st.function, "jobs": st.jobs, "outcomes": dict(st.outcomes),
             "wait": st.percentiles("wait"), "run": st.percentiles("run")}
            for st in by_function(timeline.jobs)],
        "anomalies": [
            {"frame": r.frame, "stream": r.stream, "kind": r.item.kind,  # type: ignore[union-attr]
             "text": r.item.text} for r in timeline.anomalies],  # type: ignore[union-attr]
    }
    return json.dumps(out) + "\n"


def job_dict(job: Job) -> dict[str, Any]:
    return {
        "handle": job.handle, "function": job.function, "unique": job.unique,
        "submit_type": job.submit_type, "background": job.background,
        "outcome": job.outcome or "UNFINISHED", "server": job.server,
        "client_stream": job.client_stream, "worker_stream": job.worker_stream,
        "first_frame": job.first_frame, "submitted": job.submitted, "created": job.created,
        "assigned": job.assigned, "finished": job.finished, "assigns": job.assigns,
        "wait": job.wait, "run": job.run, "total": job.total,
    }


def jobs_text(timeline: Timeline) -> str:
    """One line per job, in order of first appearance."""
    jobs = timeline.jobs
    hw = max(6, *(len(j.handle) for j in jobs)) if jobs else 6
    fw = max(8, *(len(j.function) for j in jobs)) if jobs else 8
    lines = [f"{'frame':>7}  {'handle':<{hw}}  {'function':<{fw}}  {'outcome':<10}  "
             f"{'client':>6}  {'worker':>6}  {'wait ms':>10}  {'run ms':>10}  {'total ms':>10}"]
    for j in jobs:
        bg = "*" if j.background else " "
        lines.append(f"{j.first_frame:>7}  {j.handle:<{hw}}  {j.function:<{fw}}  "
                     f"{(j.outcome or 'UNFINISHED'):<10}{bg} "
                     f"{_stream(j.client_stream):>6}  {_stream(j.worker_stream):>6}  "
                     f"{_ms(j.wait):>10}  {_ms(j.run):>10}  {_ms(j.total):>10}")
    lines.append(f"{len(jobs)} jobs (* = background)")
    return "\n".join(lines) + "\n"


def _stream(sid: int | None) -> str:
    return "-" if sid is None else f"#{sid}"


def jobs_json(timeline: Timeline) -> str:
    return "".join(json.dumps(job_dict(j)) + "\n" for j in timeline.jobs)
