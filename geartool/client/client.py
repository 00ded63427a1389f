"""The asyncio Gearman client: submit jobs to one of several servers, follow them, ask status.

One connection per server, opened on first use and shared by every request. A submit tries the
servers in :func:`~geartool.client.servers.pick_order` (a job with a unique id always starts at
the same server, so coalescing works across a cluster) and fails over to the next one within the
same call when a server cannot be reached. Servers that recently failed are tried last.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Iterable

from geartool.protocol import PacketType, Priority, ServerError, submit_type

from .client_conn import ClientConn
from .connection import open_connection
from .errors import ConnectError, ConnectionLost, RequestTimeout, SubmitTimeout
from .job import EventKind, Job, JobEvent, JobResult, JobStatus
from .servers import Address, parse_addresses, pick_order

log = logging.getLogger("geartool.client")

ServerSpec = str | Address | Iterable[str | Address]


def as_addresses(servers: ServerSpec) -> list[Address]:
    """Normalise one ``host[:port]`` string (comma lists allowed) or a list of them/Addresses."""
    items = [servers] if isinstance(servers, str | Address) else list(servers)
    out: list[Address] = []
    for item in items:
        for addr in ([item] if isinstance(item, Address) else parse_addresses([item])):
            if addr not in out:
                out.append(addr)
    if not out:
        raise ValueError("no servers given")
    return out


def as_priority(priority: Priority | str) -> Priority:
    if isinstance(priority, Priority):
        return priority
    try:
        return Priority[priority.upper()]
    except KeyError:
        raise ValueError(f"bad priority {priority!r} (high, normal or low)") from None


def _bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


class _Server:
    __slots__ = ("address", "cc", "connecting", "down_until", "failures")

    def __init__(self, address: Address) -> None:
        self.address = address
        self.cc: ClientConn | None = None
        self.connecting: asyncio.Future[ClientConn] | None = None
        self.down_until = 0.0
        self.failures = 0


class Client:
    """Submits jobs and follows them.

    ``connect_timeout`` bounds each TCP connect, ``submit_timeout`` the wait for JOB_CREATED
    (None = no limit). With ``exceptions`` the servers forward WORK_EXCEPTION text instead of
    a bare WORK_FAIL. With ``retry_lost`` a foreground job whose server goes away before it
    ends is submitted again to another server (its iterator then yields a RETRY event).
    """

    def __init__(self, servers: ServerSpec = "127.0.0.1", *, connect_timeout: float = 5.0,
                 submit_timeout: float | None = 30.0, exceptions: bool = True,
                 client_id: str | None = None, retry_lost: bool = True) -> None:
        self.servers = as_addresses(servers)
        self.connect_timeout = connect_timeout
        self.submit_timeout = submit_timeout
        self.exceptions = exceptions
        self.client_id = client_id
        self.retry_lost = retry_lost
        self._state = {a: _Server(a) for a in self.servers}
        self._rr = 0
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # submitting

    async def submit(self, function: str, data: bytes | str = b"", *,
                     unique: bytes | str | None = None, priority: Priority | str = Priority.NORMAL,
                     background: bool = False, submit_timeout: float | None | bool = True) -> Job:
        """Submit one job and return it once a server sent JOB_CREATED.

        Raises ConnectError (no server reachable), ServerError (e.g. QUEUE_ERROR: queue full)
        or SubmitTimeout. A background job without ``unique`` gets a generated one.
        """
        if self._closed:
            raise ConnectError("client is closed")
        uq = _bytes(unique) if unique is not None else (
            uuid.uuid4().hex.encode() if background else b"")
        job = Job(function, _bytes(data), uq, as_priority(priority), background)
        await self._place(job, self.submit_timeout if submit_timeout is True else
                          (None if submit_timeout is False else submit_timeout))
        return job

    async def submit_job(self, function: str, data: bytes | str = b"", *,
                         unique: bytes | str | None = None,
                         priority: Priority | str = Priority.NORMAL, background: bool = False,
                         wait_until_complete: bool = True, timeout: float | None = None
                         ) -> JobResult:
        """Submit and, unless background, wait for the end (python-gearman's name).

        ``timeout`` bounds the whole job, submit included (JobTimeout / SubmitTimeout).
        Background jobs return a result with state ``queued`` and the handle.
        """
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        st: float | None | bool = True if timeout is None else min(
            timeout, self.submit_timeout or timeout)
        job = await self.submit(function, data, unique=unique, priority=priority,
                                background=background, submit_timeout=st)
        if background or not wait_until_complete:
            return job._done.result() if job.done() else JobResult(
                function, job.unique.decode("utf-8", "replace"), job.handle, job.server,
                "created")
        left = None if deadline is None else max(0.0, deadline - loop.time())
        return await job.result(left)

    def _order(self, unique: bytes, avoid: Address | None = None) -> list[Address]:
        self._rr += 1
        order = pick_order(self.servers, unique or None, self._rr)
        if len(order) == 1:
            return order
        now = asyncio.get_running_loop().time()
        state = self._state
        if avoid is None and not any(state[a].down_until > now for a in order):
            return order
        # Stable sort: healthy servers in pick order first, then the ones that failed lately.
        return sorted(order, key=lambda a: (a == avoid, state[a].down_until > now))

    async def _place(self, job: Job, timeout: float | None, avoid: Address | None = None) -> None:
        errors: list[str] = []
        ptype = submit_type(job.priority, job.background)
        args = (job.function.encode(), job.unique, job.data)
        for addr in self._order(job.unique, avoid):
            try:
                cc = await self._connect(addr)
            except ConnectError as exc:
                errors.append(str(exc))
                continue
            job.attempts += 1
            created = cc.submit(job, ptype, args)
            try:
                # No shield: on timeout the future is cancelled, which is exactly how the
                # connection learns to ignore a late JOB_CREATED.
                async with asyncio.timeout(timeout):
                    await created
            except TimeoutError:
                raise SubmitTimeout(f"no JOB_CREATED from {addr} within {timeout:g} s "
                                    f"for {job.function}") from None
            except ConnectionLost as exc:
                errors.append(str(exc))
                continue
            return
        raise ConnectError("; ".join(errors) or "no servers")

    # connections

    async def _connect(self, addr: Address) -> ClientConn:
        st = self._state.get(addr) or self._state.setdefault(addr, _Server(addr))
        if st.cc is not None and not st.cc.closed:
            return st.cc
        if st.connecting is not None:
            return await asyncio.shield(st.connecting)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[ClientConn] = loop.create_future()
        fut.add_done_callback(lambda f: f.cancelled() or f.exception())
        st.connecting = fut
        try:
            cc = ClientConn(addr, self._lost)
            cc.conn = await open_connection(addr, cc, self.connect_timeout)
            if self.client_id:
                cc.conn.send(PacketType.SET_CLIENT_ID, self.client_id.encode())
            if self.exceptions:
                # Pipelined: the reply (or an ERROR from an old server) settles in FIFO order.
                cc.request(PacketType.OPTION_REQ, b"exceptions", PacketType.OPTION_RES)
        except ConnectError as exc:
            st.failures += 1
            st.down_until = loop.time() + min(30.0, 0.25 * 2 ** st.failures)
            fut.set_exception(exc)
            raise
        finally:
            st.connecting = None
        st.cc, st.failures, st.down_until = cc, 0, 0.0
        fut.set_result(cc)
        return cc

    def _lost(self, cc: ClientConn, jobs: list[Job]) -> None:
        st = self._state[cc.address]
        if st.cc is cc:
            st.cc = None
            st.down_until = asyncio.get_running_loop().time() + 0.5
        if not jobs:
            return
        if self._closed:
            for job in jobs:
                job._fail(ConnectionLost("client closed"))
            return
        log.warning("%s went away with %d unfinished job(s)", cc.address, len(jobs))
        for job in jobs:
            if self.retry_lost and job.attempts < max(2, len(self.servers)):
                task = asyncio.get_running_loop().create_task(self._resubmit(job, cc.address))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            else:
                job._fail(ConnectionLost(f"lost connection to {cc.address} while job "
                                         f"{job.handle} was running"))

    async def _resubmit(self, job: Job, gone: Address) -> None:
        old = job.handle
        try:
            await self._place(job, self.submit_timeout, avoid=gone)
        except Exception as exc:  # noqa: BLE001 - every failure ends the job the same way
            job._fail(ConnectionLost(f"lost connection to {gone} while job {old} was running, "
                                     f"and resubmitting failed: {exc}"))
            return
        job._event(JobEvent(EventKind.RETRY, f"{gone} {old} -> {job.server} {job.handle}"
                            .encode()))

    # other requests

    async def _ask(self, addr: Address, ptype: PacketType, arg: bytes, expect: PacketType,
                   timeout: float | None) -> tuple[bytes, ...]:
        cc = await self._connect(addr)
        try:
            async with asyncio.timeout(timeout):
                return (await asyncio.shield(cc.request(ptype, arg, expect))).args
        except TimeoutError:
            raise RequestTimeout(f"no {expect.name} from {addr} within {timeout:g} s") from None

    async def get_status(self, handle: str | bytes, server: Address | str | None = None, *,
                         timeout: float | None = 10.0) -> JobStatus:
        """GET_STATUS. Without ``server``, every server is asked and a known answer wins."""
        hb = _bytes(handle)
        addrs = [as_addresses(server)[0]] if server is not None else self.servers
        results = await asyncio.gather(
            *(self._ask(a, PacketType.GET_STATUS, hb, PacketType.STATUS_RES, timeout)
              for a in addrs), return_exceptions=True)
        answers: list[JobStatus] = []
        for addr, res in zip(addrs, results, strict=True):
            if isinstance(res, BaseException):
                if len(addrs) == 1 or isinstance(res, ServerError):
                    raise res
                continue
            answers.append(JobStatus(res[0].decode("utf-8", "replace"), res[1] == b"1",
                                     res[2] == b"1", _num(res[3]), _num(res[4]), addr))
        if not answers:
            errors = [str(r) for r in results if isinstance(r, BaseException)]
            raise ConnectError("; ".join(errors))
        return next((a for a in answers if a.known), answers[0])

    async def echo(self, data: bytes | str, server: Address | str | None = None, *,
                   timeout: float | None = 10.0) -> bytes:
        """ECHO_REQ round trip to one server (the first one by default)."""
        addr = as_addresses(server)[0] if server is not None else self.servers[0]
        res = await self._ask(addr, PacketType.ECHO_REQ, _bytes(data), PacketType.ECHO_RES,
                              timeout)
        return res[0]

    async def close(self) -> None:
        """Close every connection; unfinished jobs fail with ConnectionLost."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        for st in self._state.values():
            if st.cc is not None:
                st.cc.close()
                st.cc = None
        await asyncio.sleep(0)


def _num(raw: bytes) -> int:
    try:
        return int(raw)
    except ValueError:
        return 0
