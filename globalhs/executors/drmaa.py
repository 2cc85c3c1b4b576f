"""DRMAA 1 through the ``drmaa`` package, for sites that provide a libdrmaa (DRMAA_LIBRARY_PATH).

Tested against Grid Engine's libdrmaa. Slurm sites need the separately built slurm-drmaa library to
use this executor; the ``slurm`` executor needs nothing beyond Slurm's own commands and is the better
choice there.

The environment must be set before Python starts (docs/operators.md): ``DRMAA_LIBRARY_PATH`` and, for
Debian's Grid Engine library, ``GLIBC_TUNABLES=glibc.rtld.optional_static_tls=4096``.

What DRMAA cannot do, the batch system's own commands do:

- A DRMAA session sees only the jobs it submitted, and has no call that reports many jobs at once.
  ``poll`` therefore reaps the session's finished jobs from the library (local, no round trip per job)
  and asks about every other job with the native executor's one batched query (for Grid Engine:
  one ``qstat`` plus its accounting file); ``find``/``count_queued``/``cancel`` are native too, so a
  restarted driver adopts jobs by name exactly as with the ``sge`` executor.
- Without a native executor (a DRMS other than Grid Engine) ``poll`` falls back to one
  ``jobStatus`` library call per job and ``cancel`` to one ``control`` call per job.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from globalhs.executors.base import BatchError, JobSpec, JobState, JobStatus
from globalhs.executors.batch import BatchExecutor, job_name, write_task_list
from globalhs.executors.sge import SgeExecutor, resource_options as sge_options

# the array wrapper finds its task index under either system's variable
TASK_VAR = "SGE_TASK_ID:-$SLURM_ARRAY_TASK_ID"


def _import_drmaa():
    if not os.environ.get("DRMAA_LIBRARY_PATH"):
        raise BatchError("the drmaa executor needs DRMAA_LIBRARY_PATH naming the site's libdrmaa.so "
                         "(Grid Engine on Debian: /usr/lib/gridengine-drmaa/lib/libdrmaa.so.1.0), "
                         "set before Python starts")
    try:
        import drmaa
    except ImportError as exc:
        raise BatchError(f"the drmaa executor needs the 'drmaa' package (pip install drmaa): {exc}") from exc
    except (RuntimeError, OSError) as exc:
        hint = (" Set GLIBC_TUNABLES=glibc.rtld.optional_static_tls=4096 before Python starts."
                if "static TLS" in str(exc) else "")
        raise BatchError(f"cannot load the DRMAA library {os.environ['DRMAA_LIBRARY_PATH']}: {exc}.{hint}") from exc
    return drmaa


def status_from_jobinfo(has_exited: bool, exit_status: int, has_signal: bool, was_aborted: bool,
                        usage: dict) -> JobStatus:
    """A reaped job's status from DRMAA's JobInfo fields (pure)."""
    if has_exited:
        if exit_status == 0:
            return JobStatus(JobState.COMPLETED, 0)
        return JobStatus(JobState.FAILED, exit_status, f"exit status {exit_status}")
    code = int(float(usage.get("exit_status", 0) or 0))
    if was_aborted or has_signal:
        return JobStatus(JobState.CANCELLED, code or None, "terminated before it finished (DRMAA: aborted or signalled)")
    return JobStatus(JobState.UNKNOWN, None, "DRMAA reports neither exit nor abort")


class DrmaaExecutor(BatchExecutor):
    name = "drmaa"
    task_var = TASK_VAR

    def __init__(self, *args, native: BatchExecutor | None | bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self._drmaa = _import_drmaa()
        self.session = self._drmaa.Session()
        try:
            self.session.initialize()
        except Exception as exc:                 # the library raises plain Exception subclasses
            raise BatchError(f"DRMAA session could not start: {exc}", transient=True) from exc
        self.drms = str(self.session.drmsInfo)
        is_sge = "SGE" in self.drms or "Grid Engine" in self.drms
        if native is True:
            native = SgeExecutor(site=self.site, runner=self.runner, user=self.user) if is_sge else None
        self.native: BatchExecutor | None = native or None
        self._finished: dict[str, JobStatus] = {}

    # --- submit ---------------------------------------------------------------------------------
    def _template(self, job: JobSpec, name: str, command: str, native_extra: list[str]):
        jt = self.session.createJobTemplate()
        jt.remoteCommand = command
        jt.workingDirectory = str(job.workdir)
        jt.jobName = name
        jt.joinFiles = True
        jt.outputPath = ":" + (str(job.stdout) if job.stdout else "/dev/null")   # DRMAA wants host:path
        native = ["-shell", "no", "-b", "y"] + sge_options(job) if self.native else list(job.extra)
        jt.nativeSpecification = " ".join(native + native_extra)
        return jt

    def _submit_single(self, job: JobSpec) -> str:
        jt = self._template(job, job_name(job), str(Path(job.script).resolve()), [])
        try:
            return str(self._call(self.session.runJob, jt))
        finally:
            self.session.deleteJobTemplate(jt)

    def _submit_array(self, jobs, name, max_running):
        wrapper = write_task_list(jobs, self.task_var, 1)
        cap = ["-tc", str(max_running)] if max_running and self.native else []
        jt = self._template(jobs[0], name, str(wrapper), cap)
        jt.outputPath = f":{jobs[0].workdir}/.globalhs-array.err"   # only the wrapper's own errors
        try:
            return [str(j) for j in self._call(self.session.runBulkJobs, jt, 1, len(jobs), 1)]
        finally:
            self.session.deleteJobTemplate(jt)

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except self._drmaa.errors.TryLaterException as exc:
            raise BatchError(f"DRMAA: {exc}", transient=True) from exc
        except self._drmaa.errors.DrmCommunicationException as exc:
            raise BatchError(f"DRMAA: {exc}", transient=True) from exc
        except Exception as exc:
            raise BatchError(f"DRMAA {fn.__name__}: {exc}") from exc

    # --- status ---------------------------------------------------------------------------------
    def _reap(self) -> None:
        """Collect every finished job of this session from the library (no batch-system round trip)."""
        errors = self._drmaa.errors
        for _ in range(100000):
            try:
                info = self.session.wait(self._drmaa.Session.JOB_IDS_SESSION_ANY, self._drmaa.Session.TIMEOUT_NO_WAIT)
            except (errors.ExitTimeoutException, errors.InvalidJobException):
                return
            except Exception as exc:
                # drmaa 0.7.9 raises a plain Exception (code 24, "no usage information") for a job
                # terminated while still queued, without saying which: it stays UNKNOWN -> LOST.
                if "code 24" in str(exc):
                    continue
                raise BatchError(f"DRMAA wait: {exc}", transient=True) from exc
            self._finished[str(info.jobId)] = status_from_jobinfo(
                bool(info.hasExited), int(info.exitStatus), bool(info.hasSignal), bool(info.wasAborted),
                dict(info.resourceUsage or {}))

    def poll(self, job_ids: Sequence[str]) -> dict[str, JobStatus]:
        if not job_ids:
            return {}
        self._reap()
        rest = [j for j in job_ids if j not in self._finished]
        out = {j: self._finished[j] for j in job_ids if j in self._finished}
        if self.native is not None:
            # the accounting file classifies better (h_rt, h_vmem): prefer it for reaped jobs it knows
            if out and hasattr(self.native, "accounted"):
                out.update(self.native.accounted(list(out)))
            if rest:
                out.update(self.native.poll(rest))
        else:
            for j in rest:
                out[j] = self._job_status(j)
        return {j: out[j] for j in job_ids}

    def _job_status(self, job_id: str) -> JobStatus:
        d = self._drmaa.JobState
        try:
            s = self.session.jobStatus(job_id)
        except self._drmaa.errors.InvalidJobException:
            return JobStatus(JobState.UNKNOWN, reason="not known to this DRMAA session")
        if s in (d.RUNNING, d.SYSTEM_SUSPENDED, d.USER_SUSPENDED, d.USER_SYSTEM_SUSPENDED):
            return JobStatus(JobState.RUNNING)
        if s in (d.QUEUED_ACTIVE, d.SYSTEM_ON_HOLD, d.USER_ON_HOLD, d.USER_SYSTEM_ON_HOLD):
            return JobStatus(JobState.PENDING)
        if s == d.DONE:
            return JobStatus(JobState.COMPLETED, 0)
        if s == d.FAILED:
            return JobStatus(JobState.FAILED, reason="DRMAA: failed")
        return JobStatus(JobState.UNKNOWN, reason=f"DRMAA state {s}")

    def cancel(self, job_ids: Sequence[str]) -> None:
        if not job_ids:
            return
        if self.native is not None:
            self.native.cancel(job_ids)
            return
        for j in job_ids:
            try:
                self.session.control(j, self._drmaa.JobControlAction.TERMINATE)
            except self._drmaa.errors.InvalidJobException:
                pass

    def find(self, name_prefix: str = "") -> dict[str, JobStatus]:
        if self.native is None:
            raise BatchError(f"the drmaa executor cannot list queued jobs on {self.drms}: DRMAA has no such "
                             "call and no native executor is configured for it")
        return self.native.find(name_prefix)

    def close(self) -> None:
        """End the DRMAA session; submitted jobs keep running."""
        try:
            self.session.exit()
        except Exception:
            pass
