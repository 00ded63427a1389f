"""Lines of output for decoded records: readable text (optionally coloured) or JSON, one per packet.

Built for speed: per-type prefixes and JSON keys are computed once, strings are escaped by the
json module's C encoder, and nothing here allocates more than the line it returns.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as _json_str

from geartool.protocol import AdminLine, Frame, Magic, PacketType
from geartool.protocol.spec import SPECS

from .adminview import AdminContext
from .dissect import Record, StreamInfo
from .render import _PLAIN, FIELD_NAMES, preview
from .stream import Anomaly

_RESET = "\x1b[0m"
_C_TYPE, _C_NAME, _C_DIM, _C_WARN, _C_TEXT = ("\x1b[1;36m", "\x1b[33m", "\x1b[2m", "\x1b[1;31m",
                                                "\x1b[1;35m")


CompiledType = tuple[str, tuple[str, ...], int, str, str]


def _dec(value: bytes) -> str:
    return value.decode("utf-8", "backslashreplace")


class Renderer:
    """Formats Records; ``streams`` is the Dissector's list (it grows while decoding)."""

    def __init__(self, streams: list[StreamInfo], *, color: bool = False, full: bool = False,
                 limit: int = 64) -> None:
        self.streams = streams
        self.color = color
        self.limit: int | None = None if full else limit
        self.start: float | None = None
        self.admin = AdminContext()
        self._announced: set[int] = set()
        self._where: dict[int, str] = {}
        c = color
        # Names and handles repeat packet after packet, so each argument's rendering is cached,
        # in one cache per argument name (text) and per JSON key (JSON).
        text_caches: dict[str, dict[bytes, str]] = {}
        json_caches: dict[str, dict[bytes, str]] = {}
        # Per packet type: (coloured or plain name, argument labels, index of the data argument,
        # caches per argument)
        self._types: dict[PacketType, tuple[str, tuple[str, ...], int,
                                            tuple[dict[bytes, str], ...]]] = {}
        self._jtypes: dict[PacketType, tuple[tuple[str, ...], int,
                                             tuple[dict[bytes, str], ...]]] = {}
        for t, spec in SPECS.items():
            name = f"{_C_TYPE}{t.name}{_RESET}" if c else t.name
            labels = tuple(f" {_C_NAME}{a}{_RESET}=" if c else f" {a}=" for a in spec.args)
            data_at = len(spec.args) - 1 if spec.data_last else -1
            caches = tuple(text_caches.setdefault(a, {}) for a in spec.args)
            self._types[t] = (name, labels, data_at, caches)
            keys = tuple(f",{_json_str(k)}:" for k in FIELD_NAMES[t])
            self._jtypes[t] = (keys, data_at,
                               tuple(json_caches.setdefault(k, {}) for k in FIELD_NAMES[t]))
        # Indexed by packet type number (hashing an enum member is slow in a hot loop).
        self._jhead_req, self._jhead_res = (
            ("",) + tuple(f',"gearman.magic_code":"{m.name}","gearman.pkt_type":{int(t)},'
                          f'"gearman.pkt_name":"{t.name}"' for t in sorted(SPECS))
            for m in (Magic.REQ, Magic.RES))
        self._jwhere: dict[int, str] = {}

    def compiled_view(self, json: bool) -> tuple[tuple[CompiledType | None, ...], int]:
        """What the compiled fast path (``fast.py``) prints packets with, taken from this
        renderer: per packet number (name, argument labels or JSON keys, data index, JSON head
        for RES, JSON head for REQ), and the preview limit (-1: whole)."""
        rows: list[CompiledType | None] = [None]
        for t in sorted(self._types):
            name, labels, data_at, _ = self._types[t]
            keys = self._jtypes[t][0]
            rows.append((name, keys if json else labels, data_at, self._jhead_res[t],
                         self._jhead_req[t]))
        return tuple(rows), -1 if self.limit is None else self.limit

    # ---- text -------------------------------------------------------------------------------

    def stream_header(self, stream: int) -> str:
        info = self.streams[stream]
        return self.header_line(info.id, info.client, info.server, info.first_frame,
                                info.midstream)

    def header_line(self, stream: int, client: str, server: str, first_frame: int,
                    midstream: bool) -> str:
        """The line introducing a stream in the text view (no newline)."""
        note = " (capture starts mid-connection)" if midstream else ""
        text = (f"# stream {stream}: client {client} -> server {server}, "
                f"first seen in frame {first_frame}{note}")
        return f"{_C_DIM}{text}{_RESET}" if self.color else text

    @staticmethod
    def where_text(stream: int, to_server: bool) -> str:
        """Stream and direction, as the text view puts them after the time."""
        return f"#{stream:<3} {'C>S' if to_server else 'S>C'} " if stream >= 0 else "#-   --- "

    @staticmethod
    def where_json(stream: int, to_server: bool, client: str, server: str) -> str:
        """Stream and direction fields of the JSON view."""
        src, dst = (client, server) if to_server else (server, client)
        return (f',"stream":{stream},"src":"{src}","dst":"{dst}",'
                f'"to_server":{"true" if to_server else "false"}')

    def _first_time(self, rec: Record) -> float:
        """Times are shown relative to the first stream's first frame (once known, kept)."""
        self.start = self.streams[0].first_time if self.streams else rec.time
        return self.start

    def text(self, rec: Record) -> str:
        """One line (after a header line for a stream not shown before) ending in a newline."""
        start = self.start
        if start is None:
            start = self._first_time(rec)
        frame_no, ts, stream, to_server, item = rec
        where = self._where.get(stream * 2 + to_server)
        head = ""
        if where is None:
            where = self._where[stream * 2 + to_server] = self.where_text(stream, to_server)
            if stream >= 0 and stream not in self._announced:
                self._announced.add(stream)
                head = self.stream_header(stream) + "\n"
        if type(item) is Frame:
            name, labels, data_at, caches = self._types[item.type]
            parts = [head, "%7d %11.6f " % (frame_no, ts - start), where, name]  # noqa: UP031
            limit = self.limit
            for i, value in enumerate(item.args):
                if i == data_at:
                    if limit is not None and len(value) <= limit and _PLAIN(value) is not None:
                        parts.append(f"{labels[i]}{len(value)}B '{value.decode('ascii')}'")
                    else:
                        parts.append(f"{labels[i]}{len(value)}B {preview(value, limit)}")
                    continue
                cache = caches[i]
                shown = cache.get(value)
                if shown is None:
                    if len(cache) > 100_000:
                        cache.clear()
                    shown = cache[value] = labels[i] + preview(value, limit)
                parts.append(shown)
            parts.append("\n")
            return "".join(parts)
        if type(item) is AdminLine:
            body = self.admin_text(self.admin, stream, to_server, item.line)
        else:
            assert type(item) is Anomaly
            body = self.anomaly_text(item)
        return f"{head}{frame_no:>7} {ts - start:11.6f} {where}{body}\n"

    def anomaly_text(self, item: Anomaly) -> str:
        """The text view of an anomaly after its time and direction."""
        body = f"!! {item.kind.upper()}: {item.text}"
        return f"{_C_WARN}{body}{_RESET}" if self.color else body

    def admin_text(self, ctx: AdminContext, stream: int, to_server: bool, line: bytes) -> str:
        """The text view of an admin line after its time and direction (``ctx`` follows which
        command each reply answers)."""
        if to_server:
            ctx.command(stream, line)
            word = "ADMIN "
        else:
            answers = ctx.reply(stream, line)[0]
            word = f"ADMIN-REPLY[{answers}] " if answers else "ADMIN-REPLY "
        shown = preview(line, None if self.limit is None else 200)
        return f"{_C_TEXT}{word}{_RESET}{shown}" if self.color else word + shown

    # ---- JSON -------------------------------------------------------------------------------

    def json(self, rec: Record) -> str:
        """One JSON object per record, on one line, Wireshark's gearman.* names for fields."""
        start = self.start
        if start is None:
            start = self._first_time(rec)
        frame_no, ts, stream, to_server, item = rec
        where = self._jwhere.get(stream * 2 + to_server)
        if where is None:
            if stream >= 0:
                info = self.streams[stream]
                where = self.where_json(stream, to_server, info.client, info.server)
            else:
                where = ""
            self._jwhere[stream * 2 + to_server] = where
        # %-formatting of floats is faster than f-strings, and this runs once per packet.
        head = '{"frame.number":%d,"frame.time_epoch":%.6f,"frame.time_relative":%.6f%s' % (  # noqa: UP031
            frame_no, ts, ts - start, where)
        if type(item) is Frame:
            ptype = item.type
            keys, data_at, caches = self._jtypes[ptype]
            args = item.args
            size = sum(map(len, args)) + len(args) - 1 if args else 0
            parts = [head, (self._jhead_req if item.magic is Magic.REQ else self._jhead_res)[ptype],
                     f',"gearman.data_size":{size}']
            for i, value in enumerate(args):
                if i == data_at:
                    parts.append(keys[i] + _json_str(value.decode("utf-8", "backslashreplace")))
                    continue
                cache = caches[i]
                shown = cache.get(value)
                if shown is None:
                    if len(cache) > 100_000:
                        cache.clear()
                    shown = cache[value] = keys[i] + _json_str(_dec(value))
                parts.append(shown)
            parts.append("}\n")
            return "".join(parts)
        if type(item) is AdminLine:
            return f"{head}{self.admin_json(self.admin, stream, to_server, item.line)}\n"
        assert type(item) is Anomaly
        return f"{head}{self.anomaly_json(item)}\n"

    @staticmethod
    def anomaly_json(item: Anomaly) -> str:
        """The JSON fields of an anomaly after the frame and stream fields, brace included."""
        return f',"anomaly":"{item.kind}","text":{_json_str(item.text)}}}'

    def admin_json(self, ctx: AdminContext, stream: int, to_server: bool, line: bytes) -> str:
        """The JSON fields of an admin line after the frame and stream fields, closing brace
        included."""
        text = _json_str(_dec(line))
        if to_server:
            command = ctx.command(stream, line)
            return (f',"gearman.text":true,"gearman.mgr_cmd":{text},'
                    f'"gearman.admin.command":{_json_str(command)}}}')
        command, row = ctx.reply(stream, line)
        more = f',"gearman.admin.row":{json.dumps(row)}' if row is not None else ""
        return (f',"gearman.text":true,"gearman.admin_reply":{text},'
                f'"gearman.admin.command":{_json_str(command)}{more}}}')
