"""The durable queue interface. Backends only buffer in the event loop and write in batches.

A backend keys every job by its own integer id (never by unique id), so background jobs with an
empty or ``-`` unique cannot overwrite each other (gearmand's issue #80).
"""

from __future__ import annotations

from typing import NamedTuple, Protocol


class StoredJob(NamedTuple):
    id: int
    function: bytes
    unique: bytes
    priority: int
    data: bytes
    when: int
    reducer: bytes


class Batch(NamedTuple):
    adds: list[StoredJob]
    removes: list[int]


class Store(Protocol):
    """What the scheduler needs from a durable queue."""

    durable: bool

    def add(self, function: bytes, unique: bytes, priority: int, data: bytes, when: int,
            reducer: bytes) -> int:
        """Buffer a job for the next commit; returns its id."""
        ...

    def remove(self, job_id: int) -> None:
        """Buffer the deletion of a job's row."""
        ...

    def pending(self) -> bool:
        """Whether anything is buffered for a commit."""
        ...

    def take_batch(self) -> Batch:
        """Hand over the buffered writes (called in the event loop)."""
        ...

    def write_batch(self, batch: Batch) -> None:
        """Write and commit one batch; may run in a worker thread. Raises OSError-like errors."""
        ...

    def load(self) -> list[StoredJob]:
        ...

    def close(self) -> None:
        ...


class NullStore:
    """``--queue memory``: nothing is written, so background jobs die with the process."""

    durable = False

    def add(self, function: bytes, unique: bytes, priority: int, data: bytes, when: int,
            reducer: bytes) -> int:
        return 0

    def remove(self, job_id: int) -> None:
        return None

    def pending(self) -> bool:
        return False

    def take_batch(self) -> Batch:
        return Batch([], [])

    def write_batch(self, batch: Batch) -> None:
        return None

    def load(self) -> list[StoredJob]:
        return []

    def close(self) -> None:
        return None
