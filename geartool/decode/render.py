"""Human and JSON rendering of frames and admin lines, shared by decode, shell and proxy.

Pure Python: no scapy here, so the shell and proxy can render without paying scapy's import.
"""

from __future__ import annotations

from typing import Any

from geartool.protocol import AdminLine, Frame, Magic
from geartool.protocol.spec import SPECS

# Wireshark's gearman dissector field names, where it has one for an argument.
WIRESHARK_FIELDS: dict[str, str] = {
    "function": "gearman.func.name",
    "handle": "gearman.job.handle",
    "unique": "gearman.uniq_id",
    "data": "gearman.data",
    "client_id": "gearman.client_id",
    "option": "gearman.option_name",
    "numerator": "gearman.complete_numerator",
    "denominator": "gearman.complete_denominator",
    "code": "gearman.err_code",
    "text": "gearman.err_text",
    "known": "gearman.job.status.known",
    "running": "gearman.job.status.running",
    "reducer": "gearman.reducer",
    "epoch": "gearman.epoch",
    "timeout": "gearman.timeout",
}

_COLORS = {"type": "\x1b[1;36m", "name": "\x1b[33m", "dim": "\x1b[2m", "reset": "\x1b[0m"}


def preview(data: bytes, limit: int | None = 64) -> str:
    """A safe, printable view of binary data: escapes for control bytes, cut at ``limit``."""
    shown = data if limit is None else data[:limit]
    text = shown.decode("latin-1").encode("unicode_escape").decode("ascii").replace("'", "\\'")
    more = "" if limit is None or len(data) <= limit else "..."
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
    """JSON-ready fields named as Wireshark names them (gearman.*) where it has a name."""
    spec = SPECS[frame.type]
    out: dict[str, Any] = {
        "gearman.magic": "REQ" if frame.magic is Magic.REQ else "RES",
        "gearman.pkt_type": int(frame.type),
        "gearman.pkt_name": frame.type.name,
        "gearman.data_size": len(frame.payload),
    }
    for name, value in zip(spec.args, frame.args, strict=False):
        key = WIRESHARK_FIELDS.get(name, f"gearman.{name}")
        out[key] = value.decode("utf-8", "backslashreplace")
    return out
