"""Soak: does a long-running server give memory back? gearmand and geartool side by side.

Each server is started once and driven for --rounds rounds; a round is a foreground run (clients
and workers on persistent connections), a coalescing run (--clients fresh connections piling onto
one unique id, then closing) and a connect-and-close burst of --clients idle connections. The
server's RSS is read after every round. Memory that comes back settles after the first round or
two; a leak shows as steady growth, printed as KB per round over the later rounds.

    python benchmarks/soak.py [--rounds 6] [--clients 500] [--only geartool]

This is how a per-connection leak was found (closed connections waiting for a rare full GC):
before the fix geartool grew about 1.15 MB per round here, after it under 0.1 MB.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.harness import build  # noqa: E402
from benchmarks.harness.servers import Server  # noqa: E402


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def soak(binary: Path, kind: str, rounds: int, clients: int) -> list[int]:
    """RSS in KB at the start and after each round."""
    seen: list[int] = []
    with Server(kind) as srv:
        time.sleep(0.5)
        seen.append(rss_kb(srv.pid))
        for i in range(rounds):
            fg = build.run(binary, "fg", srv.port, pid=srv.pid, count=100_000, clients=4,
                           workers=4, depth=8, duration=10, timeout=60)
            co = build.run(binary, "coalesce", srv.port, pid=srv.pid, clients=clients,
                           rounds=20, duration=10, timeout=60)
            build.run(binary, "idle", srv.port, pid=srv.pid, count=clients, timeout=60,
                      settle=0.2)
            seen.append(rss_kb(srv.pid))
            print(f"{kind:<9} round {i + 1}: fg {fg.get('rate', 0):>9,.0f}/s  coalesce "
                  f"{co.get('rate', 0):>9,.0f}/s  RSS {seen[-1]:>8,} KB", flush=True)
    return seen


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=6, help="rounds per server (2..50)")
    ap.add_argument("--clients", type=int, default=500, help="connections per burst (1..5000)")
    ap.add_argument("--only", choices=("gearmand", "geartool"))
    args = ap.parse_args()
    if not (2 <= args.rounds <= 50 and 1 <= args.clients <= 5000):
        ap.error("--rounds must be 2..50 and --clients 1..5000")
    binary = build.build()
    kinds = [args.only] if args.only else ["gearmand", "geartool"]
    growth: dict[str, float] = {}
    for kind in kinds:
        seen = soak(binary, kind, args.rounds, args.clients)
        settled = seen[2:] if len(seen) > 3 else seen[1:]  # past the first rounds' warm-up
        growth[kind] = (settled[-1] - settled[0]) / max(len(settled) - 1, 1)
    print()
    for kind, kb in growth.items():
        print(f"{kind:<9} RSS growth after warm-up: {kb:8.1f} KB per round")
    return 0


if __name__ == "__main__":
    sys.exit(main())
