"""Shell-style command lines: words, quotes and escapes that can carry any byte.

``SUBMIT_JOB reverse "" 'hello world'`` gives three words; escapes work inside double quotes
and outside quotes (``\\x00``, ``\\n``, ``\\t``, ``\\r``, ``\\0``, ``\\\\``, ``\\"``, ``\\'`` and
``\\ ``), single quotes keep everything literal. Words are bytes, so binary payloads survive.
A ``#`` at the start of a word begins a comment, which lets script files carry notes.
"""

from __future__ import annotations

from dataclasses import dataclass

_SIMPLE_ESCAPES = {
    "n": b"\n", "t": b"\t", "r": b"\r", "0": b"\0", "\\": b"\\", '"': b'"', "'": b"'",
    " ": b" ", "#": b"#", "e": b"\x1b",
}
_HEX = "0123456789abcdefABCDEF"


class ParseError(ValueError):
    """A command line that cannot be split: unclosed quote, bad escape, trailing backslash."""


@dataclass(frozen=True, slots=True)
class Word:
    """One word of a line, with where it sits in the text (``end`` is exclusive)."""

    value: bytes
    start: int
    end: int
    quoted: bool


@dataclass(frozen=True, slots=True)
class Partial:
    """A line split as far as it goes, for completion: never raises.

    ``words`` are the finished words before the cursor; ``current`` is the word being typed
    (empty after a space) and ``current_start`` the offset where it begins; ``in_quote`` is the
    open quote character, if any.
    """

    words: list[str]
    current: str
    current_start: int
    in_quote: str


def _escape(text: str, i: int) -> tuple[bytes, int]:
    """Decode the escape whose backslash is at ``i``; return its bytes and the next index."""
    if i + 1 >= len(text):
        raise ParseError("a backslash at the end of the line escapes nothing")
    ch = text[i + 1]
    if ch == "x":
        digits = text[i + 2:i + 4]
        if len(digits) != 2 or any(d not in _HEX for d in digits):
            raise ParseError(f"bad escape \\x{digits}: \\x needs two hex digits")
        return bytes([int(digits, 16)]), i + 4
    if ch in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[ch], i + 2
    raise ParseError(f"unknown escape \\{ch} (use \\\\ for a backslash)")


def split_words(text: str) -> list[Word]:
    """Split one line into words; ParseError on bad quoting or escapes."""
    words: list[Word] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        if text[i] == "#":
            break
        start, buf, quoted = i, bytearray(), False
        while i < n and not text[i].isspace():
            ch = text[i]
            if ch == "\\":
                chunk, i = _escape(text, i)
                buf += chunk
            elif ch == "'":
                end = text.find("'", i + 1)
                if end < 0:
                    raise ParseError(f"unclosed ' quote starting at column {i + 1}")
                buf += text[i + 1:end].encode()
                quoted, i = True, end + 1
            elif ch == '"':
                i = _double_quoted(text, i, buf)
                quoted = True
            else:
                buf += ch.encode()
                i += 1
        words.append(Word(bytes(buf), start, i, quoted))
    return words


def _double_quoted(text: str, i: int, buf: bytearray) -> int:
    opened = i
    i += 1
    while i < len(text):
        ch = text[i]
        if ch == '"':
            return i + 1
        if ch == "\\":
            chunk, i = _escape(text, i)
            buf += chunk
        else:
            buf += ch.encode()
            i += 1
    raise ParseError(f'unclosed " quote starting at column {opened + 1}')


def split(text: str) -> list[bytes]:
    """The words of a line as bytes."""
    return [w.value for w in split_words(text)]


def split_partial(text: str) -> Partial:
    """Split a line being typed, tolerating open quotes and bad escapes (for completion)."""
    words: list[str] = []
    cur: list[str] = []
    start, quote, in_word = len(text), "", False
    i = 0
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == quote:
                quote = ""
            elif ch == "\\" and quote == '"' and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
            else:
                cur.append(ch)
        elif ch.isspace():
            if in_word:
                words.append("".join(cur))
                cur, in_word = [], False
        else:
            if not in_word:
                in_word, start = True, i
            if ch in "'\"":
                quote = ch
            elif ch == "\\" and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
            else:
                cur.append(ch)
        i += 1
    if not in_word:
        return Partial(words, "", len(text), "")
    return Partial(words, "".join(cur), start, quote)


def quote(value: bytes) -> str:
    """The shortest safe way to type ``value`` back in (round-trips through split)."""
    if value and all(0x21 <= b < 0x7F and chr(b) not in "\\'\"#" for b in value):
        return value.decode()
    out = []
    for b in value:
        ch = chr(b)
        if ch in '\\"':
            out.append("\\" + ch)
        elif 0x20 <= b < 0x7F:
            out.append(ch)
        else:
            out.append(f"\\x{b:02x}")
    return '"' + "".join(out) + '"'


def spans(text: str) -> list[tuple[int, int]]:
    """Where each word (or a trailing comment) sits, tolerating open quotes (for highlighting)."""
    out: list[tuple[int, int]] = []
    i, n = 0, len(text)
    while i < n:
        if text[i].isspace():
            i += 1
            continue
        start = i
        if text[i] == "#":
            out.append((start, n))
            break
        quote_ch = ""
        while i < n and (quote_ch or not text[i].isspace()):
            ch = text[i]
            if ch == "\\" and quote_ch != "'":
                i += 2
                continue
            if quote_ch and ch == quote_ch:
                quote_ch = ""
            elif not quote_ch and ch in "'\"":
                quote_ch = ch
            i += 1
        out.append((start, min(i, n)))
    return out
