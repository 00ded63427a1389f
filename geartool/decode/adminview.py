"""Admin text lines in context: which command a reply line answers, and its typed row.

Replies carry no header, so a reply line means nothing without the command before it on the
same connection. This follows each stream's last command (list commands answer with rows up to
a ``.`` line) and parses rows with the protocol core's admin parsers.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from geartool.protocol import admin
from geartool.protocol.errors import GearmanError

_PARSERS: dict[str, Callable[[Sequence[str]], Sequence[Any]]] = {
    "status": admin.parse_status,
    "prioritystatus": admin.parse_priority_status,
    "workers": admin.parse_workers,
    "show jobs": admin.parse_jobs,
    "stats": admin.parse_stats,
    "running": admin.parse_running,
}


class AdminContext:
    """Per stream: the command being answered."""

    def __init__(self) -> None:
        self._command: dict[int, str] = {}

    def command(self, stream: int, line: bytes) -> str:
        """Note a command line sent to the server; returns its command word(s), lower-case."""
        words = line.decode("latin-1").lower().split()
        name = " ".join(words[:3]) if words[:1] == ["show"] else (words[0] if words else "")
        self._command[stream] = name
        return name

    def reply(self, stream: int, line: bytes) -> tuple[str, dict[str, Any] | None]:
        """(command answered, typed row or None) for a reply line."""
        name = self._command.get(stream, "")
        text = line.decode("utf-8", "backslashreplace")
        if text == "." or text.startswith(("OK", "ERR")) or not admin.is_list_command(name or "-"):
            self._command.pop(stream, None)  # that line completes the reply
            return name, None
        parser = _PARSERS.get(name)
        if parser is None:
            return name, None
        try:
            row = parser([text])[0]
        except (GearmanError, ValueError, IndexError):
            return name, None
        return name, dataclasses.asdict(row)
