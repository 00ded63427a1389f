from __future__ import annotations

import pytest

from geartool.client.servers import Address, parse_address, parse_addresses, pick_order


@pytest.mark.parametrize(("text", "addr"), [
    ("localhost", Address("localhost", 4730)),
    ("127.0.0.1:4731", Address("127.0.0.1", 4731)),
    ("[::1]:5000", Address("::1", 5000)),
    ("[::1]", Address("::1", 4730)),
    ("::1", Address("::1", 4730)),
    (":4800", Address("127.0.0.1", 4800)),
])
def test_parse(text: str, addr: Address) -> None:
    assert parse_address(text) == addr


@pytest.mark.parametrize("text", ["", "h:x", "h:70000", "[::1", "[::1]x"])
def test_parse_errors(text: str) -> None:
    with pytest.raises(ValueError):
        parse_address(text)


def test_list_and_order() -> None:
    servers = parse_addresses(["a:1,b:2", "a:1", "c"])
    assert [str(s) for s in servers] == ["a:1", "b:2", "c:4730"]
    assert str(Address("::1", 1)) == "[::1]:1"
    first = pick_order(servers, b"job-42")
    assert pick_order(servers, b"job-42") == first and sorted(first) == sorted(servers)
    assert pick_order(servers, None, start=1)[0] == servers[1]
