"""What the shell understands: its verbs, the admin commands and the binary packets.

Pure data, shared by the command runner (dispatch and ``help``) and the completion engine, so a
command is described once. Binary packets come straight from the protocol's packet table.
"""

from __future__ import annotations

from dataclasses import dataclass

from geartool.protocol.spec import SPECS, PacketSpec, PacketType

# Argument kinds the completion engine knows how to fill in.
FUNCTION = "function"
HANDLE = "handle"
UNIQUE = "unique"
SERVER = "server"
INDEX = "index"
COMMAND = "command"
TEXT = "text"


@dataclass(frozen=True, slots=True)
class Verb:
    """One shell command word (not a packet name).

    ``args`` gives the kind of each positional argument (the last repeats when ``repeat``);
    ``options`` are the flags it accepts; ``words`` are fixed sub-words (``show jobs``).
    """

    name: str
    usage: str
    summary: str
    args: tuple[str, ...] = ()
    options: tuple[str, ...] = ()
    words: tuple[str, ...] = ()
    repeat: bool = False
    admin: bool = False
    details: str = ""


VERBS: tuple[Verb, ...] = (
    # High-level verbs.
    Verb("submit", "submit [-b] [--high|--low] [-u UNIQUE] [--timeout S] FUNCTION [DATA]",
         "submit a job; a foreground job's WORK_* packets stream until it ends",
         (FUNCTION, TEXT), ("-b", "--background", "--high", "--low", "-u", "--unique",
                            "--timeout"),
         details="-b sends a background job (only JOB_CREATED comes back).\n"
                 "--high/--low pick the priority; -u sets the unique id.\n"
                 "DATA defaults to empty; quote it and use \\x00-style escapes for binary."),
    Verb("work", "work [--wait S] [--all] FUNCTION...",
         "act as a worker by hand: CAN_DO, then grab a job (sleeping until NOOP if none)",
         (FUNCTION,), ("--wait", "--all"), repeat=True,
         details="Shows the JOB_ASSIGN_UNIQ (or JOB_ASSIGN_ALL with --all). Answer it with\n"
                 "WORK_DATA / WORK_STATUS / WORK_COMPLETE / WORK_FAIL / WORK_EXCEPTION;\n"
                 "$handle stands for the last job handle seen. --wait is how long to sleep\n"
                 "for a NOOP when there is no job (default 10 s)."),
    Verb("status", "status [HANDLE]",
         "with a HANDLE: GET_STATUS for that job; without: the admin status table",
         (HANDLE,), admin=True),
    Verb("connect", "connect HOST[:PORT]", "open another server and make it current", (SERVER,)),
    Verb("servers", "servers", "list the open servers; * marks the current one"),
    Verb("use", "use N", "switch to server number N (see servers)", (INDEX,)),
    Verb("close", "close [N]", "close server N (default: the current one)", (INDEX,)),
    Verb("admin", "admin LINE...", "send any text line to the server and show the reply",
         (TEXT,), repeat=True),
    Verb("raw", "raw BYTES", "send raw bytes (escapes allowed) and show what comes back",
         (TEXT,)),
    Verb("set", "set timeout S | set sync on|off | set full on|off",
         "shell settings (reply timeout; ECHO barrier after silent packets; full data)",
         (TEXT, TEXT), words=("timeout", "sync", "full")),
    Verb("help", "help [COMMAND]", "list commands, or explain one", (COMMAND,)),
    Verb("quit", "quit", "leave the shell (also exit, Ctrl-D)"),
    Verb("exit", "exit", "leave the shell"),
    # Admin text commands (shown as tables).
    Verb("workers", "workers", "every connection and the functions it can do", admin=True),
    Verb("prioritystatus", "prioritystatus", "queued jobs per function and priority",
         admin=True),
    Verb("show", "show jobs | show unique jobs", "jobs the server holds", (TEXT, TEXT),
         words=("jobs", "unique"), admin=True),
    Verb("cancel", "cancel job HANDLE", "cancel a job", (TEXT, HANDLE), words=("job",),
         admin=True),
    Verb("maxqueue", "maxqueue FUNCTION [N | HIGH NORMAL LOW]", "limit a function's queue",
         (FUNCTION, TEXT, TEXT, TEXT), admin=True),
    Verb("create", "create function NAME", "create an empty function", (TEXT, FUNCTION),
         words=("function",), admin=True),
    Verb("drop", "drop function NAME", "drop an idle function", (TEXT, FUNCTION),
         words=("function",), admin=True),
    Verb("getpid", "getpid", "the server's process id", admin=True),
    Verb("version", "version", "the server's version", admin=True),
    Verb("verbose", "verbose", "the server's log level", admin=True),
    Verb("shutdown", "shutdown [graceful]", "stop the server (geartool: loopback only)",
         (TEXT,), words=("graceful",), admin=True),
    Verb("stats", "stats", "geartool: per-function counters", admin=True),
    Verb("running", "running", "geartool: jobs being run and by whom", admin=True),
    Verb("uptime", "uptime", "geartool: seconds since the server started", admin=True),
)

VERB_BY_NAME: dict[str, Verb] = {v.name: v for v in VERBS}
PACKET_NAMES: tuple[str, ...] = tuple(t.name for t in PacketType if t is not PacketType.UNUSED)


def packet_spec(word: str) -> PacketSpec | None:
    """The packet a command word names (any case), or None."""
    try:
        return SPECS[PacketType[word.upper()]]
    except KeyError:
        return None


def packet_usage(spec: PacketSpec) -> str:
    """``SUBMIT_JOB FUNCTION UNIQUE DATA`` style usage from the packet table."""
    return " ".join([spec.name, *(a.upper() for a in spec.args)])


def arg_kind(name: str) -> str:
    """How to complete a packet argument, by its name in the packet table."""
    return name if name in (FUNCTION, HANDLE, UNIQUE) else TEXT
