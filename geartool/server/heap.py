"""How the server keeps its Python heap cheap: the cyclic GC's thresholds, pre-faulted arenas
and untracked jobs.

The C half (``_heap``) is optional like the other C modules: without it (no compiler, or
``GEARTOOL_PURE_PYTHON=1``) arenas fault in page by page and jobs stay on the collector's
lists, with the same behaviour and more CPU per queued job.
"""

from __future__ import annotations

import gc
import mmap
from collections.abc import Callable

from geartool import _compiled

_c = _compiled.extension("geartool.server._heap")

# Takes one object off the cyclic collector's lists; None without the C module. The core
# applies it to each Job (see core.Core.untrack for why that is safe).
untrack: Callable[[object], None] | None = _c.untrack if _c is not None else None


def tune() -> None:
    """Set the process up for a server holding millions of long-lived job objects.

    Jobs, connections and queues are freed by reference counting; cycles are rare (a closed
    connection and its protocol object). With the default thresholds the collector rescans the
    young generations every 700 allocations, which the profile showed costing about half of
    the time per submitted job. Freezing start-up objects and collecting young objects every
    50,000 allocations keeps cycles collected while removing that cost. New pymalloc arenas
    are then mapped with their pages resident (see ``_heap.c``): one fault per arena instead
    of one per page as a queue grows.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    if _c is not None:
        _c.prefault_arenas()


class Reserve:
    """Address space held back for the moment an allocation fails.

    Under a memory limit (``ulimit -v``, RLIMIT_DATA, strict overcommit) a server that has
    filled its memory fails every allocation after that, including the ones it needs to hand
    jobs to workers and so free memory. Released when that happens, the reserve lets it keep
    working while it refuses new jobs. Mapped but never touched, it costs address space only:
    no resident memory.
    """

    def __init__(self, size: int = 64 << 20) -> None:
        self.size = size
        self._map: mmap.mmap | None = None

    @property
    def held(self) -> bool:
        return self._map is not None

    def take(self, headroom: int = 0) -> bool:
        """Map the reserve, and succeed only if ``headroom`` bytes more could be mapped too."""
        if self._map is None:
            try:
                self._map = mmap.mmap(-1, self.size, flags=mmap.MAP_PRIVATE)
            except OSError:
                return False
        if headroom:
            try:
                mmap.mmap(-1, headroom, flags=mmap.MAP_PRIVATE).close()
            except OSError:
                self.release()
                return False
        return True

    def release(self) -> None:
        if self._map is not None:
            self._map.close()
            self._map = None
