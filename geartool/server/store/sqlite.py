"""SQLite durable queue with group commit: one transaction (one fsync) per batch of writes."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

from .base import Batch, StoredJob

SCHEMA = """
CREATE TABLE IF NOT EXISTS gearman_jobs (
    id INTEGER PRIMARY KEY,
    function BLOB NOT NULL,
    unique_key BLOB NOT NULL,
    priority INTEGER NOT NULL,
    data BLOB NOT NULL,
    when_to_run INTEGER NOT NULL DEFAULT 0,
    reducer BLOB NOT NULL DEFAULT x''
)
"""


class StoreError(Exception):
    """The queue file cannot be opened or written; the message is meant for the user."""


class SQLiteStore:
    """Background jobs in one SQLite file (WAL, synchronous=FULL).

    The event loop only appends to in-memory lists; ``write_batch`` runs in one worker thread
    and commits a whole batch at once, so durability costs one fsync per batch, not per job.
    """

    durable = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False,
                                       isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            self._db.execute(SCHEMA)
            row = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM gearman_jobs").fetchone()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open queue file {self.path}: {exc}") from exc
        self._next_id = int(row[0]) + 1
        self._adds: list[StoredJob] = []
        self._removes: list[int] = []
        self._lock = threading.Lock()  # one writer at a time, whichever thread calls

    def add(self, function: bytes, unique: bytes, priority: int, data: bytes, when: int,
            reducer: bytes) -> int:
        job_id = self._next_id
        self._next_id += 1
        self._adds.append(StoredJob(job_id, function, unique, priority, data, when, reducer))
        return job_id

    def remove(self, job_id: int) -> None:
        self._removes.append(job_id)

    def pending(self) -> bool:
        return bool(self._adds or self._removes)

    def take_batch(self) -> Batch:
        batch = Batch(self._adds, self._removes)
        self._adds, self._removes = [], []
        return batch

    def write_batch(self, batch: Batch) -> None:
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN")
                if batch.adds:
                    db.executemany(
                        "INSERT OR REPLACE INTO gearman_jobs (id, function, unique_key, priority,"
                        " data, when_to_run, reducer) VALUES (?, ?, ?, ?, ?, ?, ?)", batch.adds)
                if batch.removes:
                    db.executemany("DELETE FROM gearman_jobs WHERE id = ?",
                                   [(i,) for i in batch.removes])
                db.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise StoreError(f"queue write failed: {exc}") from exc

    def load(self) -> list[StoredJob]:
        try:
            rows = self._db.execute(
                "SELECT id, function, unique_key, priority, data, when_to_run, reducer"
                " FROM gearman_jobs ORDER BY id").fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read queue file {self.path}: {exc}") from exc
        return [StoredJob(int(r[0]), bytes(r[1]), bytes(r[2]), int(r[3]), bytes(r[4]),
                          int(r[5]), bytes(r[6])) for r in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()
