"""The runner on the local executor with the testjob fault injector (and a fake batch system)."""

from __future__ import annotations

import io
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from globalhs.cli import main
from globalhs.executors.base import BatchError, JobSpec, JobState, JobStatus
from globalhs.executors.local import LocalExecutor
from globalhs.pipeline.ledger import Ledger
from globalhs.pipeline.params import parse_params
from globalhs.pipeline.plan import job_environment, make_plan
from globalhs.pipeline.progress import Reporter
from globalhs.pipeline.runner import Runner
from globalhs.pipeline.workdir import DriverLock

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A template directory for the test label 't' and a directory for testjob's counters."""
    templates = tmp_path / "templates"
    templates.mkdir()
    counters = tmp_path / "counters"
    counters.mkdir()
    monkeypatch.setenv("GLOBALHS_TEMPLATES", str(templates))
    return templates, counters


def _template(site, desc: str, body: str = "") -> None:
    templates, counters = site
    (templates / f"{desc}.parms.t").write_text(
        f"##module=testjob\ncounter={counters}/{{{{step}}}}.{{{{index}}}}\ntag=XXXX\n{body}\n")


def _count(site, step, index) -> int:
    path = site[1] / f"{step}.{index}"
    return int(path.read_text()) if path.exists() else 0


class Commits:
    """Records each commit_stage call and what the staged file said."""

    def __init__(self):
        self.staged: list[tuple[str, str]] = []

    def __call__(self, stage: Path) -> None:
        self.staged.append((stage.name, (stage / "testjob.out").read_text()))


def _run(*args, executor=None, retries=1, force=False, commits=None):
    named = {a.split("=", 1)[0] for a in args}
    base = [a for a in ("starttime=6400d", "label=t", "laststep=sht") if a.split("=", 1)[0] not in named]
    plan = make_plan(parse_params([*base, *args]))
    out = io.StringIO()
    with Ledger(plan.workdir) as ledger:
        runner = Runner(plan, executor or LocalExecutor(slots=2), ledger, Reporter(stream=out),
                        retries=retries, force=force, commit=commits or Commits(), poll_interval=0.05)
        code = runner.run()
        rows = {(r.step, r.chunk): r for r in ledger.rows()}
    return code, out.getvalue(), rows, plan


def test_all_succeed_commit_and_skipped_steps(site):
    _template(site, "v2t")
    commits = Commits()
    code, out, rows, plan = _run("totaltime=3d", "laststep=retilen", commits=commits)
    assert code == 0, out
    assert "step sht: successful completion" in out
    assert "step shtcheck: successful completion" in out
    assert "step retilen skipped: no template retn.parms.t" in out
    assert out.rstrip().endswith("globalhs run successful completion")
    # sht writes records (3 commits); shtcheck runs the same module and its stages are committed too
    assert sorted(commits.staged) == sorted(
        [(f"stage.{d}", f"attempt=1 tag=2010.07.{d - 6389}_00:00:00_TAI/1d\n") for d in (6400, 6401, 6402)] * 2)
    assert {r.state for r in rows.values()} == {"done"} and len(rows) == 6
    assert all(r.attempt == 1 and r.exit_status == 0 and r.executor == "local" for r in rows.values())
    sht = plan.workdir / "sht"
    assert (sht / "v2t.log.6400").read_text().strip() == "module testjob successful completion"
    assert (sht / "testjob.exitstatus.6401").read_text() == "0\n"
    assert not (sht / "faillog").exists()


def test_fail_once_is_resubmitted_and_the_run_succeeds(site):
    _template(site, "v2t", '{% if index == "6401" %}fail=1{% endif %}')
    code, out, rows, plan = _run("totaltime=3d")
    assert code == 0, out
    assert [_count(site, "sht", d) for d in (6400, 6401, 6402)] == [1, 2, 1]
    faillog = (plan.workdir / "sht" / "faillog").read_text().splitlines()
    assert len(faillog) == 1 and "subt.6400.6401.0-300t v2t.parms.6401 attempt 1: exit status 1" in faillog[0]
    assert "injected failure" in faillog[0]
    assert rows[("sht", "6401")].attempt == 2 and rows[("sht", "6401")].state == "done"


def test_fail_twice_aborts_with_exit_1_and_the_resume_command(site):
    _template(site, "v2t", '{% if index == "6401" %}fail=2{% endif %}')
    code, out, rows, plan = _run("totaltime=3d", "lmax=40")
    assert code == 1
    assert "step sht failed: 1 job(s) failed 2 time(s):" in out
    assert "subt.6400.6401.0-40t (v2t.parms.6401): exit status 1" in out
    assert ("to resume after fixing the cause: globalhs run starttime=6400d label=t laststep=sht "
            "totaltime=3d lmax=40 firststep=sht") in out
    assert len((plan.workdir / "sht" / "faillog").read_text().splitlines()) == 2
    assert rows[("sht", "6401")].state == "failed" and rows[("sht", "6401")].exit_status == 1
    assert rows[("sht", "6400")].state == "done"
    assert _count(site, "sht", 6401) == 2


def test_retries_option(site):
    _template(site, "v2t", "fail=2")
    assert _run("totaltime=1d", retries=2)[0] == 0
    assert _run("starttime=6500d", "totaltime=1d", retries=0)[0] == 1   # fresh counter


def test_job_killed_by_signal_is_detected_and_resubmitted(site):
    # attempt 1 kills its whole process group with SIGKILL: no exit-status file is ever written
    _template(site, "v2t", '{% if index == "6400" %}dies=1 group=1{% endif %}')
    code, out, rows, plan = _run("totaltime=2d")
    assert code == 0, out
    assert _count(site, "sht", 6400) == 2
    assert "killed by SIGKILL" in (plan.workdir / "sht" / "faillog").read_text()


def test_kill_9_from_outside_is_detected_and_resubmitted(site, tmp_path):
    pidfile = tmp_path / "job.pid"
    _template(site, "v2t", f'{{% if index == "6400" %}}sleep=1.5 pidfile={pidfile}{{% endif %}}')

    class Killer(LocalExecutor):
        """Kills the module process with SIGKILL the first time it is seen running."""
        killed = False

        def poll(self, job_ids):
            if not self.killed and pidfile.exists() and pidfile.read_text().strip():
                os.kill(int(pidfile.read_text()), signal.SIGKILL)
                self.killed = True
            return super().poll(job_ids)

    executor = Killer(slots=2)
    code, out, rows, plan = _run("totaltime=2d", executor=executor)
    assert executor.killed and code == 0, out
    assert _count(site, "sht", 6400) == 2
    assert "attempt 1: exit status 137" in (plan.workdir / "sht" / "faillog").read_text()


def test_missing_staged_outputs_fail_verification(site):
    _template(site, "v2t", "stage=0")
    code, out, rows, plan = _run("totaltime=1d", retries=0)
    assert code == 1 and "no staged outputs in stage.6400" in out


def test_rerun_skips_verified_chunks_and_force_redoes(site):
    _template(site, "v2t", '{% if index == "6401" %}fail=2{% endif %}')
    assert _run("totaltime=3d")[0] == 1
    code, out, rows, _ = _run("totaltime=3d")                      # 6401 fails once more, then passes
    assert code == 0, out
    assert "step sht: 2 chunk(s) already verified, skipped" in out
    assert [_count(site, "sht", d) for d in (6400, 6401, 6402)] == [1, 3, 1]
    code, out, _, _ = _run("totaltime=3d", force=True)
    assert code == 0 and [_count(site, "sht", d) for d in (6400, 6401, 6402)] == [2, 4, 2]
    _template(site, "v2t", "tag=changed")                          # a changed template redoes all
    assert _run("totaltime=3d")[0] == 0
    assert [_count(site, "sht", d) for d in (6400, 6401, 6402)] == [3, 5, 3]


DRIVER = """
import sys
from pathlib import Path
from globalhs.executors.local import LocalExecutor
from globalhs.pipeline.ledger import Ledger
from globalhs.pipeline.params import parse_params
from globalhs.pipeline.plan import make_plan
from globalhs.pipeline.progress import Reporter
from globalhs.pipeline.runner import Runner
from globalhs.pipeline.workdir import DriverLock

plan = make_plan(parse_params(sys.argv[1:]))
with DriverLock(plan.workdir), Ledger(plan.workdir) as ledger:
    runner = Runner(plan, LocalExecutor(slots=2), ledger, Reporter(), commit=lambda stage: None,
                    poll_interval=0.05)
    sys.exit(runner.run())
"""


def _done_rows(workdir: Path) -> int:
    if not (workdir / "ledger.sqlite").exists():
        return 0
    db = sqlite3.connect(workdir / "ledger.sqlite")
    try:
        return db.execute("SELECT count(*) FROM jobs WHERE state='done'").fetchone()[0]
    except sqlite3.OperationalError:         # created, schema not yet written
        return 0
    finally:
        db.close()


def test_driver_killed_then_rerun_skips_verified_chunks(site, tmp_path):
    _template(site, "v2t", '{% if index == "6403" %}sleep=2{% endif %}')
    args = ["starttime=6400d", "totaltime=4d", "label=t", "laststep=sht"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    driver = subprocess.Popen([sys.executable, "-c", DRIVER, *args], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    workdir = make_plan(parse_params(args)).workdir
    deadline = time.time() + 20
    done = 0
    try:
        while time.time() < deadline and done < 3:
            time.sleep(0.05)
            done = _done_rows(workdir)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.wait()
    assert done == 3
    code, out, rows, _ = _run("totaltime=4d")
    assert code == 0, out
    assert "step sht: 3 chunk(s) already verified, skipped" in out
    assert [_count(site, "sht", d) for d in (6400, 6401, 6402, 6403)] == [1, 1, 1, 1]
    assert rows[("sht", "6403")].state == "done"


def test_second_driver_on_the_same_workdir_is_refused(site):
    _template(site, "v2t")
    args = ["starttime=6400d", "totaltime=1d", "label=t", "laststep=sht"]
    workdir = make_plan(parse_params(args)).workdir
    with DriverLock(workdir):
        result = CliRunner().invoke(main, ["run", *args, "-q"])
    assert result.exit_code == 1
    assert "another globalhs run (pid" in result.output and str(workdir) in result.output
    assert _count(site, "sht", 6400) == 0


class Throttled(LocalExecutor):
    """Records how many jobs of the kind were queued after each submission."""

    def __init__(self):
        super().__init__(slots=4)
        self.after_submit: list[int] = []

    def submit(self, jobs, max_running=None):
        ids = super().submit(jobs, max_running)
        self.after_submit.append(self.count_queued("subt"))
        return ids


def test_threshold_throttles_submission(site):
    _template(site, "v2t", "sleep=0.2")
    executor = Throttled()
    code, out, rows, _ = _run("totaltime=5d", "v2tjobsthreshold=2", executor=executor)
    assert code == 0, out
    assert max(executor.after_submit) <= 2 and len(executor.after_submit) >= 3
    # each job was seen running: the ledger splits queue wait from run time
    assert all(r.submitted <= r.started <= r.finished for r in rows.values())


def test_ctrl_c_cancels_all_jobs_in_one_call(site):
    _template(site, "v2t", "sleep=30")

    class Interrupted(LocalExecutor):
        polls = 0
        cancels: list[list[str]] = []

        def poll(self, job_ids):
            self.polls += 1
            if self.polls == 3:
                raise KeyboardInterrupt
            return super().poll(job_ids)

        def cancel(self, job_ids):
            self.cancels.append(list(job_ids))
            super().cancel(job_ids)

    executor = Interrupted(slots=4)
    t0 = time.time()
    with pytest.raises(KeyboardInterrupt):
        _run("totaltime=3d", executor=executor)
    assert time.time() - t0 < 10
    assert len(executor.cancels) == 1 and len(executor.cancels[0]) == 3
    assert {s.state for s in super(Interrupted, executor).poll(executor.cancels[0]).values()} == \
        {JobState.CANCELLED}
    plan = make_plan(parse_params(["starttime=6400d", "totaltime=3d", "label=t", "laststep=sht"]))
    with Ledger(plan.workdir) as ledger:
        assert {r.state for r in ledger.rows()} == {"cancelled"}


class Forgetful:
    """A batch system that accepts jobs and then never knows them (they never run)."""

    name = "fake"

    def __init__(self):
        self.polls = 0

    def submit(self, jobs, max_running=None):
        return [f"id{i}" for i, _ in enumerate(jobs)]

    def poll(self, job_ids):
        self.polls += 1
        return {j: JobStatus(JobState.UNKNOWN) for j in job_ids}

    def cancel(self, job_ids):
        pass

    def count_queued(self, name_prefix):
        return 0

    def close(self):
        pass


def test_unknown_without_exit_status_is_lost_after_3_polls(site, tmp_path, monkeypatch):
    # LOST is not the job's fault: resubmitted without using a retry, up to the run's cap
    # (site config batch.limits.max_resubmits, here 2): 3 attempts of 3 polls each, then the run stops
    config = tmp_path / "site.toml"
    config.write_text("[batch.limits]\nmax_resubmits = 2\n")
    monkeypatch.setenv("GLOBALHS_CONFIG", str(config))
    _template(site, "v2t")
    executor = Forgetful()
    code, out, rows, _ = _run("totaltime=1d", executor=executor, retries=0)
    assert code == 1 and executor.polls == 9
    assert out.count("lost: resubmitted (not counted as a retry)") == 2
    assert "lost: the executor no longer knows the job (unknown) and it wrote no exit status after 3 polls" \
        in out
    assert rows[("sht", "6400")].executor == "fake" and rows[("sht", "6400")].job_id == "id0"


def test_cli_run_and_status(site):
    _template(site, "v2t", "stage=0")
    args = ["starttime=6400d", "totaltime=2d", "label=t", "firststep=shtcheck", "laststep=shtcheck"]
    result = CliRunner().invoke(main, ["run", *args, "-q"])
    assert result.exit_code == 0, result.output
    assert "step shtcheck: successful completion" in result.output
    status = CliRunner().invoke(main, ["status", *args])
    assert status.exit_code == 0, status.output
    line = next(x for x in status.output.splitlines() if x.startswith("shtcheck"))
    assert line.split()[:4] == ["shtcheck", "done", "2", "2"]
    assert "driver running" not in status.output
    with DriverLock(make_plan(parse_params(args)).workdir):
        busy = CliRunner().invoke(main, ["status", *args])
    assert f"driver running: pid {os.getpid()}" in busy.output
    missing = CliRunner().invoke(main, ["status", "starttime=6400d", "totaltime=9d", "label=t"])
    assert missing.exit_code == 1 and "no run recorded" in missing.output
    nothing = CliRunner().invoke(main, ["cancel", "starttime=6400d", "totaltime=9d", "label=t"])
    assert nothing.exit_code == 1 and "no run recorded" in nothing.output


def _start_cli_driver(args):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "globalhs", "run", *args, "-q"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _wait_for_running(site, workdir, n, timeout=90):   # generous: a loaded CI machine starts Python slowly
    deadline = time.time() + timeout
    while time.time() < deadline:
        pids = [p for p in site[1].glob("pid.*") if p.read_text().strip()]
        if len(pids) >= n:
            return [int(p.read_text()) for p in pids]
        time.sleep(0.05)
    raise AssertionError("jobs did not start")


def _gone(pid: int) -> bool:
    stat = Path(f"/proc/{pid}/stat")
    if not stat.exists():
        return True
    text = stat.read_text()
    return text[text.rfind(")") + 2] == "Z"


@pytest.mark.parametrize("driver_alive", [True, False])
def test_cancel_command(site, driver_alive):
    _template(site, "v2t", f"stage=0 sleep=30 pidfile={site[1]}/pid.{{{{index}}}}")
    args = ["starttime=6400d", "totaltime=2d", "label=t", "firststep=shtcheck", "laststep=shtcheck"]
    workdir = make_plan(parse_params(args)).workdir
    driver = _start_cli_driver(args)
    try:
        pids = _wait_for_running(site, workdir, 2)
        if not driver_alive:
            driver.send_signal(signal.SIGKILL)
            driver.wait()
        result = CliRunner().invoke(main, ["cancel", *args])
        assert result.exit_code == 0, result.output
        output, _ = driver.communicate(timeout=20)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.wait()
    if driver_alive:
        assert "asked the driver" in result.output
        assert driver.returncode == 130 and "interrupted; the run's jobs were cancelled" in output
        assert "globalhs run starttime=6400d totaltime=2d label=t firststep=shtcheck" in output
    else:
        assert "cancelled 2 job(s)" in result.output
    deadline = time.time() + 5
    while not all(_gone(p) for p in pids) and time.time() < deadline:
        time.sleep(0.05)
    assert all(_gone(p) for p in pids)
    with Ledger(workdir) as ledger:
        assert {r.state for r in ledger.rows()} == {"cancelled"}


class Flaky(LocalExecutor):
    """poll fails the first ``errors`` times with a BatchError."""

    def __init__(self, errors, transient):
        super().__init__(slots=2)
        self.errors, self.transient, self.calls = errors, transient, 0

    def poll(self, job_ids):
        self.calls += 1
        if self.calls <= self.errors:
            raise BatchError("squeue: slurm_load_jobs error: Socket timed out", transient=self.transient)
        return super().poll(job_ids)


def test_transient_batch_errors_are_retried(site):
    _template(site, "v2t")
    code, out, rows, _ = _run("totaltime=2d", executor=Flaky(2, transient=True))
    assert code == 0, out
    assert out.count("batch system error (will retry): squeue: slurm_load_jobs error") == 2


def test_permanent_batch_error_stops_the_run_leaving_jobs_submitted(site):
    _template(site, "v2t")
    first = Flaky(1, transient=False)
    with pytest.raises(BatchError, match="Socket timed out"):
        _run("totaltime=2d", executor=first)
    code, out, rows, _ = _run("totaltime=2d")           # the rerun adopts or resolves them
    assert code == 0, out
    assert [_count(site, "sht", d) for d in (6400, 6401)] == [1, 1]
    assert all(s.state is JobState.COMPLETED for s in LocalExecutor.poll(first, list(first._jobs)).values())


def test_unknown_module_in_template_exits_2(site):
    site[0].joinpath("v2t.parms.t").write_text("##module=nosuch\na=1\n")
    result = CliRunner().invoke(main, ["run", "starttime=6400d", "totaltime=1d", "label=t", "--dry-run"])
    assert result.exit_code == 2 and "##module=nosuch is not a module" in result.output


class Sluggish(Forgetful):
    """Jobs stay running for 8 polls, then are forgotten."""

    poll_interval, poll_interval_max = 0.01, 0.05

    def poll(self, job_ids):
        self.polls += 1
        state = JobState.RUNNING if self.polls <= 8 else JobState.UNKNOWN
        return {j: JobStatus(state) for j in job_ids}


def test_poll_interval_grows_while_nothing_changes(site, monkeypatch):
    _template(site, "v2t")
    plan = make_plan(parse_params(["starttime=6400d", "totaltime=1d", "label=t", "laststep=sht"]))
    pauses: list[float] = []
    monkeypatch.setattr("globalhs.pipeline.runner.time.sleep", pauses.append)
    with Ledger(plan.workdir) as ledger:
        code = Runner(plan, Sluggish(), ledger, Reporter(stream=io.StringIO()), retries=0,
                      commit=Commits()).run()
    assert code == 1
    # first poll after the submission; then x1.5 per unchanged poll up to poll_interval_max
    assert pauses[:6] == pytest.approx([0.01, 0.01, 0.015, 0.0225, 0.03375, 0.05])
    assert max(pauses) == 0.05


def test_real_store_commit_only_verified_attempts(site):
    """Through the CLI and the real store: a failed attempt's staged record never reaches the store."""
    from globalhs.drms import open_store

    _template(site, "v2t", 'series=test.jobs chunk={{index}} {% if index == "6401" %}fail=1{% endif %}')
    args = ["starttime=6400d", "totaltime=3d", "label=t", "laststep=sht"]
    result = CliRunner().invoke(main, ["run", *args, "-q"])
    assert result.exit_code == 0, result.output
    store = open_store()
    try:
        records = store.query("test.jobs[6400-6402]")
        assert [(r.keywords["CHUNK"], r.keywords["ATTEMPT"]) for r in records] == [(6400, 1), (6401, 2), (6402, 1)]
        assert records[1].read("data").tolist() == [6401.0, 6402.0, 6403.0, 6404.0]
        assert records[0].keywords["TAG"] == "2010.07.11_00:00:00_TAI/1d"
    finally:
        store.close()
    # a rerun skips every chunk: nothing is staged or committed twice
    again = CliRunner().invoke(main, ["run", *args, "-q"])
    assert again.exit_code == 0 and "3 chunk(s) already verified, skipped" in again.output
    assert [_count(site, "sht", d) for d in (6400, 6401, 6402)] == [1, 2, 1]


def test_a_stage_without_records_fails_a_writing_step(site):
    _template(site, "v2t")                    # testjob stages a plain file, not a record
    result = CliRunner().invoke(main, ["run", "starttime=6400d", "totaltime=1d", "label=t", "laststep=sht",
                                       "-q", "--retries=0"])
    assert result.exit_code == 1
    assert "stage.6400 held no records to commit" in result.output


def test_ledger_written_before_start_times_is_upgraded(tmp_path):
    db = sqlite3.connect(tmp_path / "ledger.sqlite")
    db.execute("CREATE TABLE jobs (step TEXT NOT NULL, chunk TEXT NOT NULL, parms_hash TEXT NOT NULL, "
               "attempt INTEGER NOT NULL DEFAULT 0, executor TEXT, job_id TEXT, name TEXT, state TEXT NOT NULL, "
               "exit_status INTEGER, reason TEXT NOT NULL DEFAULT '', submitted REAL, finished REAL, "
               "PRIMARY KEY (step, chunk))")
    db.execute("INSERT INTO jobs VALUES ('sht','6400','h',1,'local','x','n','done',0,'',1.0,2.0)")
    db.commit()
    db.close()
    with Ledger(tmp_path) as ledger:
        [row] = ledger.rows()
        assert (row.state, row.submitted, row.finished, row.started) == ("done", 1.0, 2.0, None)
        ledger.submitted("sht", "6401", "h", "local", "y", "m")
        ledger.started([("sht", "6401")], 5.0)
        assert ledger.get("sht", "6401").started == 5.0


def test_module_arguments_checked_before_anything_runs(site):
    _template(site, "v2t", "bogus=1 fail=often")
    args = ["run", "starttime=6400d", "totaltime=2d", "label=t", "laststep=sht"]
    result = CliRunner().invoke(main, [*args, "-q"])
    assert result.exit_code == 2, result.output
    assert "nothing started" in result.output
    assert "step sht, v2t.parms.6400" in result.output and "unknown argument 'bogus'" in result.output
    assert "argument fail='often': expected int" in result.output
    assert "v2t.parms.6401" not in result.output                      # the same problem once per step
    assert _count(site, "sht", 6400) == 0
    dry = CliRunner().invoke(main, [*args, "--dry-run"])
    assert dry.exit_code == 0 and "warning: step sht, v2t.parms.6400" in dry.output


def test_force_cancels_jobs_an_earlier_driver_left_running(site, tmp_path):
    _template(site, "v2t", f"sleep=30 pidfile={site[1]}/pid.{{{{index}}}}")
    plan = make_plan(parse_params(["starttime=6400d", "totaltime=1d", "label=t", "laststep=sht"]))
    old = LocalExecutor()
    job = plan.steps[0].jobs[0]
    plan.steps[0].stepdir.mkdir(parents=True)
    job.parms.write_text(job.rendered.parms_text())
    job.script.write_text(job.script_text(job_environment()))
    [old_id] = old.submit([JobSpec(job.name, job.script, job.stepdir)])
    with Ledger(plan.workdir) as ledger:
        from globalhs.pipeline.runner import parms_hash
        ledger.submitted("sht", job.index, parms_hash(job), "local", old_id, job.name)
    try:
        _wait_for_running(site, plan.workdir, 1)
        _template(site, "v2t")                                           # now a quick job
        code, out, rows, _ = _run("totaltime=1d", force=True)
        assert code == 0, out
        assert "cancelling 1 job(s) of an earlier run" in out
        assert old.poll([old_id])[old_id].state is JobState.FAILED      # killed by the new driver
    finally:
        old.cancel([old_id])                                             # no stray job if this fails
    assert _count(site, "sht", 6400) == 2
