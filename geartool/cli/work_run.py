"""The running half of ``geartool work``: one child process per job, signals, graceful stop."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from dataclasses import dataclass

from geartool.cli.common import EXIT_OK
from geartool.client import Address, Worker, WorkerJob, WorkFail

log = logging.getLogger("geartool.worker")
CHUNK = 65536


@dataclass(frozen=True, slots=True)
class WorkOptions:
    command: list[str]
    each_line: bool
    strip: bool
    timeout: float | None
    stderr: str  # "warning" or "log"
    verbose: bool


async def serve(servers: list[Address], functions: list[str], opts: WorkOptions, *,
                concurrency: int, count: int | None, client_id: str | None,
                connect_timeout: float) -> int:
    """Serve until SIGTERM/SIGINT (graceful) or ``count`` jobs; returns the exit code."""
    worker = Worker(servers, client_id=client_id, concurrency=concurrency,
                    connect_timeout=connect_timeout)
    handler = _Runner(opts)
    for name in functions:
        worker.register_task(name, handler.run, timeout=opts.timeout)
    main = asyncio.current_task()
    loop = asyncio.get_running_loop()
    signals = 0

    def on_signal(signum: int) -> None:
        nonlocal signals
        signals += 1
        if signals == 1:
            print(f"geartool work: {signal.Signals(signum).name}: finishing "
                  f"{worker.running} running job(s), then exiting", file=sys.stderr, flush=True)
            worker.stop()
        elif main is not None:
            main.cancel()  # second signal: kill the running commands now

    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        done = await worker.work(count)
    except asyncio.CancelledError:
        print("geartool work: stopped; running jobs were abandoned", file=sys.stderr)
        return 130
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    if opts.verbose:
        log.info("%d job(s) done", done)
    return EXIT_OK


class _Runner:
    def __init__(self, opts: WorkOptions) -> None:
        self.opts = opts

    async def run(self, job: WorkerJob) -> bytes:
        if self.opts.verbose:
            log.info("job %s (%s): %d bytes from %s", job.handle, job.function, len(job.data),
                     job.server)
        if not self.opts.command:
            return job.data
        try:
            proc = await asyncio.create_subprocess_exec(
                *self.opts.command, stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True)  # our Ctrl-C must not reach the children
        except OSError as exc:
            msg = f"cannot run {self.opts.command[0]}: {exc.strerror or exc}"
            log.warning("job %s: %s", job.handle, msg)
            job.send_warning(msg + "\n")
            raise WorkFail from None
        try:
            out, rc = await self._talk(proc, job)
        except BaseException:
            _kill(proc)
            await proc.wait()
            raise
        if rc == 0:
            return out
        if out:
            job.send_data(out)
        why = f"killed by signal {-rc}" if rc < 0 else f"exited with status {rc}"
        log.warning("job %s: %s %s", job.handle, self.opts.command[0], why)
        job.send_warning(f"{self.opts.command[0]} {why}\n")
        raise WorkFail

    async def _talk(self, proc: asyncio.subprocess.Process, job: WorkerJob) -> tuple[bytes, int]:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        feed = asyncio.create_task(_feed(proc.stdin, job.data))
        errs = asyncio.create_task(self._stderr(proc.stderr, job))
        try:
            if self.opts.each_line:
                out = await self._lines(proc.stdout, job)
            else:
                out = await proc.stdout.read()
            await asyncio.gather(feed, errs)
            return out, await proc.wait()
        finally:
            feed.cancel()
            errs.cancel()

    async def _lines(self, stream: asyncio.StreamReader, job: WorkerJob) -> bytes:
        """Send each whole line as its own WORK_DATA; return an unterminated tail, if any."""
        buf = b""
        while chunk := await stream.read(CHUNK):
            buf += chunk
            start = 0
            while (nl := buf.find(b"\n", start)) >= 0:
                job.send_data(buf[start:nl] if self.opts.strip else buf[start:nl + 1])
                start = nl + 1
            buf = buf[start:]
            await job.drain()
        return buf

    async def _stderr(self, stream: asyncio.StreamReader, job: WorkerJob) -> None:
        buf = b""
        while chunk := await stream.read(CHUNK):
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                self._warn(job, line + b"\n")
        if buf:
            self._warn(job, buf)

    def _warn(self, job: WorkerJob, line: bytes) -> None:
        if self.opts.stderr == "warning":
            job.send_warning(line)
        else:
            text = line.decode("utf-8", "replace").rstrip("\n")
            print(f"[{job.handle}] {text}", file=sys.stderr, flush=True)


async def _feed(stdin: asyncio.StreamWriter, data: bytes) -> None:
    try:
        stdin.write(data)
        await stdin.drain()
        stdin.close()
        await stdin.wait_closed()
    except (OSError, RuntimeError):
        # The command exited or closed stdin without reading it all (uvloop reports that as
        # RuntimeError): its exit status decides the job, not this.
        pass


def _kill(proc: asyncio.subprocess.Process) -> None:
    if proc.returncode is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the whole session: pipelines, shells
    except ProcessLookupError:
        pass
