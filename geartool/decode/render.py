"""Human and JSON rendering of frames and admin lines, shared by decode, shell and proxy.

Pure Python: no scapy here, so the shell and proxy can render without paying scapy's import.
"""

from __future__ import annotations

import re
from typing import Any

from geartool.protocol import AdminLine, Frame, Magic, PacketType
from geartool.protocol.spec import SPECS

# Wireshark's gearman dissector field names (tshark -G fields), where it has one for an argument.
WIRESHARK_FIELDS: dict[str, str] = {
    "function": "gearman.func.name",
    "handle": "gearman.job.handle",
    "unique": "gearman.uniq_id",
    "data": "gearman.func.arg",
    "client_id": "gearman.client_id",
    "option": "gearman.opt.name",
    "numerator": "gearman.numerator",
    "denominator": "gearman.denominator",
    "code": "gearman.err.code",
    "text": "gearman.err.text",
    "known": "gearman.job.known",
    "running": "gearman.job.running",
    "reducer": "gearman.reducer",
    "epoch": "gearman.submit_job.epoch_time",
    "timeout": "gearman.timeout.value",
    "waiting": "gearman.client_count",
    "minute": "gearman.submit_job_sched.minute",
    "hour": "gearman.submit_job_sched.hour",
    "mday": "gearman.submit_job_sched.day_of_month",
    "month": "gearman.submit_job_sched.month",
    "wday": "gearman.submit_job_sched.day_of_week",
}
# Wireshark names a packet's opaque data after what it is: an argument, a result, echoed text.
_DATA_FIELD: dict[PacketType, str] = {
    PacketType.ECHO_REQ: "gearman.echo_text", PacketType.ECHO_RES: "gearman.echo_text",
    **{t: "gearman.func.result" for t in (PacketType.WORK_COMPLETE, PacketType.WORK_EXCEPTION,
                                          PacketType.WORK_DATA, PacketType.WORK_WARNING)},
}


def field_names(ptype: PacketType) -> tuple[str, ...]:
    """The JSON field name of each argument of a packet type, Wireshark's where it has one."""
    names = []
    for name in SPECS[ptype].args:
        if name == "data":
            names.append(_DATA_FIELD.get(ptype, "gearman.func.arg"))
        else:
            names.append(WIRESHARK_FIELDS.get(name, f"gearman.{name}"))
    return tuple(names)


FIELD_NAMES: dict[PacketType, tuple[str, ...]] = {t: field_names(t) for t in PacketType}

_PLAIN = re.compile(rb"[\x20-\x26\x28-\x5b\x5d-\x7e]*\Z").match  # printable, no ' or \\
_COLORS = {"type": "\x1b[1;36m", "name": "\x1b[33m", "dim": "\x1b[2m", "reset": "\x1b[0m"}


def preview(data: bytes, limit: int | None = 64) -> str:
    """A safe, printable view of binary data: escapes for control bytes, cut at ``limit``."""
    shown = data if limit is None else data[:limit]
    more = "" if limit is None or len(data) <= limit else "..."
    if _PLAIN(shown) is not None:  # the common case: nothing to escape
        return f"'{shown.decode('ascii')}'{more}"
    text = shown.decode("latin-1").encode("unicode_escape").decode("ascii").replace("'", "\\'")
    return f"'{text}'{more}"


def format_frame(frame: Frame, *, full: bool = False, color: bool = False,
                 limit: int = 64) -> str:
    """``SUBMIT_JOB function='reverse' unique='' data=5B 'hello'``."""
    spec = SPECS[frame.type]
    c = _COLORS if color else dict.fromkeys(_COLORS, "")
    parts = [f"{c['type']}{frame.type.name}{c['reset']}"]
    for i, (name, value) in enumerate(zip(spec.args, frame.args, strict=False)):
        is_data = spec.data_last and i == len(spec.args) - 1
        shown = preview(value, None if full else limit)
        if is_data:
            shown = f"{len(value)}B {shown}"
        parts.append(f"{c['name']}{name}{c['reset']}={shown}")
    return " ".join(parts)


def format_admin_line(line: AdminLine | bytes, *, full: bool = False) -> str:
    raw = line.line if isinstance(line, AdminLine) else line
    return f"TEXT {preview(raw, None if full else 200)}"


def frame_fields(frame: Frame) -> dict[str, Any]:
    """JSON-ready fields named as Wireshark names them (gearman.*) where it has a name.

    ``gearman.data`` repeats the opaque data argument under one key whatever the packet type
    (Wireshark names it func.arg, func.result or echo_text), for tools that want one key.
    """
    magic = "REQ" if frame.magic is Magic.REQ else "RES"
    out: dict[str, Any] = {
        "gearman.magic": magic,
        "gearman.magic_code": magic,
        "gearman.pkt_type": int(frame.type),
        "gearman.pkt_name": frame.type.name,
        "gearman.data_size": len(frame.payload),
    }
    for key, value in zip(FIELD_NAMES[frame.type], frame.args, strict=False):
        out[key] = value.decode("utf-8", "backslashreplace")
    if SPECS[frame.type].data_last and frame.args:
        out["gearman.data"] = out[FIELD_NAMES[frame.type][-1]]
    return out
