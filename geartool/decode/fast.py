"""When ``geartool decode`` may use its compiled fast path, and how it is called.

``_fastdecode`` (C, built by setup.py when a compiler is present) prints the plain text and
JSON views of a whole pcap or pcapng file byte for byte as the Python decoder would, for
captures whose Gearman streams are ordinary: complete, in order, no garbage. For any
other capture it returns None, having printed nothing, and the Python decoder runs instead, so
the output never depends on which path ran. ``GEARTOOL_PURE_PYTHON=1`` turns the fast path off
(the tests use it to compare both).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from types import ModuleType

from .adminview import AdminContext
from .net import format_addr
from .output import Renderer
from .pcap import CaptureReader


def _load() -> ModuleType | None:
    if os.environ.get("GEARTOOL_PURE_PYTHON"):
        return None
    try:
        from . import _fastdecode  # type: ignore[attr-defined]
    except ImportError:  # installed without a C compiler
        return None
    return _fastdecode


def available() -> bool:
    """True when the compiled fast path is built and not turned off."""
    return _load() is not None


def decode_all(reader: CaptureReader, ports: frozenset[int], renderer: Renderer, json: bool,
               write: Callable[[bytes], object]) -> bool:
    """Print the capture's lines through ``write`` (ASCII bytes, in chunks) and return True,
    or print nothing and return False: the Python decoder must do it."""
    module = _load()
    data = reader.whole()
    if module is None or data is None:
        return False
    # A context of its own: if the fast path gives up part-way, the Python decoder starts
    # again from the first admin command.
    ctx = AdminContext()
    shown = renderer.admin_json if json else renderer.admin_text

    def admin(stream: int, to_server: int, line: bytes) -> str:
        return shown(ctx, stream, bool(to_server), line)

    types, limit, dim_on, dim_off = renderer.compiled_view(json)
    done = module.decode(data, tuple(sorted(ports)), types, json, limit, dim_on, dim_off, admin,
                         format_addr, write)
    return done is True
