"""The synchronous facade (python-gearman names) against both servers, from plain threads."""

from __future__ import annotations

import threading

from geartool.client.sync import GearmanClient, GearmanWorker, SyncJobResult
from geartool.client.worker import WorkerJob


def test_sync_client_and_worker(any_server: tuple[str, int]) -> None:
    _, port = any_server
    host = f"127.0.0.1:{port}"
    served: list[bytes] = []

    def reverse(worker: GearmanWorker, job: WorkerJob) -> bytes:
        served.append(job.data)
        worker.send_job_status(job, 1, 1)
        return job.data[::-1]

    worker = GearmanWorker([host])
    worker.set_client_id("sync-worker")
    worker.register_task("reverse", reverse)
    done: list[int] = []
    thread = threading.Thread(target=lambda: done.append(worker.work(count=3)), daemon=True)
    thread.start()

    client = GearmanClient([host])
    try:
        req = client.submit_job("reverse", b"hello", poll_timeout=10)
        assert isinstance(req, SyncJobResult)
        assert req.complete and req.state == "COMPLETE" and req.result == b"olleh"
        many = client.submit_multiple_jobs(
            [{"task": "reverse", "data": b"ab"}, {"task": "reverse", "data": b"xyz"}],
            poll_timeout=10)
        assert sorted(r.result for r in many) == [b"ba", b"zyx"]
        bg = client.submit_job("reverse_later", b"x", background=True)
        assert bg.handle and bg.state == "QUEUED"
        status = client.get_status(bg.handle)
        assert status.known and not status.running
    finally:
        client.close()
    thread.join(10)
    assert not thread.is_alive() and done == [3]
    assert sorted(served) == [b"ab", b"hello", b"xyz"]
    worker.shutdown()


def test_sync_worker_shutdown_from_another_thread_and_second_run(
        any_server: tuple[str, int]) -> None:
    host = f"127.0.0.1:{any_server[1]}"
    worker = GearmanWorker(host)
    worker.register_task("up", lambda w, job: job.data.upper())
    client = GearmanClient(host)
    try:
        client.submit_job("up", b"a", background=True)
        assert worker.work(count=1) == 1  # a second work() counts afresh
        client.submit_job("up", b"b", background=True)
        assert worker.work(count=1) == 1
        result: list[int] = []
        thread = threading.Thread(target=lambda: result.append(worker.work()), daemon=True)
        thread.start()
        assert client.submit_job("up", b"fg", poll_timeout=10).result == b"FG"
        worker.shutdown()
        thread.join(10)
        assert not thread.is_alive() and result == [1]
    finally:
        client.close()
        worker.shutdown()
