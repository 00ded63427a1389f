"""Server lifecycle: open the store, replay it, listen, serve, commit in batches, drain, stop."""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import logging
import signal
import socket
import time

from geartool import COMPILED, _compiled

from . import heap
from .admin import VERSION
from .config import ServerConfig
from .core import Core
from .model import Job
from .sockets import open_listeners, set_keepalive
from .store import Store, StoreError, open_store
from .store.base import Batch
from .transport import Hub

log = logging.getLogger("geartool.server")


class StartupError(Exception):
    """The server cannot start; the message is one line for the user."""


class Server:
    """One geartool job server: a Core, its store, and the listening sockets."""

    def __init__(self, config: ServerConfig, store: Store | None = None) -> None:
        self.config = config
        try:
            self.store = store if store is not None else open_store(config.queue, config.port)
        except StoreError as exc:
            raise StartupError(str(exc)) from exc
        self.core = Core(config, self.store)
        self._committing = False
        self._commit_retry: asyncio.TimerHandle | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at = 0.0
        self._executor = concurrent.futures.ThreadPoolExecutor(1, "geartool-store")
        self._stopped: asyncio.Event | None = None
        self._stopping = False
        self._drain_deadline = 0.0
        self._shutdown_task: asyncio.Task[None] | None = None  # held so it is not collected
        self.addresses: list[tuple[str, int]] = []
        # Replies a peer may leave unread before it is cut off: room for two of the largest
        # packets plus slack, so only a peer that has really stopped reading is affected.
        self.hub = Hub(self.core, self._slow_paths, self.tune_socket, config.max_packet_size,
                       2 * config.max_packet_size + 16 * 1024 * 1024, self._starved)
        self.reserve = heap.Reserve()
        self._jobs_when_starved = 0

    @property
    def write_limit(self) -> int:
        return self.hub.write_limit

    @write_limit.setter
    def write_limit(self, value: int) -> None:
        self.hub.write_limit = value

    # ---- start -------------------------------------------------------------------------

    def replay(self) -> int:
        """Queue every stored job again; duplicates coalesce. Only a queue too big for this
        process's memory stops start-up (a StartupError, not a traceback)."""
        try:
            rows = self.store.load()
            count = self.core.replay(rows)
        except StoreError as exc:
            raise StartupError(str(exc)) from exc
        except MemoryError:
            self.reserve.release()  # room to report it
            raise StartupError(f"out of memory replaying the queue in {self.config.queue!r}: "
                               "it holds more jobs than fit in this process's memory") from None
        if rows:
            log.warning("replayed %d background jobs from the queue (%d duplicates merged)",
                        count, len(rows) - count)
        return count

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._stopped = asyncio.Event()
        self.reserve.take()
        self.replay()
        self.core.started = self.core.clock()
        socks = []
        for host in self.config.listen:
            try:
                socks += open_listeners(host, self.config.port, self.config.backlog)
            except OSError as exc:
                for sock in socks:
                    sock.close()
                reason = ("address already in use" if exc.errno == errno.EADDRINUSE
                          else exc.strerror or str(exc))
                raise StartupError(f"cannot listen on {host}:{self.config.port}: {reason}") \
                    from exc
        self.hub.attach(loop)
        for sock in socks:
            self.hub.listen(sock)
            addr = sock.getsockname()
            self.addresses.append((str(addr[0]), int(addr[1])))
        # Which code runs is said at start-up: compiled, the server needs 1.3-2.3x less CPU.
        log.warning("%s listening on %s (%s)", VERSION,
                    ", ".join(f"{h}:{p}" for h, p in self.addresses),
                    _compiled.DESCRIPTIONS[COMPILED])

    def tune_socket(self, sock: socket.socket) -> None:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.config.keepalive:
                set_keepalive(sock, self.config.keepalive_idle, self.config.keepalive_interval,
                              self.config.keepalive_count)
        except OSError:
            pass

    # ---- the end of every batch of events ----------------------------------------------

    def after_batch(self) -> None:
        self.hub.after_batch()

    def _slow_paths(self) -> None:
        """The hub's call when a commit, a timer or a shutdown may be due."""
        core = self.core
        # After a failed commit, leftover deletes wait for the retry timer, but new submits are
        # tried at once: with the disk still full they are refused promptly, not held a second.
        if (not self._committing and self.store.pending()
                and (self._commit_retry is None or core.uncommitted)):
            self._start_commit()
        delay = core.next_delay()
        if delay is not None:
            due = asyncio.get_running_loop().time() + max(0.0, delay)
            if self._timer is None or due < self._timer_at:
                self._arm_timer(due)
        if core.shutdown_requested and not self._stopping:
            self._shutdown_task = asyncio.get_running_loop().create_task(
                self.shutdown(graceful=core.shutdown_requested == "graceful"))

    # ---- out of memory ----------------------------------------------------------------------

    def _starved(self) -> None:
        """An allocation failed: give back the reserve so that serving workers, admin commands
        and error replies can still allocate, and refuse new jobs until memory is free again."""
        core = self.core
        # Replies a failed write pass left unsent get their turn at the next one.
        core.dirty.extend(c for c in core.conns.values() if c.out)
        if core.memory_low:
            return
        self.reserve.release()
        core.memory_low = True
        self._jobs_when_starved = len(core.jobs)
        log.error("out of memory with %d jobs: refusing new jobs until memory is free again",
                  len(core.jobs))
        asyncio.get_running_loop().call_later(1.0, self._check_memory)

    def _check_memory(self) -> None:
        """Once a second while starved: accept jobs again once a quarter of the jobs are gone
        (their memory is free for reuse) or the address space for two reserves is free."""
        core = self.core
        if self._stopping:
            return
        ready = self.reserve.take(headroom=self.reserve.size)
        if not ready and len(core.jobs) <= self._jobs_when_starved * 3 // 4:
            self.reserve.take()  # freed memory is reused inside the process, not given back
            ready = True
        if ready:
            core.memory_low = False
            log.warning("memory available again with %d jobs: accepting new jobs%s",
                        len(core.jobs), "" if self.reserve.held else " (no reserve left)")
            return
        asyncio.get_running_loop().call_later(1.0, self._check_memory)

    def _arm_timer(self, due: float) -> None:
        """Call core.tick at loop time ``due`` (the loop's clock is monotonic)."""
        loop = asyncio.get_running_loop()
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = due
        self._timer = loop.call_at(due, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self.core.tick()
        self.after_batch()

    def _start_commit(self) -> None:
        if self._commit_retry is not None:
            self._commit_retry.cancel()
            self._commit_retry = None
        batch = self.store.take_batch()
        jobs, self.core.uncommitted = self.core.uncommitted, []
        self._committing = True
        loop = asyncio.get_running_loop()
        fut = loop.run_in_executor(self._executor, self.store.write_batch, batch)
        fut.add_done_callback(lambda f: self._commit_done(f, jobs, batch))

    def _commit_done(self, fut: asyncio.Future[None], jobs: list[Job], batch: Batch) -> None:
        self._committing = False
        exc = fut.exception()
        error = None
        if exc is not None:
            error = str(exc)
            log.error("%s; %d submits refused, retrying deletes in 1 s", error, len(jobs))
            for job_id in batch.removes:  # keep trying to forget finished jobs
                self.store.remove(job_id)
            if self._commit_retry is None:
                self._commit_retry = asyncio.get_running_loop().call_later(
                    1.0, self._retry_commit)
        self.core.committed(jobs, error)
        self.after_batch()

    def _retry_commit(self) -> None:
        self._commit_retry = None
        self.after_batch()

    # ---- stop ---------------------------------------------------------------------------

    def _close_listeners(self) -> None:
        """Stop accepting new connections (existing ones are left alone)."""
        self.hub.close_listeners()

    async def shutdown(self, graceful: bool = True) -> None:
        """Stop accepting; when graceful, let running jobs finish (bounded); keep the queue."""
        if self._stopping:
            return
        self._stopping = True
        try:
            await self._drain_and_close(graceful)
        except Exception:  # never leave serve() waiting forever on a failed shutdown
            log.exception("error during shutdown")
        finally:
            if self._stopped is not None:
                self._stopped.set()

    async def _drain_and_close(self, graceful: bool) -> None:
        self._close_listeners()
        core = self.core
        self._drain_deadline = time.monotonic() + (
            self.config.graceful_timeout if graceful else 0.0)
        core.draining = True
        while any(fn.running for fn in core.functions.values()):
            if time.monotonic() >= self._drain_deadline:
                if graceful:
                    log.warning("graceful shutdown timed out with jobs still running")
                break
            await asyncio.sleep(0.05)
        while self._committing and time.monotonic() < self._drain_deadline + 10:
            await asyncio.sleep(0.01)
        if self.store.pending():
            jobs, core.uncommitted = core.uncommitted, []
            try:
                self.store.write_batch(self.store.take_batch())
                core.committed(jobs, None)
            except StoreError as exc:
                log.error("%s", exc)
        self.hub.close_all()
        self.store.close()
        self._executor.shutdown(wait=False)

    async def serve(self) -> None:
        """Run until shutdown (admin command or signal)."""
        await self.start()
        loop = asyncio.get_running_loop()
        for sig, graceful in ((signal.SIGTERM, True), (signal.SIGINT, True)):
            try:
                loop.add_signal_handler(sig, self._on_signal, graceful)
            except (NotImplementedError, RuntimeError):
                pass
        assert self._stopped is not None
        await self._stopped.wait()

    def _on_signal(self, graceful: bool) -> None:
        if self._stopping:  # a second signal: stop waiting for running jobs
            self._drain_deadline = 0.0
            return
        log.warning("signal received: draining running jobs, then stopping")
        self._shutdown_task = asyncio.get_running_loop().create_task(self.shutdown(graceful))


def run(config: ServerConfig) -> None:
    """Blocking entry point for the CLI; raises StartupError with a one-line message."""
    heap.tune()
    server = Server(config)
    try:
        import uvloop
    except ImportError:  # uvloop is optional (not on every platform); asyncio's loop works
        asyncio.run(server.serve())
    else:
        uvloop.run(server.serve())
