"""The executor protocol: what the runner needs from any batch system, and nothing more.

Four calls, each one command (or one library call) to the batch system whatever the number of jobs:
submit a batch of jobs (an array where the system has them), poll many jobs at once, cancel many jobs
at once, and count this user's queued jobs whose name starts with a prefix (the threshold throttle
counts every job of that kind on the real queue, not only this driver's).

A job is a shell script written by the driver. The script itself writes its exit status to a file
(the original's ``jv2ts.exitstatus.$index``), so a job that has left the queue is resolved from that
file and its log, never from the batch system's memory alone.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol, Sequence


class JobState(enum.Enum):
    """What the batch system says of a job. ``UNKNOWN``: not (or no longer) known to it."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"          # left the queue with exit code 0 (still verified from files)
    FAILED = "failed"                # application error: non-zero exit
    CANCELLED = "cancelled"
    TIMEOUT = "timeout"
    OUT_OF_MEMORY = "out_of_memory"
    NODE_FAIL = "node_fail"
    PREEMPTED = "preempted"
    UNKNOWN = "unknown"


ACTIVE = frozenset({JobState.PENDING, JobState.RUNNING})
FINAL = frozenset(set(JobState) - ACTIVE - {JobState.UNKNOWN})


@dataclass(frozen=True)
class JobSpec:
    """One job: the script to run and where its output goes."""

    name: str                 # e.g. subt.6400.6400.0-300mdivw72d (the original's job names)
    script: Path              # executable shell script; writes its own exit-status file
    workdir: Path             # the step directory; the job runs with this as its cwd
    queue: str = ""           # queue / partition; "" = the system's default
    stdout: Path | None = None
    time_limit_s: int | None = None
    memory_mb: int | None = None
    extra: tuple[str, ...] = field(default=())  # site-config options passed through verbatim


@dataclass(frozen=True)
class JobStatus:
    state: JobState
    exit_code: int | None = None
    reason: str = ""          # the batch system's words, for the log and faillog
    name: str = ""            # the job's name on the batch system ("" if it does not say);
                              # an array's tasks share one name (see globalhs.executors.naming)


class BatchError(RuntimeError):
    """A batch-system command failed. ``transient`` says whether retrying after a pause makes sense."""

    def __init__(self, message: str, *, transient: bool = False):
        super().__init__(message)
        self.transient = transient


class Executor(Protocol):
    name: str

    def submit(self, jobs: Sequence[JobSpec], max_running: int | None = None) -> list[str]:
        """Submit ``jobs`` (as one array where possible, at most ``max_running`` at once); one id each."""

    def poll(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """States of all ``job_ids`` from one query; ids the system no longer knows map to UNKNOWN."""

    def cancel(self, job_ids: Sequence[str]) -> None:
        """Cancel all ``job_ids`` with one command."""

    def count_queued(self, name_prefix: str) -> int:
        """This user's queued or running jobs whose name starts with ``name_prefix`` (one command)."""

    def close(self) -> None:
        """Release resources (threads, sessions); running jobs of a batch system keep running."""
