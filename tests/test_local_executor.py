"""The local executor against the executor protocol: pool size, states, exit codes, kill, adoption."""

from __future__ import annotations

import time
from pathlib import Path

from globalhs.executors.base import JobSpec, JobState
from globalhs.executors.local import LocalExecutor


def _spec(tmp_path, name, body):
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    return JobSpec(name=name, script=script, workdir=tmp_path)


def _wait(ex, ids, timeout=10.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        states = ex.poll(ids)
        if all(s.state not in (JobState.PENDING, JobState.RUNNING) for s in states.values()):
            return states
        time.sleep(0.05)
    raise AssertionError(f"jobs still active: {states}")


def test_states_and_exit_codes(tmp_path):
    ex = LocalExecutor(slots=2)
    ids = ex.submit([_spec(tmp_path, "ok.1", "echo hi > out.txt"), _spec(tmp_path, "bad.1", "exit 3"),
                     _spec(tmp_path, "sig.1", "kill -9 $$")])
    states = _wait(ex, ids)
    assert states[ids[0]].state is JobState.COMPLETED and (tmp_path / "out.txt").read_text() == "hi\n"
    assert states[ids[1]].state is JobState.FAILED and states[ids[1]].exit_code == 3
    assert states[ids[2]].state is JobState.FAILED and "SIGKILL" in states[ids[2]].reason
    assert ex.poll(["/nowhere#1.1"])["/nowhere#1.1"].state is JobState.UNKNOWN


def test_pool_size_and_count_queued(tmp_path):
    ex = LocalExecutor(slots=1)
    ids = ex.submit([_spec(tmp_path, f"subt.{i}", "sleep 0.3") for i in range(3)] +
                    [_spec(tmp_path, "subp.0", "sleep 0.3")])
    states = ex.poll(ids)
    assert [s.state for s in states.values()].count(JobState.RUNNING) == 1
    assert ex.count_queued("subt") == 3 and ex.count_queued("subp") == 1 and ex.count_queued("subk") == 0
    _wait(ex, ids)
    assert ex.count_queued("subt") == 0


def test_cancel_kills_the_process_group_and_pending(tmp_path):
    ex = LocalExecutor(slots=1)
    marker = tmp_path / "child.pid"
    ids = ex.submit([_spec(tmp_path, "a", f"sh -c 'echo $$ > {marker}; sleep 30'"),
                     _spec(tmp_path, "b", "sleep 30")])
    deadline = time.time() + 5
    while not marker.exists() and time.time() < deadline:
        ex.poll(ids)
        time.sleep(0.02)
    child = int(marker.read_text())
    t0 = time.time()
    ex.cancel(ids)
    assert time.time() - t0 < 5
    assert all(s.state is JobState.CANCELLED for s in ex.poll(ids).values())
    time.sleep(0.1)
    proc = Path(f"/proc/{child}/stat")
    stat = proc.read_text() if proc.exists() else ""
    assert stat == "" or stat[stat.rfind(")") + 2] == "Z"          # the grandchild died too


def test_a_new_executor_sees_a_job_started_by_an_old_one(tmp_path):
    old = LocalExecutor()
    [job_id] = old.submit([_spec(tmp_path, "long", "sleep 0.6")])
    new = LocalExecutor()                  # a driver restarted after the first was killed
    assert new.poll([job_id])[job_id].state is JobState.RUNNING
    _wait(old, [job_id])
    assert new.poll([job_id])[job_id].state is JobState.UNKNOWN


def test_foreign_cancel(tmp_path):
    old = LocalExecutor()
    [job_id] = old.submit([_spec(tmp_path, "long", "sleep 30")])
    new = LocalExecutor()
    new.cancel([job_id])
    states = _wait(old, [job_id], timeout=5)
    assert states[job_id].state is JobState.FAILED and "SIGKILL" in states[job_id].reason


def test_time_limit(tmp_path):
    ex = LocalExecutor(slots=1)
    spec = _spec(tmp_path, "slow", "sleep 30")
    [job_id] = ex.submit([JobSpec(spec.name, spec.script, spec.workdir, time_limit_s=1)])
    t0 = time.time()
    states = _wait(ex, [job_id])
    assert states[job_id].state is JobState.TIMEOUT and "time limit of 1 s" in states[job_id].reason
    assert time.time() - t0 < 10
