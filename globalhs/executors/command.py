"""Running batch-system commands: one place for timeouts, transient-error detection, backoff and counts.

Every executor that drives a batch system through its command-line tools calls them through
:class:`CommandRunner`, so that

- a hung client (a controller that does not answer) never hangs the driver: each call has a timeout;
- the errors a busy or restarting controller gives ("Socket timed out", "unable to contact qmaster",
  a per-user submit limit) are retried after a growing pause instead of failing the run, and every
  other error is raised at once with the command, its exit code and its output;
- submissions are held to a rate (site config ``submit_rate``) so a driver never floods a controller;
- the number of commands issued is counted, which is how the benchmark shows that a poll cycle costs
  one or two commands at any number of jobs.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

from globalhs.executors.base import BatchError

# Messages of Slurm and Grid Engine clients that mean "try again later", not "your request is wrong".
# DO NOT add messages about bad options or unknown partitions here: those must fail at once.
TRANSIENT_PATTERNS: tuple[str, ...] = (
    # Slurm: controller busy, restarting or unreachable
    r"Socket timed out",
    r"Unable to contact slurm controller",
    r"Slurm temporarily unable to accept job",
    r"Resource temporarily unavailable",
    r"Zero Bytes were transmitted or received",
    r"slurm_receive_msg",
    r"Transport endpoint is not connected",
    r"Connection refused",
    r"Communication connection failure",
    r"Job submit/allocate failed: .*(?:try again|busy)",
    # Slurm: submit limits (the queue drains, then submission works again)
    r"QOSMaxSubmitJob\w*Limit",
    r"AssocMaxSubmitJobLimit",
    r"MaxSubmitJobs?Limit",
    r"Job violates accounting/QOS policy \(job submit limit",
    # Grid Engine
    r"unable to contact qmaster",
    r"failed receiving gdi request",
    r"commlib error",
    r"got no connection",
    r"qmaster is not alive",
    r"unable to send message to qmaster",
    r"Only \d+ jobs are allowed per user",
    r"job rejected: .*(?:max_u_jobs|max_jobs|per user)",
    r"too many jobs",
)
_TRANSIENT_RE = re.compile("|".join(TRANSIENT_PATTERNS), re.IGNORECASE)


def is_transient(text: str) -> bool:
    """Whether a batch-system error message means "retry later" (busy, unreachable, submit limit)."""
    return bool(_TRANSIENT_RE.search(text))


@dataclass
class CommandResult:
    argv: list[str]
    returncode: int
    stdout: str
    stderr: str


def describe(argv: Sequence[str], returncode: int | str, stdout: str, stderr: str, limit: int = 600) -> str:
    """One message naming the command, its exit code and (the start of) what it printed."""
    cmd = shlex.join(argv)
    if len(cmd) > 300:
        cmd = cmd[:300] + " ..."
    out = (stdout.strip() + ("\n" if stdout.strip() and stderr.strip() else "") + stderr.strip())[:limit]
    return f"`{cmd}` exited {returncode}: {out or '(no output)'}"


@dataclass
class Backoff:
    """Pauses between attempts at a transient error: ``first`` s, times ``factor``, at most ``cap`` s,
    giving up after ``attempts`` attempts. The defaults ride out a controller restart (about 2 min)."""

    attempts: int = 8
    first: float = 1.0
    factor: float = 2.0
    cap: float = 30.0

    def pauses(self):
        pause = self.first
        for _ in range(self.attempts - 1):
            yield pause
            pause = min(pause * self.factor, self.cap)


class RateLimiter:
    """At most ``rate`` events per second (None or <= 0: no limit); ``wait()`` sleeps as needed."""

    def __init__(self, rate: float | None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        self.interval = 1.0 / rate if rate and rate > 0 else 0.0
        self._clock, self._sleep = clock, sleep
        self._next = 0.0
        self._lock = threading.Lock()

    def wait(self) -> None:
        if not self.interval:
            return
        with self._lock:
            now = self._clock()
            if now < self._next:
                self._sleep(self._next - now)
                now = self._next
            self._next = now + self.interval


@dataclass
class CommandRunner:
    """Runs batch-system commands with a timeout and retries transient failures with backoff.

    ``counts`` tallies the commands issued by program name (``sbatch``, ``squeue``, ...), retries
    included; the benchmark and tests read it.
    """

    timeout: float = 60.0
    backoff: Backoff = field(default_factory=Backoff)
    env: dict[str, str] | None = None
    sleep: Callable[[float], None] = time.sleep
    counts: Counter = field(default_factory=Counter)
    log: Callable[[str], None] | None = None

    def run_once(self, argv: Sequence[str], input: str | None = None) -> CommandResult:
        """One call; a timeout or a missing program becomes a :class:`BatchError`."""
        argv = [str(a) for a in argv]
        self.counts[argv[0].rsplit("/", 1)[-1]] += 1
        try:
            proc = subprocess.run(argv, input=input, capture_output=True, text=True,
                                  timeout=self.timeout, env=self.env)
        except subprocess.TimeoutExpired as exc:
            raise BatchError(f"`{shlex.join(argv)[:300]}` did not answer within {self.timeout:g} s "
                             f"(batch system busy or unreachable)", transient=True) from exc
        except FileNotFoundError as exc:
            raise BatchError(f"`{argv[0]}` not found: is this machine a submit host of the batch system "
                             f"(PATH={os.environ.get('PATH', '')})?") from exc
        return CommandResult(argv, proc.returncode, proc.stdout, proc.stderr)

    def run(self, argv: Sequence[str], *, input: str | None = None,
            accept: Callable[[CommandResult], bool] | None = None) -> CommandResult:
        """Run ``argv``; retry transient failures; raise :class:`BatchError` on any other failure.

        ``accept(result)`` may declare a non-zero exit a valid answer (``squeue -j`` of ids the
        controller has forgotten exits 1 with "Invalid job id specified", which means "none known").
        """
        pauses = self.backoff.pauses()
        while True:
            try:
                result = self.run_once(argv, input=input)
            except BatchError as exc:
                if not exc.transient:
                    raise
                message = str(exc)
            else:
                if result.returncode == 0 or (accept is not None and accept(result)):
                    return result
                message = describe(result.argv, result.returncode, result.stdout, result.stderr)
                if not is_transient(result.stdout + "\n" + result.stderr):
                    raise BatchError(message)
            pause = next(pauses, None)
            if pause is None:
                raise BatchError(f"{message} (still failing after {self.backoff.attempts} attempts)",
                                 transient=True)
            if self.log:
                self.log(f"transient batch-system error, retrying in {pause:g} s: {message}")
            self.sleep(pause)
