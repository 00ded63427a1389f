"""SQLite durable queue with group commit.

Each commit writes ONE row holding every job added since the previous commit, and one row per
batch listing the jobs that ended; a batch whose jobs have all ended is deleted outright. So a
commit costs one fsync and a handful of row writes however many jobs it carries, instead of a
row (and a B-tree insert) per job: the per-row cost, not fsync, capped a job-per-row table at
about 65,000 jobs/s here.

Job ids are ``batch << 24 | index``, so a job's batch is known from its id alone.

A batch row is kept whole while any of its jobs is alive, so one long-lived job (a function whose
workers are down, an epoch job due tomorrow) would keep every finished job of its commit on
disk, data and all. Once three quarters of a batch (and at least four jobs) have ended, the row
is rewritten in place with only its live jobs and its tombstones go: the file stays within
about four times the live jobs' size whatever the throughput.
"""

from __future__ import annotations

import logging
import sqlite3
import struct
import threading
from pathlib import Path

from .base import Batch, StoredJob

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS gearman_batches (id INTEGER PRIMARY KEY, jobs BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS gearman_done (batch INTEGER NOT NULL, ids BLOB NOT NULL)",
    "CREATE INDEX IF NOT EXISTS gearman_done_batch ON gearman_done (batch)",
)
log = logging.getLogger("geartool.server")
INDEX_BITS = 24
INDEX_MASK = (1 << INDEX_BITS) - 1
# index, priority, when, then the lengths of function, unique, reducer, data
_JOB = struct.Struct(">IBqIIII")


class StoreError(Exception):
    """The queue file cannot be opened or written; the message is meant for the user."""


def pack_jobs(jobs: list[StoredJob]) -> bytes:
    parts: list[bytes] = []
    add = parts.extend
    pack = _JOB.pack
    for job_id, function, unique, priority, data, when, reducer in jobs:
        add((pack(job_id & INDEX_MASK, priority, when, len(function), len(unique),
                  len(reducer), len(data)), function, unique, reducer, data))
    return b"".join(parts)


def unpack_jobs(batch: int, blob: bytes) -> list[StoredJob]:
    out = []
    pos = 0
    size = _JOB.size
    while pos < len(blob):
        index, prio, when, lf, lu, lr, ld = _JOB.unpack_from(blob, pos)
        pos += size
        fields = []
        for n in (lf, lu, lr, ld):
            fields.append(blob[pos:pos + n])
            pos += n
        if pos > len(blob):
            raise ValueError("truncated job record")
        out.append(StoredJob((batch << INDEX_BITS) | index, fields[0], fields[1], prio, fields[3],
                             when, fields[2]))
    return out


def _ended(ids: object) -> tuple[int, ...]:
    """The job indexes of one gearman_done row; nothing from a value that is not a blob, and
    whole indexes only from a cut one (damage means a job may run again, never that it is lost
    or that commits fail)."""
    if not isinstance(ids, bytes):
        return ()
    return struct.unpack(f">{len(ids) // 4}I", ids[:len(ids) // 4 * 4])


class SQLiteStore:
    """Background jobs in one SQLite file (WAL, synchronous=FULL: a commit survives power loss).

    The event loop only appends to in-memory lists; ``write_batch`` may run in a worker thread.
    """

    durable = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(str(self.path), check_same_thread=False,
                                       isolation_level=None)
            self._return_free_pages()
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=FULL")
            # Checkpoint (copy the WAL into the database, with its own fsyncs) every ~16 MB
            # of log instead of every 4 MB: fewer stalls in the commit path under load.
            self._db.execute("PRAGMA wal_autocheckpoint=4000")
            for stmt in SCHEMA:
                self._db.execute(stmt)
            row = self._db.execute("SELECT COALESCE(MAX(id), 0) FROM gearman_batches").fetchone()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"cannot open queue file {self.path}: {exc}") from exc
        self._batch = int(row[0]) + 1  # the batch new jobs go into
        self._index = 0  # the next job's index in it
        self._adds: list[StoredJob] = []
        self._removes: list[int] = []
        self._live: dict[int, int] = {}  # batch -> jobs not yet ended
        self._size: dict[int, int] = {}  # batch -> jobs in its row as last written
        self._lock = threading.Lock()  # one writer at a time, whichever thread calls

    def add(self, function: bytes, unique: bytes, priority: int, data: bytes, when: int,
            reducer: bytes) -> int:
        if self._index > INDEX_MASK:
            self._batch += 1  # 16 million jobs in one commit: start another batch row
            self._index = 0
        batch = self._batch
        job_id = (batch << INDEX_BITS) | self._index
        self._index += 1
        # A plain tuple with StoredJob's field order: this runs once per durable submit, and a
        # NamedTuple's constructor costs three times as much.
        self._adds.append((job_id, function, unique, priority, data, when, reducer))  # type: ignore[arg-type]
        return job_id

    def remove(self, job_id: int) -> None:
        self._removes.append(job_id)

    def pending(self) -> bool:
        return bool(self._adds or self._removes)

    def take_batch(self) -> Batch:
        batch = Batch(self._adds, self._removes)
        self._adds, self._removes = [], []
        if batch.adds:
            self._batch += 1
            self._index = 0
        return batch

    def write_batch(self, batch: Batch) -> None:
        groups: dict[int, list[StoredJob]] = {}
        for job in batch.adds:
            groups.setdefault(job[0] >> INDEX_BITS, []).append(job)
        ended: dict[int, list[int]] = {}
        for job_id in batch.removes:
            ended.setdefault(job_id >> INDEX_BITS, []).append(job_id & INDEX_MASK)
        with self._lock:
            # Counted here, in the commit thread, rather than per submit in the event loop.
            for b, jobs in groups.items():
                self._live[b] = self._size[b] = len(jobs)
            dead, shrink = [], []
            for b, ids in ended.items():
                left = self._live.get(b, 0) - len(ids)
                if left <= 0:
                    self._live.pop(b, None)
                    self._size.pop(b, None)
                    dead.append(b)
                else:
                    self._live[b] = left
                    size = self._size.get(b, left)
                    if size - left >= 4 and left * 4 <= size:
                        shrink.append(b)
            db = self._db
            try:
                db.execute("BEGIN")
                db.executemany("INSERT INTO gearman_batches (id, jobs) VALUES (?, ?)",
                               [(b, pack_jobs(jobs)) for b, jobs in groups.items()
                                if b not in dead])
                db.executemany("INSERT INTO gearman_done (batch, ids) VALUES (?, ?)",
                               [(b, struct.pack(f">{len(ids)}I", *ids))
                                for b, ids in ended.items() if b not in dead])
                db.executemany("DELETE FROM gearman_batches WHERE id = ?", [(b,) for b in dead])
                db.executemany("DELETE FROM gearman_done WHERE batch = ?", [(b,) for b in dead])
                sizes = {b: self._rewrite(b) for b in shrink}
                db.execute("COMMIT")
            except (sqlite3.Error, OSError) as exc:
                for b, ids in ended.items():  # undo the bookkeeping; the caller retries
                    self._live[b] = self._live.get(b, 0) + len(ids)
                try:
                    db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                raise StoreError(f"queue write failed: {exc}") from exc
            self._size.update(sizes)
            if dead:
                try:
                    self._vacuum_some()
                except sqlite3.Error as exc:  # only space is lost: the commit stands
                    log.warning("queue file %s: could not return free space: %s", self.path, exc)

    def _return_free_pages(self) -> None:
        """Open the file so that pages freed by ended jobs can go back to the filesystem.

        Without it a queue that once held a large backlog keeps that much disk for good. A new
        file gets auto_vacuum=INCREMENTAL before its first table; an older empty one is
        converted by a VACUUM (instant when empty); one still holding jobs is left as it is.
        """
        db = self._db
        if db.execute("PRAGMA auto_vacuum").fetchone()[0] == 2:
            return
        db.execute("PRAGMA auto_vacuum=INCREMENTAL")
        tables = db.execute("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table'").fetchone()
        if tables[0] and db.execute("SELECT EXISTS(SELECT 1 FROM gearman_batches)").fetchone()[0]:
            return
        if tables[0]:
            db.execute("VACUUM")

    def _vacuum_some(self) -> None:
        """After a commit: give back up to 32 MB of freed pages once more than 4 MB are free."""
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        if free > 1024:
            # executescript steps the pragma to the end; execute() would free one page.
            self._db.executescript("PRAGMA incremental_vacuum(8192);")

    def _rewrite(self, batch: int) -> int:
        """Inside the commit: rewrite a mostly-ended batch row with its live jobs only and drop
        its tombstones; returns how many jobs the row now holds."""
        db = self._db
        row = db.execute("SELECT jobs FROM gearman_batches WHERE id = ?", (batch,)).fetchone()
        if row is None:
            return 0
        gone = self._tombstones(batch)
        try:
            alive = [j for j in unpack_jobs(batch, bytes(row[0])) if j.id & INDEX_MASK not in gone]
        except (struct.error, ValueError, TypeError):
            return self._size.get(batch, 0)  # a damaged row: leave it as it is
        db.execute("UPDATE gearman_batches SET jobs = ? WHERE id = ?", (pack_jobs(alive), batch))
        db.execute("DELETE FROM gearman_done WHERE batch = ?", (batch,))
        return len(alive)

    def _tombstones(self, batch: int) -> set[int]:
        gone: set[int] = set()
        for (ids,) in self._db.execute("SELECT ids FROM gearman_done WHERE batch = ?", (batch,)):
            gone.update(_ended(ids))
        return gone

    def load(self) -> list[StoredJob]:
        """Every job not yet ended, in submit order; rebuilds the live counts."""
        try:
            done: dict[int, set[int]] = {}
            for b, ids in self._db.execute("SELECT batch, ids FROM gearman_done"):
                try:
                    done.setdefault(int(b), set()).update(_ended(ids))
                except (ValueError, TypeError):
                    continue  # damaged: its batch's jobs run again, the safe side
            jobs: list[StoredJob] = []
            for b, blob in self._db.execute("SELECT id, jobs FROM gearman_batches ORDER BY id"):
                try:
                    gone = done.get(int(b), set())
                    every = unpack_jobs(int(b), bytes(blob))
                except (struct.error, ValueError, TypeError):
                    # A damaged batch row cannot stop the server from starting. (TypeError: a
                    # value of the wrong SQLite type, such as text where a blob belongs.)
                    continue
                alive = [j for j in every if j.id & INDEX_MASK not in gone]
                self._live[int(b)] = len(alive)
                self._size[int(b)] = len(every)
                jobs.extend(alive)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot read queue file {self.path}: {exc}") from exc
        return jobs

    def close(self) -> None:
        with self._lock:
            self._db.close()
