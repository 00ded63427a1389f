"""The text admin protocol on the server side, byte-compatible with gearmand 1.1.x, plus
geartool's own commands (``stats``, ``running``, ``uptime``) under names gearmand lacks."""

from __future__ import annotations

import logging
import os

from geartool import __version__
from geartool.protocol import admin as A

from .core import Core
from .model import Conn
from .wire import leading_int

VERSION = f"geartool-{__version__}"


def _level_name() -> str:
    level = logging.getLogger("geartool").getEffectiveLevel()
    return {logging.CRITICAL: "FATAL", logging.ERROR: "ERROR", logging.WARNING: "WARNING",
            logging.INFO: "INFO", logging.DEBUG: "DEBUG"}.get(level, "ERROR")


def handle_admin(core: Core, conn: Conn, line: bytes) -> None:
    """Answer one admin line on ``conn`` (may raise RemoteProtocolError: > 5 tokens)."""
    tokens = A.tokenize(line)
    word = tokens[0].lower()
    reply = _COMMANDS.get(word, _unknown)(core, conn, tokens)
    core.send(conn, reply)


def _unknown(core: Core, conn: Conn, tokens: list[bytes]) -> bytes:
    return A.err_unknown_command(tokens[0])


def _workers(core: Core, conn: Conn, tokens: list[bytes]) -> bytes:
    rows = [A.WorkerRow(c.id, c.ip, c.client_id.decode("utf-8", "replace"),
                        tuple(r.function.name.decode("utf-8", "replace")
                              for r in c.registrations))
            for c in core.conns.values()]
    return A.format_rows(rows)


def _status(core: Core, conn: Conn, tokens: list[bytes]) -> bytes:
    return A.format_rows(A.StatusRow(fn.name.decode("utf-8", "replace"), fn.total, fn.running,
                                     len(fn.workers)) for fn in core.functions.values())


def _priority_status(core: Core, conn: Conn, tokens: list[bytes]) -> bytes:
    return A.format_rows(A.PriorityStatusRow(fn.name.decode("utf-8", "replace"), fn.waiting[0],
                                             fn.waiting[1], fn.waiting[2], len(fn.workers))
                         for fn in core.functions.values())


def _show(core: Core, conn: Conn, tokens: list[bytes]) -> bytes:
    args = [t.lower() for t in tokens[1:]]
    if args == [b"jobs"]:
        return A.format_rows(A.JobRow(j.handle.decode(), j.retries, j.ignore,
                                      j.background and not j.ignore)
                             for j in core.jobs.values())
    if args == [b"unique", b"jobs"]:
        return A.format_unique_rows(j.unique for j in core.jobs.values())
    return A.ERR_UNKNOWN_SHOW


def _cancel(core: Core, conn: Conn, tokens: list[bytes]) -> bytes:
    if len(tokens) == 3 and tokens[1].lower() == b"job":
        return A.OK if core.cancel(tokens[2]) else A.ERR_UNKNOWN_JOB
    if len(tokens) <= 2:
        return A.err_unknown_command(tokens[0])
    return A.ERR_UNKNOWN_ERROR


def _create(core: Core, conn: Conn, tokens: list[bytes]) -> bytes:
    if len(tokens) != 3 or tokens[1].lower() != b"function":
        return A.err_invalid_arguments("create")
    # gearmand cuts two bytes off the name assuming "\r\n"; the decoder already removed the
    # line ending, so the name is used whole here (a documented difference).
    core.function(tokens[2])
    return A.OK


def _drop(core: Core, conn: Conn, tokens: list[bytes]) -> bytes:
    if len(tokens) != 3 or tokens[1].lower() != b"function":
        return A.err_invalid_arguments("drop")
    wanted = tokens[2].lower()
    for name, fn in core.functions.items():
        if name.lower() == wanted:
            # Unlike gearmand, queued jobs also keep a function alive: dropping it would
            # orphan them (gearmand frees the function under them).
            if fn.workers or fn.running or fn.total:
                return A.ERR_FUNCTION_BUSY
            del core.functions[name]
            return A.OK
    return A.ERR_FUNCTION_NOT_FOUND


def _maxqueue(core: Core, conn: Conn, tokens: list[bytes]) -> bytes:
    if len(tokens) < 2:
        return A.err_invalid_arguments("maxqueue")
    numbers = [max(leading_int(t), 0) for t in tokens[2:]]
    if not numbers:
        limits = [0, 0, 0]
    elif len(numbers) == 1:
        limits = numbers * 3
    else:
        limits = (numbers + [0])[:3]
    fn = core.functions.get(tokens[1])
    if fn is not None:  # like gearmand: OK even for a function that does not exist
        fn.max_queue = limits
    return A.OK


def _getpid(core: Core, conn: Conn, tokens: list[bytes]) -> bytes:
    return A.ok_value(os.getpid())


def _verbose(core: Core, conn: Conn, tokens: list[bytes]) -> bytes:
    return A.ok_value(_level_name())


def _version(core: Core, conn: Conn, tokens: list[bytes]) -> bytes:
    return A.ok_value(VERSION)


def _shutdown(core: Core, conn: Conn, tokens: list[bytes]) -> bytes:
    if len(tokens) > 2 or (len(tokens) == 2 and tokens[1].lower() != b"graceful"):
        return A.err_invalid_arguments("shutdown")
    if not conn.loopback and not core.config.allow_remote_shutdown:
        return A.ERR_NOT_ALLOWED
    core.shutdown_requested = "graceful" if len(tokens) == 2 else "immediate"
    return A.OK


def _stats(core: Core, conn: Conn, tokens: list[bytes]) -> bytes:
    now = core.clock()
    rows = []
    for fn in core.functions.values():
        heads = [q[0].created for q in fn.queues if q]
        oldest = now - min(heads) if heads else 0.0
        rows.append(A.StatsRow(fn.name.decode("utf-8", "replace"), fn.submitted, fn.completed,
                               fn.failed, fn.exceptions, fn.requeued, max(oldest, 0.0)))
    return A.format_rows(rows)


def _running(core: Core, conn: Conn, tokens: list[bytes]) -> bytes:
    now = core.clock()
    rows = [A.RunningRow(c.id, c.ip, c.client_id.decode("utf-8", "replace"), j.handle.decode(),
                         j.function.name.decode("utf-8", "replace"),
                         j.unique.decode("utf-8", "replace"), max(now - j.assigned_at, 0.0))
            for c in core.conns.values() for r in c.registrations for j in r.jobs]
    return A.format_rows(rows)


def _uptime(core: Core, conn: Conn, tokens: list[bytes]) -> bytes:
    return A.ok_value(f"{core.clock() - core.started:.3f}")


_COMMANDS = {
    b"workers": _workers, b"status": _status, b"prioritystatus": _priority_status,
    b"show": _show, b"cancel": _cancel, b"create": _create, b"drop": _drop,
    b"maxqueue": _maxqueue, b"getpid": _getpid, b"verbose": _verbose, b"version": _version,
    b"shutdown": _shutdown, b"stats": _stats, b"running": _running, b"uptime": _uptime,
}
