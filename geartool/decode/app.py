"""``geartool decode`` without the command-line parsing: read, decode, filter, print.

Exit codes (also in the command's help):
  0  decoded (stream anomalies such as gaps are reported, not treated as failure)
  1  the capture holds no Gearman traffic on the ports asked for
  2  usage error
  5  not a capture, empty, or unreadable
  6  the capture file is truncated or corrupt part-way: what came before was decoded
  7  live capture impossible (not root, no such interface, tcpdump missing)
"""

from __future__ import annotations

import fnmatch
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import TextIO

from geartool.protocol import AdminLine, Frame, PacketType
from geartool.protocol.frames import pack_bytes
from geartool.protocol.spec import SPECS

from . import fast
from .dissect import Dissector, Record, decode
from .output import Renderer
from .pcap import CaptureError, CaptureReader, open_capture
from .report import jobs_json, jobs_text, summary_json, summary_text
from .stream import Anomaly
from .timeline import Timeline

EXIT_OK, EXIT_NO_GEARMAN, EXIT_USAGE = 0, 1, 2
EXIT_NOT_CAPTURE, EXIT_TRUNCATED, EXIT_LIVE = 5, 6, 7
PSEUDO_TYPES = ("TEXT", "ANOMALY")


class UsageError(Exception):
    """A bad option value; the CLI reports it with exit code 2."""


@dataclass
class DecodeOptions:
    """Everything ``geartool decode`` can be asked; the CLI fills it in."""

    source: str | None = None  # a path, "-" for stdin, or None with live
    live: str | None = None
    ports: list[int] = field(default_factory=list)
    json: bool = False
    full: bool = False
    summary: bool = False
    jobs: bool = False
    types: list[str] = field(default_factory=list)
    functions: list[str] = field(default_factory=list)
    handles: list[str] = field(default_factory=list)
    streams: list[int] = field(default_factory=list)
    color: bool | None = None
    count: int | None = None
    scapy: bool = False  # add scapy's layer-by-layer view of each packet (imports scapy)


def type_names(patterns: list[str]) -> frozenset[str]:
    """Packet type names matching names, numbers or shell patterns (``SUBMIT_*``), plus the
    pseudo types TEXT (admin lines) and ANOMALY."""
    every = [t.name for t in PacketType] + list(PACKET_ALIASES)
    out: set[str] = set()
    for raw in patterns:
        for pat in (p.strip().upper() for p in raw.split(",") if p.strip()):
            if pat.isdigit():
                if not 0 < int(pat) <= len(SPECS):
                    raise UsageError(f"no packet type number {pat}")
                out.add(PacketType(int(pat)).name)
                continue
            found = fnmatch.filter(every, pat)
            if not found:
                raise UsageError(f"no packet type matches {pat!r} "
                                 "(names like SUBMIT_JOB, numbers, patterns, TEXT, ANOMALY)")
            out.update(PACKET_ALIASES.get(f, f) for f in found)
    return frozenset(out)


PACKET_ALIASES = {"TEXT": "TEXT", "ADMIN": "TEXT", "ANOMALY": "ANOMALY"}


def make_filter(opts: DecodeOptions, timeline: Timeline | None,
                dissector: Dissector) -> Callable[[Record], bool] | None:
    """A predicate for the --type/--function/--handle/--stream filters, or None for none."""
    types = type_names(opts.types) if opts.types else None
    funcs = {f.encode() for f in opts.functions}
    handles = {h.encode() for h in opts.handles}
    streams = set(opts.streams)
    if not (types or funcs or handles or streams):
        return None

    def keep(rec: Record) -> bool:
        item = rec.item
        if streams and rec.stream not in streams:
            return False
        kind = type(item)
        if types is not None:
            if kind is Frame:
                name = item.type.name  # type: ignore[union-attr]
            else:
                name = "TEXT" if kind is AdminLine else "ANOMALY"
            if name not in types:
                return False
        if kind is Anomaly and not (types and "ANOMALY" in types):
            return not (funcs or handles)
        if kind is not Frame:
            return not (funcs or handles)
        named = item.named()  # type: ignore[union-attr]
        if handles and named.get("handle", named.get("unique")) not in handles:
            return False
        if funcs:
            fn = named.get("function")
            if fn is None and "handle" in named and timeline is not None and rec.stream >= 0:
                server = dissector.streams[rec.stream].server
                fn = timeline.function_of(named["handle"].rstrip(b"\0").decode(
                    "utf-8", "backslashreplace"), server).encode()
            if fn not in funcs:
                return False
        return True
    return keep


def _live(iface: str, ports: frozenset[int]) -> tuple[CaptureReader, subprocess.Popen[bytes]]:
    """Capture with tcpdump, reading its pcap output as it arrives."""
    expr = " or ".join(f"tcp port {p}" for p in sorted(ports))
    try:
        proc = subprocess.Popen(["tcpdump", "-i", iface, "-U", "--immediate-mode", "-w", "-",
                                 expr], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except FileNotFoundError as exc:
        raise LiveError("live capture needs tcpdump, which is not installed") from exc
    assert proc.stdout is not None
    try:
        return CaptureReader(proc.stdout, streaming=True), proc
    except CaptureError as exc:
        proc.wait(5)
        err = (proc.stderr.read().decode(errors="replace").strip().splitlines() or [""])[-1] \
            if proc.stderr else ""
        hint = " (live capture needs root or CAP_NET_RAW)" if os.geteuid() != 0 else ""
        raise LiveError(f"cannot capture on {iface}: {err or exc}{hint}") from exc


class LiveError(Exception):
    """Live capture could not start."""


def run(opts: DecodeOptions, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Decode as asked and print; returns the exit code. Never raises for bad input."""
    out = out or sys.stdout
    err = err or sys.stderr
    proc: subprocess.Popen[bytes] | None = None
    dissector = Dissector(opts.ports)
    try:
        if opts.live:
            reader, proc = _live(opts.live, dissector.ports)
            source = f"live:{opts.live}"
        else:
            source = opts.source or "-"
            reader = open_capture(source)
        timeline = Timeline(dissector.streams) if (opts.summary or opts.jobs or opts.functions) \
            else None
        keep = make_filter(opts, timeline, dissector)
    except UsageError as exc:
        print(f"geartool: {exc}", file=err)
        return EXIT_USAGE
    except CaptureError as exc:
        print(f"geartool: {source if not opts.live else opts.live}: {exc}", file=err)
        return EXIT_NOT_CAPTURE
    except LiveError as exc:
        print(f"geartool: {exc}", file=err)
        return EXIT_LIVE
    color = opts.color if opts.color is not None else (
        out.isatty() and "NO_COLOR" not in os.environ)
    renderer = Renderer(dissector.streams, color=color, full=opts.full)
    show_packets = not (opts.summary or opts.jobs)
    fmt: Callable[[Record], str] = renderer.json if opts.json else renderer.text
    if opts.scapy and not opts.json:
        fmt = _with_scapy(fmt)
    compiled = show_packets and timeline is None and keep is None and opts.count is None \
        and not (opts.live or opts.scapy)
    try:
        if compiled:
            try:
                done = fast.decode_all(reader, dissector.ports, renderer, opts.json,
                                       _bytes_writer(out))
            except KeyboardInterrupt:
                done = True  # stop printing, as the Python path does
            if done:
                out.flush()
                return EXIT_OK
        try:
            _loop(decode(reader, dissector), timeline, keep, fmt if show_packets else None,
                  out, opts.count, flush_each=bool(opts.live))
        except KeyboardInterrupt:
            pass  # Ctrl-C ends a live capture: still print the summary of what was seen
        if opts.summary:
            out.write(summary_json(source, dissector, timeline) if opts.json  # type: ignore[arg-type]
                      else summary_text(source, dissector, timeline))  # type: ignore[arg-type]
        if opts.jobs:
            out.write(jobs_json(timeline) if opts.json else jobs_text(timeline))  # type: ignore[arg-type]
        out.flush()
    except KeyboardInterrupt:
        pass
    except BrokenPipeError:
        # The reader of our output went away (``| head``): stop quietly.
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        except (OSError, ValueError, AttributeError):
            pass
        return EXIT_OK
    except CaptureError as exc:
        print(f"geartool: {source}: {exc}", file=err)
        return EXIT_NOT_CAPTURE
    finally:
        if proc is not None and proc.poll() is None:
            proc.terminate()
            proc.wait(5)
    if reader.truncated:
        print(f"geartool: {source}: {reader.truncated}; decoded what came before",
              file=err)
        return EXIT_TRUNCATED
    if not dissector.streams:
        ports = ",".join(map(str, sorted(dissector.ports)))
        hint = ""
        if dissector.hints:
            found = " ".join(f"--port {p}" for p in sorted(dissector.hints))
            hint = f"; Gearman packets were seen on other ports: try {found}"
        print(f"geartool: {source}: no Gearman traffic on TCP port(s) {ports} "
              f"({dissector.frames} frames read){hint}", file=err)
        return EXIT_NO_GEARMAN
    return EXIT_OK


def _bytes_writer(out: TextIO) -> Callable[[bytes], object]:
    """Where ASCII output bytes go: the binary stream under ``out`` when there is one."""
    binary = getattr(out, "buffer", None)
    if binary is None:
        return lambda lines: out.write(lines.decode("ascii"))
    out.flush()
    return binary.write  # type: ignore[no-any-return]


def _with_scapy(fmt: Callable[[Record], str]) -> Callable[[Record], str]:
    """The text view plus scapy's dissection of each packet, indented under its line."""
    from scapy.packet import Packet

    from .layers import Gearman, GearmanText

    def both(rec: Record) -> str:
        item = rec.item
        layer: Packet
        if type(item) is Frame:
            layer = Gearman(pack_bytes(item.magic.value, item.type, item.args))
        elif type(item) is AdminLine:
            layer = GearmanText(item.line + b"\n")
        else:
            return fmt(rec)
        shown = str(layer.show(dump=True)).rstrip("\n").replace("\n", "\n        ")
        return f"{fmt(rec)}        {shown}\n"
    return both


def _loop(records: Iterator[Record], timeline: Timeline | None,
          keep: Callable[[Record], bool] | None, fmt: Callable[[Record], str] | None,
          out: TextIO, count: int | None, flush_each: bool) -> None:
    """The output loop, kept minimal: it runs once per Gearman packet."""
    write = out.write
    if timeline is None and keep is None and fmt is not None and count is None \
            and not flush_each:
        # Plain decoding: no per-record Python loop at all, just map and join in chunks.
        lines = map(fmt, records)
        while chunk := list(islice(lines, 4096)):
            write("".join(chunk))
        return
    buf: list[str] = []
    shown = 0
    add = timeline.add if timeline is not None else None
    for rec in records:
        if add is not None:
            add(rec)
        if keep is not None and not keep(rec):
            continue
        if fmt is not None:
            buf.append(fmt(rec))
            if flush_each or len(buf) >= 4096:
                write("".join(buf))
                buf.clear()
                if flush_each:
                    out.flush()
        shown += 1
        if count is not None and shown >= count:
            break
    if buf:
        write("".join(buf))
