"""The server's socket reads and writes: the C shim behaves exactly as os.read and os.write."""

from __future__ import annotations

import errno
import os
import select
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


def test_poll_lists_ready_descriptors_as_select_epoll_does(
        pair: tuple[socket.socket, socket.socket]) -> None:
    poll = c_module("geartool.server._fastio").poll
    a, b = pair
    with select.epoll() as ep:
        ep.register(a.fileno(), select.EPOLLIN)
        ep.register(b.fileno(), select.EPOLLIN | select.EPOLLOUT)
        assert poll(ep.fileno(), 8) == [b.fileno(), select.EPOLLOUT]  # nothing to read yet
        a.send(b"x")
        b.send(b"y")
        want = sorted(ep.poll(0, 8))
        got = poll(ep.fileno(), 8)
        assert sorted(zip(got[::2], got[1::2], strict=True)) == want
        assert {fd for fd, _ in want} == {a.fileno(), b.fileno()}
        assert len(poll(ep.fileno(), 1)) == 2  # at most maxevents descriptors
        ep.unregister(b.fileno())
        a.recv(1)
        assert poll(ep.fileno(), 8) == []


def test_poll_refuses_bad_arguments() -> None:
    poll = c_module("geartool.server._fastio").poll
    with select.epoll() as ep:
        for most in (0, -1, 1025):
            with pytest.raises(ValueError):
                poll(ep.fileno(), most)
        fd = ep.fileno()
    with pytest.raises(OSError) as info:
        poll(fd, 8)  # closed
    assert info.value.errno == errno.EBADF
    with pytest.raises(TypeError):
        poll(1)


def test_the_server_polls_through_it_when_built() -> None:
    if os.environ.get("GEARTOOL_PURE_PYTHON"):
        assert sysio.poll is None
    else:
        assert sysio.poll is c_module("geartool.server._fastio").poll
