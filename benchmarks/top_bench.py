"""How responsive ``geartool top`` stays, and how much CPU it uses, with 1,000 functions and
1,000 workers polled every second.

A fake admin server (a separate process on loopback) answers ``status``, ``prioritystatus``,
``workers``, ``stats``, ``running``, ``version`` and ``uptime`` with big replies whose numbers
change every poll, so each second both the functions table (1,000 rows) and the workers table
(1,000 rows) are refreshed. The app runs headless (Textual's test driver: everything is laid out
and rendered, only the terminal write is skipped) for ``--seconds`` of wall time.

Reported: top's own CPU (user+sys of this process / wall time), the time each refresh of the
screen takes, key-press latency (a sort key while polling), and event-loop lag (how late a 50 ms
timer fires: what the user feels as stutter).

    python benchmarks/top_bench.py [--seconds 20] [--functions 1000] [--workers 1000] [--real]

With ``--real`` the server is geartool's own (``geartool server --queue memory``), loaded by a
separate process holding ``--workers`` real worker connections (CAN_DO for two functions each)
and submitting 100 background jobs a second to random functions.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


# ---- the fake server (child process) -------------------------------------------------------

def serve(port: int, functions: int, workers: int) -> None:
    """Answer admin commands with big, changing replies until the parent goes away."""
    rng = random.Random(1)
    names = [f"func_{i:04d}" for i in range(functions)]
    waiting = [rng.randrange(0, 50) for _ in names]
    counters = [0] * functions

    def tick() -> None:
        for i in rng.sample(range(functions), functions // 10):  # 10% change per poll
            waiting[i] = max(0, waiting[i] + rng.randrange(-5, 6))
            counters[i] += rng.randrange(0, 20)

    def reply(cmd: str) -> bytes:
        if cmd == "status":
            tick()
            rows = [f"{n}\t{w + 1}\t1\t1\n" for n, w in zip(names, waiting, strict=True)]
        elif cmd == "prioritystatus":
            rows = [f"{n}\t0\t{w}\t0\t1\n" for n, w in zip(names, waiting, strict=True)]
        elif cmd == "workers":
            rows = [f"{100 + i} 10.0.{i // 250}.{i % 250} w-{i} : {names[i % functions]} "
                    f"{names[(i + 1) % functions]}\n" for i in range(workers)]
        elif cmd == "stats":
            rows = [f"{n}\t{c + w}\t{c}\t0\t0\t0\t{w * 0.5:.3f}\n"
                    for n, c, w in zip(names, counters, waiting, strict=True)]
        elif cmd == "running":
            rows = [f"{100 + i}\t10.0.{i // 250}.{i % 250}\tw-{i}\tH:bench:{i}\t"
                    f"{names[i % functions]}\t\t{i % 60}.000\n" for i in range(0, workers, 2)]
        elif cmd == "version":
            return b"OK geartool-bench\n"
        elif cmd == "uptime":
            return b"OK 100.000\n"
        else:
            return b"ERR UNKNOWN_COMMAND Unknown+server+command" + cmd.encode() + b"\r\n"
        return "".join(rows).encode() + b".\n"

    async def handle(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        while line := await r.readline():
            w.write(reply(line.decode().strip()))
            await w.drain()
        w.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            # Stop with the parent: stdin closes when it exits.
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


# ---- load for the real server (child process) ------------------------------------------

def load(port: int, functions: int, workers: int) -> None:
    """Register ``workers`` worker connections and keep submitting background jobs."""
    from geartool.protocol import PacketType, encode, req

    names = [f"func_{i:04d}".encode() for i in range(functions)]
    rng = random.Random(2)

    async def main() -> None:
        conns = []
        for i in range(workers):
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.write(encode(req(PacketType.SET_CLIENT_ID, f"w-{i}".encode())) +
                    encode(req(PacketType.CAN_DO, names[i % functions])) +
                    encode(req(PacketType.CAN_DO, names[(i + 1) % functions])))
            conns.append(w)
        _, client = await asyncio.open_connection("127.0.0.1", port)
        stop = asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        n = 0
        while not stop.done():
            for _ in range(100):
                n += 1
                client.write(encode(req(PacketType.SUBMIT_JOB_BG, rng.choice(names),
                                        str(n).encode(), b"x")))
            await asyncio.sleep(1.0)

    asyncio.run(main())


# ---- the measurement (parent) --------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int) -> None:
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"nothing listens on 127.0.0.1:{port}")


def cpu() -> float:
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


async def measure(port: int, seconds: float, functions: int, tune: bool = True
                  ) -> dict[str, float]:
    from geartool.tui.app import make_app

    app = make_app([f"127.0.0.1:{port}"], interval=1.0, timeout=2.0, tune_gc=tune)
    renders: list[float] = []
    original = app.render_now

    def timed_render() -> None:
        t0 = time.perf_counter()
        original()
        renders.append(time.perf_counter() - t0)
    app.render_now = timed_render  # type: ignore[method-assign]

    lags: list[float] = []
    keys: list[float] = []
    gc_time = [0.0, 0.0]  # total seconds, start of the collection running now

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            gc_time[1] = time.perf_counter()
        else:
            gc_time[0] += time.perf_counter() - gc_time[1]
    gc.callbacks.append(on_gc)
    async with app.run_test(size=(160, 50)) as pilot:
        deadline = time.monotonic() + 15
        while len(app.functions_table._keys) < functions and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        if len(app.functions_table._keys) < functions:
            raise SystemExit("top never showed the fake server's functions")
        renders.clear()
        gc_time[0] = 0.0
        c0, w0 = cpu(), time.monotonic()
        next_key = w0 + 0.5
        while (now := time.monotonic()) - w0 < seconds:
            t = time.perf_counter()
            await asyncio.sleep(0.05)
            lags.append(time.perf_counter() - t - 0.05)
            if now >= next_key:  # a key press every 2 s: sort by the next column
                t = time.perf_counter()
                await pilot.press("s")
                keys.append(time.perf_counter() - t)
                next_key = now + 2.0
        c1, w1 = cpu(), time.monotonic()
    gc.callbacks.remove(on_gc)
    return {"gc_pct": 100 * gc_time[0] / (w1 - w0), "cpu_pct": 100 * (c1 - c0) / (w1 - w0),
            "wall": w1 - w0,
            "renders": len(renders), "render_median_ms": 1000 * statistics.median(renders),
            "render_max_ms": 1000 * max(renders),
            "key_median_ms": 1000 * statistics.median(keys), "key_max_ms": 1000 * max(keys),
            "lag_p50_ms": 1000 * statistics.median(lags),
            "lag_p99_ms": 1000 * sorted(lags)[int(len(lags) * 0.99) - 1],
            "lag_max_ms": 1000 * max(lags)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--functions", type=int, default=1000)
    p.add_argument("--workers", type=int, default=1000)
    p.add_argument("--real", action="store_true", help="geartool's own server, real workers")
    p.add_argument("--default-gc", action="store_true",
                   help="leave the collector as Python sets it (what the CLI tunes)")
    p.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    p.add_argument("--load", type=int, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.serve:
        serve(a.serve, a.functions, a.workers)
        return
    if a.load:
        load(a.load, a.functions, a.workers)
        return
    a.seconds = min(a.seconds, 120.0)  # bounded, whatever is asked
    port = free_port()
    size = ["--functions", str(a.functions), "--workers", str(a.workers)]
    children: list[subprocess.Popen[bytes]] = []
    try:
        if a.real:
            children.append(subprocess.Popen(
                [sys.executable, "-m", "geartool", "server", "--port", str(port),
                 "--queue", "memory"], cwd=ROOT, stdin=subprocess.PIPE))
            wait_port(port)
            children.append(subprocess.Popen([sys.executable, __file__, "--load", str(port),
                                              *size], stdin=subprocess.PIPE))
        else:
            children.append(subprocess.Popen([sys.executable, __file__, "--serve", str(port),
                                              *size], stdin=subprocess.PIPE))
            wait_port(port)
        r = asyncio.run(measure(port, a.seconds, a.functions, not a.default_gc))
    finally:
        for child in reversed(children):  # ended by PID: stdin closed, then terminate
            assert child.stdin is not None
            child.stdin.close()
            child.terminate()
            try:
                child.wait(5)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)
    what = "geartool server + real worker connections" if a.real else "fake admin server"
    print(f"geartool top, {a.functions} functions, {a.workers} workers ({what}), 1 s refresh, "
          f"{r['wall']:.0f} s measured")
    print(f"  own CPU:         {r['cpu_pct']:.1f}% of one core (polling, parsing, model, render;"
          f" {r['gc_pct']:.1f}% in garbage collection)")
    print(f"  screen refresh:  {r['renders']:.0f} refreshes, median {r['render_median_ms']:.1f} ms,"
          f" max {r['render_max_ms']:.1f} ms")
    print(f"  key press (s):   median {r['key_median_ms']:.1f} ms, max {r['key_max_ms']:.1f} ms")
    print(f"  event-loop lag:  p50 {r['lag_p50_ms']:.1f} ms, p99 {r['lag_p99_ms']:.1f} ms, "
          f"max {r['lag_max_ms']:.1f} ms")


if __name__ == "__main__":
    main()
