"""Reads and writes on the server's non-blocking sockets: the C shim ``_fastio`` when it is
built (it keeps the GIL, which a call that never blocks does not need to drop), else os.read and
os.write. Both pairs take and return the same things. ``GEARTOOL_PURE_PYTHON=1`` picks os.

``poll`` (C only, else None) is epoll_wait without waiting, as a flat list of descriptors and
their events; without it the server calls ``select.epoll.poll``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from geartool import _compiled

Reader = Callable[[int, int], bytes]
Writer = Callable[[int, "bytes | memoryview"], int]
Poller = Callable[[int, int], list[int]]

_fast = _compiled.extension("geartool.server._fastio")
FAST = _fast is not None
read: Reader = _fast.read if _fast is not None else os.read
write: Writer = _fast.write if _fast is not None else os.write
poll: Poller | None = _fast.poll if _fast is not None else None
