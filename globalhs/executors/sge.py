"""(Son of) Grid Engine through its own commands: qsub -terse, qstat -xml, the accounting file / qacct, qdel.

Per poll cycle: one ``qstat -u USER -g d -xml`` lists every job of the user still on the queue (array
tasks one by one). A job that has left the queue is looked up in Grid Engine's accounting file
(``$SGE_ROOT/$SGE_CELL/common/accounting``, read incrementally from where the last poll stopped: no
command at all); where that file cannot be read, one ``qacct -j '*' -b <start>`` covers every job that
left since the executor started. A job deleted while still waiting never reaches the accounting: it
stays UNKNOWN and the runner declares it LOST.

Classification of a finished job from its accounting record (``failed``, ``exit_status``, the
requested limits in ``category``): failed 0 and exit 0 -> COMPLETED; failed 0 otherwise -> FAILED;
failed 37 (qmaster enforced h_rt/h_vmem) -> TIMEOUT when the run time reached h_rt, else
OUT_OF_MEMORY; failed 100 with a signal exit (qdel) -> CANCELLED; any other failed code (the job could
not be set up or finished on its host) -> NODE_FAIL.
"""

from __future__ import annotations

import os
import re
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Sequence

from globalhs.executors.base import BatchError, JobSpec, JobState, JobStatus
from globalhs.executors.batch import BatchExecutor, job_name, write_task_list
from globalhs.executors.command import CommandResult
from globalhs.time import TimeFormatError, parse_duration


def resource_options(job: JobSpec) -> list[str]:
    opts = []
    if job.queue:
        opts += ["-q", job.queue]
    if job.time_limit_s:
        opts += ["-l", f"h_rt={int(job.time_limit_s)}"]
    if job.memory_mb:
        opts += ["-l", f"h_vmem={job.memory_mb}M"]
    return opts + list(job.extra)


def qsub_single(job: JobSpec) -> list[str]:
    """qsub for one job; ``-b y -shell no`` runs the script itself (its #! line is honoured)."""
    out = str(job.stdout) if job.stdout else "/dev/null"
    return ["qsub", "-terse", "-N", job_name(job), "-wd", str(job.workdir), "-o", out, "-j", "y",
            *resource_options(job), "-b", "y", "-shell", "no", str(job.script)]


def qsub_array(jobs: Sequence[JobSpec], name: str, wrapper: str, max_running: int | None) -> list[str]:
    """qsub for an array of tasks 1..n (Grid Engine counts from 1), at most ``max_running`` at once."""
    cap = ["-tc", str(max_running)] if max_running else []
    return ["qsub", "-terse", "-N", name, "-wd", str(jobs[0].workdir), "-t", f"1-{len(jobs)}", *cap,
            "-o", "/dev/null", "-e", f"{jobs[0].workdir}/.globalhs-array.err", *resource_options(jobs[0]),
            "-b", "y", "-shell", "no", wrapper]


def parse_qsub(stdout: str) -> str:
    """The job id from ``qsub -terse``: ``12`` for a job, ``12.1-6:1`` for an array (-> ``12``)."""
    line = stdout.strip().splitlines()[-1] if stdout.strip() else ""
    m = re.fullmatch(r"(\d+)(?:\.\d+-\d+:\d+)?", line.strip())
    if not m:
        raise BatchError(f"qsub -terse printed {stdout.strip()!r}; expected a job id")
    return m.group(1)


def qstat_command(user: str) -> list[str]:
    return ["qstat", "-u", user, "-g", "d", "-xml"]


def state_of(code: str) -> JobState:
    """qstat's state letters (qw, hqw, r, t, Rr, s, dr, Eqw, ...) as a :class:`JobState`."""
    if "E" in code:
        return JobState.FAILED          # error state: stays on the queue until cleared or deleted
    if any(c in code for c in "rtRsSTd"):
        return JobState.RUNNING
    if any(c in code for c in "qwh"):
        return JobState.PENDING
    return JobState.UNKNOWN


def parse_qstat_xml(text: str) -> dict[str, JobStatus]:
    """``qstat -g d -xml`` -> {id: status}; array tasks as ``job.task``."""
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise BatchError(f"qstat -xml printed something that is not XML ({exc}): {text[:200]!r}") from None
    out = {}
    for job in root.iter("job_list"):
        number = job.findtext("JB_job_number", "").strip()
        tasks = job.findtext("tasks", "").strip()
        code = job.findtext("state", "").strip()
        if not number:
            continue
        st = state_of(code)
        reason = f"error state {code}: `qstat -j {number}` says why" if st is JobState.FAILED else ""
        for task in _expand_tasks(tasks):
            out[f"{number}.{task}" if task else number] = JobStatus(st, None, reason, job.findtext("JB_name", ""))
    return out


def _expand_tasks(tasks: str) -> list[str]:
    """``""`` -> [""]; ``"3"`` -> ["3"]; ``"1-6:1"`` or ``"1,3,5"`` (unexpanded) -> each task."""
    if not tasks:
        return [""]
    out = []
    for part in tasks.split(","):
        m = re.fullmatch(r"(\d+)-(\d+):(\d+)", part)
        out.extend(str(t) for t in range(int(m[1]), int(m[2]) + 1, int(m[3]))) if m else out.append(part)
    return out


def _limit(category: str, key: str) -> float | None:
    m = re.search(rf"(?:^|[\s,]){key}=([^\s,]+)", category)
    if not m:
        return None
    value = m.group(1)
    try:
        if ":" in value:
            h, mi, s = (value.split(":") + ["0", "0"])[:3]
            return int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)
        if key == "h_rt":
            return float(value) if value.replace(".", "", 1).isdigit() else parse_duration(value)
        return float(value)
    except (ValueError, TimeFormatError):
        return None


def classify(failed: int, exit_status: int, category: str = "", wallclock: float = 0.0) -> tuple[JobState, str]:
    """Our state and a reason from an accounting record's failed code, exit status and category."""
    if failed == 0:
        return (JobState.COMPLETED, "") if exit_status == 0 else (JobState.FAILED, f"exit status {exit_status}")
    if failed == 37:
        h_rt = _limit(category, "h_rt")
        if h_rt is not None and wallclock >= h_rt - 1:
            return JobState.TIMEOUT, f"run time {wallclock:g} s reached h_rt {h_rt:g} s"
        return JobState.OUT_OF_MEMORY, "qmaster enforced a memory limit (h_vmem)"
    if failed == 100 and exit_status > 128:
        return JobState.CANCELLED, f"killed by signal {exit_status - 128} (qdel)"
    return JobState.NODE_FAIL, f"failed {failed}: the job could not be run or finished on its host"


def parse_accounting(text: str) -> dict[str, JobStatus]:
    """Lines of the accounting file (``qname:host:group:owner:job_name:job_number:...``) -> {id: status}.

    Fields used (accounting(5)): 5 job_name, 6 job_number, 12 failed, 13 exit_status, 14 ru_wallclock,
    36 task_number (0 for a job that is not an array), 40 category. Later lines win (a job requeued).
    """
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        f = line.split(":")
        if len(f) < 36 or not f[5].isdigit():
            continue
        task = f[35]
        job_id = f[5] if task in ("0", "undefined") else f"{f[5]}.{task}"
        st, reason = classify(int(f[11]), int(f[12]), f[39] if len(f) > 39 else "", float(f[13] or 0))
        out[job_id] = JobStatus(st, int(f[12]), reason, f[4])
    return out


def parse_qacct(text: str) -> dict[str, JobStatus]:
    """``qacct -j ...`` records (``====`` separated ``key value`` lines) -> {id: status}."""
    out = {}
    for block in re.split(r"^=+\s*$", text, flags=re.MULTILINE):
        rec = {}
        for line in block.strip().splitlines():
            key, _, value = line.partition(" ")
            rec[key] = value.strip()
        if not rec.get("jobnumber", "").isdigit():
            continue
        task = rec.get("taskid", "undefined")
        job_id = rec["jobnumber"] if task in ("undefined", "0", "") else f"{rec['jobnumber']}.{task}"
        failed = int(rec.get("failed", "0").split()[0])
        exit_status = int(rec.get("exit_status", "0").split()[0])
        wall = float(re.sub(r"[^\d.]", "", rec.get("ru_wallclock", "0")) or 0)
        category = rec.get("category", "")
        st, reason = classify(failed, exit_status, "" if category == "NONE" else category, wall)
        out[job_id] = JobStatus(st, exit_status, reason, rec.get("jobname", ""))
    return out


def qdel_command(job_ids: Sequence[str]) -> list[str]:
    """One qdel for many jobs and array tasks: ``qdel 7 12 -t 3-3 12 -t 5-5``."""
    argv = ["qdel"]
    for job_id in job_ids:
        number, _, task = job_id.partition(".")
        argv += [number, "-t", f"{task}-{task}"] if task else [number]
    return argv


def qdel_accept(result: CommandResult) -> bool:
    """qdel exits 1 when some ids no longer exist (they ended): the others were still deleted."""
    return result.returncode == 1 and "does not exist" in (result.stdout + result.stderr)


class SgeExecutor(BatchExecutor):
    """Grid Engine via its client commands (SGE_ROOT and SGE_CELL in the environment select the cell)."""

    name = "sge"
    task_var = "SGE_TASK_ID"

    def __init__(self, *args, accounting: str | os.PathLike | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        root, cell = os.environ.get("SGE_ROOT", "/var/lib/gridengine"), os.environ.get("SGE_CELL", "default")
        self.accounting = Path(accounting) if accounting else Path(root, cell, "common", "accounting")
        self._offset: int | None = None
        self._partial = ""
        self._finished: dict[str, JobStatus] = {}
        self._since = time.time() - 60

    def _submit_single(self, job: JobSpec) -> str:
        return parse_qsub(self.runner.run(qsub_single(job)).stdout)

    def _submit_array(self, jobs, name, max_running):
        wrapper = write_task_list(jobs, self.task_var, 1)
        base = parse_qsub(self.runner.run(qsub_array(jobs, name, str(wrapper), max_running)).stdout)
        return [f"{base}.{k + 1}" for k in range(len(jobs))]

    def _queued(self) -> dict[str, JobStatus]:
        return parse_qstat_xml(self.runner.run(qstat_command(self.user)).stdout)

    def _read_accounting(self) -> bool:
        """Read what the accounting file gained since the last call; False if it cannot be read."""
        try:
            with open(self.accounting, "rb") as f:
                size = f.seek(0, os.SEEK_END)
                if self._offset is None or size < self._offset:
                    # first look (or the file was rotated): records of jobs that ended before this
                    # executor started matter only for adopted jobs, so read it all once
                    self._offset, self._partial = 0, ""
                f.seek(self._offset)
                data = f.read().decode(errors="replace")
                self._offset = size
        except OSError:
            return False
        data = self._partial + data
        complete, _, self._partial = data.rpartition("\n")
        self._finished.update(parse_accounting(complete))
        return True

    def accounted(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        """Statuses the accounting file holds for ``job_ids`` (no command; {} if it cannot be read)."""
        self._read_accounting()
        return {j: self._finished[j] for j in job_ids if j in self._finished}

    def poll(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        if not job_ids:
            return {}
        seen = self._queued()
        missing = [j for j in job_ids if j not in seen]
        if missing:
            if not self._read_accounting():
                since = time.strftime("%Y%m%d%H%M", time.localtime(self._since))
                self._finished.update(parse_qacct(self.runner.run(
                    ["qacct", "-j", "*", "-b", since],
                    accept=lambda r: "job id" in r.stderr and "not found" in r.stderr).stdout))
            seen.update({j: self._finished[j] for j in missing if j in self._finished})
        return {j: seen.get(j, JobStatus(JobState.UNKNOWN, reason="not on the queue nor in the accounting"))
                for j in job_ids}

    def cancel(self, job_ids: Sequence[str]) -> None:
        if job_ids:
            self.runner.run(qdel_command(job_ids), accept=qdel_accept)

    def find(self, name_prefix: str = "") -> dict[str, JobStatus]:
        return {j: s for j, s in self._queued().items() if s.name.startswith(name_prefix)}
