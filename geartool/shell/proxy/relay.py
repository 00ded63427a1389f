"""``geartool proxy``: a transparent Gearman relay that shows every packet as it passes.

Each client gets its own upstream connection. Bytes are forwarded unchanged in both directions;
a copy of each direction is fed to its own protocol Decoder and every event is printed with the
decoder's renderer (or as JSON lines). A stream that stops decoding is still forwarded. An
upstream that cannot be reached, or goes away, closes that client only.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from geartool.client.servers import Address
from geartool.decode.render import format_admin_line, format_frame, frame_fields
from geartool.protocol import NEED_DATA, AdminLine, Decoder, Frame, ProtocolError

from .pcap import PcapWriter, TcpFlow

CONNECT_TIMEOUT = 5.0
HALF_CLOSE_GRACE = 5.0  # how long a server may keep talking after the client stopped sending
CHUNK = 65536


@dataclass(frozen=True, slots=True)
class ProxyConfig:
    listen: Address
    upstream: Address
    json: bool = False
    write: Path | None = None
    full: bool = False
    color: bool = False


def _hostport(addr: Any) -> str:
    host, port = addr[0], addr[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class Proxy:
    """Accepts clients and relays each to the upstream server."""

    def __init__(self, config: ProxyConfig, out: TextIO = sys.stdout,
                 err: TextIO = sys.stderr, pcap: PcapWriter | None = None) -> None:
        self.config = config
        self.out, self.err = out, err
        self._ids = itertools.count(1)
        self._pcap = pcap
        self._tasks: set[asyncio.Task[None]] = set()
        self._quiet = False
        self._pcap_noted = False

    # ---- output -------------------------------------------------------------------------
    def _emit(self, conn: int, direction: str, text: str, record: dict[str, Any]) -> None:
        if self.config.json:
            line = json.dumps({"time": round(time.time(), 6), "conn": conn, "dir": direction,
                               **record})
        else:
            now = time.time()
            stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1e6):06d}"
            line = f"{stamp} #{conn} {direction} {text}"
        if self._quiet:
            return
        try:
            self.out.write(line + "\n")
            self.out.flush()
        except (OSError, ValueError):
            # Whoever read our output went away (a closed pipe): keep relaying silently.
            self._quiet = True

    def _note(self, conn: int, event: str, message: str, **extra: Any) -> None:
        self._emit(conn, "--", message, {"event": event, "message": message, **extra})

    # ---- serving ------------------------------------------------------------------------
    async def serve(self) -> None:
        """Listen until cancelled (or SIGINT/SIGTERM)."""
        cfg = self.config
        server = await asyncio.start_server(self._client, cfg.listen.host, cfg.listen.port,
                                            reuse_address=True)
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stopped.set)
        print(f"geartool proxy: listening on {cfg.listen}, forwarding to {cfg.upstream}",
              file=self.err, flush=True)
        try:
            async with server:
                await stopped.wait()
        finally:
            for task in list(self._tasks):
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            if self._pcap is not None:
                self._pcap.close()

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
                      ) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            await self._relay(reader, writer)
        except asyncio.CancelledError:
            # Shutting down. Ending quietly keeps asyncio's stream callback from reporting
            # the cancellation as an error; _relay has already closed both sockets.
            pass
        finally:
            self._tasks.discard(task)

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = next(self._ids)
        peer = writer.get_extra_info("peername") or ("?", 0)
        up = self.config.upstream
        try:
            up_reader, up_writer = await asyncio.wait_for(
                asyncio.open_connection(up.host, up.port), CONNECT_TIMEOUT)
        except (TimeoutError, OSError) as exc:
            self._note(conn, "refused", f"upstream {up} unreachable ({_reason(exc)}); "
                       f"closing client {_hostport(peer)}")
            await _close(writer)
            return
        upstream_peer = up_writer.get_extra_info("peername") or (up.host, up.port)
        flow = None
        if self._pcap is not None:
            flow = TcpFlow(self._pcap, (peer[0], peer[1]), (upstream_peer[0], upstream_peer[1]))
            flow.open(time.time())
        self._note(conn, "open", f"{_hostport(peer)} connected, relaying to {up}",
                   client=_hostport(peer), upstream=str(up))
        counts = [0, 0]
        client_first = True
        to_server = asyncio.create_task(
            self._pump(conn, reader, up_writer, True, flow, counts))
        to_client = asyncio.create_task(
            self._pump(conn, up_reader, writer, False, flow, counts))
        try:
            done, _ = await asyncio.wait({to_server, to_client},
                                         return_when=asyncio.FIRST_COMPLETED)
            client_first = to_server in done
            if to_server in done and to_client not in done:
                # The client stopped sending; let the server finish answering.
                await asyncio.wait({to_client}, timeout=HALF_CLOSE_GRACE)
        finally:
            for task in (to_server, to_client):
                task.cancel()
            await asyncio.gather(to_server, to_client, return_exceptions=True)
            await _close(up_writer)
            await _close(writer)
            if flow is not None:
                flow.close(time.time(), from_client=client_first)
            self._note(conn, "close", f"closed ({counts[0]} bytes to server, {counts[1]} bytes "
                       "to client)", bytes_to_server=counts[0], bytes_to_client=counts[1])

    async def _pump(self, conn: int, src: asyncio.StreamReader, dst: asyncio.StreamWriter,
                    from_client: bool, flow: TcpFlow | None, counts: list[int]) -> None:
        direction = "C>S" if from_client else "S>C"
        decoder: Decoder | None = Decoder()
        while True:
            try:
                data = await src.read(CHUNK)
            except OSError:
                data = b""
            if not data:
                if from_client and dst.can_write_eof():
                    with contextlib.suppress(OSError):
                        dst.write_eof()
                return
            dst.write(data)
            counts[0 if from_client else 1] += len(data)
            if flow is not None:
                flow.data(time.time(), from_client, data)
                self._check_pcap(conn)
            if decoder is not None:
                decoder = self._show(conn, direction, decoder, data)
            try:
                await dst.drain()
            except OSError:
                return

    def _check_pcap(self, conn: int) -> None:
        if self._pcap is not None and self._pcap.error is not None and not self._pcap_noted:
            self._pcap_noted = True
            self._note(conn, "pcap", f"pcap writing stopped: {self._pcap.error}")

    def _show(self, conn: int, direction: str, decoder: Decoder, data: bytes
              ) -> Decoder | None:
        """Print every whole event; on a protocol error stop decoding this direction."""
        decoder.feed(data)
        try:
            # One event at a time: events() would lose those decoded before an error.
            while (ev := decoder.next_event()) is not NEED_DATA:
                if isinstance(ev, Frame):
                    self._emit(conn, direction, format_frame(ev, full=self.config.full,
                                                             color=self.config.color),
                               frame_fields(ev))
                elif isinstance(ev, AdminLine):
                    self._emit(conn, direction, format_admin_line(ev, full=self.config.full),
                               {"gearman.text": ev.line.decode("utf-8", "backslashreplace")})
        except ProtocolError as exc:
            self._note(conn, "undecodable", f"{direction} stream no longer decodable ({exc}); "
                       "still forwarding")
            return None
        return decoder


def _reason(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(OSError, asyncio.CancelledError):
        await writer.wait_closed()


def run(config: ProxyConfig) -> int:
    """Run the proxy until interrupted; the exit code."""
    pcap = None
    if config.write is not None:
        try:
            pcap = PcapWriter(config.write.open("wb"))
        except OSError as exc:
            print(f"geartool: cannot write {config.write}: {exc.strerror or exc}",
                  file=sys.stderr)
            return 2
    try:
        asyncio.run(Proxy(config, pcap=pcap).serve())
    except OSError as exc:
        print(f"geartool: cannot listen on {config.listen}: {exc.strerror or exc}",
              file=sys.stderr)
        return 3
    return 0
