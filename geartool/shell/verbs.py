"""What each shell command does: binary packets by name, admin commands and the verbs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from geartool.client.servers import parse_address
from geartool.protocol import Event, Frame, PacketType, Priority, req, submit_type
from geartool.protocol.spec import ASSIGN_TYPES, JOB_ENDING, PacketSpec

from .catalog import PACKET_NAMES, VERB_BY_NAME, VERBS, packet_spec, packet_usage
from .completion import HANDLE_VARIABLE
from .runner import EXIT_CONNECT, EXIT_USAGE, CommandError, ShellExit
from .session import Session

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


def _text(word: bytes) -> str:
    return word.decode("utf-8", "replace")


def _usage(usage: str) -> CommandError:
    return CommandError(f"usage: {usage}", EXIT_USAGE)


def _expand(shell: Shell, words: list[bytes]) -> list[bytes]:
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
    frame = req(spec.type, *_expand(shell, args))
    s = shell.send_frame(frame)
    replies = _REPLIES.get(spec.type)
    if replies is None:
        shell.sync(s)
        return None
    return shell.wait(s, is_reply(replies), shell.settings.timeout, f"reply to {spec.name}")


def dispatch(shell: Shell, words: list[bytes]) -> None:
    """Run one parsed command line."""
    name = _text(words[0])
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
            raise _usage(verb.usage)
        shell.admin(" ".join([verb.name, *(_text(a) for a in _expand(shell, args))]))


# ---- verbs ---------------------------------------------------------------------------------

def _options(args: list[bytes], flags: set[str], valued: set[str], usage: str
             ) -> tuple[dict[str, bytes | bool], list[bytes]]:
    opts: dict[str, bytes | bool] = {}
    rest: list[bytes] = []
    it = iter(args)
    for a in it:
        t = _text(a)
        if t in flags:
            opts[t] = True
        elif t in valued:
            value = next(it, None)
            if value is None:
                raise _usage(usage)
            opts[t] = value
        elif t.startswith("-") and len(t) > 1 and not rest:
            raise CommandError(f"unknown option {t}; usage: {usage}", EXIT_USAGE)
        else:
            rest.append(a)
    return opts, rest


def _seconds(value: bytes | bool | None, default: float, usage: str) -> float:
    if value is None or isinstance(value, bool):
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise _usage(usage) from None
    if seconds <= 0:
        raise _usage(usage)
    return seconds


def do_submit(shell: Shell, args: list[bytes]) -> None:
    """``submit``: one job, its replies streamed until it ends (foreground)."""
    usage = VERB_BY_NAME["submit"].usage
    opts, rest = _options(args, {"-b", "--background", "--high", "--low"},
                          {"-u", "--unique", "--timeout"}, usage)
    if not 1 <= len(rest) <= 2 or ("--high" in opts and "--low" in opts):
        raise _usage(usage)
    background = "-b" in opts or "--background" in opts
    prio = Priority.HIGH if "--high" in opts else Priority.LOW if "--low" in opts \
        else Priority.NORMAL
    unique = opts.get("-u", opts.get("--unique", b""))
    assert isinstance(unique, bytes)
    timeout = _seconds(opts.get("--timeout"), 30.0, usage)
    data = rest[1] if len(rest) == 2 else b""
    shell.remember(functions=[_text(rest[0])])
    started = time.monotonic()
    s = shell.send_frame(req(submit_type(prio, background), rest[0], unique, data))
    created = shell.wait(s, is_reply(frozenset({PacketType.JOB_CREATED})),
                         shell.settings.timeout, "JOB_CREATED")
    assert isinstance(created, Frame)
    handle = created.args[0]
    if background:
        return
    end = shell.wait(s, lambda ev: isinstance(ev, Frame) and ev.type in JOB_ENDING
                     and ev.args[0].rstrip(b"\0") == handle, timeout, "end of the job")
    assert isinstance(end, Frame)
    ms = (time.monotonic() - started) * 1000
    outcome = {PacketType.WORK_COMPLETE: "complete", PacketType.WORK_FAIL: "failed",
               PacketType.WORK_EXCEPTION: "raised"}[end.type]
    shell.say(f"job {_text(handle)} {outcome} in {ms:.1f} ms")
    if end.type is not PacketType.WORK_COMPLETE:
        raise CommandError(f"job {_text(handle)} {outcome}")


def do_work(shell: Shell, args: list[bytes]) -> None:
    """``work``: register, then grab a job, sleeping until NOOP when there is none."""
    usage = VERB_BY_NAME["work"].usage
    opts, functions = _options(args, {"--all"}, {"--wait"}, usage)
    if not functions:
        raise _usage(usage)
    wait = _seconds(opts.get("--wait"), 10.0, usage)
    shell.remember(functions=[_text(f) for f in functions])
    s = shell.session()
    for f in functions:
        shell.send_frame(req(PacketType.CAN_DO, f))
    shell.sync(s)
    grab = PacketType.GRAB_JOB_ALL if "--all" in opts else PacketType.GRAB_JOB_UNIQ
    deadline = time.monotonic() + wait
    while True:
        shell.send_frame(req(grab))
        got = shell.wait(s, is_reply(ASSIGN_TYPES | {PacketType.NO_JOB}),
                         shell.settings.timeout, "reply to GRAB_JOB")
        assert isinstance(got, Frame)
        if got.type in ASSIGN_TYPES:
            shell.say("answer with WORK_COMPLETE $handle RESULT (or WORK_DATA, WORK_STATUS, "
                      "WORK_FAIL, WORK_EXCEPTION)")
            return
        left = deadline - time.monotonic()
        if left <= 0:
            shell.say(f"no job within {wait:g} s (still registered; sleep with PRE_SLEEP)")
            return
        shell.send_frame(req(PacketType.PRE_SLEEP))
        if shell.wait(s, is_reply(frozenset({PacketType.NOOP})), left, "NOOP",
                      required=False) is None:
            shell.say(f"no job within {wait:g} s (still registered and asleep)")
            return


def do_status(shell: Shell, args: list[bytes]) -> None:
    """``status``: the admin table, or GET_STATUS for one handle."""
    if not args:
        shell.admin("status")
        return
    if len(args) != 1:
        raise _usage(VERB_BY_NAME["status"].usage)
    spec = packet_spec("GET_STATUS")
    assert spec is not None
    got = send_packet(shell, spec, args)
    if isinstance(got, Frame) and got.type is PacketType.STATUS_RES:
        _, known, running, num, den = (_text(a) for a in got.args)
        state = "unknown" if known != "1" else "running" if running == "1" else "queued"
        shell.say(f"job {_text(got.args[0])}: {state}, progress {num}/{den}")


def do_connect(shell: Shell, args: list[bytes]) -> None:
    """``connect``: open another server and make it current."""
    if len(args) != 1:
        raise _usage(VERB_BY_NAME["connect"].usage)
    try:
        address = parse_address(_text(args[0]))
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
        raise _usage("servers")
    for i, s in enumerate(shell.sessions):
        if s is None:
            continue
        mark = "*" if i == shell.current else " "
        state = "connected" if s.connected else "not connected"
        shell.say(f"{mark} {i + 1}  {s.address}  {state}  sent {s.sent}  received {s.received}")


def _index(shell: Shell, args: list[bytes], usage: str) -> int:
    if len(args) != 1 or not args[0].isdigit():
        raise _usage(usage)
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
        raise _usage(VERB_BY_NAME["admin"].usage)
    shell.admin(" ".join(_text(a) for a in args))


def do_raw(shell: Shell, args: list[bytes]) -> None:
    """``raw``: bytes sent unframed, for testing a server's error handling."""
    if len(args) != 1:
        raise _usage(VERB_BY_NAME["raw"].usage)
    s = shell.session()
    shell.say(f"->             {len(args[0])} raw bytes")
    s.send(args[0])
    shell.wait(s, None, min(shell.settings.timeout, 0.5), "reply")


def do_set(shell: Shell, args: list[bytes]) -> None:
    """``set``: change a shell setting."""
    usage = VERB_BY_NAME["set"].usage
    if len(args) != 2:
        raise _usage(usage)
    key, value = _text(args[0]), _text(args[1])
    if key == "timeout":
        shell.settings.timeout = _seconds(args[1], 0, usage)
    elif key in ("sync", "full") and value in ("on", "off"):
        setattr(shell.settings, key, value == "on")
    else:
        raise _usage(usage)
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
        raise _usage("help [COMMAND]")
    name = _text(args[0])
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
