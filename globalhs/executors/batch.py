"""What every command-line batch executor shares: arrays, the task list, rate limit, one-command calls.

A subclass (Slurm, Grid Engine) supplies pure functions that build its commands and parse their
output, plus the name of the environment variable holding an array task's index. This base

- groups the jobs of one ``submit`` call into arrays (jobs with the same working directory, queue,
  limits and options; at most the site's ``max_array_size`` tasks each), writes the array's task list
  (one ``script<TAB>stdout`` line per task) and a small wrapper that runs line N for task N;
- names an array by what its jobs' names share (:mod:`globalhs.executors.naming`);
- holds submissions to the site's ``submit_rate``;
- on a failure part-way through several arrays, raises :class:`PartialSubmitError` carrying the ids of
  the jobs already submitted, so the caller can record them rather than submit them twice.
"""

from __future__ import annotations

import getpass
import hashlib
import os
import shlex
from pathlib import Path
from typing import Sequence

from globalhs.atomic import atomic_write
from globalhs.executors.base import BatchError, JobSpec, JobState, JobStatus
from globalhs.executors.command import CommandRunner, RateLimiter
from globalhs.executors.naming import array_name, legal_name
from globalhs.executors.site import SiteConfig

ACTIVE_FOR_COUNT = frozenset({JobState.PENDING, JobState.RUNNING})


class PartialSubmitError(BatchError):
    """Submission failed after the first ``len(ids)`` jobs were submitted (their ids are in ``ids``)."""

    def __init__(self, message: str, ids: list[str], *, transient: bool = False):
        super().__init__(message, transient=transient)
        self.ids = ids


def _group_key(job: JobSpec):
    return (str(job.workdir), job.queue, job.time_limit_s, job.memory_mb, tuple(job.extra))


def plan_arrays(jobs: Sequence[JobSpec], max_array_size: int, use_arrays: bool = True) -> list[list[int]]:
    """Indices of ``jobs`` grouped into submissions, in submission order (pure; no I/O).

    Consecutive jobs with the same working directory, queue, limits and options form one array of
    at most ``max_array_size`` tasks; a group of one is submitted as a single job.
    """
    if not use_arrays:
        return [[i] for i in range(len(jobs))]
    groups: list[list[int]] = []
    for i, job in enumerate(jobs):
        if groups and _group_key(jobs[groups[-1][0]]) == _group_key(job) and len(groups[-1]) < max_array_size:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def write_task_list(jobs: Sequence[JobSpec], task_var: str, first_task: int) -> Path:
    """Write the array's task list and wrapper into the jobs' working directory; return the wrapper.

    Task ``first_task + k`` runs ``jobs[k].script`` with its output appended to ``jobs[k].stdout``.
    Files are named after a hash of the scripts, so resubmitting the same jobs reuses the same files.
    """
    workdir = Path(jobs[0].workdir)
    # absolute paths without resolving links (os.path.abspath: no system call per path)
    lines = "".join(f"{os.path.abspath(j.script)}\t{os.path.abspath(j.stdout) if j.stdout else '/dev/null'}\n"
                    for j in jobs)
    for bad in ("\n", "\t"):
        if any(bad in str(j.script) or bad in str(j.stdout or "") for j in jobs):
            raise BatchError(f"job script or output path contains a {bad!r}: cannot be listed in an array task list")
    digest = hashlib.sha1(f"{task_var}\n{first_task}\n{lines}".encode()).hexdigest()[:12]
    listfile = workdir / f".globalhs-array.{digest}.list"
    wrapper = workdir / f".globalhs-array.{digest}.sh"
    atomic_write(listfile, lines, chmod=0o644)
    atomic_write(wrapper, (
        "#!/bin/sh\n"
        f"# globalhs array wrapper: task N runs line N-{first_task}+1 of the list (script<TAB>stdout)\n"
        f"line=$(sed -n \"$(( ${{{task_var}}} - {first_task} + 1 ))p\" {shlex.quote(str(listfile))})\n"
        "script=${line%%\t*}; out=${line#*\t}\n"
        "[ -n \"$script\" ] || { echo \"no task ${" + task_var + "} in " + shlex.quote(str(listfile)) + "\" >&2; exit 2; }\n"
        "if [ -x \"$script\" ]; then exec \"$script\" >>\"$out\" 2>&1; else exec /bin/sh \"$script\" >>\"$out\" 2>&1; fi\n"
    ), chmod=0o755)
    return wrapper


class BatchExecutor:
    """Base of the command-line executors; see the module docstring. Subclasses implement
    ``_submit_single``, ``_submit_array``, ``poll``, ``cancel`` and ``find``."""

    name = "batch"
    task_var = ""

    def __init__(self, site: SiteConfig | None = None, runner: CommandRunner | None = None,
                 user: str | None = None):
        self.site = site if site is not None else SiteConfig.load()
        self.runner = runner if runner is not None else CommandRunner()
        self.user = user or os.environ.get("USER") or getpass.getuser()
        self.rate = RateLimiter(self.site.submit_rate)
        # the runner pauses poll_interval between polls while jobs change, growing to poll_interval_max
        self.poll_interval = self.site.poll_interval
        self.poll_interval_max = self.site.poll_interval_max

    # --- submit ---------------------------------------------------------------------------------
    def max_array_size(self) -> int:
        return self.site.max_array_size

    def submit(self, jobs: Sequence[JobSpec], max_running: int | None = None) -> list[str]:
        """Submit ``jobs`` (arrays where they share everything but the script); one id per job."""
        for job in jobs:
            if not Path(job.workdir).is_dir():
                raise BatchError(f"job {job.name}: working directory {job.workdir} does not exist")
            if not Path(job.script).is_file():
                raise BatchError(f"job {job.name}: script {job.script} does not exist")
        ids: list[str] = []
        for group in plan_arrays(jobs, self.max_array_size(), self.site.use_arrays):
            members = [jobs[i] for i in group]
            self.rate.wait()
            try:
                if len(members) == 1:
                    ids.append(self._submit_single(members[0]))
                else:
                    ids.extend(self._submit_array(members, array_name([j.name for j in members]), max_running))
            except BatchError as exc:
                if not ids:
                    raise
                raise PartialSubmitError(f"{exc} (after submitting {len(ids)} of {len(jobs)} jobs)", ids,
                                         transient=exc.transient) from exc
        return ids

    def _submit_single(self, job: JobSpec) -> str:
        raise NotImplementedError

    def _submit_array(self, jobs: Sequence[JobSpec], name: str, max_running: int | None) -> list[str]:
        raise NotImplementedError

    # --- queries --------------------------------------------------------------------------------
    def find(self, name_prefix: str = "") -> dict[str, JobStatus]:
        """This user's jobs on the queue (pending or running) whose name starts with ``name_prefix``,
        with their names (one command). A restarted driver adopts from this what its ledger lacks."""
        raise NotImplementedError

    def count_queued(self, name_prefix: str) -> int:
        """This user's queued or running jobs (array tasks counted one by one) named ``name_prefix``*."""
        return sum(1 for s in self.find(name_prefix).values() if s.state in ACTIVE_FOR_COUNT)

    def close(self) -> None:
        """Nothing to release: the jobs keep running on the batch system."""


def job_name(job: JobSpec) -> str:
    return legal_name(job.name)
