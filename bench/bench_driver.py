"""Driver overhead: planning rate, and runner throughput against launching the same jobs bare.

The machine limit for the runner is the rate at which this machine can run the same job commands
with the same number of parallel slots and no driver (a thread pool calling ``subprocess.run``);
the ratio says how much of that the driver's bookkeeping (scripts, ledger, polling, verification)
keeps.

    PYTHONPATH=. python bench/bench_driver.py [--quick]
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path


def blas_summary() -> str:
    import numpy as np

    try:
        info = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        return f"{info.get('name')} {info.get('version', '')}".strip()
    except Exception as exc:      # noqa: BLE001 - only a label for the printout
        return f"unknown ({exc})"


def bench_plan(repeats: int) -> None:
    from globalhs.pipeline.params import parse_params
    from globalhs.pipeline.plan import _tai, make_plan

    p = parse_params(["starttime=6400d", "totaltime=72d", "label=mdivw72d", "laststep=shtcheck"])
    t0 = time.perf_counter()
    for _ in range(repeats):
        _tai.cache_clear()              # a cold plan, as a fresh `globalhs run` makes it
        plan = make_plan(p)
    dt = (time.perf_counter() - t0) / repeats
    jobs = sum(len(sp.jobs) for sp in plan.steps)
    print(f"plan: {jobs} jobs (mdivw72d, 72d, sht+shtcheck) in {dt * 1e3:.1f} ms = {jobs / dt:,.0f} jobs/s")


def bench_run(njobs: int, slots: int) -> None:
    from globalhs.executors.local import LocalExecutor
    from globalhs.pipeline.ledger import Ledger
    from globalhs.pipeline.params import parse_params
    from globalhs.pipeline.plan import make_plan
    from globalhs.pipeline.progress import Reporter
    from globalhs.pipeline.runner import Runner

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "tpl").mkdir()
        (tmp / "cnt").mkdir()
        (tmp / "tpl" / "v2t.parms.bench").write_text(
            f"##module=testjob\ncounter={tmp}/cnt/{{{{index}}}}\n")
        os.environ["GLOBALHS_TEMPLATES"] = str(tmp / "tpl")
        os.environ["GLOBALHS_TOPDIR"] = str(tmp / "top")
        plan = make_plan(parse_params([f"starttime=6400d", f"totaltime={njobs}d", "label=bench",
                                       "laststep=sht"]))
        t0 = time.perf_counter()
        with Ledger(plan.workdir) as ledger:
            code = Runner(plan, LocalExecutor(slots=slots), ledger, Reporter(stream=io.StringIO()),
                          commit=lambda stage: None).run()
        driven = time.perf_counter() - t0
        assert code == 0
        cmd = plan.steps[0].jobs[0].command()[:-1]

        def bare(i: int) -> None:
            subprocess.run([*cmd, f"counter={tmp}/cnt/bare{i}"], check=True, stdout=subprocess.DEVNULL,
                           env={**os.environ, "GLOBALHS_STAGE": str(tmp / f"stage{i}")})

        t0 = time.perf_counter()
        with ThreadPoolExecutor(slots) as pool:
            list(pool.map(bare, range(njobs)))
        limit = time.perf_counter() - t0
    print(f"run: {njobs} testjob jobs on {slots} slots: driver {njobs / driven:.2f} jobs/s, "
          f"bare launch (machine limit) {njobs / limit:.2f} jobs/s, ratio {limit / driven:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer jobs and repeats")
    args = parser.parse_args()
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} CPUs, BLAS {blas_summary()} (not used here)")
    bench_plan(3 if args.quick else 10)
    slots = os.cpu_count() or 1
    bench_run(8 if args.quick else 32, slots)


if __name__ == "__main__":
    main()
