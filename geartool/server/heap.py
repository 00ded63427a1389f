"""How the server keeps its Python heap cheap: the cyclic GC's thresholds, pre-faulted arenas
and untracked jobs.

The C half (``_heap``) is optional like the other C modules: without it (no compiler, or
``GEARTOOL_PURE_PYTHON=1``) arenas fault in page by page and jobs stay on the collector's
lists, with the same behaviour and more CPU per queued job.
"""

from __future__ import annotations

import gc
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
