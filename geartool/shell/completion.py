"""The shell's completion, hints and highlighting, as pure functions of the line typed so far.

No prompt_toolkit here: ``repl.py`` wraps this engine, and the tests drive it directly. Live
names (functions and job handles on the server, open servers) come from a callback, so the
engine never touches the network itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from . import catalog
from .catalog import VERB_BY_NAME, VERBS, Verb, packet_spec, packet_usage
from .parser import quote, spans, split_partial

# Options that take a value, so the word after them is not a positional argument.
VALUE_OPTIONS = frozenset({"-u", "--unique", "--timeout", "--wait"})
HANDLE_VARIABLE = "$handle"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One completion: replace the last ``replace`` characters before the cursor with ``text``."""

    text: str
    replace: int
    display: str
    meta: str = ""


@dataclass(slots=True)
class LiveNames:
    """What the server and the shell know right now."""

    functions: Sequence[str] = ()
    handles: Sequence[str] = ()
    servers: Sequence[str] = ()


@dataclass(slots=True)
class _Position:
    """The command word and which of its arguments the cursor is in."""

    command: str
    index: int
    previous: list[str] = field(default_factory=list)


def _matches(prefix: str, options: Iterable[tuple[str, str]], *, fold: bool = False
             ) -> list[tuple[str, str]]:
    pre = prefix.lower() if fold else prefix
    seen: set[str] = set()
    out = []
    for name, meta in options:
        key = name.lower() if fold else name
        if key.startswith(pre) and name not in seen:
            seen.add(name)
            out.append((name, meta))
    return out


class CompletionEngine:
    """Completes command words, packet and admin names, arguments, options and live names."""

    def __init__(self, live: Callable[[], LiveNames] | None = None) -> None:
        self._live = live

    def live(self) -> LiveNames:
        if self._live is None:
            return LiveNames()
        try:
            return self._live()
        except Exception:  # a failing lookup must never break typing
            return LiveNames()

    def complete(self, before_cursor: str) -> list[Candidate]:
        """Every candidate for the word at the end of ``before_cursor``."""
        part = split_partial(before_cursor)
        current = part.current
        replace = len(before_cursor) - part.current_start
        if not part.words:
            found = self.command_words(current)
        else:
            found = self._argument(part.words, current)
        return [Candidate(text if text.startswith("$") else _requote(text, current),
                          replace, text, meta) for text, meta in found]

    def command_words(self, prefix: str) -> list[tuple[str, str]]:
        """Verbs, admin commands and packet names starting with ``prefix``."""
        verbs = [(v.name, v.summary) for v in VERBS]
        packets = [(name, _summary(name)) for name in catalog.PACKET_NAMES]
        if prefix[:1].isupper():
            return _matches(prefix, packets, fold=True)
        return _matches(prefix, verbs) + _matches(prefix, packets, fold=True)

    def _argument(self, words: list[str], current: str) -> list[tuple[str, str]]:
        command = words[0]
        spec = packet_spec(command)
        if spec is not None:
            index = len(words) - 1
            if index >= len(spec.args):
                return []
            name = spec.args[index]
            return self._kind(catalog.arg_kind(name), current, name)
        verb = VERB_BY_NAME.get(command.lower())
        if verb is None:
            return []
        if current.startswith("-"):
            return _matches(current, [(o, "option") for o in verb.options])
        pos = _positional(words[1:])
        return self._verb_arg(verb, pos, current)

    def _verb_arg(self, verb: Verb, pos: _Position, current: str) -> list[tuple[str, str]]:
        fixed = _fixed_words(verb.name, pos)
        if fixed is not None:
            return _matches(current, [(w, verb.name) for w in fixed])
        if not verb.args:
            return []
        if pos.index >= len(verb.args) and not verb.repeat:
            return []
        kind = verb.args[min(pos.index, len(verb.args) - 1)]
        return self._kind(kind, current, kind)

    def _kind(self, kind: str, current: str, meta: str) -> list[tuple[str, str]]:
        live = self.live()
        if kind == catalog.FUNCTION:
            return _matches(current, [(f, "function") for f in sorted(live.functions)])
        if kind == catalog.HANDLE:
            names = [(HANDLE_VARIABLE, "last handle seen")] if live.handles else []
            names += [(h, "job handle") for h in live.handles]
            return _matches(current, names)
        if kind == catalog.SERVER:
            return _matches(current, [(s, "server") for s in live.servers])
        if kind == catalog.INDEX:
            return _matches(current, [(str(i), s) for i, s in enumerate(live.servers, 1)])
        if kind == catalog.COMMAND:
            return self.command_words(current)
        return []

    def hint(self, before_cursor: str) -> str:
        """The usage of the command being typed, with the current argument in brackets."""
        part = split_partial(before_cursor)
        words = part.words + ([part.current] if part.current or part.in_quote else [])
        if not words:
            return ""
        index = len(part.words) - 1  # the argument being typed; -1 while on the command
        spec = packet_spec(words[0])
        if spec is not None:
            names = [a.upper() for a in spec.args]
            if 0 <= index < len(names):
                names[index] = f"[{names[index]}]"
            return " ".join([spec.name, *names]) + f"  -- {spec.summary}"
        verb = VERB_BY_NAME.get(words[0].lower())
        if verb is not None:
            return f"{verb.usage}  -- {verb.summary}"
        return ""

    def highlight(self, line: str) -> list[tuple[str, str]]:
        """The line cut into (class, text) pieces: verb, admin, packet, unknown, option,
        string, variable, comment, or "" for plain text and spaces."""
        out: list[tuple[str, str]] = []
        pos = 0
        for n, (start, end) in enumerate(spans(line)):
            if start > pos:
                out.append(("", line[pos:start]))
            out.append((self._word_class(line[start:end], first=(n == 0)), line[start:end]))
            pos = end
        if pos < len(line):
            out.append(("", line[pos:]))
        return out

    @staticmethod
    def _word_class(word: str, *, first: bool) -> str:
        if word.startswith("#"):
            return "comment"
        if first:
            verb = VERB_BY_NAME.get(word.lower())
            if verb is not None:
                return "admin" if verb.admin else "verb"
            return "packet" if packet_spec(word) is not None else "unknown"
        if word.startswith("-") and len(word) > 1 and not word[1:].isdigit():
            return "option"
        if word == HANDLE_VARIABLE:
            return "variable"
        if word[:1] in "'\"" or "\\" in word:
            return "string"
        return ""


def _summary(packet: str) -> str:
    spec = packet_spec(packet)
    return spec.summary if spec else ""


def _requote(text: str, current: str) -> str:
    """Keep a candidate typeable: quote it when it has spaces or special characters."""
    if (current and current[0] in "'\"") or not text:
        return text
    return quote(text.encode())


def _positional(args: list[str]) -> _Position:
    """Count positional arguments before the cursor, skipping options and their values."""
    index, skip = 0, False
    previous: list[str] = []
    for word in args:
        if skip:
            skip = False
            continue
        if word in VALUE_OPTIONS:
            skip = True
            continue
        if word.startswith("-") and len(word) > 1:
            continue
        previous.append(word)
        index += 1
    return _Position("", index, previous)


def _fixed_words(verb: str, pos: _Position) -> list[str] | None:
    """Sub-words a verb expects at this position (``show jobs``), or None for a free argument."""
    prev = pos.previous
    if verb == "show":
        return ["jobs", "unique"] if pos.index == 0 else (
            ["jobs"] if pos.index == 1 and prev[0] == "unique" else [])
    if verb in ("cancel", "create", "drop") and pos.index == 0:
        return ["job"] if verb == "cancel" else ["function"]
    if verb == "set":
        if pos.index == 0:
            return ["timeout", "sync", "full"]
        return ["on", "off"] if pos.index == 1 and prev[0] in ("sync", "full") else []
    if verb == "shutdown":
        return ["graceful"] if pos.index == 0 else []
    return None


def usage_of(word: str) -> str | None:
    """One command's usage line (verb or packet), or None if the shell does not know it."""
    spec = packet_spec(word)
    if spec is not None:
        return packet_usage(spec)
    verb = VERB_BY_NAME.get(word.lower())
    return verb.usage if verb else None
