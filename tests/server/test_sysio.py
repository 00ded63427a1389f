"""The server's socket reads and writes: the C shim behaves exactly as os.read and os.write."""

from __future__ import annotations

import errno
import os
import socket
from collections.abc import Callable, Iterator

import pytest

from geartool.server import sysio
from tests.conftest import c_module

Pair = tuple[Callable[[int, int], bytes], Callable[[int, bytes | memoryview], int]]


@pytest.fixture(params=["os", "fast"])
def io(request: pytest.FixtureRequest) -> Pair:
    if request.param == "os":
        return os.read, os.write
    fastio = c_module("geartool.server._fastio")
    return fastio.read, fastio.write


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    a, b = socket.socketpair()
    a.setblocking(False)
    b.setblocking(False)
    yield a, b
    a.close()
    b.close()


def test_the_server_uses_the_shim_when_built() -> None:
    if os.environ.get("GEARTOOL_PURE_PYTHON"):
        assert sysio.read is os.read and not sysio.FAST
    else:
        fastio = c_module("geartool.server._fastio")
        assert sysio.FAST and sysio.read is fastio.read


def test_read_takes_what_is_there_up_to_n(io: Pair, pair: tuple[socket.socket, socket.socket]
                                          ) -> None:
    read, write = io
    a, b = pair
    assert write(a.fileno(), b"hello world") == 11
    assert read(b.fileno(), 5) == b"hello"
    assert read(b.fileno(), 65536) == b" world"
    with pytest.raises(BlockingIOError):
        read(b.fileno(), 65536)


def test_reads_larger_than_the_static_buffer(io: Pair,
                                             pair: tuple[socket.socket, socket.socket]) -> None:
    read, write = io
    a, b = pair
    data = bytes(range(256)) * 256  # 64 KB, and then more than a 64 KB read can take
    assert write(a.fileno(), data) == len(data)
    assert write(a.fileno(), b"tail") == 4
    got = b""
    while len(got) < len(data) + 4:  # a unix socket may hand it over in parts
        got += read(b.fileno(), 200_000)
    assert got == data + b"tail"


def test_end_of_file_reads_empty(io: Pair, pair: tuple[socket.socket, socket.socket]) -> None:
    read, _ = io
    a, b = pair
    a.close()
    assert read(b.fileno(), 65536) == b""


def test_write_takes_buffers_and_reports_partial_writes(
        io: Pair, pair: tuple[socket.socket, socket.socket]) -> None:
    read, write = io
    a, b = pair
    assert write(a.fileno(), memoryview(b"xxabc")[2:]) == 3
    assert read(b.fileno(), 10) == b"abc"
    big = b"z" * (8 << 20)  # more than the socket buffers hold
    taken = write(a.fileno(), big)
    assert 0 < taken < len(big)
    with pytest.raises(BlockingIOError):
        write(a.fileno(), big)


def test_errors_are_oserrors_with_their_errno(io: Pair, pair: tuple[socket.socket, socket.socket]
                                              ) -> None:
    read, write = io
    a, b = pair
    b.close()
    with pytest.raises(BrokenPipeError):
        write(a.fileno(), b"to nobody")
    for call in (lambda: read(-1, 10), lambda: write(-1, b"x")):
        with pytest.raises(OSError) as caught:
            call()
        assert caught.value.errno == errno.EBADF
    with pytest.raises(OSError) as caught:
        read(a.fileno(), -1)
    assert caught.value.errno == errno.EINVAL
    with pytest.raises(TypeError):
        read("3", 10)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        write(a.fileno(), "text")  # type: ignore[arg-type]
