"""The pure scheduler with an injected clock: no sockets, no sleeping."""

from __future__ import annotations

import pytest

from geartool.protocol import PacketType as P
from geartool.protocol import RemoteProtocolError

from .helpers import Clock, Harness


def test_submit_grab_complete_forwards_to_client() -> None:
    h = Harness()
    client = h.conn()
    w = h.worker(b"reverse")
    handle = h.submit(client, b"reverse", b"hello")
    assert handle == b"H:t:1"
    assert h.types(w) == [P.NOOP]
    job = h.grab(w)
    assert job.type is P.JOB_ASSIGN_UNIQ and job.args == (handle, b"reverse", b"", b"hello")
    h.send(w, P.WORK_STATUS, handle, b"1", b"2")
    h.send(w, P.WORK_DATA, handle, b"par\0t")
    h.send(w, P.WORK_COMPLETE, handle, b"olleh")
    got = h.received(client)
    assert [(f.type, f.args) for f in got] == [
        (P.WORK_STATUS, (handle, b"1", b"2")), (P.WORK_DATA, (handle, b"par\0t")),
        (P.WORK_COMPLETE, (handle, b"olleh"))]
    assert not h.core.jobs and h.core.functions[b"reverse"].completed == 1


def test_grab_variants_and_no_job() -> None:
    h = Harness()
    c = h.conn()
    w = h.worker(b"f", sleep=False)
    assert h.grab(w, P.GRAB_JOB).type is P.NO_JOB
    h.submit(c, b"f", b"d", b"u")
    a = h.grab(w, P.GRAB_JOB)
    assert a.type is P.JOB_ASSIGN and a.args[1:] == (b"f", b"d")
    h.send(c, P.SUBMIT_REDUCE_JOB, b"f", b"u2", b"red", b"", b"d2")
    assert h.received(c)[0].type is P.JOB_CREATED
    a = h.grab(w, P.GRAB_JOB_ALL)
    assert a.type is P.JOB_ASSIGN_ALL and a.args[1:] == (b"f", b"u2", b"red", b"d2")
    h.submit(c, b"f", b"d3", b"u3")
    a = h.grab(w, P.GRAB_JOB_ALL)  # no reducer: gearmand answers JOB_ASSIGN_UNIQ
    assert a.type is P.JOB_ASSIGN_UNIQ and a.args[1:] == (b"f", b"u3", b"d3")


def test_priority_is_global_across_functions() -> None:
    h = Harness()
    c = h.conn()
    h.submit(c, b"a", b"low-a", ptype=P.SUBMIT_JOB_LOW_BG)
    h.submit(c, b"b", b"normal-b", ptype=P.SUBMIT_JOB_BG)
    h.submit(c, b"a", b"normal-a", ptype=P.SUBMIT_JOB_BG)
    h.submit(c, b"b", b"high-b", ptype=P.SUBMIT_JOB_HIGH_BG)
    w = h.worker(b"a", b"b", sleep=False)
    order = [h.grab(w).args[3] for _ in range(4)]
    assert order[0] == b"high-b" and order[3] == b"low-a"
    assert set(order[1:3]) == {b"normal-a", b"normal-b"}
    assert h.grab(w).type is P.NO_JOB


def test_round_robin_between_functions() -> None:
    h = Harness()
    c = h.conn()
    for i in range(3):
        h.submit(c, b"busy", b"%d" % i, ptype=P.SUBMIT_JOB_BG)
    h.submit(c, b"quiet", b"q", ptype=P.SUBMIT_JOB_BG)
    w = h.worker(b"quiet", b"busy", sleep=False)  # "busy" registered last: tried first
    first_two = [h.grab(w).args[1] for _ in range(2)]
    assert b"quiet" in first_two  # a busy function cannot starve another


def test_fifo_within_priority() -> None:
    h = Harness()
    c = h.conn()
    for i in range(5):
        h.submit(c, b"f", b"%d" % i, ptype=P.SUBMIT_JOB_BG)
    w = h.worker(b"f", sleep=False)
    assert [h.grab(w).args[3] for _ in range(5)] == [b"0", b"1", b"2", b"3", b"4"]


def test_coalescing_by_unique_over_queued_and_running() -> None:
    h = Harness()
    c1, c2, c3 = h.conn(), h.conn(), h.conn()
    w = h.worker(b"f", sleep=False)
    h1 = h.submit(c1, b"f", b"x", b"same")
    h2 = h.submit(c2, b"f", b"other data ignored", b"same")
    assert h1 == h2 and len(h.core.jobs) == 1
    assert h.grab(w).args[3] == b"x"
    h3 = h.submit(c3, b"f", b"x", b"same")  # coalesces onto the running job
    assert h3 == h1
    h.send(w, P.WORK_COMPLETE, h1, b"r")
    for c in (c1, c2, c3):
        assert [(f.type, f.args) for f in h.received(c)] == [(P.WORK_COMPLETE, (h1, b"r"))]
    assert h.submit(c1, b"f", b"x", b"same") != h1  # finished: a new job next time
    assert h.submit(c1, b"g", b"x", b"same") != h1  # scope is (function, unique)


def test_dash_unique_coalesces_by_data_and_empty_never() -> None:
    h = Harness()
    c = h.conn()
    assert h.submit(c, b"f", b"payload", b"-") == h.submit(c, b"f", b"payload", b"-")
    assert h.submit(c, b"f", b"other", b"-") != h.submit(c, b"f", b"payload", b"-")
    assert h.submit(c, b"f", b"", b"-") != h.submit(c, b"f", b"", b"-")
    assert h.submit(c, b"f", b"d", b"") != h.submit(c, b"f", b"d", b"")


def test_unique_limit() -> None:
    h = Harness()
    c = h.conn()
    assert h.submit(c, b"f", b"d", b"u" * 64)
    assert b"u" * 64 in h.core.functions[b"f"].uniques  # stored whole, not truncated
    h.send(c, P.SUBMIT_JOB, b"f", b"u" * 65, b"d")
    err = h.received(c)[0]
    assert err.type is P.ERROR and err.args == (b"ARGUMENT_TOO_LARGE", b"Unique value too large")


def test_pre_sleep_noop_and_worker_wakeup_limit() -> None:
    h = Harness(worker_wakeup=1)
    c = h.conn()
    w1, w2 = h.worker(b"f"), h.worker(b"f")
    h.submit(c, b"f", b"1", ptype=P.SUBMIT_JOB_BG)
    woken = [h.types(w1), h.types(w2)]
    assert sorted(woken) == [[], [P.NOOP]]
    h.submit(c, b"f", b"2", ptype=P.SUBMIT_JOB_BG)
    assert sorted([h.types(w1), h.types(w2)]) == [[], [P.NOOP]]  # the other one this time
    w3 = h.conn()
    h.send(w3, P.CAN_DO, b"f")
    h.send(w3, P.PRE_SLEEP)  # work is waiting: NOOP at once
    assert h.types(w3) == [P.NOOP]


def test_one_noop_per_sleep() -> None:
    h = Harness()
    c = h.conn()
    w = h.worker(b"f")
    h.submit(c, b"f", b"1", ptype=P.SUBMIT_JOB_BG)
    h.submit(c, b"f", b"2", ptype=P.SUBMIT_JOB_BG)
    assert h.types(w) == [P.NOOP]


def test_epoch_job_wakes_sleeper_when_due_and_does_not_block_others() -> None:
    h = Harness()
    c = h.conn()
    w = h.worker(b"f")
    due = int(h.clock.now) + 60
    h.send(c, P.SUBMIT_JOB_EPOCH, b"f", b"", str(due).encode(), b"later")
    assert h.types(c) == [P.JOB_CREATED]
    assert h.types(w) == []  # not due: nobody woken
    assert h.core.next_delay() == due - h.clock.now
    h.submit(c, b"f", b"now", ptype=P.SUBMIT_JOB_LOW_BG)
    assert h.types(w) == [P.NOOP]
    assert h.grab(w).args[3] == b"now"  # the future job hides nothing
    h.send(w, P.PRE_SLEEP)
    h.clock.now = due + 0.5
    h.core.tick()
    assert h.types(w) == [P.NOOP]
    assert h.grab(w).args[3] == b"later"


def test_epoch_garbage_parses_as_now() -> None:
    h = Harness()
    c = h.conn()
    w = h.worker(b"f", sleep=False)
    h.send(c, P.SUBMIT_JOB_EPOCH, b"f", b"", b"soon", b"d")
    assert h.grab(w).args[3] == b"d"
    with pytest.raises(RemoteProtocolError):
        h.send(c, P.SUBMIT_JOB_EPOCH, b"f", b"", b"99999999999999999999999", b"d")


def test_worker_loss_requeues_to_tail_and_resets_status() -> None:
    h = Harness()
    c = h.conn()
    w1 = h.worker(b"f", sleep=False)
    handle = h.submit(c, b"f", b"a")
    h.submit(c, b"f", b"b", ptype=P.SUBMIT_JOB_BG)
    h.grab(w1)
    h.send(w1, P.WORK_STATUS, handle, b"5", b"10")
    h.received(c)
    h.core.disconnect(w1)
    job = h.job(handle)
    assert job.retries == 1 and job.numerator == b"0" and job.worker is None
    w2 = h.worker(b"f", sleep=False)
    assert [h.grab(w2).args[3] for _ in range(2)] == [b"b", b"a"]  # requeued at the tail
    h.send(w2, P.WORK_COMPLETE, handle, b"ok")
    assert h.types(c) == [P.WORK_COMPLETE]  # no notice of the requeue itself


@pytest.mark.parametrize("how", ["cant_do", "reset"])
def test_cant_do_and_reset_requeue_running_jobs(how: str) -> None:
    h = Harness()
    c = h.conn()
    w = h.worker(b"f", sleep=False)
    handle = h.submit(c, b"f", b"a")
    h.grab(w)
    if how == "cant_do":
        h.send(w, P.CANT_DO, b"f")
    else:
        h.send(w, P.RESET_ABILITIES)
    assert h.job(handle).worker is None and h.core.functions[b"f"].workers == []
    h.send(w, P.WORK_COMPLETE, handle, b"late")
    assert h.received(w)[0].args[0] == b"JOB_NOT_FOUND"


def test_job_retries_cap_fails_listeners() -> None:
    h = Harness(job_retries=2)
    c = h.conn()
    handle = h.submit(c, b"f", b"a")
    for _ in range(2):
        w = h.worker(b"f", sleep=False)
        h.grab(w)
        h.core.disconnect(w)
    assert h.core.find(handle) is None
    assert [(f.type, f.args) for f in h.received(c)] == [(P.WORK_FAIL, (handle,))]


def test_can_do_timeout_requeues_once_and_is_cancelled_by_completion() -> None:
    h = Harness()
    c = h.conn()
    w = h.conn()
    h.send(w, P.CAN_DO_TIMEOUT, b"f", b"200")  # below the 1 s minimum: raised to 1000 ms
    h1 = h.submit(c, b"f", b"a")
    h.grab(w)
    assert h.core.next_delay() == 1.0
    h.clock.now += 1.5
    h.core.tick()
    job = h.job(h1)
    assert job.worker is None and job.retries == 1
    h.send(w, P.WORK_COMPLETE, h1, b"late")
    assert h.received(w)[0].args[0] == b"JOB_NOT_FOUND"
    # A job finished in time leaves no stale timer to hit the next one.
    assert h.grab(w).args[0] == h1
    h.send(w, P.WORK_COMPLETE, h1, b"ok")
    h2 = h.submit(c, b"f", b"b")
    h.grab(w)
    h.clock.now += 0.9
    h.core.tick()
    assert h.job(h2).worker is not None


def test_work_exception_with_and_without_option() -> None:
    h = Harness()
    plain, fancy = h.conn(), h.conn()
    h.send(fancy, P.OPTION_REQ, b"Exceptions")
    assert h.received(fancy)[0].type is P.OPTION_RES
    w = h.worker(b"f", sleep=False)
    handle = h.submit(plain, b"f", b"x", b"u")
    h.submit(fancy, b"f", b"x", b"u")
    h.grab(w)
    h.send(w, P.WORK_EXCEPTION, handle, b"boom")
    assert [(f.type, f.args) for f in h.received(plain)] == [(P.WORK_FAIL, (handle,))]
    assert [(f.type, f.args) for f in h.received(fancy)] == [(P.WORK_EXCEPTION, (handle, b"boom"))]
    assert h.core.functions[b"f"].exceptions == 1 and not h.core.jobs


def test_work_from_wrong_connection_is_job_not_found() -> None:
    h = Harness()
    c = h.conn()
    w, other = h.worker(b"f", sleep=False), h.worker(b"f", sleep=False)
    handle = h.submit(c, b"f")
    h.grab(w)
    h.send(other, P.WORK_DATA, handle, b"x")
    assert h.received(other)[0].args == (b"JOB_NOT_FOUND", b"Job does not exist on server")
    h.send(other, P.WORK_FAIL, handle)
    assert h.received(other)[0].args == (b"JOB_NOT_FOUND", b"Job given in work result not found")
    h.send(w, P.WORK_FAIL, handle + b"\0")  # the stray NUL some workers send is tolerated
    assert h.types(c) == [P.WORK_FAIL]


@pytest.mark.parametrize(("functions", "jobs"), [(1, 1), (1, 12), (12, 1), (12, 12)])
def test_work_results_find_their_job_however_busy_the_worker(functions: int,
                                                            jobs: int) -> None:
    # Results are matched against the worker's own running jobs, or through the job table
    # for a worker with many registrations or jobs: either way the same jobs are found.
    h = Harness()
    names = [b"f%d" % i for i in range(functions)]
    w, other = h.worker(*names, sleep=False), h.worker(*names, sleep=False)
    clients, handles = [], []
    for i in range(jobs):
        c = h.conn()
        clients.append(c)
        handles.append(h.submit(c, names[i % functions], b"%d" % i))
    for _ in range(jobs):
        assert h.grab(w).type is P.JOB_ASSIGN_UNIQ
    for handle in handles:  # another worker's results are refused, whatever the path
        h.send(other, P.WORK_COMPLETE, handle, b"no")
        assert h.received(other)[0].args[0] == b"JOB_NOT_FOUND"
    for i, (c, handle) in enumerate(zip(clients, handles, strict=True)):
        if i % 2:  # WORK_FAIL's only argument may carry the stray NUL some workers send
            h.send(w, P.WORK_FAIL, handle + b"\0")
            expected = (P.WORK_FAIL, (handle + b"\0",))  # relayed as the worker sent it
        else:
            h.send(w, P.WORK_COMPLETE, handle, b"r%d" % i)
            expected = (P.WORK_COMPLETE, (handle, b"r%d" % i))
        assert [(f.type, f.args) for f in h.received(c)] == [expected]
    h.send(w, P.WORK_COMPLETE, handles[0], b"again")  # done: gone from the worker too
    assert h.received(w)[0].args[0] == b"JOB_NOT_FOUND"
    assert not h.core.jobs


def test_client_disconnect_abandons_foreground_not_background() -> None:
    h = Harness()
    c1, c2 = h.conn(), h.conn()
    fg = h.submit(c1, b"f", b"fg", b"u-fg")
    bg = h.submit(c2, b"f", b"bg", b"u-bg", ptype=P.SUBMIT_JOB_BG)
    h.submit(c1, b"f", b"", b"u-bg")  # a foreground client coalesces onto the background job
    h.core.disconnect(c1)
    assert h.job(fg).ignore and not h.job(bg).ignore
    w = h.worker(b"f", sleep=False)
    assert h.grab(w).args[0] == bg  # the abandoned job is reaped, never run
    assert h.core.find(fg) is None
    assert h.grab(w).type is P.NO_JOB


def test_maxqueue_and_queue_full() -> None:
    h = Harness()
    c, admin = h.conn(), h.conn()
    h.submit(c, b"f", b"1", ptype=P.SUBMIT_JOB_BG)
    assert h.admin(admin, b"maxqueue f 1") == b"OK\r\n"
    h.send(c, P.SUBMIT_JOB_BG, b"f", b"", b"2")
    assert h.received(c)[0].args == (b"QUEUE_ERROR", b"Job queue is full")
    assert h.admin(admin, b"maxqueue f 5 5 1") == b"OK\r\n"
    assert h.core.functions[b"f"].max_queue == [5, 5, 1]
    h.send(c, P.SUBMIT_JOB_LOW_BG, b"f", b"", b"3")
    assert h.received(c)[0].type is P.ERROR
    assert h.submit(c, b"f", b"4", ptype=P.SUBMIT_JOB_HIGH_BG)


def test_status_queries() -> None:
    h = Harness()
    c = h.conn()
    w = h.worker(b"f", sleep=False)
    handle = h.submit(c, b"f", b"x", b"uq")
    h.submit(h.conn(), b"f", b"x", b"uq")
    h.send(c, P.GET_STATUS, handle)
    assert h.received(c)[0].args == (handle, b"1", b"0", b"0", b"0")
    h.grab(w)
    h.send(w, P.WORK_STATUS, handle, b"3", b"7")
    h.received(c)
    h.send(c, P.GET_STATUS, handle)
    assert h.received(c)[0].args == (handle, b"1", b"1", b"3", b"7")
    h.send(c, P.GET_STATUS_UNIQUE, b"uq")
    assert h.received(c)[0].args == (b"uq", b"1", b"1", b"3", b"7", b"2")  # real waiting count
    h.send(c, P.GET_STATUS, b"H:t:999")
    assert h.received(c)[0].args == (b"H:t:999", b"0", b"0", b"0", b"0")


def test_only_the_exact_handle_finds_a_job() -> None:
    # Jobs are kept by the number in their handle; other spellings of it must not match.
    h = Harness()
    handle = h.submit(h.conn(), b"f", b"x", b"u1", ptype=P.SUBMIT_JOB_BG)
    prefix, number = handle.rsplit(b":", 1)
    assert h.core.find(handle) is not None
    for other in (prefix + b":0" + number, prefix + b":+" + number, prefix + b": " + number,
                  prefix + b":" + number + b" ", b"X" + handle[1:], number, b"",
                  prefix + b":" + b"9" * 5000, prefix + b":" + "\u0661".encode()):
        assert h.core.find(other) is None, other
        c = h.conn()
        h.send(c, P.GET_STATUS, other)
        assert h.received(c)[0].args == (other, b"0", b"0", b"0", b"0")


def test_misc_requests_and_errors() -> None:
    h = Harness()
    c = h.conn()
    h.send(c, P.ECHO_REQ, b"ping\0x")
    h.send(c, P.OPTION_REQ, b"bogus")
    h.send(c, P.ALL_YOURS)
    h.send(c, P.SUBMIT_JOB_SCHED, b"f", b"", b"1", b"2", b"3", b"4", b"5", b"d")
    h.send(c, P.NOOP)
    got = [(f.type, f.args) for f in h.received(c)]
    assert got == [
        (P.ECHO_RES, (b"ping\0x",)),
        (P.ERROR, (b"UNKNOWN_OPTION", b"Server does not recognize given option")),
        (P.ERROR, (b"INVALID_COMMAND", b"Command not expected")),
        (P.ERROR, (b"INVALID_COMMAND", b"Command not expected")),
        (P.ERROR, (b"INVALID_COMMAND", b"Command not expected")),
    ]
    h.send(c, P.SET_CLIENT_ID, b"x" * 300)
    assert c.client_id == b"x" * 127


def test_cancel_queued_job() -> None:
    h = Harness()
    c, admin = h.conn(), h.conn()
    handle = h.submit(c, b"f", b"x")
    assert h.admin(admin, b"cancel job " + handle) == b"OK\r\n"
    assert [(f.type, f.args) for f in h.received(c)] == [(P.WORK_FAIL, (handle,))]
    assert h.core.functions[b"f"].total == 0 and h.core.find(handle) is None
    assert h.admin(admin, b"cancel job " + handle) == b"ERR UNKNOWN_JOB\r\n"


def test_a_wall_clock_step_neither_fires_nor_holds_back_timeouts_but_moves_epoch_jobs() -> None:
    wall = Clock(1_700_000_000.0)
    h = Harness(wall=wall)
    c = h.conn()
    w = h.conn()
    h.send(w, P.CAN_DO_TIMEOUT, b"f", b"10000")
    handle = h.submit(c, b"f", b"slow")
    assert h.grab(w).args[0] == handle
    wall.now += 3600  # stepped an hour forward: ten seconds have not passed for the job
    h.clock.now += 1
    h.core.tick()
    assert h.job(handle).worker is not None and h.core.next_delay() == 9.0
    wall.now -= 7200  # and two hours back: the timeout still comes after ten seconds
    h.clock.now += 9.5
    h.core.tick()
    w2 = h.worker(b"f", sleep=False)
    assert h.grab(w2).args[0] == handle  # requeued by its timeout, taken by another worker
    # Epoch jobs are due at a Unix time: they follow the wall clock, steps and all.
    due = int(wall.now) + 60
    h.send(c, P.SUBMIT_JOB_EPOCH, b"g", b"", str(due).encode(), b"at")
    epoch = h.received(c)[-1].args[0]
    h.clock.now += 120
    h.core.tick()
    assert h.job(epoch).when == due  # two minutes of monotonic time: not due by the wall
    wall.now = due
    h.core.tick()
    assert h.job(epoch).when == 0 and h.job(epoch).queued


def test_a_job_holds_the_very_key_object_of_the_job_table() -> None:
    # Job.seq is the int object that keys Core.jobs, so the job's own lookups match by identity
    # (compiled, nothing is boxed per lookup); handle lookups still find the job by number.
    h = Harness()
    c = h.conn()
    for _ in range(300):  # past CPython's cached small ints
        h.send(c, P.SUBMIT_JOB_BG, b"f", b"", b"x")
    for key, job in h.core.jobs.items():
        assert key is job.seq and job.handle == b"H:t:%d" % key
        assert h.core.find(job.handle) is job
