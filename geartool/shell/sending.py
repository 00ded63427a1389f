"""What the shell's commands share: argument words, options, and sending a packet by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from geartool.protocol import Event, Frame, PacketType, req
from geartool.protocol.spec import ASSIGN_TYPES, PacketSpec

from .catalog import packet_usage
from .completion import HANDLE_VARIABLE
from .runner import EXIT_USAGE, CommandError

if TYPE_CHECKING:
    from .runner import Shell

# The reply that ends the wait after each request type; other requests get the ECHO barrier.
_REPLIES: dict[PacketType, frozenset[PacketType]] = {
    PacketType.ECHO_REQ: frozenset({PacketType.ECHO_RES}),
    PacketType.GET_STATUS: frozenset({PacketType.STATUS_RES}),
    PacketType.GET_STATUS_UNIQUE: frozenset({PacketType.STATUS_RES_UNIQUE}),
    PacketType.OPTION_REQ: frozenset({PacketType.OPTION_RES}),
    **{t: frozenset({PacketType.JOB_CREATED}) for t in PacketType
       if t.name.startswith("SUBMIT_") and t is not PacketType.SUBMIT_JOB_SCHED},
    **{t: ASSIGN_TYPES | {PacketType.NO_JOB} for t in
       (PacketType.GRAB_JOB, PacketType.GRAB_JOB_UNIQ, PacketType.GRAB_JOB_ALL)},
}


def text(word: bytes) -> str:
    """A command word as text (undecodable bytes shown, not refused)."""
    return word.decode("utf-8", "replace")


def usage_error(usage: str) -> CommandError:
    """The error for a command used wrongly: exit status EXIT_USAGE in scripts."""
    return CommandError(f"usage: {usage}", EXIT_USAGE)


def expand(shell: Shell, words: list[bytes]) -> list[bytes]:
    """The words with ``$handle`` replaced by the last job handle seen."""
    out = []
    for w in words:
        if w == HANDLE_VARIABLE.encode():
            if shell.last_handle is None:
                raise CommandError("$handle: no job handle seen yet", EXIT_USAGE)
            w = shell.last_handle.encode()
        out.append(w)
    return out


def is_reply(types: frozenset[PacketType]) -> Callable[[Event], bool]:
    """A wait condition: a frame of one of these types."""
    return lambda ev: isinstance(ev, Frame) and ev.type in types


def send_packet(shell: Shell, spec: PacketSpec, args: list[bytes]) -> Event | None:
    """Send one packet by name and show what it provokes."""
    if len(args) != len(spec.args):
        raise CommandError(f"{spec.name} takes {len(spec.args)} argument"
                           f"{'' if len(spec.args) == 1 else 's'}, got {len(args)}; usage: "
                           f"{packet_usage(spec)}", EXIT_USAGE)
    frame = req(spec.type, *expand(shell, args))
    s = shell.send_frame(frame)
    replies = _REPLIES.get(spec.type)
    if replies is None:
        shell.sync(s)
        return None
    return shell.wait(s, is_reply(replies), shell.settings.timeout, f"reply to {spec.name}")


def options(args: list[bytes], flags: set[str], valued: set[str], usage: str
             ) -> tuple[dict[str, bytes | bool], list[bytes]]:
    """Split a verb's flags and valued options from its other words (options come first)."""
    opts: dict[str, bytes | bool] = {}
    rest: list[bytes] = []
    it = iter(args)
    for a in it:
        t = text(a)
        if t in flags:
            opts[t] = True
        elif t in valued:
            value = next(it, None)
            if value is None:
                raise usage_error(usage)
            opts[t] = value
        elif t.startswith("-") and len(t) > 1 and not rest:
            raise CommandError(f"unknown option {t}; usage: {usage}", EXIT_USAGE)
        else:
            rest.append(a)
    return opts, rest


def seconds(value: bytes | bool | None, default: float, usage: str) -> float:
    """A positive number of seconds from an option's value, or ``default`` when not given."""
    if value is None or isinstance(value, bool):
        return default
    try:
        number = float(value)
    except ValueError:
        raise usage_error(usage) from None
    if number <= 0:
        raise usage_error(usage)
    return number
