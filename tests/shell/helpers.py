"""Helpers for the shell and proxy tests: running the CLI, reading pcaps back, waiting."""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\x1b[=>]")
TIMING = re.compile(r"<- +[0-9.]+ms")


def geartool(*args: str, stdin: str | None = None, timeout: float = 60
             ) -> subprocess.CompletedProcess[str]:
    """Run ``python -m geartool ARGS`` from the worktree root."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "geartool", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT, env=env)


def shell(port: int, *args: str, stdin: str | None = None, extra: tuple[str, ...] = ()
          ) -> subprocess.CompletedProcess[str]:
    return geartool("shell", "-s", f"127.0.0.1:{port}", *extra, *args, stdin=stdin)


def normalise(text: str) -> str:
    """Output with timings taken out, so two runs can be compared."""
    text = TIMING.sub("<- T", text)
    return re.sub(r"\([0-9]+ rows?, [0-9.]+ ms\)|\([0-9.]+ ms\)|in [0-9.]+ ms", "(T)", text)


def wait_for(check: Callable[[], bool], timeout: float = 10.0, what: str = "condition"
             ) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def gearadmin_status(port: int) -> str:
    out = subprocess.run(["gearadmin", "-h", "127.0.0.1", "-p", str(port), "--status"],
                         capture_output=True, text=True, timeout=10)
    return out.stdout


def wait_workers(port: int, function: str, count: int = 1) -> None:
    def ready() -> bool:
        for line in gearadmin_status(port).splitlines():
            parts = line.split("\t")
            if parts[0] == function and len(parts) == 4 and int(parts[3]) >= count:
                return True
        return False

    wait_for(ready, what=f"{count} worker(s) for {function}")


@dataclass
class Segment:
    ts: float
    src: str
    dst: str
    sport: int
    dport: int
    seq: int
    ack: int
    flags: int
    payload: bytes
    tcp_ok: bool
    ip_ok: bool


def _csum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f">{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def read_pcap(path: Path) -> list[Segment]:
    """A deliberately separate little pcap reader (Ethernet/IPv4|IPv6/TCP), checking sums."""
    import ipaddress

    raw = path.read_bytes()
    magic, major, minor, _, _, _, link = struct.unpack_from("<IHHiIII", raw, 0)
    assert (magic, major, minor, link) == (0xA1B2C3D4, 2, 4, 1)
    pos, out = 24, []
    while pos < len(raw):
        sec, usec, incl, orig = struct.unpack_from("<IIII", raw, pos)
        assert incl == orig
        frame = raw[pos + 16:pos + 16 + incl]
        pos += 16 + incl
        ethertype = struct.unpack_from(">H", frame, 12)[0]
        ip = frame[14:]
        if ethertype == 0x0800:
            ihl = (ip[0] & 0x0F) * 4
            total = struct.unpack_from(">H", ip, 2)[0]
            src, dst = ip[12:16], ip[16:20]
            tcp = ip[ihl:total]
            ip_ok = _csum(ip[:ihl]) == 0xFFFF
            pseudo = src + dst + struct.pack(">BBH", 0, 6, len(tcp))
        else:
            assert ethertype == 0x86DD
            plen = struct.unpack_from(">H", ip, 4)[0]
            src, dst = ip[8:24], ip[24:40]
            tcp = ip[40:40 + plen]
            ip_ok = True
            pseudo = src + dst + struct.pack(">I3xB", len(tcp), 6)
        sport, dport, seq, ack, off, flags = struct.unpack_from(">HHIIBB", tcp, 0)
        out.append(Segment(sec + usec / 1e6, str(ipaddress.ip_address(src)),
                           str(ipaddress.ip_address(dst)), sport, dport, seq, ack, flags,
                           tcp[(off >> 4) * 4:], _csum(pseudo + tcp) == 0xFFFF, ip_ok))
    return out


def streams(segments: list[Segment]) -> dict[tuple[str, int, str, int], bytes]:
    """Each direction's bytes, checking that sequence numbers run on without gaps."""
    next_seq: dict[tuple[str, int, str, int], int] = {}
    data: dict[tuple[str, int, str, int], bytearray] = {}
    for s in segments:
        key = (s.src, s.sport, s.dst, s.dport)
        if s.flags & 0x02:  # SYN
            next_seq[key] = (s.seq + 1) & 0xFFFFFFFF
            data[key] = bytearray()
            continue
        if s.payload:
            assert s.seq == next_seq[key], "sequence gap"
            data[key] += s.payload
            next_seq[key] = (s.seq + len(s.payload)) & 0xFFFFFFFF
    return {k: bytes(v) for k, v in data.items()}
