"""The packet table: the single source of truth for every Gearman binary packet type.

The encoder, the incremental decoder, the scapy layers, the shell's completion and the docs all
read this table, so a packet type is described exactly once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

# Final: the compiled modules (geartool/_compiled.py) then use the values, not a global lookup.
MAGIC_REQ: Final = b"\0REQ"
MAGIC_RES: Final = b"\0RES"
HEADER_SIZE: Final = 12
DEFAULT_PORT = 4730


class Magic(enum.Enum):
    """Which way a packet travels: REQ towards the server, RES away from it."""

    REQ = MAGIC_REQ
    RES = MAGIC_RES


class PacketType(enum.IntEnum):
    """Every packet type number, 1..42, by its protocol name."""

    CAN_DO = 1
    CANT_DO = 2
    RESET_ABILITIES = 3
    PRE_SLEEP = 4
    UNUSED = 5
    NOOP = 6
    SUBMIT_JOB = 7
    JOB_CREATED = 8
    GRAB_JOB = 9
    NO_JOB = 10
    JOB_ASSIGN = 11
    WORK_STATUS = 12
    WORK_COMPLETE = 13
    WORK_FAIL = 14
    GET_STATUS = 15
    ECHO_REQ = 16
    ECHO_RES = 17
    SUBMIT_JOB_BG = 18
    ERROR = 19
    STATUS_RES = 20
    SUBMIT_JOB_HIGH = 21
    SET_CLIENT_ID = 22
    CAN_DO_TIMEOUT = 23
    ALL_YOURS = 24
    WORK_EXCEPTION = 25
    OPTION_REQ = 26
    OPTION_RES = 27
    WORK_DATA = 28
    WORK_WARNING = 29
    GRAB_JOB_UNIQ = 30
    JOB_ASSIGN_UNIQ = 31
    SUBMIT_JOB_HIGH_BG = 32
    SUBMIT_JOB_LOW = 33
    SUBMIT_JOB_LOW_BG = 34
    SUBMIT_JOB_SCHED = 35
    SUBMIT_JOB_EPOCH = 36
    SUBMIT_REDUCE_JOB = 37
    SUBMIT_REDUCE_JOB_BACKGROUND = 38
    GRAB_JOB_ALL = 39
    JOB_ASSIGN_ALL = 40
    GET_STATUS_UNIQUE = 41
    STATUS_RES_UNIQUE = 42


MAX_TYPE = max(PacketType)


@dataclass(frozen=True, slots=True)
class PacketSpec:
    """What one packet type looks like on the wire.

    ``args`` names the payload's arguments in order. All but the last are NUL-terminated; the last
    is the rest of the payload. ``data_last`` says that last argument is opaque binary data (it
    may itself contain NULs) rather than a text field.
    """

    type: PacketType
    magics: frozenset[Magic]
    senders: str  # letters from "CWS": client, worker, server
    args: tuple[str, ...]
    data_last: bool
    summary: str

    @property
    def name(self) -> str:
        return self.type.name

    @property
    def to_server(self) -> bool:
        return Magic.REQ in self.magics

    @property
    def from_server(self) -> bool:
        return Magic.RES in self.magics


_REQ = frozenset({Magic.REQ})
_RES = frozenset({Magic.RES})
_BOTH = frozenset({Magic.REQ, Magic.RES})
_SUBMIT = ("function", "unique", "data")
_REDUCE = ("function", "unique", "reducer", "aggregator", "data")
_SCHED = ("function", "unique", "minute", "hour", "mday", "month", "wday", "data")

# (type, magics, senders, args, data_last, summary)
_ROWS: tuple[tuple[PacketType, frozenset[Magic], str, tuple[str, ...], bool, str], ...] = (
    (PacketType.CAN_DO, _REQ, "W", ("function",), False, "register a function"),
    (PacketType.CANT_DO, _REQ, "W", ("function",), False, "unregister a function"),
    (PacketType.RESET_ABILITIES, _REQ, "W", (), False, "unregister every function"),
    (PacketType.PRE_SLEEP, _REQ, "W", (), False, "sleep until NOOP"),
    (PacketType.UNUSED, _REQ, "", (), False, "unused packet number"),
    (PacketType.NOOP, _RES, "S", (), False, "wake up: work is waiting"),
    (PacketType.SUBMIT_JOB, _REQ, "C", _SUBMIT, True, "submit a normal foreground job"),
    (PacketType.JOB_CREATED, _RES, "S", ("handle",), False, "job accepted"),
    (PacketType.GRAB_JOB, _REQ, "W", (), False, "ask for a job"),
    (PacketType.NO_JOB, _RES, "S", (), False, "nothing to do"),
    (PacketType.JOB_ASSIGN, _RES, "S", ("handle", "function", "data"), True, "a job to run"),
    (PacketType.WORK_STATUS, _BOTH, "WS", ("handle", "numerator", "denominator"), False,
     "job progress"),
    (PacketType.WORK_COMPLETE, _BOTH, "WS", ("handle", "data"), True, "job done, with result"),
    (PacketType.WORK_FAIL, _BOTH, "WS", ("handle",), False, "job failed"),
    (PacketType.GET_STATUS, _REQ, "C", ("handle",), False, "ask a job's status"),
    (PacketType.ECHO_REQ, _REQ, "CW", ("data",), True, "echo request"),
    (PacketType.ECHO_RES, _RES, "S", ("data",), True, "echo reply"),
    (PacketType.SUBMIT_JOB_BG, _REQ, "C", _SUBMIT, True, "submit a normal background job"),
    (PacketType.ERROR, _RES, "S", ("code", "text"), False, "error report"),
    (PacketType.STATUS_RES, _RES, "S",
     ("handle", "known", "running", "numerator", "denominator"), False, "job status"),
    (PacketType.SUBMIT_JOB_HIGH, _REQ, "C", _SUBMIT, True, "submit a high foreground job"),
    (PacketType.SET_CLIENT_ID, _REQ, "CW", ("client_id",), False, "name this connection"),
    (PacketType.CAN_DO_TIMEOUT, _REQ, "W", ("function", "timeout"), False,
     "register a function with a timeout (ms)"),
    (PacketType.ALL_YOURS, _REQ, "W", (), False, "not implemented by servers"),
    (PacketType.WORK_EXCEPTION, _BOTH, "WS", ("handle", "data"), True, "job raised"),
    (PacketType.OPTION_REQ, _REQ, "CW", ("option",), False, "set a connection option"),
    (PacketType.OPTION_RES, _RES, "S", ("option",), False, "option accepted"),
    (PacketType.WORK_DATA, _BOTH, "WS", ("handle", "data"), True, "partial result"),
    (PacketType.WORK_WARNING, _BOTH, "WS", ("handle", "data"), True, "warning from the job"),
    (PacketType.GRAB_JOB_UNIQ, _REQ, "W", (), False, "ask for a job, with its unique id"),
    (PacketType.JOB_ASSIGN_UNIQ, _RES, "S", ("handle", "function", "unique", "data"), True,
     "a job to run, with its unique id"),
    (PacketType.SUBMIT_JOB_HIGH_BG, _REQ, "C", _SUBMIT, True, "submit a high background job"),
    (PacketType.SUBMIT_JOB_LOW, _REQ, "C", _SUBMIT, True, "submit a low foreground job"),
    (PacketType.SUBMIT_JOB_LOW_BG, _REQ, "C", _SUBMIT, True, "submit a low background job"),
    (PacketType.SUBMIT_JOB_SCHED, _REQ, "C", _SCHED, True, "scheduled submit (rejected)"),
    (PacketType.SUBMIT_JOB_EPOCH, _REQ, "C", ("function", "unique", "epoch", "data"), True,
     "submit a background job to run at a Unix time"),
    (PacketType.SUBMIT_REDUCE_JOB, _REQ, "C", _REDUCE, True, "submit a foreground reduce job"),
    (PacketType.SUBMIT_REDUCE_JOB_BACKGROUND, _REQ, "C", _REDUCE, True,
     "submit a background reduce job"),
    (PacketType.GRAB_JOB_ALL, _REQ, "W", (), False, "ask for a job, with unique and reducer"),
    (PacketType.JOB_ASSIGN_ALL, _RES, "S", ("handle", "function", "unique", "reducer", "data"),
     True, "a job to run, with unique and reducer"),
    (PacketType.GET_STATUS_UNIQUE, _REQ, "C", ("unique",), False, "ask a job's status by unique"),
    (PacketType.STATUS_RES_UNIQUE, _RES, "S",
     ("unique", "known", "running", "numerator", "denominator", "waiting"), False,
     "job status by unique"),
)

SPECS: dict[PacketType, PacketSpec] = {
    row[0]: PacketSpec(row[0], row[1], row[2], row[3], row[4], row[5]) for row in _ROWS
}
# Indexed by number for the decoder's hot path (index 0 is unused: type 0 is never valid).
SPEC_BY_NUMBER: tuple[PacketSpec | None, ...] = (None,) + tuple(
    SPECS[PacketType(n)] for n in range(1, MAX_TYPE + 1)
)


def spec_for(name_or_number: str | int) -> PacketSpec:
    """Look a packet type up by its name (any case) or number; KeyError if there is none."""
    if isinstance(name_or_number, int):
        return SPECS[PacketType(name_or_number)]
    return SPECS[PacketType[name_or_number.upper()]]


# Groups the server, client and decoder all need.
SUBMIT_TYPES: frozenset[PacketType] = frozenset(
    t for t in PacketType if t.name.startswith("SUBMIT_")
)
BACKGROUND_SUBMITS: frozenset[PacketType] = frozenset({
    PacketType.SUBMIT_JOB_BG, PacketType.SUBMIT_JOB_HIGH_BG, PacketType.SUBMIT_JOB_LOW_BG,
    PacketType.SUBMIT_JOB_EPOCH, PacketType.SUBMIT_REDUCE_JOB_BACKGROUND,
})
GRAB_TYPES: frozenset[PacketType] = frozenset({
    PacketType.GRAB_JOB, PacketType.GRAB_JOB_UNIQ, PacketType.GRAB_JOB_ALL,
})
ASSIGN_TYPES: frozenset[PacketType] = frozenset({
    PacketType.JOB_ASSIGN, PacketType.JOB_ASSIGN_UNIQ, PacketType.JOB_ASSIGN_ALL,
})
WORK_TYPES: frozenset[PacketType] = frozenset({
    PacketType.WORK_STATUS, PacketType.WORK_COMPLETE, PacketType.WORK_FAIL,
    PacketType.WORK_EXCEPTION, PacketType.WORK_DATA, PacketType.WORK_WARNING,
})
JOB_ENDING: frozenset[PacketType] = frozenset({
    PacketType.WORK_COMPLETE, PacketType.WORK_FAIL, PacketType.WORK_EXCEPTION,
})


class Priority(enum.IntEnum):
    """Job priority; the numbers are the ones persistent queues store (0 = HIGH)."""

    HIGH = 0
    NORMAL = 1
    LOW = 2


SUBMIT_PRIORITY: dict[PacketType, Priority] = {
    PacketType.SUBMIT_JOB: Priority.NORMAL,
    PacketType.SUBMIT_JOB_BG: Priority.NORMAL,
    PacketType.SUBMIT_JOB_HIGH: Priority.HIGH,
    PacketType.SUBMIT_JOB_HIGH_BG: Priority.HIGH,
    PacketType.SUBMIT_JOB_LOW: Priority.LOW,
    PacketType.SUBMIT_JOB_LOW_BG: Priority.LOW,
    PacketType.SUBMIT_JOB_EPOCH: Priority.NORMAL,
    PacketType.SUBMIT_REDUCE_JOB: Priority.NORMAL,
    PacketType.SUBMIT_REDUCE_JOB_BACKGROUND: Priority.NORMAL,
}


_PLAIN_SUBMITS: dict[tuple[Priority, bool], PacketType] = {
    (Priority.HIGH, False): PacketType.SUBMIT_JOB_HIGH,
    (Priority.NORMAL, False): PacketType.SUBMIT_JOB,
    (Priority.LOW, False): PacketType.SUBMIT_JOB_LOW,
    (Priority.HIGH, True): PacketType.SUBMIT_JOB_HIGH_BG,
    (Priority.NORMAL, True): PacketType.SUBMIT_JOB_BG,
    (Priority.LOW, True): PacketType.SUBMIT_JOB_LOW_BG,
}


def submit_type(priority: Priority, background: bool) -> PacketType:
    """The plain SUBMIT_JOB* type for a priority and mode."""
    return _PLAIN_SUBMITS[(priority, background)]
