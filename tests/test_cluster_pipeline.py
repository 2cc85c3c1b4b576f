"""The driver's runner on the real local batch systems, with the ``testjob`` fault injector.

Needs the driver (globalhs.pipeline) and a running Slurm / Grid Engine; skips with the reason otherwise.
Checks what an operator relies on: the same results as the local executor, external cancellation
and deletion detected and resubmitted, no job submitted twice after the driver is killed and rerun
(counted in the batch system's own accounting), and the job threshold respected on the real queue.
"""

from __future__ import annotations

import io
import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from cluster_support import CLUSTER_BASE, cancel_leftovers, make_executor, native_cancel, wait_for
from globalhs.executors.base import JobSpec, JobState

pytest.importorskip("globalhs.pipeline.runner", reason="the driver (globalhs.pipeline.runner) is not merged here yet")

from globalhs.executors.local import LocalExecutor  # noqa: E402
from globalhs.pipeline.ledger import Ledger  # noqa: E402
from globalhs.pipeline.params import parse_params  # noqa: E402
from globalhs.pipeline.plan import make_plan  # noqa: E402
from globalhs.pipeline.progress import Reporter  # noqa: E402
from globalhs.pipeline.runner import Runner  # noqa: E402

pytestmark = pytest.mark.cluster
ROOT = Path(__file__).resolve().parents[1]
EXECUTORS = ["slurm", "sge", "drmaa"]


@pytest.fixture
def templates(tmp_path, monkeypatch):
    """Template directory for label ``c<pid>`` (unique on the shared queue) and testjob's counters."""
    tdir, counters = tmp_path / "templates", tmp_path / "counters"
    tdir.mkdir()
    counters.mkdir()
    monkeypatch.setenv("GLOBALHS_TEMPLATES", str(tdir))
    monkeypatch.setenv("PYTHONPATH", str(ROOT))        # batch jobs import this checkout
    label = f"c{os.getpid()}{tmp_path.name[-6:].replace('_', '')}"
    label = re.sub(r"[^A-Za-z0-9]", "", label)

    def write(body: str = "") -> str:
        (tdir / f"v2t.parms.{label}").write_text(
            f"##module=testjob\ncounter={counters}/{{{{step}}}}.{{{{index}}}}\ntag=XXXX\n{body}\n")
        return label

    write.counters = counters
    write.label = label
    yield write
    cancel_leftovers(lambda name: name.endswith(label))


def count(templates, step: str, index: int) -> int:
    path = templates.counters / f"{step}.{index}"
    return int(path.read_text()) if path.exists() else 0


class Commits:
    """Records what each committed stage held (the records a store would receive)."""

    def __init__(self):
        self.staged: list[tuple[str, str]] = []

    def __call__(self, stage: Path) -> None:
        self.staged.append((stage.name, (stage / "testjob.out").read_text()))


def run(label: str, executor, *args, retries=1, commits=None):
    named = {a.split("=", 1)[0] for a in args}
    base = [a for a in ("starttime=6400d", f"label={label}", "laststep=sht", "totaltime=3d", "lmax=10")
            if a.split("=", 1)[0] not in named]
    plan = make_plan(parse_params([*base, *args]))
    out = io.StringIO()
    with Ledger(plan.workdir) as ledger:
        runner = Runner(plan, executor, ledger, Reporter(stream=out), retries=retries,
                        commit=commits if commits is not None else Commits(), poll_interval=0.5)
        code = runner.run()
        rows = {(r.step, r.chunk): r for r in ledger.rows()}
    return code, out.getvalue(), rows, plan


@pytest.mark.parametrize("name", EXECUTORS)
def test_small_run_gives_the_same_records_as_the_local_executor(templates, name):
    label = templates()
    on_cluster, local = Commits(), Commits()
    executor = make_executor(name)
    try:
        code, out, rows, plan = run(label, executor, commits=on_cluster)
    finally:
        executor.close()
    assert code == 0, out
    assert {r.executor for r in rows.values()} == {name} and {r.state for r in rows.values()} == {"done"}
    # the same run again on the local executor (fresh counters, fresh work directory)
    for f in templates.counters.iterdir():
        f.unlink()
    code, out, _, _ = run(label, LocalExecutor(slots=2), "topdir=" + str(plan.workdir.parents[5] / "local"),
                          commits=local)
    assert code == 0, out
    assert sorted(on_cluster.staged) == sorted(local.staged) and len(local.staged) == 3


class CancelOnce:
    """Wraps an executor; cancels the job of chunk ``index`` with the batch system's own command the
    first time a poll sees it running (someone else's scancel/qdel)."""

    def __init__(self, inner, native: str, index: str):
        self.inner, self.native, self.index, self.done = inner, native, index, None
        self.name, self.poll_interval = inner.name, 0.5
        self.ids: dict[str, str] = {}

    def submit(self, jobs, max_running=None):
        ids = self.inner.submit(jobs, max_running)
        self.ids.update({job_id: job.name for job, job_id in zip(jobs, ids)})
        return ids

    def poll(self, job_ids):
        got = self.inner.poll(job_ids)
        if self.done is None:
            for job_id, st in got.items():
                if st.state is JobState.RUNNING and f".{self.index}." in self.ids.get(job_id, ""):
                    native_cancel(self.native, job_id)
                    self.done = job_id
        return got

    def __getattr__(self, attr):
        return getattr(self.inner, attr)


@pytest.mark.parametrize("name", EXECUTORS)
def test_running_job_cancelled_outside_is_detected_and_resubmitted(templates, name):
    label = templates("sleep=3")
    executor = CancelOnce(make_executor(name), "slurm" if name == "slurm" else "sge", "6401")
    try:
        code, out, rows, plan = run(label, executor)
    finally:
        executor.inner.close()
    assert executor.done and code == 0, out
    assert rows[("sht", "6401")].attempt == 2 and rows[("sht", "6401")].state == "done"
    faillog = (plan.workdir / "sht" / "faillog").read_text()
    assert "attempt 1" in faillog and "6401" in faillog and len(faillog.splitlines()) == 1
    assert [count(templates, "sht", d) for d in (6400, 6402)] == [1, 1]


class HoldAndDeleteFirst:
    """Submits the first batch held, then deletes one held job with the batch system's own command:
    a job removed from the queue behind the driver's back before it ever ran."""

    def __init__(self, inner, native: str, hold: tuple[str, ...]):
        self.inner, self.native, self.hold, self.deleted = inner, native, hold, None
        self.name, self.poll_interval = inner.name, 0.5

    def submit(self, jobs, max_running=None):
        if self.deleted is None:
            first = JobSpec(jobs[0].name, jobs[0].script, jobs[0].workdir, jobs[0].queue, jobs[0].stdout,
                            extra=self.hold)
            ids = self.inner.submit([first]) + self.inner.submit(list(jobs[1:]))
            native_cancel(self.native, ids[0])
            self.deleted = ids[0]
            return ids
        return self.inner.submit(jobs, max_running)

    def __getattr__(self, attr):
        return getattr(self.inner, attr)


@pytest.mark.parametrize("name", ["sge", "drmaa", "slurm"])
def test_job_deleted_behind_the_driver_s_back_is_resubmitted(templates, name):
    """Grid Engine forgets a job deleted before it ran: LOST after 3 polls, resubmitted. Slurm keeps
    listing it as CANCELLED (for MinJobAge): resubmitted as a failure without an exit status."""
    label = templates()
    hold = ("--hold",) if name == "slurm" else ("-h",)
    executor = HoldAndDeleteFirst(make_executor(name), "slurm" if name == "slurm" else "sge", hold)
    try:
        code, out, rows, plan = run(label, executor)
    finally:
        executor.inner.close()
    assert code == 0, out
    faillog = (plan.workdir / "sht" / "faillog").read_text()
    assert "attempt 1" in faillog and "6400" in faillog
    assert ("cancelled" if name == "slurm" else "lost") in faillog
    assert rows[("sht", "6400")].attempt == 2 and [count(templates, "sht", d) for d in (6400, 6401, 6402)] == [1, 1, 1]


def test_slurm_job_forgotten_while_the_driver_was_down_is_lost_and_resubmitted(templates):
    """The ledger names a job id Slurm no longer knows (purged after MinJobAge while no driver ran, or
    a controller that lost its state) and no exit status exists: LOST after 3 polls, resubmitted."""
    label = templates()
    executor = make_executor("slurm")
    plan = make_plan(parse_params(["starttime=6400d", f"label={label}", "laststep=sht", "totaltime=1d", "lmax=10"]))
    from globalhs.pipeline.runner import parms_hash
    job = plan.steps[0].jobs[0]
    job.parms.parent.mkdir(parents=True, exist_ok=True)          # what the earlier driver had written
    job.parms.write_text(job.rendered.parms_text())
    with Ledger(plan.workdir) as ledger:
        ledger.submitted("sht", job.index, parms_hash(job), "slurm", "987654321", job.name)
    code, out, rows, plan = run(label, executor, "totaltime=1d")
    assert code == 0, out
    assert "lost" in (plan.workdir / "sht" / "faillog").read_text()
    assert count(templates, "sht", 6400) == 1 and rows[("sht", "6400")].state == "done"


DRIVER = """
import sys
from globalhs.executors import executor_class
from globalhs.pipeline.ledger import Ledger
from globalhs.pipeline.params import parse_params
from globalhs.pipeline.plan import make_plan
from globalhs.pipeline.progress import Reporter
from globalhs.pipeline.runner import Runner
from globalhs.pipeline.workdir import DriverLock

plan = make_plan(parse_params(sys.argv[2:]))
executor = executor_class(sys.argv[1])()
with DriverLock(plan.workdir), Ledger(plan.workdir) as ledger:
    runner = Runner(plan, executor, ledger, Reporter(), commit=lambda stage: None, poll_interval=0.5)
    sys.exit(runner.run())
"""


def accounted(name: str, label: str) -> list[str]:
    """Ids of finished jobs whose name ends in ``label``, from the batch system's own accounting
    (Slurm's job-completion log, Grid Engine's accounting file)."""
    if name == "slurm":
        log = CLUSTER_BASE / "slurm" / "log" / "jobcomp.log"
        out = []
        for line in log.read_text().splitlines() if log.exists() else []:
            f = dict(kv.split("=", 1) for kv in line.split() if "=" in kv)
            if f.get("Name", "").endswith(label):
                out.append(f"{f['ArrayJobId']}_{f['ArrayTaskId']}" if "ArrayJobId" in f else f["JobId"])
        return out
    acct = Path(os.environ.get("SGE_ROOT", "/var/lib/gridengine"), os.environ.get("SGE_CELL", "default"),
                "common", "accounting")
    return [f"{f[5]}.{f[35]}" for f in (line.split(":") for line in acct.read_text().splitlines())
            if len(f) > 35 and f[4].endswith(label)]


@pytest.mark.parametrize("name", ["slurm", "sge"])
def test_driver_killed_mid_step_and_rerun_submits_no_job_twice(templates, name, tmp_path):
    label = templates("sleep=4 stage=0")
    make_executor(name).close()                                   # skip unless the system answers
    args = ["starttime=6400d", "totaltime=4d", f"label={label}", "firststep=shtcheck", "laststep=shtcheck",
            "lmax=10", f"topdir={tmp_path / 'top'}"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, name, *args], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workdir = make_plan(parse_params(args)).workdir

    def submitted():
        if not (workdir / "ledger.sqlite").exists():
            return 0
        db = sqlite3.connect(workdir / "ledger.sqlite")
        try:
            return db.execute("SELECT count(*) FROM jobs WHERE state='submitted'").fetchone()[0] >= 4
        except sqlite3.OperationalError:
            return 0
        finally:
            db.close()

    try:
        wait_for(submitted, 60, what="the driver to submit its 4 jobs")
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    code = subprocess.run([sys.executable, "-c", DRIVER, name, *args], env=env, timeout=300,
                          capture_output=True, text=True)
    assert code.returncode == 0, code.stdout + code.stderr
    assert [count(templates, "shtcheck", d) for d in range(6400, 6404)] == [1, 1, 1, 1]
    ids = wait_for(lambda: (lambda a: a if len(a) >= 4 else None)(accounted(name, label)), 30,
                   what="4 accounting records")
    assert len(ids) == 4 and len(set(ids)) == 4, ids             # 4 jobs ran, none twice


@pytest.mark.parametrize("name", ["slurm", "sge"])
def test_threshold_is_never_exceeded_on_the_real_queue(templates, name):
    """v2tjobsthreshold=2 with 6 jobs: sampling the real queue every 0.2 s never shows more than 2
    ``subt`` jobs of this run (count by the batch system's own listing)."""
    label = templates("sleep=2")
    executor = make_executor(name)
    samples: list[int] = []
    stop = threading.Event()
    watcher = make_executor(name)

    def sample():
        while not stop.is_set():
            samples.append(sum(1 for s in watcher.find("subt").values()
                               if s.name.endswith(label) and s.state in (JobState.PENDING, JobState.RUNNING)))
            time.sleep(0.2)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        code, out, rows, plan = run(label, executor, "totaltime=6d", "v2tjobsthreshold=2")
    finally:
        stop.set()
        thread.join()
        executor.close()
    assert code == 0, out
    assert max(samples) == 2 and len(samples) > 10, samples


@pytest.mark.parametrize("name", ["sge"])
def test_timeout_is_resubmitted_with_more_time(templates, name, tmp_path, monkeypatch):
    """h_rt 4 s kills the first attempt (a 6 s sleep): Grid Engine's accounting says TIMEOUT;
    the site config allows doubling, so the job is resubmitted with 8 s, without using a retry.
    (Slurm's time limits are whole minutes: the same test there would take minutes.)"""
    import globalhs.pipeline.runner as runner_module

    if not hasattr(runner_module, "CLASSED"):
        pytest.skip("the runner here does not apply the failure classes of globalhs.executors.policy yet")
    config = tmp_path / "site.toml"
    config.write_text('[batch.step.sht]\ntime = "4s"\n[batch.escalate]\ntime_factor = 2\nmax_time = "1m"\n')
    monkeypatch.setenv("GLOBALHS_CONFIG", str(config))
    label = templates("sleep=6")
    executor = make_executor(name)
    try:
        code, out, rows, plan = run(label, executor, "totaltime=1d", retries=0)
    finally:
        executor.close()
    assert code == 0, out
    assert "timeout: resubmitted with time 4 s -> 8 s" in out
    assert count(templates, "sht", 6400) == 2 and rows[("sht", "6400")].attempt == 2


@pytest.mark.parametrize("name", EXECUTORS)
def test_real_sht_step_gives_the_local_executor_s_records(tmp_path, monkeypatch, name):
    """12 hours of the synthetic Sun (64 px, l <= 10), the sht step (module jv2ts, 2 jobs of 6 h)
    run on the local executor, then on the batch system (--force, its own work directory): both
    runs commit records with the same keywords and bit-identical data."""
    import numpy as np

    from globalhs.drms import open_store
    from globalhs.science.synthsun import ObservationConfig
    from globalhs.synthetic.generate import default_modes_path, generate
    from globalhs.time import DAY, parse_time_or_day

    make_executor(name).close()                          # skip (or fail, when asked) unless it answers
    if not default_modes_path().exists():
        pytest.skip(f"reference mode table {default_modes_path()} is absent (GLOBALHS_REFDATA)")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    generate(parse_time_or_day("6400d"), 0.5 * DAY, lmax=10, config=ObservationConfig(size=64, seed=1))
    args = ["starttime=6400d", "totaltime=12h", "timechunk1=6h", "label=synth", "lmax=10", "laststep=sht"]

    def records():
        store = open_store()
        # DATE is when the record was written: the one keyword that must differ between the runs
        return [(rec.prime, {k: v for k, v in rec.keywords.items() if k != "DATE"},
                 {seg.name: rec.read(seg.name) for seg in store.series("synth.V_sht").segments})
                for rec in store.query("synth.V_sht[6400d/12h]")]

    results = {}
    for which in ("local", name):
        executor = LocalExecutor(slots=2) if which == "local" else make_executor(name)
        plan = make_plan(parse_params([*args, f"topdir={tmp_path / which}"]))
        out = io.StringIO()
        try:
            with Ledger(plan.workdir) as ledger:
                code = Runner(plan, executor, ledger, Reporter(stream=out), force=True, poll_interval=0.5).run()
        finally:
            executor.close()
        assert code == 0, out.getvalue()
        results[which] = records()
    local, got = results["local"], results[name]
    assert len(local) >= 2 and [p for p, _, _ in got] == [p for p, _, _ in local]
    for (_, kw, segs), (_, kw0, segs0) in zip(got, local):
        assert kw == kw0
        assert segs.keys() == segs0.keys()
        for seg in segs0:
            assert np.array_equal(segs[seg], segs0[seg], equal_nan=True), seg
