"""The runner: per step, throttle, submit, wait, verify, resubmit, commit (the original's do<step>).

For each step in order (a step without a template is skipped with a log line):

1. write every job's parameter file and script; chunks the ledger records as verified with the same
   parameter-file hash are skipped (``force`` redoes them); jobs a killed driver left running are
   adopted, not resubmitted;
2. submit while fewer than the step's threshold of jobs of its kind are queued
   (``executor.count_queued(prefix)``);
3. poll every active job in one call per cycle; a job the executor no longer knows is resolved from
   its exit-status file, and is declared lost after ``LOST_POLLS`` polls without one;
4. verify each finished job: log present, exit status 0, ``successful completion`` in the log,
   staged outputs present and readable; then commit its staged records (:func:`commit_stage`) and
   mark it done in the ledger;
5. a failed job is recorded in ``faillog`` and resubmitted (``retries`` times, default once); if it
   fails again the run stops with exit status 1, naming the jobs and the command to resume.

Ctrl-C (KeyboardInterrupt) cancels all the run's active jobs in one call and leaves the ledger
consistent (those jobs are marked cancelled).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from globalhs.executors.base import ACTIVE, BatchError, JobSpec, JobState, JobStatus
from globalhs.executors.batch import PartialSubmitError
from globalhs.executors.naming import name_matches
from globalhs.executors.policy import FREE_STATES, LIMIT_STATES, Action, decide
from globalhs.executors.site import SiteConfig
from globalhs.pipeline.ledger import Ledger
from globalhs.pipeline.plan import LABEL_ENV, Job, RunPlan, StepPlan, job_environment
from globalhs.pipeline.progress import Reporter, StepCounts
from globalhs.atomic import atomic_write

SUCCESS = "successful completion"
CLASSED = (FREE_STATES | LIMIT_STATES) - {JobState.UNKNOWN}   # states that say why a job ended
LOST_POLLS = 3
BATCH_ERRORS_TOLERATED = 10     # consecutive transient batch-system errors before the run stops


def commit_stage(stage_dir: Path) -> int:
    """Commit a verified job's staged records to the store (the only place the driver commits);
    returns how many records the stage held (a second commit of a stage does nothing)."""
    from globalhs.drms import open_store

    store = open_store()
    try:
        return store.commit_stage(stage_dir)
    finally:
        store.close()


def parms_hash(job: Job) -> str:
    """What identifies a chunk's work: its parameter file and module (a change means redo)."""
    text = f"module={job.module}\n{job.rendered.parms_text()}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def verify(job: Job) -> str | None:
    """None if the job succeeded, else why not (the words go to faillog)."""
    if not job.log.is_file():
        return f"log {job.log.name} missing: the job script did not run"
    if not job.exitstatus.is_file():
        return f"exit-status file {job.exitstatus.name} missing: the job was killed"
    status_text = job.exitstatus.read_text().strip()
    if status_text != "0":
        last = _last_line(job.log)
        return f"exit status {status_text or '(empty)'}" + (f": {last}" if last else "")
    if SUCCESS not in job.log.read_text(errors="replace"):
        return f"log {job.log.name} lacks '{SUCCESS}'"
    return _check_stage(job)


def _last_line(path: Path) -> str:
    lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1].strip()[:300] if lines else ""


def _check_stage(job: Job) -> str | None:
    files = [p for p in job.stage.rglob("*") if p.is_file()] if job.stage.is_dir() else []
    if job.step.writes and not files:
        return f"no staged outputs in {job.stage.name}: the module wrote no records"
    for path in files:
        try:
            with open(path, "rb") as fh:
                fh.read(1)
        except OSError as exc:
            return f"staged output {path.relative_to(job.stepdir)} unreadable: {exc.strerror}"
    return None


@dataclass
class _Active:
    job: Job
    unknown_polls: int = 0
    name: str | None = None               # the name the ledger recorded (adopted jobs)
    state: JobState = JobState.FAILED     # the failure class of an attempt that did not succeed


class StepFailed(Exception):
    def __init__(self, step: str, failed: list[tuple[Job, str]]):
        self.step, self.failed = step, failed
        super().__init__(f"step {step}: {len(failed)} job(s) failed")


class Runner:
    """Runs a :class:`RunPlan` on an executor, recording every job in the ledger."""

    def __init__(self, plan: RunPlan, executor, ledger: Ledger, reporter: Reporter, *,
                 retries: int = 1, force: bool = False,
                 commit: Callable[[Path], int | None] = commit_stage, poll_interval: float | None = None):
        self.plan, self.executor, self.ledger, self.reporter = plan, executor, ledger, reporter
        self.retries, self.force, self.commit = retries, force, commit
        # a fixed pause if given; else the executor's, growing x1.5 up to its poll_interval_max while
        # polls see no change (a batch controller is not polled every few seconds for hours)
        first = poll_interval if poll_interval is not None else getattr(executor, "poll_interval", 5.0)
        self.poll_interval = first
        self._pause_first = first
        self._pause_max = first if poll_interval is not None else \
            max(first, getattr(executor, "poll_interval_max", first))
        self.active: dict[str, _Active] = {}
        self._states: dict[str, JobState] = {}
        self._batch_errors = 0
        self.current_step: str | None = None     # the step running (for the resume command)
        # failure classes (globalhs.executors.policy): the site config's escalation and run cap
        self.site = getattr(executor, "site", None) or SiteConfig.load()
        self._resubmits = 0                                  # the run's resubmissions outside --retries
        self._escalated: dict[str, JobSpec] = {}             # chunk -> the job with more time / memory
        env = job_environment()
        env[LABEL_ENV] = plan.params["label"]
        self.environment = env

    # -- the run ----------------------------------------------------------------------------------
    def run(self) -> int:
        """0 when every step succeeded, 1 when a step failed (the message says how to resume)."""
        self.reporter.start([sp.step.name for sp in self.plan.steps])
        self.reporter.message(f"globalhs run: work directory {self.plan.workdir}, "
                              f"executor {self.executor.name}")
        try:
            for sp in self.plan.steps:
                counts = self.reporter.steps[sp.step.name]
                if sp.skipped:
                    counts.state = "skipped"
                    self.reporter.update()
                    self.reporter.message(f"step {sp.step.name} skipped: no template "
                                          f"{sp.step.desc}.parms.{self.plan.params['label']}")
                    self.ledger.set_step(sp.step.name, "skipped", 0)
                    continue
                self.current_step = sp.step.name
                try:
                    self.run_step(sp, counts)
                except StepFailed as exc:
                    counts.state = "failed"
                    self.ledger.set_step(sp.step.name, "failed", len(sp.jobs))
                    self.reporter.update()
                    self.reporter.message(self._failure_message(sp, exc.failed))
                    return 1
            self.reporter.message("globalhs run successful completion")
            return 0
        except KeyboardInterrupt:
            self.cancel_active("interrupted")
            raise
        finally:
            self.reporter.stop()

    def cancel_active(self, why: str) -> None:
        """Cancel every active job in one executor call and record it in the ledger."""
        if not self.active:
            return
        ids = list(self.active)
        self.reporter.message(f"{why}: cancelling {len(ids)} job(s)")
        self.executor.cancel(ids)
        self.ledger.cancel_all((a.job.step.name, a.job.index) for a in self.active.values())
        self.active.clear()

    def _failure_message(self, sp: StepPlan, failed: list[tuple[Job, str]]) -> str:
        lines = [f"step {sp.step.name} failed: {len(failed)} job(s) failed {self.retries + 1} time(s):"]
        lines += [f"  {job.name} ({job.parms.name}): {reason}" for job, reason in failed]
        lines.append(f"failures are recorded in {sp.stepdir / 'faillog'}")
        lines.append(f"to resume after fixing the cause: {self.plan.resume_command(sp.step.name)}")
        return "\n".join(lines)

    # -- one step ---------------------------------------------------------------------------------
    def run_step(self, sp: StepPlan, counts: StepCounts) -> None:
        step = sp.step
        sp.stepdir.mkdir(parents=True, exist_ok=True)
        counts.state, counts.total, counts.started = "running", len(sp.jobs), time.time()
        self.ledger.set_step(step.name, "running", len(sp.jobs))
        self.reporter.message(f"step {step.name}: {len(sp.jobs)} job(s) of {sp.jobs[0].module} "
                              f"in {sp.stepdir}")
        pending: list[Job] = []
        hashes: dict[str, str] = {}
        stale: list[str] = []            # jobs of an earlier driver that must not go on
        for job in sp.jobs:
            hashes[job.index] = h = parms_hash(job)
            row = self.ledger.get(step.name, job.index)
            ours = row is not None and row.state == "submitted" and row.executor == self.executor.name \
                and bool(row.job_id)
            if row and row.parms_hash == h and not self.force:
                if row.state == "done":
                    counts.skipped += 1
                    continue
                if ours:
                    self.active[row.job_id] = _Active(job, name=row.name)   # left running by a killed driver
                    continue
            if ours:
                stale.append(row.job_id)                        # changed parameters or --force
            atomic_write(job.parms, job.rendered.parms_text(), durable=False)   # rewritten on every rerun
            pending.append(job)
        if stale:
            self.reporter.message(f"step {step.name}: cancelling {len(stale)} job(s) of an earlier run "
                                  f"whose parameters changed (or --force)")
            self.executor.cancel(stale)
        if counts.skipped:
            self.reporter.message(f"step {step.name}: {counts.skipped} chunk(s) already verified, skipped")
        attempts: dict[str, int] = {}
        retries_used: dict[str, int] = {}
        final_failures: list[tuple[Job, str]] = []
        pause = self._pause_first
        while pending or self.active:
            before = (len(pending), dict(self._states))
            if pending:
                pending = self._submit_some(sp, pending, hashes, attempts)
            self._refresh(counts, pending)
            time.sleep(pause)
            finished = self._collect()
            changed = bool(finished) or before != (len(pending), self._states)
            pause = self._pause_first if changed else min(pause * 1.5, self._pause_max)
            for job, reason, state in finished:
                if reason is None:
                    counts.done += 1
                    continue
                counts.failed += 1
                self._faillog(sp, job, attempts.get(job.index, 1), reason)
                decision = decide(state, self._spec(sp, job), retries_used=retries_used.get(job.index, 0),
                                  retries=self.retries, resubmits_used=self._resubmits, site=self.site)
                if decision.action is Action.FAIL:
                    final_failures.append((job, reason))
                    continue
                if decision.action is Action.RETRY:
                    retries_used[job.index] = retries_used.get(job.index, 0) + 1
                else:
                    self._resubmits += 1
                    self._escalated[job.index] = decision.spec
                self.reporter.message(f"{job.name}: failed ({reason}); {decision.why}")
                pending.append(job)
            self._refresh(counts, pending)
        counts.finished, counts.queued, counts.running = time.time(), 0, 0
        if final_failures:
            raise StepFailed(step.name, final_failures)
        counts.state = "done"
        self.ledger.set_step(step.name, "done", len(sp.jobs))
        self.reporter.update()
        self.reporter.message(f"step {step.name}: {SUCCESS}")

    def _submit_some(self, sp: StepPlan, pending: list[Job], hashes: dict[str, str],
                     attempts: dict[str, int]) -> list[Job]:
        try:
            room = sp.threshold - self._batch_call(self.executor.count_queued, sp.step.prefix)
        except _Transient:
            return pending
        if room <= 0:
            return pending
        batch, rest = pending[:room], pending[room:]
        present = {entry.name for entry in os.scandir(sp.stepdir)}    # one listing, not a stat per file
        for job in batch:
            self._prepare(job, present)
        try:
            ids = self._batch_call(self.executor.submit, [self._spec(sp, job) for job in batch])
        except PartialSubmitError as exc:
            # record what did reach the queue (never submitted twice), then fail or retry the rest
            self._record(sp, batch[:len(exc.ids)], exc.ids, hashes, attempts)
            if not exc.transient:
                raise
            self.reporter.message(f"batch system error (will retry): {exc}")
            return batch[len(exc.ids):] + rest
        except _Transient:
            return pending
        if len(ids) != len(batch):
            raise BatchError(f"executor {self.executor.name} returned {len(ids)} job id(s) for "
                             f"{len(batch)} submitted job(s)")
        self._record(sp, batch, ids, hashes, attempts)
        return rest

    def _record(self, sp: StepPlan, batch: list[Job], ids: list[str], hashes: dict[str, str],
                attempts: dict[str, int]) -> None:
        for job, job_id in zip(batch, ids):
            self.active[job_id] = _Active(job)
            attempts[job.index] = attempts.get(job.index, 0) + 1
        self.ledger.submitted_many((sp.step.name, job.index, hashes[job.index], self.executor.name, job_id,
                                    job.name) for job, job_id in zip(batch, ids))

    def _batch_call(self, call, *args):
        """``call(*args)``; a transient BatchError is logged and raised as _Transient (retry next
        cycle) until BATCH_ERRORS_TOLERATED in a row; any other BatchError propagates."""
        try:
            result = call(*args)
        except PartialSubmitError:
            raise
        except BatchError as exc:
            if not exc.transient:
                raise
            self._batch_errors += 1
            if self._batch_errors >= BATCH_ERRORS_TOLERATED:
                raise BatchError(f"{exc} ({self._batch_errors} times in a row; giving up)") from exc
            self.reporter.message(f"batch system error (will retry): {exc}")
            raise _Transient from None
        self._batch_errors = 0
        return result

    def _prepare(self, job: Job, present: set[str] | None = None) -> None:
        """Fresh files for an attempt: nothing of an earlier attempt may be taken for this one's.

        ``present``: names in the step directory (None: look at each file).
        """
        for path in (job.log, job.exitstatus, job.stage):
            if present is not None and path.name not in present:
                continue
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        atomic_write(job.script, job.script_text(self.environment), chmod=0o755, durable=False)

    def _spec(self, sp: StepPlan, job: Job) -> JobSpec:
        """The job as submitted: the site config's resources for its step, more after an escalation."""
        if job.index in self._escalated:
            return self._escalated[job.index]
        spec = JobSpec(name=job.name, script=job.script, workdir=job.stepdir, queue=sp.queue,
                       stdout=job.stepdir / f"{job.name}.out")
        return self.site.apply(spec, sp.step.name, self.executor.name)

    def _collect(self) -> list[tuple[Job, str | None]]:
        """One poll of all active jobs; the finished ones, verified and committed (or why not)."""
        if not self.active:
            return []
        try:
            statuses = self._batch_call(self.executor.poll, list(self.active))
        except _Transient:
            return []
        newly_running = [(self.active[j].job.step.name, self.active[j].job.index) for j, st in statuses.items()
                         if st.state is JobState.RUNNING and self._states.get(j) is not JobState.RUNNING
                         and j in self.active]
        if newly_running:
            self.ledger.started(newly_running, time.time())
        self._states = {job_id: status.state for job_id, status in statuses.items()}
        finished = []
        for job_id, entry in list(self.active.items()):
            status = statuses.get(job_id, JobStatus(JobState.UNKNOWN))
            reason = self._resolve(entry, status)
            if reason is _STILL_ACTIVE:
                continue
            del self.active[job_id]
            job = entry.job
            if reason is None:
                reason = self._commit(job)
            exit_status = _read_status(job)
            self.ledger.finished(job.step.name, job.index, "done" if reason is None else "failed",
                                 exit_status, reason or "")
            finished.append((job, reason, entry.state))
        return finished

    def _resolve(self, entry: _Active, status: JobStatus):
        if entry.name and status.name and not name_matches(status.name, entry.name):
            # an adopted id that now names another job (ids are reused after a controller restart)
            entry.state = JobState.UNKNOWN
            return (f"lost: job id now belongs to {status.name!r}, not {entry.name!r}")
        if status.state in ACTIVE:
            entry.unknown_polls = 0
            return _STILL_ACTIVE
        # the batch system's class of an attempt that did not succeed (an application error if none)
        entry.state = status.state if status.state in CLASSED else JobState.FAILED
        if entry.job.exitstatus.is_file():
            return verify(entry.job)
        if status.state in (JobState.UNKNOWN, JobState.COMPLETED):
            entry.unknown_polls += 1          # a shared file system may show the file late
            if entry.unknown_polls < LOST_POLLS:
                return _STILL_ACTIVE
            entry.state = JobState.UNKNOWN
            return (f"lost: the executor no longer knows the job ({status.state.value}) and it wrote "
                    f"no exit status after {LOST_POLLS} polls")
        words = status.reason or status.state.value
        return f"{status.state.value}: {words}; no exit-status file {entry.job.exitstatus.name}"

    def _commit(self, job: Job) -> str | None:
        if not job.stage.is_dir() or not any(job.stage.iterdir()):
            return None
        try:
            count = self.commit(job.stage)
        except Exception as exc:      # noqa: BLE001 - any store error fails the job, with its words
            return f"commit of {job.stage.name} failed: {exc}"
        if job.step.writes and count == 0:
            return f"{job.stage.name} held no records to commit: the module staged nothing complete"
        return None

    def _faillog(self, sp: StepPlan, job: Job, attempt: int, reason: str) -> None:
        with open(sp.stepdir / "faillog", "a") as fh:
            fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {job.name} {job.parms.name} "
                     f"attempt {attempt}: {reason}\n")
            fh.flush()
            os.fsync(fh.fileno())

    def _refresh(self, counts: StepCounts, pending: list[Job]) -> None:
        """Counts for the display, from the last poll (no extra call to the batch system)."""
        running = sum(1 for job_id in self.active if self._states.get(job_id) is JobState.RUNNING)
        counts.queued, counts.running = len(self.active) - running + len(pending), running
        self.reporter.update()


def _read_status(job: Job) -> int | None:
    try:
        return int(job.exitstatus.read_text().strip())
    except (OSError, ValueError):
        return None


class _StillActive:
    pass


class _Transient(Exception):
    """A transient batch-system error already reported; try again next cycle."""


_STILL_ACTIVE = _StillActive()
