"""The shell's job verbs: ``submit``, ``work`` and ``status``."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from geartool.protocol import Frame, PacketType, Priority, req, submit_type
from geartool.protocol.spec import ASSIGN_TYPES, JOB_ENDING

from .catalog import VERB_BY_NAME, packet_spec
from .runner import CommandError
from .sending import is_reply, options, seconds, send_packet, text, usage_error

if TYPE_CHECKING:
    from .runner import Shell


def do_submit(shell: Shell, args: list[bytes]) -> None:
    """``submit``: one job, its replies streamed until it ends (foreground)."""
    usage = VERB_BY_NAME["submit"].usage
    opts, rest = options(args, {"-b", "--background", "--high", "--low"},
                          {"-u", "--unique", "--timeout"}, usage)
    if not 1 <= len(rest) <= 2 or ("--high" in opts and "--low" in opts):
        raise usage_error(usage)
    background = "-b" in opts or "--background" in opts
    prio = Priority.HIGH if "--high" in opts else Priority.LOW if "--low" in opts \
        else Priority.NORMAL
    unique = opts.get("-u", opts.get("--unique", b""))
    assert isinstance(unique, bytes)
    timeout = seconds(opts.get("--timeout"), 30.0, usage)
    data = rest[1] if len(rest) == 2 else b""
    shell.remember(functions=[text(rest[0])])
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
    shell.say(f"job {text(handle)} {outcome} in {ms:.1f} ms")
    if end.type is not PacketType.WORK_COMPLETE:
        raise CommandError(f"job {text(handle)} {outcome}")


def do_work(shell: Shell, args: list[bytes]) -> None:
    """``work``: register, then grab a job, sleeping until NOOP when there is none."""
    usage = VERB_BY_NAME["work"].usage
    opts, functions = options(args, {"--all"}, {"--wait"}, usage)
    if not functions:
        raise usage_error(usage)
    wait = seconds(opts.get("--wait"), 10.0, usage)
    shell.remember(functions=[text(f) for f in functions])
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
        raise usage_error(VERB_BY_NAME["status"].usage)
    spec = packet_spec("GET_STATUS")
    assert spec is not None
    got = send_packet(shell, spec, args)
    if isinstance(got, Frame) and got.type is PacketType.STATUS_RES:
        _, known, running, num, den = (text(a) for a in got.args)
        state = "unknown" if known != "1" else "running" if running == "1" else "queued"
        shell.say(f"job {text(got.args[0])}: {state}, progress {num}/{den}")
