"""Slurm through its own commands: sbatch --parsable, squeue, sacct (where accounting exists), scancel.

Commands are built and parsed by pure functions (tested on captured output with no Slurm present);
:class:`SlurmExecutor` only strings them together. Per poll cycle: one ``squeue`` for every job (it
still lists jobs for MinJobAge seconds after they end), plus one ``sacct`` for the jobs squeue has
forgotten when the cluster keeps accounting — never one command per job. Without accounting a
forgotten job is UNKNOWN and the runner resolves it from the job's exit-status file.

Nothing beyond the Slurm client commands is needed (no DRMAA library).
"""

from __future__ import annotations

import shlex
from typing import Iterable, Sequence

from globalhs.executors.base import BatchError, JobSpec, JobState, JobStatus
from globalhs.executors.batch import BatchExecutor, job_name, write_task_list
from globalhs.executors.command import CommandResult

# Slurm's job state names (squeue %T / -O State, sacct State) -> ours.
STATES: dict[str, JobState] = {
    "PENDING": JobState.PENDING, "REQUEUED": JobState.PENDING, "REQUEUE_HOLD": JobState.PENDING,
    "REQUEUE_FED": JobState.PENDING, "RESV_DEL_HOLD": JobState.PENDING,
    "RUNNING": JobState.RUNNING, "CONFIGURING": JobState.RUNNING, "COMPLETING": JobState.RUNNING,
    "SUSPENDED": JobState.RUNNING, "STOPPED": JobState.RUNNING, "SIGNALING": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING, "RESIZING": JobState.RUNNING,
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED, "SPECIAL_EXIT": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED, "REVOKED": JobState.CANCELLED,
    "TIMEOUT": JobState.TIMEOUT, "DEADLINE": JobState.TIMEOUT,
    "OUT_OF_MEMORY": JobState.OUT_OF_MEMORY,
    "NODE_FAIL": JobState.NODE_FAIL, "BOOT_FAIL": JobState.NODE_FAIL,
    "PREEMPTED": JobState.PREEMPTED,
}
QUEUED_STATES = "PENDING,RUNNING,CONFIGURING,COMPLETING,SUSPENDED,REQUEUED,REQUEUE_HOLD,RESIZING,SIGNALING,STAGE_OUT"
SQUEUE_FORMAT = "JobArrayID:|,Name:|,State:|,Reason:|,exit_code:|"
INVALID_ID = "Invalid job id specified"


def state_of(word: str) -> JobState:
    """Slurm's state word (``CANCELLED by 0`` counts as CANCELLED) as a :class:`JobState`."""
    return STATES.get(word.split()[0].rstrip("+") if word.strip() else "", JobState.UNKNOWN)


def format_time(seconds: int) -> str:
    """Seconds as Slurm's ``H:MM:SS`` time limit (rounded up to whole seconds)."""
    s = int(-(-seconds // 1))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


def resource_options(job: JobSpec) -> list[str]:
    opts = []
    if job.queue:
        opts.append(f"--partition={job.queue}")
    if job.time_limit_s:
        opts.append(f"--time={format_time(job.time_limit_s)}")
    if job.memory_mb:
        opts.append(f"--mem={job.memory_mb}M")
    return opts + list(job.extra)


def sbatch_single(job: JobSpec) -> list[str]:
    """sbatch command for one job: the script runs in its working directory; output to ``stdout``."""
    out = str(job.stdout) if job.stdout else "/dev/null"
    return ["sbatch", "--parsable", f"--job-name={job_name(job)}", f"--chdir={job.workdir}",
            f"--output={out}", "--open-mode=append", *resource_options(job), "--wrap",
            f"exec {shlex.quote(str(job.script))}"]


def sbatch_array(jobs: Sequence[JobSpec], name: str, wrapper: str, max_running: int | None) -> list[str]:
    """sbatch command for an array of ``len(jobs)`` tasks 0..n-1, at most ``max_running`` at once."""
    spec = f"0-{len(jobs) - 1}" + (f"%{max_running}" if max_running else "")
    # the wrapper sends each task's output to its job's stdout; only the wrapper's own errors land here
    err = str(jobs[0].workdir) + "/.globalhs-array.err"
    return ["sbatch", "--parsable", f"--job-name={name}", f"--chdir={jobs[0].workdir}", f"--array={spec}",
            "--output=/dev/null", f"--error={err}", "--open-mode=append", *resource_options(jobs[0]), wrapper]


def parse_sbatch(stdout: str) -> str:
    """The job id from ``sbatch --parsable`` output (``123`` or ``123;cluster``)."""
    line = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    job_id = line.split(";")[0].strip()
    if not job_id.isdigit():
        raise BatchError(f"sbatch --parsable printed {stdout.strip()!r}; expected a job id")
    return job_id


def base_ids(job_ids: Iterable[str]) -> list[str]:
    """Distinct job ids with array task suffixes removed (``123_4`` -> ``123``), in first-seen order."""
    return list(dict.fromkeys(j.split("_")[0] for j in job_ids))


def squeue_command(job_ids: Sequence[str]) -> list[str]:
    """One squeue for all ``job_ids`` (array tasks expanded), finished ones included."""
    return ["squeue", "--noheader", "--array", "--states=all", f"--jobs={','.join(base_ids(job_ids))}",
            f"--Format={SQUEUE_FORMAT}"]


def squeue_user_command(user: str) -> list[str]:
    """One squeue for this user's queued and running jobs (array tasks expanded)."""
    return ["squeue", "--noheader", "--array", f"--user={user}", f"--states={QUEUED_STATES}",
            f"--Format={SQUEUE_FORMAT}"]


def squeue_accept(result: CommandResult) -> bool:
    """squeue exits 1 with "Invalid job id specified" when it knows none of the ids: a valid answer."""
    return result.returncode == 1 and INVALID_ID in result.stderr


def parse_squeue(text: str) -> dict[str, JobStatus]:
    """``JobArrayID|Name|State|Reason|exit_code|`` lines -> {id: status}. exit_code is the wait status."""
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.rstrip("\n").split("|")
        if len(parts) < 5:
            raise BatchError(f"unexpected squeue line {line!r}; expected JobArrayID|Name|State|Reason|exit_code|")
        # a name may itself contain '|': the fields after it are fixed, so count from the end
        fields = parts[:-1] if parts[-1] == "" else parts
        job_id, name, state, reason, raw = fields[0], "|".join(fields[1:-3]), fields[-3], fields[-2], fields[-1]
        exit_code = None
        if raw.strip().lstrip("-").isdigit():
            status = int(raw)
            exit_code = status >> 8 if status & 0x7F == 0 else 128 + (status & 0x7F)
        st = state_of(state)
        out[job_id] = JobStatus(st, exit_code if st not in (JobState.PENDING, JobState.RUNNING) else None,
                                reason if reason not in ("None", "") else "", name)
    return out


def sacct_command(job_ids: Sequence[str]) -> list[str]:
    return ["sacct", "--noheader", "--parsable2", "--allocations", f"--jobs={','.join(job_ids)}",
            "--format=JobID,JobName,State,ExitCode"]


def parse_sacct(text: str) -> dict[str, JobStatus]:
    """``JobID|JobName|State|ExitCode`` lines (``sacct -X -P -n``) -> {id: status}."""
    out = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = line.split("|")
        if len(parts) < 4:
            raise BatchError(f"unexpected sacct line {line!r}; expected JobID|JobName|State|ExitCode")
        job_id, name, state, exit_field = parts[0], "|".join(parts[1:-2]), parts[-2], parts[-1]
        if "[" in job_id:          # a pending array's summary line; its tasks are listed by squeue
            continue
        code, _, signal = exit_field.partition(":")
        exit_code = int(code) if code.isdigit() else None
        if exit_code == 0 and signal.isdigit() and int(signal):
            exit_code = 128 + int(signal)
        st = state_of(state)
        out[job_id] = JobStatus(st, exit_code if st not in (JobState.PENDING, JobState.RUNNING) else None,
                                state if state.strip() != state.split()[0] else "", name)
    return out


def compress_ids(job_ids: Sequence[str]) -> list[str]:
    """Job ids with each array's tasks folded into Slurm's range form: ``12_0 12_1 12_2 12_7 13``
    -> ``12_[0-2,7] 13`` (so cancelling 10,000 array tasks is one short command)."""
    singles: list[str] = []
    tasks: dict[str, list[int]] = {}
    for job_id in job_ids:
        base, sep, task = job_id.partition("_")
        if sep and task.isdigit():
            tasks.setdefault(base, []).append(int(task))
        else:
            singles.append(job_id)
    out = list(dict.fromkeys(singles))
    for base, numbers in tasks.items():
        numbers = sorted(set(numbers))
        ranges, start, prev = [], numbers[0], numbers[0]
        for k in numbers[1:] + [None]:
            if k is not None and k == prev + 1:
                prev = k
                continue
            ranges.append(f"{start}-{prev}" if prev > start else str(start))
            if k is not None:
                start = prev = k
        out.append(f"{base}_[{','.join(ranges)}]" if len(numbers) > 1 else f"{base}_{numbers[0]}")
    return out


def scancel_command(job_ids: Sequence[str]) -> list[str]:
    return ["scancel", *compress_ids(job_ids)]


def parse_config(text: str) -> dict[str, str]:
    """``scontrol show config`` -> {key: value}."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


class SlurmExecutor(BatchExecutor):
    """Slurm via its client commands (SLURM_CONF in the environment selects the cluster)."""

    name = "slurm"
    task_var = "SLURM_ARRAY_TASK_ID"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._config: dict[str, str] | None = None

    def config(self) -> dict[str, str]:
        """The controller's configuration, asked once (on first use, never at import)."""
        if self._config is None:
            self._config = parse_config(self.runner.run(["scontrol", "show", "config"]).stdout)
        return self._config

    def has_accounting(self) -> bool:
        return self.config().get("AccountingStorageType", "accounting_storage/none") != "accounting_storage/none"

    def max_array_size(self) -> int:
        limit = self.config().get("MaxArraySize", "1001")
        return max(1, min(self.site.max_array_size, int(limit) - 1 if limit.isdigit() else 1000))

    def _submit_single(self, job: JobSpec) -> str:
        return parse_sbatch(self.runner.run(sbatch_single(job)).stdout)

    def _submit_array(self, jobs, name, max_running):
        wrapper = write_task_list(jobs, self.task_var, 0)
        base = parse_sbatch(self.runner.run(sbatch_array(jobs, name, str(wrapper), max_running)).stdout)
        return [f"{base}_{k}" for k in range(len(jobs))]

    def poll(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        if not job_ids:
            return {}
        seen = parse_squeue(self.runner.run(squeue_command(job_ids), accept=squeue_accept).stdout)
        missing = [j for j in job_ids if j not in seen]
        if missing and self.has_accounting():
            seen.update(parse_sacct(self.runner.run(sacct_command(missing)).stdout))
        return {j: seen.get(j, JobStatus(JobState.UNKNOWN, reason="not known to squeue/sacct")) for j in job_ids}

    def cancel(self, job_ids: Sequence[str]) -> None:
        if job_ids:
            # scancel of an id that has already ended prints an error and exits 0 or 1: not a failure
            self.runner.run(scancel_command(job_ids), accept=lambda r: "Invalid job id" in r.stderr
                            or "already completing or completed" in r.stderr)

    def find(self, name_prefix: str = "") -> dict[str, JobStatus]:
        jobs = parse_squeue(self.runner.run(squeue_user_command(self.user)).stdout)
        return {j: s for j, s in jobs.items() if s.name.startswith(name_prefix)}
