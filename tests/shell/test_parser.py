"""Shell-style splitting: quotes, escapes for binary data, comments, errors."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from geartool.shell.parser import ParseError, quote, spans, split, split_partial, split_words


@pytest.mark.parametrize(("line", "words"), [
    ('SUBMIT_JOB reverse "" hello', [b"SUBMIT_JOB", b"reverse", b"", b"hello"]),
    ("ECHO_REQ   ping  ", [b"ECHO_REQ", b"ping"]),
    (r'ECHO_REQ "a\x00b\n"', [b"ECHO_REQ", b"a\x00b\n"]),
    (r"ECHO_REQ a\x00b", [b"ECHO_REQ", b"a\x00b"]),
    (r"ECHO_REQ 'raw \x00 stays'", [b"ECHO_REQ", b"raw \\x00 stays"]),
    (r'x "say \"hi\"" \\', [b"x", b'say "hi"', b"\\"]),
    (r"x hello\ world", [b"x", b"hello world"]),
    ("x ab'cd'\"ef\"", [b"x", b"abcdef"]),
    (r"x \xff\xFE", [b"x", b"\xff\xfe"]),
    ("x \t y", [b"x", b"y"]),
    ("submit f d # a comment", [b"submit", b"f", b"d"]),
    ("# only a comment", []),
    ("x a#b", [b"x", b"a#b"]),
    ("x h\u00e9", [b"x", "h\u00e9".encode()]),
    ("", []),
])
def test_split(line: str, words: list[bytes]) -> None:
    assert split(line) == words


@pytest.mark.parametrize(("line", "message"), [
    ('ECHO_REQ "abc', "unclosed \""),
    ("ECHO_REQ 'abc", "unclosed '"),
    ("ECHO_REQ abc\\", "backslash at the end"),
    (r"ECHO_REQ \x0g", "two hex digits"),
    (r"ECHO_REQ \x0", "two hex digits"),
    (r"ECHO_REQ \q", "unknown escape"),
])
def test_bad_quoting(line: str, message: str) -> None:
    with pytest.raises(ParseError, match=message):
        split(line)


def test_word_positions() -> None:
    words = split_words('ab "c d" e')
    assert [(w.start, w.end, w.quoted) for w in words] == [(0, 2, False), (3, 8, True),
                                                          (9, 10, False)]
    assert spans('ab "c d" #x') == [(0, 2), (3, 8), (9, 11)]
    assert spans('ab "open quote') == [(0, 2), (3, 14)]


def test_partial_tolerates_open_quotes() -> None:
    p = split_partial('SUBMIT_JOB "rev')
    assert (p.words, p.current, p.current_start, p.in_quote) == (["SUBMIT_JOB"], "rev", 11, '"')
    p = split_partial("status ")
    assert (p.words, p.current, p.current_start) == (["status"], "", 7)
    p = split_partial("")
    assert (p.words, p.current) == ([], "")


@given(st.binary(max_size=40))
def test_quote_round_trips(value: bytes) -> None:
    assert split("x " + quote(value)) == [b"x", value]
