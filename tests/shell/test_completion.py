"""The pure completion engine: no terminal, no prompt_toolkit, no network."""

from __future__ import annotations

import sys

from geartool.protocol.spec import SPECS, PacketType
from geartool.shell.completion import CompletionEngine, LiveNames, usage_of

LIVE = LiveNames(functions=["reverse", "resize image"], handles=["H:vm:7", "H:vm:8"],
                 servers=["127.0.0.1:4730", "127.0.0.1:4731"])


def texts(engine: CompletionEngine, line: str) -> list[str]:
    return [c.text for c in engine.complete(line)]


def test_command_words() -> None:
    e = CompletionEngine()
    assert texts(e, "sub")[:2] == ["submit", "SUBMIT_JOB"]
    assert "submit" not in texts(e, "SUB")  # upper case: packets only
    assert texts(e, "ECHO") == ["ECHO_REQ", "ECHO_RES"]
    assert texts(e, "echo_r") == ["ECHO_REQ", "ECHO_RES"]
    assert "workers" in texts(e, "wo") and "work" in texts(e, "wo")
    every = texts(e, "")
    for t in PacketType:
        assert (t.name in every) == (t is not PacketType.UNUSED)
    assert texts(e, "zzz") == []


def test_replacement_length() -> None:
    e = CompletionEngine()
    (first, *_) = e.complete("ECHO")
    assert first.replace == 4 and first.display == "ECHO_REQ" and first.meta == "echo request"


def test_packet_arguments_use_the_table() -> None:
    e = CompletionEngine(lambda: LIVE)
    assert texts(e, "SUBMIT_JOB ") == ['"resize image"', "reverse"]
    assert texts(e, "SUBMIT_JOB rev") == ["reverse"]
    assert texts(e, 'SUBMIT_JOB reverse "" ') == []           # data: nothing to offer
    assert texts(e, "GET_STATUS ") == ["$handle", "H:vm:7", "H:vm:8"]
    assert texts(e, "WORK_COMPLETE H:vm:") == ["H:vm:7", "H:vm:8"]
    assert texts(e, "CAN_DO r") == ['"resize image"', "reverse"]
    assert texts(e, "CAN_DO reverse ") == []                  # past the last argument
    hint = e.hint("SUBMIT_JOB reverse ")
    assert hint.startswith("SUBMIT_JOB FUNCTION [UNIQUE] DATA")
    assert e.hint("JOB_ASSIGN_ALL h f ").startswith(
        "JOB_ASSIGN_ALL HANDLE FUNCTION [UNIQUE] REDUCER DATA")


def test_verb_arguments_options_and_subwords() -> None:
    e = CompletionEngine(lambda: LIVE)
    assert "-b" in texts(e, "submit -") and "--high" in texts(e, "submit --h")
    assert texts(e, "submit -u myid re") == ['"resize image"', "reverse"]
    assert texts(e, "submit -b ") == ['"resize image"', "reverse"]
    assert texts(e, "work reverse r") == ['"resize image"', "reverse"]  # repeats
    assert texts(e, "show ") == ["jobs", "unique"]
    assert texts(e, "show unique ") == ["jobs"]
    assert texts(e, "cancel ") == ["job"]
    assert texts(e, "cancel job H:vm:8") == ["H:vm:8"]
    assert texts(e, "drop function re") == ['"resize image"', "reverse"]
    assert texts(e, "set ") == ["timeout", "sync", "full"]
    assert texts(e, "set sync o") == ["on", "off"]
    assert texts(e, "use ") == ["1", "2"]
    assert texts(e, "connect 127.0.0.1:4731") == ["127.0.0.1:4731"]
    assert "SUBMIT_JOB" in texts(e, "help SUB")
    assert texts(e, "servers ") == [] and texts(e, "nosuch ") == []


def test_live_callback_failure_is_harmless() -> None:
    def broken() -> LiveNames:
        raise OSError("server gone")

    assert texts(CompletionEngine(broken), "SUBMIT_JOB ") == []


def test_highlight_classes() -> None:
    e = CompletionEngine()
    pieces = e.highlight('submit -b reverse "a b" $handle # note')
    classes = [c for c, t in pieces if t.strip()]
    assert classes == ["verb", "option", "", "string", "variable", "comment"]
    assert "".join(t for _, t in pieces) == 'submit -b reverse "a b" $handle # note'
    assert e.highlight("ECHO_REQ x")[0] == ("packet", "ECHO_REQ")
    assert e.highlight("workers")[0] == ("admin", "workers")
    assert e.highlight("bogus x")[0] == ("unknown", "bogus")


def test_usage_of() -> None:
    assert usage_of("submit_job") == "SUBMIT_JOB FUNCTION UNIQUE DATA"
    assert usage_of("work", ) is not None and usage_of("nope") is None
    assert all(usage_of(t.name) for t in SPECS)


def test_engine_imports_no_prompt_toolkit() -> None:
    import subprocess
    code = ("import sys, geartool.shell.completion, geartool.shell.runner; "
            "print('prompt_toolkit' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"
