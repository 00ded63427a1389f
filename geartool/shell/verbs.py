"""What each shell command does: binary packets by name, admin commands and the verbs."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from geartool.client.servers import parse_address
from geartool.protocol import PacketType

from .catalog import PACKET_NAMES, VERB_BY_NAME, VERBS, packet_spec, packet_usage
from .jobverbs import do_status, do_submit, do_work
from .runner import EXIT_CONNECT, EXIT_USAGE, CommandError, ShellExit
from .sending import expand, seconds, send_packet, text, usage_error
from .session import Session

if TYPE_CHECKING:
    from .runner import Shell


def dispatch(shell: Shell, words: list[bytes]) -> None:
    """Run one parsed command line."""
    name = text(words[0])
    args = words[1:]
    spec = packet_spec(name)
    if spec is not None and spec.type is not PacketType.UNUSED:
        send_packet(shell, spec, args)
        return
    verb = VERB_BY_NAME.get(name.lower())
    if verb is None:
        raise CommandError(f"unknown command {name!r} (try help)", EXIT_USAGE)
    handler = HANDLERS.get(verb.name)
    if handler is not None:
        handler(shell, args)
    elif verb.admin:
        if not verb.args and args:
            raise usage_error(verb.usage)
        shell.admin(" ".join([verb.name, *(text(a) for a in expand(shell, args))]))


# ---- verbs ---------------------------------------------------------------------------------

def do_connect(shell: Shell, args: list[bytes]) -> None:
    """``connect``: open another server and make it current."""
    if len(args) != 1:
        raise usage_error(VERB_BY_NAME["connect"].usage)
    try:
        address = parse_address(text(args[0]))
    except ValueError as exc:
        raise CommandError(str(exc), EXIT_USAGE) from None
    session = Session(address)
    try:
        session.connect()
    except OSError as exc:
        raise CommandError(f"cannot connect to {address}: {exc.strerror or exc}",
                           EXIT_CONNECT) from None
    shell.sessions.append(session)
    shell.current = len(shell.sessions) - 1
    shell.say(f"connected to {address} as server {shell.current + 1}")


def do_servers(shell: Shell, args: list[bytes]) -> None:
    """``servers``: the open servers, the current one starred."""
    if args:
        raise usage_error("servers")
    for i, s in enumerate(shell.sessions):
        if s is None:
            continue
        mark = "*" if i == shell.current else " "
        state = "connected" if s.connected else "not connected"
        shell.say(f"{mark} {i + 1}  {s.address}  {state}  sent {s.sent}  received {s.received}")


def _index(shell: Shell, args: list[bytes], usage: str) -> int:
    if len(args) != 1 or not args[0].isdigit():
        raise usage_error(usage)
    n = int(args[0]) - 1
    if not 0 <= n < len(shell.sessions) or shell.sessions[n] is None:
        raise CommandError(f"no server {int(args[0])} (see servers)", EXIT_USAGE)
    return n


def do_use(shell: Shell, args: list[bytes]) -> None:
    """``use``: make server N current."""
    n = _index(shell, args, VERB_BY_NAME["use"].usage)
    shell.current = n
    shell.say(f"using server {n + 1}: {shell.sessions[n].address}")  # type: ignore[union-attr]


def do_close(shell: Shell, args: list[bytes]) -> None:
    """``close``: close a server's connection and forget it."""
    n = _index(shell, args, VERB_BY_NAME["close"].usage) if args else shell.current
    s = shell.sessions[n] if 0 <= n < len(shell.sessions) else None
    if s is None:
        raise CommandError("no server to close", EXIT_USAGE)
    s.close()
    shell.sessions[n] = None
    shell.say(f"closed server {n + 1}: {s.address}")
    if n == shell.current:
        open_ = [i for i, x in enumerate(shell.sessions) if x is not None]
        shell.current = open_[0] if open_ else -1


def do_admin(shell: Shell, args: list[bytes]) -> None:
    """``admin``: any text line, sent as typed."""
    if not args:
        raise usage_error(VERB_BY_NAME["admin"].usage)
    shell.admin(" ".join(text(a) for a in args))


def do_raw(shell: Shell, args: list[bytes]) -> None:
    """``raw``: bytes sent unframed, for testing a server's error handling."""
    if len(args) != 1:
        raise usage_error(VERB_BY_NAME["raw"].usage)
    s = shell.session()
    shell.say(f"->             {len(args[0])} raw bytes")
    s.send(args[0])
    shell.wait(s, None, min(shell.settings.timeout, 0.5), "reply")


def do_set(shell: Shell, args: list[bytes]) -> None:
    """``set``: change a shell setting."""
    usage = VERB_BY_NAME["set"].usage
    if len(args) != 2:
        raise usage_error(usage)
    key, value = text(args[0]), text(args[1])
    if key == "timeout":
        shell.settings.timeout = seconds(args[1], 0, usage)
    elif key in ("sync", "full") and value in ("on", "off"):
        setattr(shell.settings, key, value == "on")
    else:
        raise usage_error(usage)
    shell.say(f"{key} = {value}")


def do_help(shell: Shell, args: list[bytes]) -> None:
    """``help``: every command, or one command's usage and details."""
    if not args:
        shell.say("Commands (help COMMAND for more):")
        for v in VERBS:
            shell.say(f"  {v.usage:<44} {v.summary}")
        shell.say("Binary packets, each with its arguments in table order:")
        for name in PACKET_NAMES:
            spec = packet_spec(name)
            assert spec is not None
            shell.say(f"  {packet_usage(spec):<44} {spec.summary}")
        shell.say('Quote with "..." or \'...\'; escapes \\x00 \\n \\t \\\\ \\" work in words '
                  "and double quotes; $handle is the last job handle seen.")
        return
    if len(args) != 1:
        raise usage_error("help [COMMAND]")
    name = text(args[0])
    spec = packet_spec(name)
    if spec is not None:
        direction = "to the server" if spec.to_server else "from the server"
        shell.say(f"{packet_usage(spec)}\n  {spec.summary} (packet {int(spec.type)}, "
                  f"{direction})")
        return
    verb = VERB_BY_NAME.get(name.lower())
    if verb is None:
        raise CommandError(f"no help for {name!r}: not a command or packet", EXIT_USAGE)
    shell.say(f"{verb.usage}\n  {verb.summary}")
    for line in verb.details.splitlines():
        shell.say(f"  {line}")


def do_quit(shell: Shell, args: list[bytes]) -> None:
    """``quit`` / ``exit``."""
    raise ShellExit


HANDLERS: dict[str, Callable[[Shell, list[bytes]], None]] = {
    "submit": do_submit, "work": do_work, "status": do_status, "connect": do_connect,
    "servers": do_servers, "use": do_use, "close": do_close, "admin": do_admin, "raw": do_raw,
    "set": do_set, "help": do_help, "quit": do_quit, "exit": do_quit,
}
