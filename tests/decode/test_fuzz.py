"""Damaged input never raises: mutated captures decode to records, anomalies or an exit code."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest

from geartool.decode.app import DecodeOptions, run

from .helpers import PCAPS, port


@pytest.mark.parametrize("name", ["gearman-tool.pcap", "protocol.pcapng", "sll-any.pcap"])
def test_mutated_captures_never_raise(name: str, tmp_path: Path) -> None:
    rnd = random.Random(name)
    original = (PCAPS / name).read_bytes()
    for i in range(40):
        data = bytearray(original)
        for _ in range(rnd.randrange(1, 60)):
            pos = rnd.randrange(len(data))
            if rnd.random() < 0.7:
                data[pos] = rnd.randrange(256)
            else:  # cut or splice a random chunk
                end = min(len(data), pos + rnd.randrange(1, 200))
                data[pos:end] = bytes(rnd.randrange(256) for _ in range(rnd.randrange(0, 40)))
        path = tmp_path / f"m{i}"
        path.write_bytes(bytes(data))
        for opts in (DecodeOptions(source=str(path), ports=[port(name)]),
                     DecodeOptions(source=str(path), ports=[port(name)], json=True,
                                   summary=True, jobs=True)):
            out, err = io.StringIO(), io.StringIO()
            code = run(opts, out=out, err=err)
            assert code in (0, 1, 5, 6), (i, err.getvalue())
            assert "Traceback" not in err.getvalue()
            assert code == 0 or err.getvalue().count("\n") == 1
