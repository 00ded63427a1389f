"""Reads and writes on the server's non-blocking sockets: the C shim ``_fastio`` when it is
built (it keeps the GIL, which a call that never blocks does not need to drop), else os.read and
os.write. Both pairs take and return the same things. ``GEARTOOL_PURE_PYTHON=1`` picks os.
"""

from __future__ import annotations

import os
from collections.abc import Callable

Reader = Callable[[int, int], bytes]
Writer = Callable[[int, "bytes | memoryview"], int]


def _load() -> tuple[Reader, Writer] | None:
    if os.environ.get("GEARTOOL_PURE_PYTHON"):
        return None
    try:
        from . import _fastio
    except ImportError:  # installed without a C compiler
        return None
    return _fastio.read, _fastio.write


_fast = _load()
FAST = _fast is not None
read: Reader = _fast[0] if _fast is not None else os.read
write: Writer = _fast[1] if _fast is not None else os.write
