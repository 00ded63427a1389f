#!/usr/bin/env python3
"""MapReduce over Gearman: a word count whose "wordcount" worker fans out to other workers.

Roles (run each in its own terminal; several mappers make it parallel):

    python examples/mapreduce_wordcount.py mapper -s 127.0.0.1:4730        # serves wordcount_map
    python examples/mapreduce_wordcount.py coordinator -s 127.0.0.1:4730   # serves wordcount
    python examples/mapreduce_wordcount.py count FILE -s 127.0.0.1:4730    # a client
    geartool submit wordcount < FILE                                       # or any client

The coordinator splits its input into chunks on line boundaries, submits one "wordcount_map"
sub-job per chunk through the client library (they run on whichever mappers are free),
reports progress with WORK_STATUS as the chunks come back, and reduces the partial counts.
Its result is JSON: {"chunks": n, "mappers": [pids], "counts": {word: count, ...}}, counts
sorted by count then word.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import sys
from collections import Counter
from pathlib import Path

# Run from a source checkout without installing geartool.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from geartool.client import Client, Worker, WorkerJob  # noqa: E402

MAP, REDUCE = "wordcount_map", "wordcount"
WORD = re.compile(r"[\w']+")


def split(text: bytes, chunk_size: int) -> list[bytes]:
    """Chunks of about ``chunk_size`` bytes, never cutting a line (so never a word)."""
    chunks: list[bytes] = []
    start = 0
    while start < len(text):
        end = text.find(b"\n", start + chunk_size)
        end = len(text) if end < 0 else end + 1
        chunks.append(text[start:end])
        start = end
    return chunks


def count_words(text: bytes) -> Counter[str]:
    return Counter(WORD.findall(text.decode("utf-8", "replace").lower()))


def map_chunk(job: WorkerJob) -> bytes:
    """The map step: count one chunk's words; say which process did it."""
    return json.dumps({"pid": os.getpid(), "counts": count_words(job.data)}).encode()


class Coordinator:
    """The "wordcount" task: split, fan out as sub-jobs, reduce."""

    def __init__(self, client: Client, chunk_size: int) -> None:
        self.client = client
        self.chunk_size = chunk_size

    async def __call__(self, job: WorkerJob) -> bytes:
        chunks = split(job.data, self.chunk_size)
        total: Counter[str] = Counter()
        mappers: set[int] = set()
        done = 0
        job.send_status(0, len(chunks))
        subs = [self.client.submit_job(MAP, chunk) for chunk in chunks]
        for finished in asyncio.as_completed(subs):
            res = await finished
            if not res.ok:
                raise RuntimeError(f"sub-job {res.handle} ended with {res.state}: {res.text}")
            part = json.loads(res.data)
            total.update(part["counts"])
            mappers.add(part["pid"])
            done += 1
            job.send_status(done, len(chunks))
        counts = dict(sorted(total.items(), key=lambda kv: (-kv[1], kv[0])))
        return json.dumps({"chunks": len(chunks), "mappers": sorted(mappers),
                           "counts": counts}).encode()


async def serve(role: str, servers: list[str], chunk_size: int, concurrency: int) -> None:
    worker = Worker(servers, concurrency=concurrency, client_id=f"{role}-{os.getpid()}")
    async with Client(servers) as client:
        if role in ("mapper", "both"):
            worker.register_task(MAP, map_chunk)
        if role in ("coordinator", "both"):
            worker.register_task(REDUCE, Coordinator(client, chunk_size))
        await worker.work()


async def count(path: str, servers: list[str], top: int) -> int:
    async with Client(servers) as client:
        job = await client.submit(REDUCE, Path(path).read_bytes())
        async for ev in job:
            if ev.kind == "status":
                print(f"{ev.numerator}/{ev.denominator} chunks", file=sys.stderr)
        res = await job.result()
    if not res.ok:
        print(f"wordcount failed: {res.state} {res.text}", file=sys.stderr)
        return 1
    counts = json.loads(res.data)["counts"]
    for word, n in list(counts.items())[:top]:
        print(f"{n:8d} {word}")
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("role", choices=["mapper", "coordinator", "both", "count"])
    ap.add_argument("file", nargs="?", help="text file (count role)")
    ap.add_argument("-s", "--server", action="append", default=None)
    ap.add_argument("--chunk-size", type=int, default=16384, help="bytes per map sub-job")
    ap.add_argument("--concurrency", type=int, default=4)
    ap.add_argument("--top", type=int, default=20)
    args = ap.parse_args()
    servers = args.server or [os.environ.get("GEARMAN_SERVERS", "127.0.0.1:4730")]
    try:
        if args.role == "count":
            if not args.file:
                ap.error("count needs a FILE")
            return asyncio.run(count(args.file, servers, args.top))
        asyncio.run(serve(args.role, servers, args.chunk_size, args.concurrency))
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
