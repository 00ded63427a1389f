"""The SQLite queue: group commit, replies held until commit, replay, failures."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from geartool.protocol import PacketType as P
from geartool.server.store import SQLiteStore, StoreError, open_store
from geartool.server.store.base import Batch, NullStore, StoredJob
from geartool.server.store.sqlite import SCHEMA, pack_jobs

from .helpers import Harness


def commit(h: Harness, store: SQLiteStore) -> None:
    jobs, h.core.uncommitted = h.core.uncommitted, []
    store.write_batch(store.take_batch())
    h.core.committed(jobs, None)


def rows(path: Path) -> list[tuple[bytes, bytes, int, bytes]]:
    """What a fresh open of the file would replay."""
    store = SQLiteStore(path)
    try:
        return [(j.function, j.unique, j.priority, j.data) for j in store.load()]
    finally:
        store.close()


def table_rows(path: Path, table: str) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])


def test_job_created_waits_for_commit_and_keeps_reply_order(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "q.db")
    h = Harness(store)
    c = h.conn()
    w = h.worker(b"f")
    h.send(c, P.SUBMIT_JOB_BG, b"f", b"", b"data")
    h.send(c, P.ECHO_REQ, b"after")
    assert h.received(c) == []  # nothing may overtake the uncommitted JOB_CREATED
    assert h.types(w) == []  # and no worker sees the job before it is durable
    assert rows(tmp_path / "q.db") == []
    commit(h, store)
    assert rows(tmp_path / "q.db") == [(b"f", b"", 1, b"data")]
    assert h.types(c) == [P.JOB_CREATED, P.ECHO_RES]
    assert h.types(w) == [P.NOOP]
    handle = h.grab(w).args[0]
    h.send(w, P.WORK_COMPLETE, handle, b"")
    commit(h, store)
    assert rows(tmp_path / "q.db") == []
    # Every job of the batch ended: its row and its tombstones are gone, not just marked.
    assert table_rows(tmp_path / "q.db", "gearman_batches") == 0
    assert table_rows(tmp_path / "q.db", "gearman_done") == 0


def test_empty_and_dash_uniques_never_overwrite(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "q.db")
    h = Harness(store)
    c = h.conn()
    for data in (b"a", b"b"):
        for unique in (b"", b"-"):
            h.send(c, P.SUBMIT_JOB_BG, b"f", unique, data)
    commit(h, store)
    assert len(rows(tmp_path / "q.db")) == 4


def test_replay_merges_duplicates_and_keeps_order(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    store = SQLiteStore(path)
    store.add(b"f", b"dup", 0, b"first", 0, b"")
    store.add(b"f", b"dup", 0, b"second", 0, b"")
    store.add(b"f", b"", 2, b"low", 0, b"")
    store.add(b"g", b"", 1, b"other", 0, b"red")
    store.write_batch(store.take_batch())
    store.close()
    store = SQLiteStore(path)
    h = Harness(store)
    assert h.core.replay(store.load()) == 3
    store.write_batch(store.take_batch())
    assert [r[3] for r in rows(path)] == [b"first", b"low", b"other"]
    assert table_rows(path, "gearman_batches") == 1  # four jobs, one commit, one row
    w = h.worker(b"f", b"g", sleep=False)
    got = [h.grab(w, P.GRAB_JOB_ALL) for _ in range(3)]
    assert got[0].args[3] == b"first" and got[2].args[3] == b"low"
    assert got[1].type is P.JOB_ASSIGN_ALL and got[1].args[3] == b"red"


def test_failed_commit_refuses_the_submit(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "q.db")
    h = Harness(store)
    c = h.conn()
    h.send(c, P.SUBMIT_JOB_BG, b"f", b"u", b"x")
    h.core.committed(h.core.uncommitted, "queue write failed: disk full")
    err = h.received(c)[0]
    assert err.type is P.ERROR and err.args == (b"QUEUE_ERROR", b"queue write failed: disk full")
    assert not h.core.jobs and h.core.functions[b"f"].total == 0
    assert b"u" not in h.core.functions[b"f"].uniques


def test_coalesced_submit_waits_for_the_same_commit(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "q.db")
    h = Harness(store)
    c1, c2 = h.conn(), h.conn()
    h.send(c1, P.SUBMIT_JOB_BG, b"f", b"u", b"x")
    h.send(c2, P.SUBMIT_JOB, b"f", b"u", b"x")
    assert h.received(c2) == []
    commit(h, store)
    assert h.received(c1)[0].args == h.received(c2)[0].args


def test_unwritable_queue_file_is_a_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    try:
        SQLiteStore(blocker / "q.db")
    except StoreError as exc:
        assert "cannot open queue file" in str(exc)
    else:
        raise AssertionError("expected StoreError")
    (tmp_path / "junk.db").write_bytes(b"this is not sqlite" * 100)
    try:
        SQLiteStore(tmp_path / "junk.db")
    except StoreError as exc:
        assert "junk.db" in str(exc)
    else:
        raise AssertionError("expected StoreError")


def test_open_store_urls(tmp_path: Path) -> None:
    assert isinstance(open_store("memory", 1), NullStore)
    s = open_store(f"sqlite://{tmp_path}/x.db", 1)
    assert isinstance(s, SQLiteStore) and s.path == tmp_path / "x.db"
    for bad in ("redis://x", "sqlite://"):
        try:
            open_store(bad, 1)
        except StoreError:
            pass
        else:
            raise AssertionError(bad)
    assert NullStore().take_batch() == Batch([], [])


def test_partly_finished_batch_replays_only_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    store = SQLiteStore(path)
    ids = [store.add(b"f", b"", 1, b"%d" % i, 0, b"") for i in range(5)]
    store.write_batch(store.take_batch())
    store.remove(ids[1])
    store.remove(ids[3])
    store.write_batch(store.take_batch())
    later = store.add(b"f", b"", 1, b"later", 0, b"")
    assert later >> 24 != ids[0] >> 24  # a new commit, a new batch
    store.write_batch(store.take_batch())
    store.close()
    assert [r[3] for r in rows(path)] == [b"0", b"2", b"4", b"later"]
    store = SQLiteStore(path)
    loaded = store.load()
    for job in loaded:
        store.remove(job.id)
    store.write_batch(store.take_batch())
    store.close()
    assert rows(path) == [] and table_rows(path, "gearman_batches") == 0


@pytest.mark.parametrize("damage", [
    "INSERT INTO gearman_batches (id, jobs) VALUES (99, x'00ff')",
    "INSERT INTO gearman_batches (id, jobs) VALUES (98, 'text, not a blob')",
    "INSERT INTO gearman_done (batch, ids) VALUES ('x', x'00000001')",
    "INSERT INTO gearman_done (batch, ids) VALUES (1, 'text')",
    "INSERT INTO gearman_done (batch, ids) VALUES (1, x'000000')",
])
def test_damaged_rows_do_not_stop_replay(tmp_path: Path, damage: str) -> None:
    # A damaged or hand-edited file (a cut blob, a value of the wrong type): rows the server
    # cannot read are skipped (a done-row that cannot be read only means its jobs may run
    # again), and start-up goes on.
    path = tmp_path / "q.db"
    store = SQLiteStore(path)
    store.add(b"f", b"", 1, b"good", 0, b"")
    store.write_batch(store.take_batch())
    store.close()
    with sqlite3.connect(path) as db:
        db.execute(damage)
    assert [r[3] for r in rows(path)] == [b"good"]


def test_a_cut_done_row_does_not_make_commits_fail(tmp_path: Path) -> None:
    # The commit that rewrites a mostly-ended batch reads its done-rows too.
    path = tmp_path / "q.db"
    store = SQLiteStore(path)
    _commit_adds(store, [b"%d" % i for i in range(8)])
    store.close()
    with sqlite3.connect(path) as db:
        (batch,) = db.execute("SELECT id FROM gearman_batches").fetchone()
        db.execute("INSERT INTO gearman_done (batch, ids) VALUES (?, x'000000')", (batch,))
    store = SQLiteStore(path)
    loaded = store.load()
    assert len(loaded) == 8
    _commit_ends(store, [job.id for job in loaded[:7]])  # must not raise
    store.close()
    assert [r[3] for r in rows(path)] == [b"7"]


def test_cancel_while_the_write_is_in_flight(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "q.db")
    h = Harness(store)
    c, admin = h.conn(), h.conn()
    h.send(c, P.SUBMIT_JOB_BG, b"f", b"u", b"x")
    handle = h.core.uncommitted[0].handle
    assert h.admin(admin, b"cancel job " + handle) == b"OK\r\n"
    commit(h, store)
    assert h.types(c) == [P.JOB_CREATED]  # the client still learns its handle
    assert h.core.find(handle) is None and h.core.functions[b"f"].total == 0
    commit(h, store)
    assert rows(tmp_path / "q.db") == []


def _blob_bytes(path: Path) -> int:
    with sqlite3.connect(path) as db:
        return int(db.execute("SELECT COALESCE(SUM(LENGTH(jobs)), 0) FROM gearman_batches")
                   .fetchone()[0])


def _commit_adds(store: SQLiteStore, payloads: list[bytes]) -> list[int]:
    """Add one background job per payload in one commit; their ids."""
    ids = [store.add(b"f", b"", 1, data, 0, b"") for data in payloads]
    store.write_batch(store.take_batch())
    return ids


def _commit_ends(store: SQLiteStore, ids: list[int]) -> None:
    """End these jobs in one commit."""
    for job_id in ids:
        store.remove(job_id)
    store.write_batch(store.take_batch())


def test_a_mostly_finished_batch_is_rewritten_with_its_live_jobs(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    store = SQLiteStore(path)
    ids = _commit_adds(store, [b"%04d" % i + b"x" * 1000 for i in range(100)])
    _commit_ends(store, ids[:70])
    assert table_rows(path, "gearman_done") == 1  # 70 of 100 ended: not rewritten yet
    _commit_ends(store, ids[70:96])
    # 96 of 100 ended: the row now holds the 4 live jobs, and no tombstones are left.
    assert table_rows(path, "gearman_done") == 0
    assert _blob_bytes(path) < 4 * 1100
    store.close()
    store = SQLiteStore(path)
    assert [j.id for j in store.load()] == ids[96:]  # same ids after the rewrite
    _commit_ends(store, ids[96:])
    store.close()
    assert rows(path) == [] and table_rows(path, "gearman_batches") == 0


def test_long_lived_jobs_do_not_pin_their_batches_on_disk(tmp_path: Path) -> None:
    """One job per commit that never ends (its workers are down) must not keep the other 49 of
    each commit on disk: the file follows the live jobs, not the throughput."""
    path = tmp_path / "q.db"
    store = SQLiteStore(path)
    pinned = []
    for _ in range(200):
        ids = _commit_adds(store, [b"y" * 1000] * 50)
        pinned.append(ids[0])
        _commit_ends(store, ids[1:])
    assert _blob_bytes(path) < 200 * 1100 * 2  # 10,000 jobs went through; 200 are alive
    store.close()
    store = SQLiteStore(path)
    assert [j.id for j in store.load()] == pinned
    store.close()


def test_compaction_after_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    store = SQLiteStore(path)
    ids = _commit_adds(store, [b"z" * 100] * 20)
    _commit_ends(store, ids[:10])
    store.close()
    store = SQLiteStore(path)  # 10 of 20 live: not rewritten before the restart
    assert len(store.load()) == 10
    _commit_ends(store, ids[10:17])
    assert table_rows(path, "gearman_done") == 0  # 17 of 20 ended: rewritten
    assert [j.id for j in store.load()] == ids[17:]
    store.close()


def test_space_of_ended_jobs_goes_back_to_the_filesystem(tmp_path: Path) -> None:
    path = tmp_path / "q.db"
    store = SQLiteStore(path)
    ids = _commit_adds(store, [b"x" * 2000] * 5000)
    _commit_ends(store, ids)
    store.close()  # the last close checkpoints the WAL into the file
    assert path.stat().st_size < 2 * 1024 * 1024  # 10 MB of jobs came and went


def test_an_older_file_is_converted_only_when_empty(tmp_path: Path) -> None:
    def auto_vacuum(path: Path) -> int:
        with sqlite3.connect(path) as db:
            return int(db.execute("PRAGMA auto_vacuum").fetchone()[0])

    empty, full = tmp_path / "empty.db", tmp_path / "full.db"
    for path in (empty, full):  # files made without auto_vacuum, as before this version
        with sqlite3.connect(path) as db:
            for stmt in SCHEMA:
                db.execute(stmt)
    with sqlite3.connect(full) as db:
        job = StoredJob(1 << 24, b"f", b"", 1, b"kept", 0, b"")
        db.execute("INSERT INTO gearman_batches (id, jobs) VALUES (1, ?)", (pack_jobs([job]),))
    SQLiteStore(empty).close()
    assert auto_vacuum(empty) == 2
    store = SQLiteStore(full)  # holds a job: opened as it is, nothing rewritten
    assert auto_vacuum(full) == 0 and [j.data for j in store.load()] == [b"kept"]
    store.close()
