"""The local executor: a process pool on this machine, the embedded default.

Each job script runs as ``/bin/sh script`` in its own session (so its own process group): Ctrl-C in
the driver's terminal does not reach it, and cancelling kills the whole group (the shell and the
module under it). At most ``slots`` jobs run at once (default: the CPUs this process may use); the
rest wait in submission order. The pool advances whenever the runner calls :meth:`poll`,
:meth:`submit` or :meth:`count_queued`: no thread.

A started job leaves ``<script>.pid`` (job id, pid, process start time) beside its script, so a
driver started after a killed one can still see that job run (and cancel it) until it exits; the
runner then resolves it from its exit-status file like any job the batch system has forgotten.
Job ids are ``<script path>#<driver pid>.<n>``: unique per submission. A job with a
``time_limit_s`` is killed (state TIMEOUT) when it runs longer.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from globalhs.atomic import atomic_write
from globalhs.executors.base import JobSpec, JobState, JobStatus


def _proc_start(pid: int) -> str | None:
    """Start time of a live (not zombie) process, from /proc; None if there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rfind(")") + 2:].split()
    if fields[0] in ("Z", "X"):        # zombie or dead: exited, not yet reaped by its new parent
        return None
    return fields[19]                  # field 22 of stat: start time in clock ticks


def _usable_cpus() -> int:
    """CPUs this process may run on (a container or ``taskset`` may allow fewer than the machine has)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


@dataclass
class _Entry:
    spec: JobSpec
    cap: int
    process: subprocess.Popen | None = None
    status: JobStatus | None = None
    started: float = 0.0


class LocalExecutor:
    """Runs job scripts as local processes, ``slots`` at a time."""

    name = "local"
    poll_interval = 0.2

    def __init__(self, slots: int | None = None):
        self.slots = max(1, slots or _usable_cpus())
        self._jobs: dict[str, _Entry] = {}
        self._waiting: deque[str] = deque()
        self._serial = 0

    # -- the protocol ---------------------------------------------------------------------------
    def submit(self, jobs: Sequence[JobSpec], max_running: int | None = None) -> list[str]:
        cap = min(self.slots, max_running or self.slots)
        ids = []
        for spec in jobs:
            self._serial += 1
            job_id = f"{spec.script}#{os.getpid()}.{self._serial}"
            self._jobs[job_id] = _Entry(spec, cap)
            self._waiting.append(job_id)
            ids.append(job_id)
        self._advance()
        return ids

    def poll(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        self._advance()
        result = {}
        for job_id in job_ids:
            entry = self._jobs.get(job_id)
            if entry is None:
                alive = self._foreign_pid(job_id) is not None
                result[job_id] = JobStatus(JobState.RUNNING if alive else JobState.UNKNOWN)
            elif entry.status is not None:
                result[job_id] = entry.status
            elif entry.process is None:
                result[job_id] = JobStatus(JobState.PENDING)
            else:
                result[job_id] = JobStatus(JobState.RUNNING)
        return result

    def cancel(self, job_ids: Sequence[str]) -> None:
        for job_id in job_ids:
            entry = self._jobs.get(job_id)
            if entry is None:
                pid = self._foreign_pid(job_id)
                if pid is not None:
                    self._kill_group(pid)
                continue
            if entry.status is not None:
                continue
            if entry.process is not None:
                self._kill_group(entry.process.pid)
                entry.process.wait()
            else:
                self._waiting.remove(job_id)
            entry.status = JobStatus(JobState.CANCELLED, None, "cancelled")
        self._advance()

    def count_queued(self, name_prefix: str) -> int:
        self._advance()
        return sum(1 for e in self._jobs.values()
                   if e.status is None and e.spec.name.startswith(name_prefix))

    def close(self) -> None:
        """Nothing to release: running jobs keep running (the runner cancels them when it must)."""

    # -- the pool -------------------------------------------------------------------------------
    def _running(self) -> list[_Entry]:
        return [e for e in self._jobs.values() if e.process is not None and e.status is None]

    def _advance(self) -> None:
        now = time.monotonic()
        for entry in self._running():
            code = entry.process.poll()
            if code is not None:
                entry.status = self._status(code)
            elif entry.spec.time_limit_s and now - entry.started > entry.spec.time_limit_s:
                self._kill_group(entry.process.pid)
                entry.process.wait()
                entry.status = JobStatus(JobState.TIMEOUT, None,
                                         f"killed after its time limit of {entry.spec.time_limit_s} s")
        running = self._running()
        for job_id in list(self._waiting):
            if len(running) >= self.slots:
                break
            entry = self._jobs[job_id]
            if len(running) >= entry.cap:
                continue
            self._waiting.remove(job_id)
            self._start(job_id, entry)
            running.append(entry)

    @staticmethod
    def _status(code: int) -> JobStatus:
        if code == 0:
            return JobStatus(JobState.COMPLETED, 0)
        if code < 0:
            return JobStatus(JobState.FAILED, 128 - code, f"killed by {_signal_name(-code)}")
        return JobStatus(JobState.FAILED, code, f"job script exited with status {code}")

    def _start(self, job_id: str, entry: _Entry) -> None:
        spec = entry.spec
        out = open(spec.stdout, "ab") if spec.stdout else subprocess.DEVNULL
        try:
            entry.process = subprocess.Popen(["/bin/sh", str(spec.script)], cwd=spec.workdir,
                                             stdin=subprocess.DEVNULL, stdout=out,
                                             stderr=subprocess.STDOUT, start_new_session=True)
        except OSError as exc:
            entry.status = JobStatus(JobState.FAILED, None, f"cannot start {spec.script}: {exc}")
            return
        finally:
            if out is not subprocess.DEVNULL:
                out.close()
        entry.started = time.monotonic()
        pid = entry.process.pid
        record = {"id": job_id, "pid": pid, "start": _proc_start(pid)}
        pidfile = Path(f"{spec.script}.pid")
        atomic_write(pidfile, json.dumps(record), durable=False)

    @staticmethod
    def _foreign_pid(job_id: str) -> int | None:
        """Pid of a job started by another (earlier) driver if it still runs, else None."""
        script = job_id.rsplit("#", 1)[0]
        try:
            record = json.loads(Path(f"{script}.pid").read_text())
        except (OSError, ValueError):
            return None
        if record.get("id") != job_id:
            return None
        pid = int(record["pid"])
        start = _proc_start(pid)
        if start is None or start != record.get("start"):
            return None
        return pid

    @staticmethod
    def _kill_group(pid: int) -> None:
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
