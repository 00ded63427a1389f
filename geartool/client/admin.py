"""asyncio client for the Gearman text admin protocol (gearmand's and geartool's extensions).

One connection, one command at a time. A list command (``status``, ``workers``, ``show ...``)
is read up to its ``.`` line; any other command answers with exactly one line. ``ERR`` replies
raise :class:`~geartool.protocol.ServerError`; connection failures raise ``OSError`` (or
``TimeoutError``, itself an ``OSError``), so callers can tell "the server said no" from "no
server".
"""

from __future__ import annotations

import asyncio
from types import TracebackType

from geartool.client.servers import Address, parse_address
from geartool.protocol import NEED_DATA, AdminLine, Decoder, RemoteProtocolError, ServerError
from geartool.protocol import admin as A

# Rows of `workers` grow with the number of functions a worker registered; gearmand's own
# 8 KiB line limit is for commands it reads, not for replies we read.
MAX_REPLY_LINE = 16 * 1024 * 1024
READ_CHUNK = 256 * 1024


class AdminClient:
    """Admin connection to one server.

    ``timeout`` bounds the connect and each whole command (send plus full reply). Use it as an
    async context manager, or call :meth:`connect` and :meth:`close`.
    """

    def __init__(self, address: Address | str, timeout: float = 5.0) -> None:
        self.address = parse_address(address) if isinstance(address, str) else address
        self.timeout = timeout
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._decoder = Decoder(max_line=MAX_REPLY_LINE)
        self._lock = asyncio.Lock()
        # Extension commands this server answered with ERR UNKNOWN_COMMAND: not asked again.
        self.missing: set[str] = set()

    # ---- connection ------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        """Whether the connection is open (it is opened on demand by every command)."""
        return self._writer is not None and not self._writer.is_closing()

    async def connect(self) -> None:
        """Open the connection (no-op when already open)."""
        if self.connected:
            return
        self._reader, self._writer = await asyncio.wait_for(
            asyncio.open_connection(self.address.host, self.address.port,
                                    limit=READ_CHUNK), self.timeout)
        self._decoder = Decoder(max_line=MAX_REPLY_LINE)

    async def close(self) -> None:
        """Close the connection; harmless when already closed."""
        writer, self._writer, self._reader = self._writer, None, None
        if writer is not None:
            writer.close()
            try:
                await asyncio.wait_for(writer.wait_closed(), 1.0)
            except (OSError, TimeoutError):
                pass  # the peer is gone already; nothing left to release

    async def __aenter__(self) -> AdminClient:
        await self.connect()
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        await self.close()

    # ---- raw commands ------------------------------------------------------------------

    async def command(self, command: str) -> list[str] | str:
        """Send one command; rows (list commands) or the single reply line, unchecked."""
        async with self._lock:
            await self.connect()
            try:
                return await asyncio.wait_for(self._exchange(command), self.timeout)
            except BaseException:
                # A half-read reply would desynchronise the next command: start afresh.
                await self.close()
                raise

    async def _exchange(self, command: str) -> list[str] | str:
        assert self._writer is not None
        self._writer.write(command.encode() + b"\r\n")
        await self._writer.drain()
        if not A.is_list_command(command):
            return await self._line()
        first = await self._line()
        if first.startswith("ERR ") or first == "ERR":
            return first
        rows: list[str] = []
        line = first
        while line != ".":
            rows.append(line)
            line = await self._line()
        return rows

    async def _line(self) -> str:
        assert self._reader is not None
        while True:
            event = self._decoder.next_event()
            if event is not NEED_DATA:
                if not isinstance(event, AdminLine):
                    raise RemoteProtocolError("binary packet in an admin reply")
                return event.line.decode("utf-8", "replace")
            data = await self._reader.read(READ_CHUNK)
            if not data:
                raise ConnectionResetError(f"{self.address} closed the connection")
            self._decoder.feed(data)

    async def rows(self, command: str) -> list[str]:
        """Rows of a list command; ServerError when the server answers ERR."""
        reply = await self.command(command)
        if isinstance(reply, str):
            A.check_reply_line(reply)
            raise RemoteProtocolError(f"expected rows for {command!r}, got {reply!r}")
        return reply

    async def line(self, command: str) -> str:
        """The value of a one-line OK reply (empty for a bare OK); ServerError for ERR."""
        reply = await self.command(command)
        assert isinstance(reply, str)
        return A.check_reply_line(reply)

    # ---- typed commands -----------------------------------------------------------------

    async def status(self) -> list[A.StatusRow]:
        """``status``: per function total, running and registered workers."""
        return A.parse_status(await self.rows("status"))

    async def priority_status(self) -> list[A.PriorityStatusRow]:
        """``prioritystatus`` (gearmand 1.1.15+): queued jobs per priority."""
        return A.parse_priority_status(await self.rows("prioritystatus"))

    async def workers(self) -> list[A.WorkerRow]:
        """``workers``: every connection (clients and admin sessions too)."""
        return A.parse_workers(await self.rows("workers"))

    async def show_jobs(self) -> list[A.JobRow]:
        """``show jobs``: every job the server holds."""
        return A.parse_jobs(await self.rows("show jobs"))

    async def show_unique_jobs(self) -> list[str]:
        """``show unique jobs``: the unique id of every job ("" when it has none)."""
        return await self.rows("show unique jobs")

    async def cancel_job(self, handle: str) -> None:
        """``cancel job``; ServerError UNKNOWN_JOB when the server does not hold it."""
        await self.line(f"cancel job {_word(handle)}")

    async def create_function(self, function: str) -> None:
        """``create function``: an empty function."""
        await self.line(f"create function {_word(function)}")

    async def drop_function(self, function: str) -> None:
        """``drop function``; ServerError while it has workers or running jobs."""
        await self.line(f"drop function {_word(function)}")

    async def maxqueue(self, function: str, *limits: int) -> None:
        """``maxqueue F`` (unlimited), ``F N`` (all priorities) or ``F HIGH NORMAL LOW``."""
        if len(limits) > 3:
            raise ValueError("maxqueue takes at most three limits (high, normal, low)")
        await self.line(" ".join(["maxqueue", _word(function), *map(str, map(int, limits))]))

    async def version(self) -> str:
        """The server's version (geartool's starts with ``geartool-``)."""
        return await self.line("version")

    async def getpid(self) -> int:
        """The server's process id."""
        return int(await self.line("getpid"))

    async def verbose(self) -> str:
        """The server's log level name."""
        return await self.line("verbose")

    async def shutdown(self, graceful: bool = False) -> None:
        """``shutdown [graceful]``; gearmand 1.1.15+ answers UNKNOWN_COMMAND."""
        await self.line("shutdown graceful" if graceful else "shutdown")

    # ---- geartool extensions: None where the server does not know them -----------------

    async def stats(self) -> list[A.StatsRow] | None:
        """geartool's counters and oldest waiting age per function; None on gearmand."""
        rows = await self._extension_rows("stats")
        return None if rows is None else A.parse_stats(rows)

    async def running(self) -> list[A.RunningRow] | None:
        """geartool's list of running jobs and their workers; None on gearmand."""
        rows = await self._extension_rows("running")
        return None if rows is None else A.parse_running(rows)

    async def uptime(self) -> float | None:
        """Seconds since the geartool server started; None on gearmand."""
        if "uptime" in self.missing:
            return None
        try:
            return float(await self.line("uptime"))
        except ServerError as exc:
            if exc.code != "UNKNOWN_COMMAND":
                raise
            self.missing.add("uptime")
            return None

    async def _extension_rows(self, command: str) -> list[str] | None:
        if command in self.missing:
            return None
        try:
            return await self.rows(command)
        except ServerError as exc:
            if exc.code != "UNKNOWN_COMMAND":
                raise
            self.missing.add(command)
            return None


def _word(value: str) -> str:
    """An argument must be one admin token: no spaces or line breaks (they would split it)."""
    if not value or any(c in value for c in " \r\n"):
        raise ValueError(f"{value!r} cannot be sent as one admin argument")
    return value
