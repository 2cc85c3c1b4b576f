"""The executors against real local batch daemons (scripts/slurm-up, scripts/sge-up; .ci/run starts both).

Each test skips with the reason when its batch system does not answer.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from cluster_support import cancel_leftovers, make_executor, native_cancel, wait_for
from globalhs.executors.base import FINAL, JobSpec, JobState

pytestmark = pytest.mark.cluster
EXECUTORS = ["slurm", "sge", "drmaa"]


def write_job(workdir: Path, index: int, body: str, name: str | None = None) -> JobSpec:
    """A job script in the driver's shape: run something, then write its exit status to a file."""
    script = workdir / f"job.{index}.sh"
    script.write_text(f"#!/bin/sh\ncd {workdir}\n( {body} ) > job.log.{index} 2>&1\n"
                      f"echo $? > job.exitstatus.{index}\nexit $(cat job.exitstatus.{index})\n")
    script.chmod(0o755)
    return JobSpec(name=name or f"subt.{os.getpid()}.{index}.0-10ctest", script=script, workdir=workdir,
                   stdout=workdir / f"job.out.{index}")


@pytest.fixture(params=EXECUTORS)
def executor(request):
    ex = make_executor(request.param)
    yield ex
    ex.close()
    prefix = f"subt.{os.getpid()}."
    cancel_leftovers(lambda name: name.startswith(prefix) or name.startswith(f"subq{os.getpid()}"))


def _finish(ex, ids, timeout=90):
    def done():
        st = ex.poll(ids)
        return st if all(s.state in FINAL for s in st.values()) else None
    return wait_for(done, timeout, every=0.5, what=f"jobs {ids} to finish")


def test_single_jobs_and_arrays_run_and_report_exit_codes(executor, tmp_path):
    jobs = [write_job(tmp_path, k, f"echo task {k}; exit {k}") for k in range(3)]
    ids = executor.submit(jobs) + executor.submit([write_job(tmp_path, 9, "echo single")])
    assert len(set(ids)) == 4
    st = _finish(executor, ids)
    assert [st[i].state for i in ids] == [JobState.COMPLETED, JobState.FAILED, JobState.FAILED, JobState.COMPLETED]
    assert [st[i].exit_code for i in ids[:3]] == [0, 1, 2]
    for k in (0, 1, 2, 9):
        assert (tmp_path / f"job.exitstatus.{k}").read_text().strip() == str(k if k < 9 else 0)
        assert (tmp_path / f"job.log.{k}").read_text().strip() == (f"task {k}" if k < 9 else "single")
    assert executor.runner.counts[{"slurm": "sbatch", "sge": "qsub"}.get(executor.name, "qstat")] >= 0


def test_array_concurrency_cap_is_respected(executor, tmp_path):
    """6 tasks of 2 s at most 2 at a time: never more than 2 overlap, seen both in the tasks' own
    timestamps and by sampling the queue."""
    jobs = [write_job(tmp_path, k, f"date +%s.%N > start.{k}; sleep 2; date +%s.%N > end.{k}") for k in range(6)]
    ids = executor.submit(jobs, max_running=2)
    prefix = f"subt.{os.getpid()}."
    running_samples = []
    end = time.monotonic() + 120
    while time.monotonic() < end:
        found = executor.find(prefix)
        running_samples.append(sum(1 for s in found.values() if s.state is JobState.RUNNING))
        if all((tmp_path / f"job.exitstatus.{k}").exists() for k in range(6)):
            break
        time.sleep(0.3)
    st = _finish(executor, ids)
    assert all(s.state is JobState.COMPLETED for s in st.values())
    spans = [(float((tmp_path / f"start.{k}").read_text()), float((tmp_path / f"end.{k}").read_text()))
             for k in range(6)]
    overlap = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    assert overlap <= 2, f"{overlap} tasks ran at once with a cap of 2: {spans}"
    assert 1 <= max(running_samples) <= 2


def test_running_job_cancelled_behind_the_driver_s_back_is_detected(executor, tmp_path):
    job = write_job(tmp_path, 0, "sleep 120")
    (job_id,) = executor.submit([job])
    wait_for(lambda: executor.poll([job_id])[job_id].state is JobState.RUNNING, 60, what="job to start")
    native_cancel("slurm" if executor.name == "slurm" else "sge", job_id)
    st = _finish(executor, [job_id])[job_id]
    assert st.state is JobState.CANCELLED, st
    assert not (tmp_path / "job.exitstatus.0").exists()        # the runner will not take it for a success


def test_pending_job_deleted_behind_the_driver_s_back_leaves_no_success(executor, tmp_path):
    """A held job deleted with the batch system's own command: Slurm still lists it as CANCELLED;
    Grid Engine forgets it (no accounting record for a job that never ran): UNKNOWN, which the runner
    turns into LOST after 3 polls. Either way it never looks like a success."""
    hold = {"slurm": ("--hold",), "sge": ("-h",), "drmaa": ("-h",)}[executor.name]
    job = write_job(tmp_path, 0, "true")
    job = JobSpec(job.name, job.script, job.workdir, stdout=job.stdout, extra=hold)
    (job_id,) = executor.submit([job])
    assert executor.poll([job_id])[job_id].state is JobState.PENDING
    native_cancel("slurm" if executor.name == "slurm" else "sge", job_id)
    time.sleep(2)
    states = {executor.poll([job_id])[job_id].state for _ in range(3)}
    expected = {JobState.CANCELLED} if executor.name == "slurm" else {JobState.UNKNOWN, JobState.CANCELLED}
    assert states <= expected, states
    assert JobState.COMPLETED not in states and not (tmp_path / "job.exitstatus.0").exists()


def test_cancel_many_jobs_in_one_command(executor, tmp_path):
    jobs = [write_job(tmp_path, k, "sleep 120") for k in range(5)]
    ids = executor.submit(jobs[:3]) + executor.submit(jobs[3:4]) + executor.submit(jobs[4:])
    before = dict(executor.runner.counts)
    executor.cancel(ids)
    issued = {k: v - before.get(k, 0) for k, v in executor.runner.counts.items() if v != before.get(k, 0)}
    assert issued == {"scancel" if executor.name == "slurm" else "qdel": 1}
    wait_for(lambda: not executor.find(f"subt.{os.getpid()}."), 60, what="cancelled jobs to leave the queue")


def test_count_queued_sees_jobs_this_driver_did_not_submit(executor, tmp_path):
    """The throttle counts every job of the kind on the real queue: three foreign jobs submitted with the
    batch system's own command are counted; one command per count."""
    prefix = f"subq{os.getpid()}"
    foreign = []
    for k in range(3):
        if executor.name == "slurm":
            out = subprocess.run(["sbatch", "--parsable", "--hold", f"--job-name={prefix}.other.{k}",
                                  "--output=/dev/null", "--wrap", "true"], capture_output=True, text=True, check=True)
            foreign.append(out.stdout.strip())
        else:
            out = subprocess.run(["qsub", "-terse", "-h", "-N", f"{prefix}.other.{k}", "-o", "/dev/null",
                                  "-j", "y", "-b", "y", "true"], capture_output=True, text=True, check=True)
            foreign.append(out.stdout.strip())
    try:
        own = write_job(tmp_path, 0, "sleep 30", name=f"{prefix}.mine.0")
        own = JobSpec(own.name, own.script, own.workdir, stdout=own.stdout,
                      extra={"slurm": ("--hold",)}.get(executor.name, ("-h",)))
        ids = executor.submit([own])
        before = sum(executor.runner.counts.values())
        assert executor.count_queued(prefix) == 4
        assert executor.count_queued(prefix + ".other") == 3
        assert executor.count_queued("nosuchprefix.") == 0
        assert sum(executor.runner.counts.values()) - before == 3
    finally:
        for j in foreign:
            native_cancel("slurm" if executor.name == "slurm" else "sge", j)
        executor.cancel(ids)


def test_poll_cost_does_not_grow_with_the_number_of_jobs(executor, tmp_path):
    """Polling 1 or 40 jobs costs the same: one queue listing (plus at most one accounting query)."""
    jobs = [write_job(tmp_path, k, "true") for k in range(40)]
    ids = executor.submit(jobs)
    for n in (1, 40):
        before = sum(executor.runner.counts.values())
        executor.poll(ids[:n])
        assert 1 <= sum(executor.runner.counts.values()) - before <= 2
    _finish(executor, ids)
    before = sum(executor.runner.counts.values())
    executor.poll(ids)
    assert sum(executor.runner.counts.values()) - before <= 2


def test_find_adopts_jobs_by_id_and_name_from_a_new_executor(executor, tmp_path):
    """What a restarted driver sees: a fresh executor (new DRMAA session too) lists the jobs a previous
    one submitted, with names that match the job names the ledger recorded."""
    from globalhs.executors.naming import name_matches

    jobs = [write_job(tmp_path, k, "sleep 60") for k in range(3)]
    ids = executor.submit(jobs)
    executor.close()             # the driver dies (a process has one DRMAA session at a time)
    fresh = make_executor(executor.name)
    try:
        found = fresh.find(f"subt.{os.getpid()}.")
        assert set(ids) <= set(found)
        for job, job_id in zip(jobs, ids):
            assert name_matches(found[job_id].name, job.name)
        assert fresh.poll(ids)[ids[0]].state in (JobState.PENDING, JobState.RUNNING)
    finally:
        fresh.cancel(ids)
        fresh.close()
