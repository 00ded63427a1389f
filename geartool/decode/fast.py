"""When ``geartool decode`` may use its compiled fast path, and how it is called.

``_fastdecode`` (C, built by setup.py when a compiler is present) prints the plain text and
JSON views of a whole pcap or pcapng file byte for byte as the Python decoder would, for
captures whose Gearman streams are ordinary: in order, nothing missing, no garbage (they may
start mid-connection and end inside a packet, as a capture of a running system does). For any
other capture it returns None, having printed nothing, and the Python decoder runs instead, so
the output never depends on which path ran. ``GEARTOOL_PURE_PYTHON=1`` turns the fast path off
(the tests use it to compare both).
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

from geartool import _compiled

from .adminview import AdminContext
from .net import format_addr
from .output import Renderer
from .pcap import CaptureReader
from .stream import ends_inside, never_synced, skipped_to_sync


def _load() -> ModuleType | None:
    return _compiled.extension("geartool.decode._fastdecode")  # at each use: tests toggle it


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
    types, limit = renderer.compiled_view(json)
    done = module.decode(data, tuple(sorted(ports)), types, json, limit,
                         _View(renderer, json, write))
    return done is True


class _View:
    """What the fast path asks Python for: every line but the packet lines, and where to write.

    It has its own admin context: if the fast path gives up part-way, the Python decoder starts
    again from the first admin command.
    """

    def __init__(self, renderer: Renderer, json: bool, write: Callable[[bytes], object]) -> None:
        self._r = renderer
        self._json = json
        self._ctx = AdminContext()
        self.write = write
        self.address = format_addr

    def admin(self, stream: int, to_server: int, line: bytes) -> str:
        shown = self._r.admin_json if self._json else self._r.admin_text
        return shown(self._ctx, stream, bool(to_server), line)

    def anomaly(self, kind: int, value: int | bytes) -> str:
        # 0 and 1 carry a byte count, 2 the bytes of the unfinished packet (_fastdecode.h)
        if kind == 2:
            assert isinstance(value, bytes)
            item = ends_inside(value)
        else:
            assert isinstance(value, int)
            item = (skipped_to_sync, never_synced)[kind](value)
        return self._r.anomaly_json(item) if self._json else self._r.anomaly_text(item)

    def where(self, stream: int, to_server: int, client: str, server: str) -> str:
        if self._json:
            return self._r.where_json(stream, bool(to_server), client, server)
        return self._r.where_text(stream, bool(to_server))

    def header(self, stream: int, client: str, server: str, first_frame: int,
               midstream: int) -> str:
        return self._r.header_line(stream, client, server, first_frame, bool(midstream))


