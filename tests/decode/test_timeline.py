"""Job timelines from synthetic records: linking, rejection, coalescing, handle reuse."""

from __future__ import annotations

from geartool.decode.dissect import Record, StreamInfo
from geartool.decode.timeline import Timeline, by_function, percentile
from geartool.protocol import Frame, Magic, PacketType

T = PacketType
CLIENT, WORKER, CLIENT2 = 0, 1, 2


def rec(frame: int, t: float, stream: int, to_server: bool, ptype: PacketType,
        *args: bytes) -> Record:
    return Record(frame, t, stream, to_server,
                  Frame(Magic.REQ if to_server else Magic.RES, ptype, args))


def timeline(records: list[Record]) -> Timeline:
    streams = [StreamInfo(i, f"10.0.0.{i}:5000", "10.0.0.9:4730", 1, 0.0) for i in range(3)]
    tl = Timeline(streams)
    for r in records:
        tl.add(r)
    return tl


def job_run(handle: bytes, t0: float, frame: int) -> list[Record]:
    return [
        rec(frame, t0, CLIENT, True, T.SUBMIT_JOB, b"resize", b"", b"img"),
        rec(frame + 1, t0 + 0.001, CLIENT, False, T.JOB_CREATED, handle),
        rec(frame + 2, t0 + 0.011, WORKER, False, T.JOB_ASSIGN, handle, b"resize", b"img"),
        rec(frame + 3, t0 + 0.111, WORKER, True, T.WORK_COMPLETE, handle, b"ok"),
        rec(frame + 4, t0 + 0.112, CLIENT, False, T.WORK_COMPLETE, handle, b"ok"),
    ]


def test_a_job_is_followed_across_connections() -> None:
    (job,) = timeline(job_run(b"H:x:1", 10.0, 1)).jobs
    assert (job.handle, job.function, job.outcome) == ("H:x:1", "resize", "COMPLETE")
    assert job.client_stream == CLIENT and job.worker_stream == WORKER
    assert abs(job.wait - 0.011) < 1e-9 and abs(job.run - 0.1) < 1e-9  # type: ignore[operator]
    assert abs(job.total - 0.111) < 1e-9  # type: ignore[operator]


def test_a_handle_reused_after_its_job_ended_is_a_new_job() -> None:
    tl = timeline(job_run(b"H:x:1", 10.0, 1) + job_run(b"H:x:1", 20.0, 10))
    assert len(tl.jobs) == 2 and [j.submitted for j in tl.jobs] == [10.0, 20.0]


def test_error_answering_a_submit_is_a_rejected_job() -> None:
    tl = timeline([
        rec(1, 1.0, CLIENT, True, T.SUBMIT_JOB_BG, b"f", b"u", b""),
        rec(2, 1.1, CLIENT, False, T.ERROR, b"QUEUE_ERROR", b"Job queue is full"),
        rec(3, 1.2, CLIENT, True, T.SUBMIT_JOB_BG, b"g", b"v", b""),
        rec(4, 1.3, CLIENT, False, T.JOB_CREATED, b"H:x:7"),
    ])
    assert [(j.function, j.outcome, j.handle) for j in tl.jobs] == [
        ("f", "REJECTED", ""), ("g", "", "H:x:7")]
    assert tl.jobs[1].background


def test_coalesced_submit_joins_the_existing_job() -> None:
    tl = timeline([
        rec(1, 1.0, CLIENT, True, T.SUBMIT_JOB, b"f", b"same", b""),
        rec(2, 1.0, CLIENT, False, T.JOB_CREATED, b"H:x:1"),
        rec(3, 1.5, CLIENT2, True, T.SUBMIT_JOB, b"f", b"same", b""),
        rec(4, 1.5, CLIENT2, False, T.JOB_CREATED, b"H:x:1"),
    ])
    assert len(tl.jobs) == 1 and tl.jobs[0].client_stream == CLIENT


def test_capture_starting_after_the_submit() -> None:
    tl = timeline([
        rec(1, 5.0, WORKER, False, T.JOB_ASSIGN_UNIQ, b"H:x:3", b"f", b"u", b"d"),
        rec(2, 5.5, WORKER, True, T.WORK_FAIL, b"H:x:3"),
        rec(3, 5.6, CLIENT, False, T.WORK_FAIL, b"H:x:3\0"),  # gearmand's stray NUL
    ])
    (job,) = tl.jobs
    assert job.function == "f" and job.unique == "u" and job.outcome == "FAIL"
    assert job.wait is None and job.run == 0.5


def test_percentiles() -> None:
    values = sorted(float(i) for i in range(1, 101))
    assert [percentile(values, p) for p in (50, 90, 99, 100)] == [50.0, 90.0, 99.0, 100.0]
    assert percentile([3.0], 50) == 3.0
    tl = timeline(job_run(b"H:x:1", 10.0, 1) + job_run(b"H:x:2", 20.0, 10))
    (st,) = by_function(tl.jobs)
    assert st.jobs == 2 and st.outcomes["COMPLETE"] == 2
    p = st.percentiles("run")
    assert p is not None and abs(p["max"] - 0.1) < 1e-9
