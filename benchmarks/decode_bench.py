"""Speed of ``geartool decode`` against tshark on the same capture of Gearman job traffic.

Builds a capture of about --frames frames (default 1,000,000) in a temporary directory with
geartool's own pcap writer: clients submitting jobs, workers grabbing and completing them, the
server's replies, and pure ACKs, over several connections. Then it times, one after the other:

  geartool decode F            > /dev/null      (the compiled fast path, when built)
  geartool decode F --json     > /dev/null
  geartool decode F            > /dev/null      (GEARTOOL_PURE_PYTHON=1: the Python decoder)
  tshark -r F -d tcp.port==4730,gearman -Y gearman -T fields -e gearman.pkt_type > /dev/null

and prints the times and the ratios. Each run is bounded by --timeout seconds.

    python benchmarks/decode_bench.py [--frames N] [--timeout S] [--keep DIR]
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from geartool.decode import writer  # noqa: E402
from geartool.decode.net import ACK, PSH, SYN  # noqa: E402
from geartool.protocol import PacketType as T  # noqa: E402
from geartool.protocol.frames import pack_bytes  # noqa: E402

PORT = 4730
SERVER = bytes([10, 0, 0, 1])
FRAMES_PER_JOB = 10  # 8 packets + 2 pure ACKs, see build()


class _Conn:
    """One TCP connection's sequence numbers on both sides."""

    def __init__(self, host: int, port: int) -> None:
        self.addr = bytes([10, 0, 1, host])
        self.port = port
        self.cseq = 1000 * port
        self.sseq = 7000 * port

    def to_server(self, payload: bytes, flags: int = ACK | PSH) -> bytes:
        f = writer.tcp_frame(self.addr, self.port, SERVER, PORT, self.cseq, self.sseq, payload,
                             flags)
        self.cseq += len(payload)
        return f

    def to_client(self, payload: bytes, flags: int = ACK | PSH) -> bytes:
        f = writer.tcp_frame(SERVER, PORT, self.addr, self.port, self.sseq, self.cseq, payload,
                             flags)
        self.sseq += len(payload)
        return f


def build(path: Path, frames: int, clients: int = 16, workers: int = 4) -> int:
    """Write the capture; returns the number of frames written."""
    cs = [_Conn(i + 1, 40000 + i) for i in range(clients)]
    ws = [_Conn(100 + i, 50000 + i) for i in range(workers)]
    rec = writer.record
    ts = 1_700_000_000.0
    n = 0
    with open(path, "wb") as out:
        writer.write_header(out)
        chunk: list[bytes] = []
        for c in cs + ws:  # handshakes
            c.cseq -= 1
            c.sseq -= 1
            chunk.append(rec(ts, c.to_server(b"", SYN)))
            chunk.append(rec(ts, c.to_client(b"", SYN | ACK)))
            c.cseq += 1
            c.sseq += 1
            n += 2
        job = 0
        while n + FRAMES_PER_JOB <= frames:
            c = cs[job % clients]
            w = ws[job % workers]
            job += 1
            handle = b"H:bench:%d" % job
            func = b"resize" if job % 3 else b"thumbnail"
            data = b"image-%08d.png" % job
            step = 0.00001
            for payload in (
                c.to_server(pack_bytes(b"\0REQ", T.SUBMIT_JOB, [func, b"", data])),
                c.to_client(pack_bytes(b"\0RES", T.JOB_CREATED, [handle])),
                w.to_client(pack_bytes(b"\0RES", T.NOOP, [])),
                w.to_server(pack_bytes(b"\0REQ", T.GRAB_JOB_UNIQ, [])),
                w.to_client(pack_bytes(b"\0RES", T.JOB_ASSIGN_UNIQ, [handle, func, b"", data])),
                w.to_server(pack_bytes(b"\0REQ", T.WORK_COMPLETE, [handle, b"ok:" + data])),
                c.to_client(pack_bytes(b"\0RES", T.WORK_COMPLETE, [handle, b"ok:" + data])),
                w.to_server(pack_bytes(b"\0REQ", T.PRE_SLEEP, [])),
                c.to_server(b"", ACK),
                w.to_client(b"", ACK),
            ):
                ts += step
                chunk.append(rec(ts, payload))
            n += FRAMES_PER_JOB
            if len(chunk) > 20000:
                out.write(b"".join(chunk))
                chunk.clear()
        out.write(b"".join(chunk))
    return n


def timed(cmd: list[str], timeout: float, env: dict[str, str] | None = None
          ) -> tuple[float, float] | None:
    """(wall seconds, CPU seconds) of one run. CPU time (user + system of the child) is the
    fairer figure on a busy machine, where wall time also measures the other processes."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    try:
        with open(os.devnull, "wb") as null:
            subprocess.run(cmd, stdout=null, stderr=subprocess.DEVNULL, timeout=timeout,
                           check=True, cwd=ROOT, env={**os.environ, **(env or {})})
    except subprocess.TimeoutExpired:
        return None
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=1_000_000)
    ap.add_argument("--timeout", type=float, default=600.0, help="per run, seconds")
    ap.add_argument("--keep", type=Path, help="write the capture here and keep it")
    ap.add_argument("--no-tshark", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="geartool-bench-"))
    path = (args.keep or tmp) / "bench.pcap"
    try:
        t0 = time.perf_counter()
        n = build(path, args.frames)
        print(f"built {n} frames ({path.stat().st_size / 1e6:.1f} MB) in "
              f"{time.perf_counter() - t0:.1f} s")
        geartool = [sys.executable, "-m", "geartool", "decode", str(path)]
        runs = {
            "geartool decode": geartool,
            "geartool decode --json": geartool + ["--json"],
            "geartool decode, pure Python": geartool,
        }
        pure = {"GEARTOOL_PURE_PYTHON": "1"}
        if not args.no_tshark and shutil.which("tshark"):
            runs["tshark -Y gearman -T fields"] = [
                "tshark", "-r", str(path), "-d", f"tcp.port=={PORT},gearman", "-Y", "gearman",
                "-T", "fields", "-e", "gearman.pkt_type"]
        print(f"load average before the runs: {os.getloadavg()[0]:.2f} "
              f"on {os.cpu_count()} CPUs")
        times = {name: timed(cmd, args.timeout, pure if "pure" in name else None)
                 for name, cmd in runs.items()}
        for name, t in times.items():
            shown = "timed out" if t is None else (
                f"wall {t[0]:7.2f} s  CPU {t[1]:7.2f} s  {n / t[0]:10,.0f} frames/s (wall)")
            print(f"{name:<30} {shown}")
        ts = times.get("tshark -Y gearman -T fields")
        if ts:
            for name in ("geartool decode", "geartool decode --json",
                         "geartool decode, pure Python"):
                t = times[name]
                if t:
                    print(f"ratio tshark / {name:<24} wall {ts[0] / t[0]:5.1f}x   "
                          f"CPU {ts[1] / t[1]:5.1f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
