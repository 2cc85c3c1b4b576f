"""The executor layer's shared parts: names, site config, command runner, arrays, failure policy."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from globalhs.executors.base import BatchError, JobSpec, JobState
from globalhs.executors.batch import plan_arrays, write_task_list
from globalhs.executors.command import Backoff, CommandRunner, RateLimiter
from globalhs.executors.naming import array_name, legal_name, name_matches
from globalhs.executors.policy import Action, AdaptiveInterval, decide
from globalhs.executors.site import SiteConfig, SiteConfigError, parse_memory

# --- names -----------------------------------------------------------------------------------------


def test_array_name_keeps_kind_prefix_and_label_suffix():
    names = [f"subt.6400.{i}.0-300mdivw72d" for i in range(6400, 6472)]
    name = array_name(names)
    assert name == "subt.6400.64~.0-300mdivw72d"
    assert all(name_matches(name, n) for n in names)
    assert not name_matches(name, "subt.6400.6400.0-300hmi72d")       # another label
    assert not name_matches(name, "subr.6400.6400.0-300mdivw72d")     # another kind
    assert array_name(["subt.1.0-3x"]) == "subt.1.0-3x" and name_matches("subt.1.0-3x", "subt.1.0-3x")


def test_legal_name():
    assert legal_name("subt.6400.6400.0-300mdivw72d") == "subt.6400.6400.0-300mdivw72d"
    assert legal_name("1bad name/x:y") == "j1bad_name_x_y"      # Grid Engine: no leading digit, no / : space


# --- site config -----------------------------------------------------------------------------------

SITE = """
[run]
topdir = "/scratch/helio"          # the driver's table: ignored here
[batch.default]
time = "1h"
memory = "2G"
extra.slurm = ["--account=helio"]
[batch.step.sht]
queue = "j.q"
time = "6h"
extra.slurm = ["--constraint=ssd"]
extra.sge = ["-l", "ssd=1"]
[batch.escalate]
time_factor = 2
memory_factor = 1.5
max_time = "8h"
max_memory = "4G"
[batch.limits]
submit_rate = 20
max_array_size = 500
max_resubmits = 3
poll_interval = 2
poll_interval_max = 30
"""


@pytest.fixture
def site(tmp_path, monkeypatch):
    path = tmp_path / "site.toml"
    path.write_text(SITE)
    monkeypatch.setenv("GLOBALHS_CONFIG", str(path))
    return SiteConfig.load()


def test_site_resources_per_step_and_executor(site, tmp_path):
    r = site.resources("sht", "slurm")
    assert (r.queue, r.time_s, r.memory_mb) == ("j.q", 21600, 2048)
    assert r.extra == ("--account=helio", "--constraint=ssd")
    assert site.resources("sht", "sge").extra == ("-l", "ssd=1")
    assert site.resources("pow", "slurm", queue="big").queue == "big"
    assert site.resources("pow", "slurm").time_s == 3600
    job = JobSpec("subt.x", tmp_path / "s", tmp_path, queue="")
    applied = site.apply(job, "sht", "slurm")
    assert applied.queue == "j.q" and applied.time_limit_s == 21600 and "--constraint=ssd" in applied.extra
    assert (site.submit_rate, site.max_array_size, site.max_resubmits, site.poll_interval) == (20, 500, 3, 2)


def test_site_escalation_up_to_the_maximum(site, tmp_path):
    job = JobSpec("subt.x", tmp_path / "s", tmp_path, time_limit_s=3 * 3600, memory_mb=2048)
    more = site.escalate(job, JobState.TIMEOUT)
    assert more.time_limit_s == 6 * 3600
    assert site.escalate(more, JobState.TIMEOUT).time_limit_s == 8 * 3600           # capped at max_time
    assert site.escalate(JobSpec("x", Path("s"), Path("."), time_limit_s=8 * 3600), JobState.TIMEOUT) is None
    assert site.escalate(job, JobState.OUT_OF_MEMORY).memory_mb == 3072
    assert site.escalate(job, JobState.FAILED) is None
    assert SiteConfig().escalate(job, JobState.TIMEOUT) is None                      # no [escalate]: never


@pytest.mark.parametrize("text, message", [
    ("[batch.default]\ntime = 'soon'\n", "batch.default.time = 'soon': expected a duration"),
    ("[batch.default]\nmemory = 'lots'\n", "batch.default.memory = 'lots': expected a memory size"),
    ("[batch.step.sht]\nqueu = 'j.q'\n", "batch.step.sht.queu = 'j.q': expected one of queue, time, memory, extra"),
    ("[batch.escalate]\ntime_factor = 0.5\n", "batch.escalate.time_factor = 0.5: expected a factor > 1"),
    ("[batch.limits]\nmax_array_size = 0\n", "batch.limits.max_array_size = 0: expected an integer >= 1"),
    ("[batch.defaults]\n", "batch.defaults = {}: expected one of the tables"),
    ("[batch.default\n", "not valid TOML"),
])
def test_site_config_errors_name_the_key(tmp_path, text, message):
    path = tmp_path / "site.toml"
    path.write_text(text)
    with pytest.raises(SiteConfigError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")) as exc:
        SiteConfig.load(path)
    assert str(path) in str(exc.value)


def test_site_config_missing_file(tmp_path, monkeypatch):
    with pytest.raises(SiteConfigError, match="cannot read"):
        SiteConfig.load(tmp_path / "nope.toml")
    monkeypatch.setenv("GLOBALHS_CONFIG", str(tmp_path / "absent.toml"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    if not Path("/etc/globalhs/config.toml").exists():
        assert SiteConfig.load() == SiteConfig()                 # no file anywhere: the defaults


def test_parse_memory():
    assert parse_memory("4G") == 4096 and parse_memory("512M") == 512 and parse_memory("1.5g") == 1536
    assert parse_memory("1T") == 1024 ** 2 and parse_memory(100) == 100 and parse_memory("2048K") == 2
    with pytest.raises(ValueError, match="expected a number"):
        parse_memory("4 gigs")


# --- command runner --------------------------------------------------------------------------------

def _fake(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return str(path)


def test_transient_errors_back_off_then_succeed(tmp_path):
    """A controller that times out twice, then answers: two pauses (1 s, 2 s), three calls, no error."""
    counter = tmp_path / "n"
    cmd = _fake(tmp_path, "sbatch", f"""n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}
if [ $n -lt 3 ]; then echo 'sbatch: error: Batch job submission failed: Socket timed out on send/recv operation' >&2; exit 1; fi
echo 4242\n""")
    pauses = []
    runner = CommandRunner(sleep=pauses.append)
    assert runner.run([cmd, "--parsable"]).stdout.strip() == "4242"
    assert pauses == [1.0, 2.0] and runner.counts["sbatch"] == 3


def test_transient_errors_give_up_after_the_attempts(tmp_path):
    cmd = _fake(tmp_path, "squeue", "echo 'squeue: error: Unable to contact slurm controller (connect failure)' >&2; exit 1\n")
    pauses = []
    runner = CommandRunner(sleep=pauses.append, backoff=Backoff(attempts=4, first=1, factor=3, cap=5))
    with pytest.raises(BatchError, match="still failing after 4 attempts") as exc:
        runner.run([cmd])
    assert exc.value.transient and pauses == [1, 3, 5]


def test_permanent_errors_fail_at_once_with_command_and_output(tmp_path):
    cmd = _fake(tmp_path, "sbatch", "echo 'sbatch: error: invalid partition specified: nosuch' >&2; exit 1\n")
    pauses = []
    with pytest.raises(BatchError, match=r"sbatch -p nosuch` exited 1: sbatch: error: invalid partition") as exc:
        CommandRunner(sleep=pauses.append).run([cmd, "-p", "nosuch"])
    assert not exc.value.transient and pauses == []


def test_hung_command_times_out_as_transient(tmp_path):
    cmd = _fake(tmp_path, "qstat", "sleep 5\n")
    runner = CommandRunner(timeout=0.3, backoff=Backoff(attempts=1))
    with pytest.raises(BatchError, match="did not answer within 0.3 s") as exc:
        runner.run([cmd])
    assert exc.value.transient


def test_missing_program_says_so():
    with pytest.raises(BatchError, match="not found: is this machine a submit host"):
        CommandRunner().run(["/nonexistent/sbatch"])


def test_rate_limiter_spaces_events():
    now = [0.0]
    slept = []

    def sleep(s):
        slept.append(s)
        now[0] += s

    rl = RateLimiter(4.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(5):
        rl.wait()
    assert slept == [0.25] * 4
    RateLimiter(None).wait()


# --- arrays ----------------------------------------------------------------------------------------

def test_plan_arrays_groups_compatible_neighbours(tmp_path):
    a = lambda **kw: JobSpec("n", tmp_path / "s", tmp_path, **kw)  # noqa: E731
    jobs = [a(), a(), a(queue="q"), a(queue="q"), a(), a(), a(), a()]
    assert plan_arrays(jobs, 3) == [[0, 1], [2, 3], [4, 5, 6], [7]]
    assert plan_arrays(jobs, 3, use_arrays=False) == [[i] for i in range(8)]


@pytest.mark.parametrize("task_var, first", [("SLURM_ARRAY_TASK_ID", 0), ("SGE_TASK_ID", 1),
                                             ("SGE_TASK_ID:-$SLURM_ARRAY_TASK_ID", 1)])
def test_array_wrapper_runs_the_task_s_own_script(tmp_path, task_var, first):
    jobs = []
    for k in range(3):
        script = tmp_path / f"job{k}.sh"
        script.write_text(f"#!/bin/sh\necho task {k} in $(pwd)\nexit {k}\n")
        script.chmod(0o755)
        jobs.append(JobSpec(f"subt.{k}", script, tmp_path, stdout=tmp_path / f"out{k}"))
    wrapper = write_task_list(jobs, task_var, first)
    env_name = task_var.split(":")[0]
    for k in range(3):
        env = {**os.environ, env_name: str(first + k)}
        rc = subprocess.run([str(wrapper)], env=env, cwd=tmp_path).returncode
        assert rc == k
        assert (tmp_path / f"out{k}").read_text() == f"task {k} in {tmp_path}\n"
    env = {**os.environ, env_name: str(first + 3)}
    res = subprocess.run([str(wrapper)], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert res.returncode == 2 and "no task" in res.stderr


# --- failure policy and poll interval ------------------------------------------------------------

def test_failure_classes(site, tmp_path):
    job = JobSpec("subt.x", tmp_path / "s", tmp_path, time_limit_s=3600, memory_mb=1024)
    kw = dict(retries=1, resubmits_used=0, site=site)
    assert decide(JobState.FAILED, job, retries_used=0, **kw).action is Action.RETRY
    assert decide(JobState.FAILED, job, retries_used=1, **kw).action is Action.FAIL
    d = decide(JobState.TIMEOUT, job, retries_used=1, **kw)
    assert d.action is Action.RESUBMIT and d.spec.time_limit_s == 7200
    d = decide(JobState.OUT_OF_MEMORY, job, retries_used=0, **kw)
    assert d.action is Action.RESUBMIT and d.spec.memory_mb == 1536
    at_max = JobSpec("subt.x", tmp_path / "s", tmp_path, time_limit_s=8 * 3600)
    assert decide(JobState.TIMEOUT, at_max, retries_used=0, **kw).action is Action.RETRY
    for state in (JobState.NODE_FAIL, JobState.PREEMPTED, JobState.UNKNOWN, JobState.CANCELLED):
        d = decide(state, job, retries_used=1, **kw)
        assert d.action is Action.RESUBMIT and d.spec == job
        capped = decide(state, job, retries_used=0, retries=1, resubmits_used=3, site=site)
        assert capped.action is Action.FAIL and "max_resubmits" in capped.why


def test_adaptive_interval():
    iv = AdaptiveInterval(5, 60, 2)
    assert [iv.next(False) for _ in range(5)] == [10, 20, 40, 60, 60]
    assert iv.next(True) == 5
    with pytest.raises(ValueError):
        AdaptiveInterval(10, 5)
