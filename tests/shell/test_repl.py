"""The prompt_toolkit adapters around the pure engine, exercised without a terminal."""

from __future__ import annotations

from pathlib import Path

import pytest
from prompt_toolkit.completion import CompleteEvent
from prompt_toolkit.document import Document

from geartool.shell.completion import CompletionEngine, LiveNames
from geartool.shell.repl import _completer, _lexer, history_path


def test_completer_adapter_positions() -> None:
    engine = CompletionEngine(lambda: LiveNames(functions=["reverse"]))
    completer = _completer(engine)
    text = "SUBMIT_JOB rev"
    got = list(completer.get_completions(Document(text, len(text)), CompleteEvent()))
    assert [(c.text, c.start_position) for c in got] == [("reverse", -3)]
    assert got[0].display_meta_text == "function"
    text = "ECHO_R"
    got = list(completer.get_completions(Document(text, len(text)), CompleteEvent()))
    assert [(c.text, c.start_position) for c in got] == [("ECHO_REQ", -6), ("ECHO_RES", -6)]


def test_lexer_styles_words() -> None:
    lexer = _lexer(CompletionEngine())
    line_fragments = lexer.lex_document(Document('submit -b f "x y"\nbogus'))
    assert line_fragments(0) == [("class:verb", "submit"), ("", " "), ("class:option", "-b"),
                                 ("", " "), ("", "f"), ("", " "), ("class:string", '"x y"')]
    assert line_fragments(1) == [("class:unknown", "bogus")]
    assert line_fragments(5) == []


def test_history_lives_in_the_user_data_dir(monkeypatch: pytest.MonkeyPatch,
                                            tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert history_path() == tmp_path / "geartool" / "shell_history"
