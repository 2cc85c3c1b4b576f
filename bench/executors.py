"""Batch executors at scale: plan and submit N jobs to the local Slurm (or Grid Engine), then count
the batch-system commands one poll cycle costs at several numbers of jobs.

1. the driver: ``make_plan`` for N sht jobs (timechunk1 chosen so that there are N), then the runner
   itself from its start until all N are submitted (parameter files, scripts, the threshold count,
   the submission, the ledger), with a threshold above N so they go in one batch; the run is then
   interrupted as by Ctrl-C, which cancels its jobs in one command;
2. the executor alone: ``executor.submit`` of N plain job scripts (arrays of up to the site's
   max_array_size tasks; ``--no-arrays``: one sbatch per job);
3. polling 10, 100, 1000, N of them: commands per cycle (must stay 1-2) and seconds per poll;
4. cancelling them all: commands issued.

The machine limit printed beside the figures is one bare ``sbatch --wrap true`` / ``squeue -j ID``
measured in the same run: "submit ratio" = the driver's submit time / (submit commands x bare sbatch).

    SLURM_CONF=/var/tmp/globalhs-cluster/slurm/slurm.conf PYTHONPATH=. python bench/executors.py [--quick]
    PYTHONPATH=. python bench/executors.py --executor sge --jobs 2000

Timings on a shared 2-core machine are noisy: run it alone, and quote the command with the figures.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from globalhs.executors import executor_class  # noqa: E402
from globalhs.executors.base import JobSpec  # noqa: E402

HOLD = {"slurm": ("--hold",), "sge": ("-h",), "drmaa": ("-h",)}


def blas_summary() -> str:
    import numpy as np

    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{info.get('name')} {info.get('version', '')}".strip()
    except Exception as exc:      # noqa: BLE001 - only a label for the printout
        return f"unknown ({exc})"


def plain_jobs(n: int, top: Path, executor: str) -> list[JobSpec]:
    """N held job specs with plain scripts (no driver involved)."""
    stepdir = top / "plain"
    stepdir.mkdir(parents=True)
    specs = []
    for i in range(n):
        script = stepdir / f"subt.{i}.sh"
        script.write_text(f"#!/bin/sh\ncd {stepdir}\ntrue > v2t.log.{i} 2>&1\necho $? > jv2ts.exitstatus.{i}\n")
        script.chmod(0o755)
        specs.append(JobSpec(f"subt.6400.{i}.0-300bench", script, stepdir, "", stepdir / f"subt.{i}.out",
                             extra=HOLD[executor]))
    return specs


class _StopAfterSubmit:
    """Wraps the executor: notes when the runner's submissions are done, then interrupts the run at
    its first poll (as Ctrl-C would), so the runner cancels everything with one command."""

    def __init__(self, inner, n: int):
        self.inner, self.n, self.submitted, self.t_done = inner, n, 0, None
        self.name, self.poll_interval, self.poll_interval_max = inner.name, 0.01, 0.01
        self.site = inner.site

    def submit(self, jobs, max_running=None):
        ids = self.inner.submit(jobs, max_running)
        self.submitted += len(ids)
        if self.submitted >= self.n:
            self.t_done = time.perf_counter()
        return ids

    def poll(self, job_ids):
        if self.t_done is not None:
            raise KeyboardInterrupt
        return self.inner.poll(job_ids)

    def __getattr__(self, attr):
        return getattr(self.inner, attr)


def driver_run(n: int, top: Path, ex) -> None:
    """make_plan for N jobs, then the runner until all N are submitted; prints both times."""
    import io

    from globalhs.pipeline.ledger import Ledger
    from globalhs.pipeline.params import parse_params
    from globalhs.pipeline.plan import make_plan
    from globalhs.pipeline.progress import Reporter
    from globalhs.pipeline.runner import Runner

    templates = top / "templates"
    templates.mkdir(parents=True)
    (templates / "v2t.parms.bench").write_text("##module=testjob\ncounter=/dev/null\ntag=XXXX\nstage=0\n")
    os.environ["GLOBALHS_TEMPLATES"] = str(templates)
    t0 = time.perf_counter()
    plan = make_plan(parse_params(["starttime=6400d", f"totaltime={n}m", "timechunk1=1m", "label=bench",
                                   "laststep=sht", f"topdir={top / 'top'}", f"v2tjobsthreshold={n + 1}"]))
    t_plan = time.perf_counter() - t0
    njobs = len(plan.steps[0].jobs)
    wrapped = _StopAfterSubmit(ex, njobs)
    before = dict(ex.runner.counts)
    with Ledger(plan.workdir) as ledger:
        runner = Runner(plan, wrapped, ledger, Reporter(stream=io.StringIO()), commit=lambda stage: None)
        t0 = time.perf_counter()
        try:
            runner.run()
        except KeyboardInterrupt:
            pass
        t_cancelled = time.perf_counter()
        cancelled = sum(1 for r in ledger.rows() if r.state == "cancelled")
    t_submit = wrapped.t_done - t0
    cmds = {k: v - before.get(k, 0) for k, v in ex.runner.counts.items() if v - before.get(k, 0)}
    print(f"driver: make_plan {njobs} jobs {t_plan:.2f} s; runner start -> all submitted {t_submit:.2f} s "
          f"(parameter files, scripts, threshold count, submit, ledger)")
    print(f"driver: plan + submit {t_plan + t_submit:.2f} s for {njobs} jobs (target < 60 s for 10,000); "
          f"commands {cmds}; Ctrl-C cancelled {cancelled} in {t_cancelled - wrapped.t_done:.2f} s")


def bare_limits(executor: str, top: Path) -> tuple[float, float]:
    """Seconds of one bare submit and one bare single-job status query on this system, now."""
    if executor == "slurm":
        t = time.perf_counter()
        job = subprocess.run(["sbatch", "--parsable", "--hold", "--output=/dev/null", "--wrap", "true"],
                             capture_output=True, text=True, check=True).stdout.strip()
        submit = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run(["squeue", "-h", "-j", job], capture_output=True, check=True)
        query = time.perf_counter() - t
        subprocess.run(["scancel", job], check=True)
    else:
        t = time.perf_counter()
        job = subprocess.run(["qsub", "-terse", "-h", "-o", "/dev/null", "-j", "y", "-b", "y", "true"],
                             capture_output=True, text=True, check=True).stdout.strip()
        submit = time.perf_counter() - t
        t = time.perf_counter()
        subprocess.run(["qstat", "-j", job], capture_output=True, check=True)
        query = time.perf_counter() - t
        subprocess.run(["qdel", job], capture_output=True, check=True)
    return submit, query


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--executor", default="slurm", choices=["slurm", "sge", "drmaa"])
    ap.add_argument("--jobs", type=int, default=10000)
    ap.add_argument("--quick", action="store_true", help="1000 jobs")
    ap.add_argument("--no-arrays", action="store_true", help="one submit command per job")
    ap.add_argument("--no-driver", action="store_true", help="the executor alone")
    args = ap.parse_args(argv)
    n = 1000 if args.quick else args.jobs
    print(f"host {platform.node()}, {os.cpu_count()} cpus, python {platform.python_version()}, BLAS {blas_summary()}")
    print(f"executor {args.executor}, {n} jobs, arrays {'off' if args.no_arrays else 'on'}")

    from globalhs.executors.site import SiteConfig

    site = SiteConfig.load()
    # every job held (they must not load the machine): the site config's extra options for all steps
    default = {**site.default, "extra": {**site.default.get("extra", {}), args.executor: HOLD[args.executor]}}
    site = SiteConfig(**{**site.__dict__, "default": default, "use_arrays": site.use_arrays and not args.no_arrays})
    ex = executor_class(args.executor)(site=site)
    with tempfile.TemporaryDirectory(prefix="globalhs-bench-", dir=os.environ.get("TMPDIR", "/tmp")) as tmp:
        top = Path(tmp)
        bare_submit, bare_query = bare_limits("slurm" if args.executor == "slurm" else "sge", top)
        print(f"machine limit: bare submit {bare_submit * 1e3:.1f} ms, bare 1-job query {bare_query * 1e3:.1f} ms")

        if not args.no_driver:
            try:
                import globalhs.pipeline.runner  # noqa: F401
            except ImportError:
                print("driver: not installed here, skipped")
            else:
                driver_run(n, top, ex)

        t0 = time.perf_counter()
        specs = plain_jobs(n, top, args.executor)
        t_plan = time.perf_counter() - t0
        before = dict(ex.runner.counts)
        t0 = time.perf_counter()
        ids = ex.submit(specs)
        t_submit = time.perf_counter() - t0
        cmds = {k: v - before.get(k, 0) for k, v in ex.runner.counts.items() if v - before.get(k, 0)}
        n_submit = sum(v for k, v in cmds.items() if k in ("sbatch", "qsub"))
        limit = max(n_submit, 1) * bare_submit
        print(f"executor: write {len(specs)} plain scripts {t_plan:.2f} s; submit {len(ids)} jobs in {t_submit:.2f} s "
              f"({len(ids) / t_submit:,.0f} jobs/s), commands {cmds}; "
              f"submit ratio {t_submit / limit:.2f} x bare ({n_submit} x {bare_submit * 1e3:.1f} ms)")
        try:
            for k in sorted({min(10, n), min(100, n), min(1000, n), n}):
                before = dict(ex.runner.counts)
                t0 = time.perf_counter()
                states = ex.poll(ids[:k])
                dt = time.perf_counter() - t0
                cmds = {c: v - before.get(c, 0) for c, v in ex.runner.counts.items() if v - before.get(c, 0)}
                known = sum(1 for s in states.values() if s.state.value != "unknown")
                print(f"poll cycle: {k:>6} jobs -> {sum(cmds.values())} batch command(s) {cmds}, {dt:.3f} s, "
                      f"{known} known to the batch system")
            before = sum(ex.runner.counts.values())
            t0 = time.perf_counter()
            count = ex.count_queued("subt")
            print(f"count_queued('subt') = {count}: {sum(ex.runner.counts.values()) - before} command(s), "
                  f"{time.perf_counter() - t0:.3f} s")
        finally:
            before = dict(ex.runner.counts)
            t0 = time.perf_counter()
            ex.cancel(ids)
            cmds = {c: v - before.get(c, 0) for c, v in ex.runner.counts.items() if v - before.get(c, 0)}
            print(f"cancel: {len(ids)} jobs with {sum(cmds.values())} command(s) {cmds} in {time.perf_counter() - t0:.2f} s")
            ex.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
