"""The running half of ``geartool submit``: submit jobs, stream their events, pick the exit code.

Imported only when the command runs, so ``geartool --help`` never loads asyncio or the client.
Output contract: WORK_DATA and the WORK_COMPLETE payload go raw to stdout as they arrive;
WORK_WARNING, WORK_EXCEPTION text, failures and progress go to stderr (a bar on a terminal,
plain lines otherwise). With --json, stdout carries one JSON object per job instead.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
import time
from dataclasses import dataclass
from typing import Any, BinaryIO, TextIO

from geartool.cli.common import EXIT_FAILED, EXIT_OK
from geartool.client import (
    Address,
    Client,
    EventKind,
    GearmanError,
    Job,
    JobEvent,
)

from .submit import PARALLEL, exit_code_for


@dataclass(frozen=True, slots=True)
class Options:
    background: bool
    priority: str
    unique: str | None
    prefix: bool
    as_json: bool
    timeout: float | None
    verbose: bool


class Output:
    """Writes job output; a progress bar is drawn only when stderr is a terminal."""

    def __init__(self, opts: Options, out: BinaryIO, err: TextIO) -> None:
        self.opts = opts
        self.out = out
        self.err = err
        self.tty = err.isatty()
        self._bar = False

    def data(self, function: str, data: bytes) -> None:
        if not data or self.opts.as_json:
            return
        self._clear_bar()
        if self.opts.prefix:
            self.out.write(function.encode() + b": ")
        self.out.write(data)
        self.out.flush()

    def line(self, text: str) -> None:
        self._clear_bar()
        print(text, file=self.err, flush=True)

    def progress(self, function: str, handle: str, num: int, den: int) -> None:
        pct = num * 100 // den if den else 0
        if not self.tty:
            self.line(f"{function} {handle}: {pct}% complete ({num}/{den})")
            return
        filled = max(0, min(30, pct * 30 // 100))
        self.err.write(f"\r\x1b[K{function} {handle} [{'#' * filled}{'.' * (30 - filled)}] "
                       f"{pct:3d}% ({num}/{den})")
        self.err.flush()
        self._bar = True

    def json(self, obj: dict[str, Any]) -> None:
        self.out.write(json.dumps(obj).encode() + b"\n")
        self.out.flush()

    def _clear_bar(self) -> None:
        if self._bar:
            self.err.write("\r\x1b[K")
            self.err.flush()
            self._bar = False


def _text(data: bytes, key: str) -> dict[str, Any]:
    try:
        return {key: data.decode("utf-8")}
    except UnicodeDecodeError:
        return {f"{key}_base64": base64.b64encode(data).decode()}


async def run_jobs(servers: list[Address], connect_timeout: float, jobs: list[tuple[str, bytes]],
                   opts: Options) -> int:
    """Run every (function, workload) job, at most PARALLEL at once; return the exit code."""
    out = Output(opts, sys.stdout.buffer, sys.stderr)
    gate = asyncio.Semaphore(PARALLEL)
    async with Client(servers, connect_timeout=connect_timeout) as client:
        async def one(function: str, data: bytes) -> int:
            async with gate:
                return await _one(client, function, data, opts, out)
        codes = await asyncio.gather(*(one(f, d) for f, d in jobs))
    return max(codes, default=EXIT_OK)


async def _one(client: Client, function: str, data: bytes, opts: Options, out: Output) -> int:
    start = time.perf_counter()
    record: dict[str, Any] = {"function": function, "unique": opts.unique, "handle": None,
                              "server": None}
    job: Job | None = None
    try:
        async with asyncio.timeout(opts.timeout):
            job = await client.submit(function, data, unique=opts.unique,
                                      priority=opts.priority, background=opts.background)
            record.update(handle=job.handle, server=str(job.server),
                          unique=job.unique.decode("utf-8", "replace"))
            if opts.verbose:
                out.line(f"Task created: {job.handle} on {job.server}")
            if opts.background:
                if opts.as_json:
                    out.json({**record, "status": "queued",
                              "timings": {"created_ms": _ms(job, start)}})
                else:
                    out.data(function, job.handle.encode() + b"\n")
                return EXIT_OK
            code, extra = await _follow(job, function, out)
    except GearmanError as exc:
        return _error(out, record, str(exc), exit_code_for(exc), start)
    except TimeoutError:
        where = f"job {job.handle} ({function})" if job is not None and job.handle else function
        msg = f"timed out after {opts.timeout:g} s waiting for {where}"
        return _error(out, record, msg, exit_code_for(TimeoutError()), start)
    if opts.as_json:
        total = round((time.perf_counter() - start) * 1e3, 3)
        out.json({**record, **extra,
                  "timings": {"created_ms": _ms(job, start), "total_ms": total}})
    return code


async def _follow(job: Job, function: str, out: Output) -> tuple[int, dict[str, Any]]:
    chunks: list[bytes] = []
    warnings: list[str] = []
    progress: list[int] = []
    ev: JobEvent | None = None
    async for ev in job:
        kind = ev.kind
        if kind is EventKind.DATA or kind is EventKind.COMPLETE:
            out.data(function, ev.data)
            if out.opts.as_json:
                chunks.append(ev.data)
        elif kind is EventKind.STATUS:
            progress = [ev.numerator, ev.denominator]
            if not out.opts.as_json:
                out.progress(function, job.handle, ev.numerator, ev.denominator)
        elif kind is EventKind.WARNING:
            text = ev.data.decode("utf-8", "replace")
            warnings.append(text)
            if not out.opts.as_json:
                out.line(text.rstrip("\n"))
        elif kind is EventKind.RETRY:
            out.line(f"geartool: server went away, job resubmitted: {ev.data.decode()}")
        elif kind is EventKind.EXCEPTION:
            if not out.opts.as_json:
                out.line(f"geartool: job {job.handle} ({function}) raised: "
                         f"{ev.data.decode('utf-8', 'replace')}")
        elif kind is EventKind.FAIL and not out.opts.as_json:
            out.line(f"geartool: job {job.handle} ({function}) failed")
    state = ev.kind.value if ev is not None else "fail"
    extra: dict[str, Any] = {"handle": job.handle, "server": str(job.server), "status": state,
                             **_text(b"".join(chunks), "data"), "warnings": warnings}
    if progress:
        extra["progress"] = progress
    if ev is not None and ev.kind is EventKind.EXCEPTION:
        extra["exception"] = ev.data.decode("utf-8", "replace")
    return (EXIT_OK if state == "complete" else EXIT_FAILED), extra


def _ms(job: Job | None, start: float) -> float | None:
    created = job.created_at if job is not None else 0.0
    return round((created - start) * 1e3, 3) if created else None


def _error(out: Output, record: dict[str, Any], msg: str, code: int, start: float) -> int:
    if out.opts.as_json:
        out.json({**record, "status": "error", "error": msg, "exit": code,
                  "timings": {"total_ms": round((time.perf_counter() - start) * 1e3, 3)}})
    out.line(f"geartool: {msg}")
    return code
