"""Full-chain benchmark: time and peak memory of every step at several sizes of a synthetic Sun.

For each size (days, lmax) it synthesises the input (timed like a step), then runs the pipeline one
step at a time (``globalhs run ... firststep=S laststep=S`` on the local executor) in a fresh process
tree, so the peak resident memory of the step's largest process can be read from
``getrusage(RUSAGE_CHILDREN)`` of a wrapper. It prints, per step: wall time, peak RSS, the input
data rate (bytes of Dopplergrams per second of step time), and that rate as a fraction of the
machine's memory-copy bandwidth measured in the same run, plus the BLAS/FFT configuration.

Usage::

    python bench/e2e.py --quick                    # 1 day, lmax 20, up to leakage (a few minutes)
    python bench/e2e.py --sizes 6:100 18:100 72:100
    python bench/e2e.py --sizes 72:300 --last pow  # the transform and time-series steps at lmax 300

Timings on a shared 2-core machine are noisy: run it alone, and quote the command with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from globalhs.pipeline.steps import STEP_NAMES, STEPS_BY_NAME  # noqa: E402
from globalhs.pipeline.templates import find_template  # noqa: E402

_WRAPPER = """
import resource, subprocess, sys, json, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:]).returncode
wall = time.perf_counter() - t
print(json.dumps({"rc": rc, "wall": wall,
                  "maxrss_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def machine_reference() -> dict:
    """Memory-copy bandwidth (GB/s) and complex FFT rate (GFLOP/s, 5 N log2 N) on this machine now."""
    a = np.ones(2**24)
    b = np.empty_like(a)
    best = min(_timed(lambda: np.copyto(b, a)) for _ in range(5))
    x = (np.random.default_rng(0).standard_normal(2**17) + 0j)
    fft = min(_timed(lambda: np.fft.fft(x)) for _ in range(10))
    return {"copy_GBps": 2 * a.nbytes / best / 1e9, "fft_GFLOPs": 5 * x.size * 17 / fft / 1e9}


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def blas_summary() -> str:
    try:
        from threadpoolctl import threadpool_info

        return "; ".join(f"{i['internal_api']} {i.get('version')} threads={i['num_threads']}" for i in threadpool_info())
    except ImportError:
        blas = np.show_config(mode="dicts").get("Build Dependencies", {}).get("blas", {})
        return f"numpy {np.__version__} blas={blas.get('name', '?')} {blas.get('version', '')}"


def measured(command: list[str], env: dict) -> dict:
    """Run ``command`` under the wrapper; wall time and the peak RSS of its largest descendant."""
    out = subprocess.run([sys.executable, "-c", _WRAPPER, *command], env=env, stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def bench_size(days: float, lmax: int, last: str, workroot: Path, ref: dict, size: int) -> list[dict]:
    env = dict(os.environ, GLOBALHS_STORE=str(workroot / "store"), GLOBALHS_TOPDIR=str(workroot / "top"),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    rows = []
    synth = measured([sys.executable, "-m", "globalhs", "synth", "--starttime", "6400d", "--totaltime", f"{days:g}d",
                      "--lmax", str(lmax), "--size", str(size), "--quiet", "--replace",
                      "--workers", str(min(os.cpu_count() or 1, 4))], env)
    nbytes = days * 1440 * size * size * 4
    rows.append({"step": "synth", **synth, "bytes": nbytes})
    args = [f"starttime=6400d", f"totaltime={days:g}d", "label=synth", "lmin=0", f"lmax={lmax}"]
    for step in STEP_NAMES[: STEP_NAMES.index(last) + 1]:
        if find_template(STEPS_BY_NAME[step].desc, "synth") is None:
            continue
        r = measured([sys.executable, "-m", "globalhs", "run", *args, f"firststep={step}", f"laststep={step}",
                      "--quiet"], env)
        rows.append({"step": step, **r, "bytes": nbytes})
        if r["rc"] != 0:
            print(f"  step {step} failed (status {r['rc']}); see {workroot / 'top'}", file=sys.stderr)
            break
    for row in rows:
        rate = row["bytes"] / row["wall"] if row["wall"] > 0 else float("nan")
        row["rate_MBps"] = rate / 1e6
        row["of_copy_bw"] = rate / (ref["copy_GBps"] * 1e9)
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one small size (1 day, lmax 20, up to the leakage step)")
    ap.add_argument("--sizes", nargs="*", default=["6:100", "18:100", "72:100"], help="days:lmax pairs")
    ap.add_argument("--last", default="invert", choices=STEP_NAMES, help="last step to run")
    ap.add_argument("--size", type=int, default=192, help="image size (pixels)")
    ap.add_argument("--keep", type=Path, default=None, help="work here and keep it (default: a temporary dir)")
    a = ap.parse_args(argv)
    sizes = ["1:20"] if a.quick else a.sizes
    if a.quick:
        a.last = "leakage"   # one day does not resolve the mode widths: pkbgn needs weeks
    ref = machine_reference()
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores; "
          f"copy {ref['copy_GBps']:.1f} GB/s, FFT 2^17 {ref['fft_GFLOPs']:.2f} GFLOP/s; {blas_summary()}")
    print(f"# command: {' '.join([sys.executable, *sys.argv])}")
    print(f"{'days':>5} {'lmax':>5} {'step':>9} {'wall s':>8} {'peak MB':>8} {'MB/s':>8} {'of copy bw':>10}")
    for spec in sizes:
        days, lmax = float(spec.split(":")[0]), int(spec.split(":")[1])
        with tempfile.TemporaryDirectory(prefix="globalhs-bench-") as tmp:
            workroot = a.keep or Path(tmp)
            for row in bench_size(days, lmax, a.last, workroot, ref, a.size):
                print(f"{days:5g} {lmax:5d} {row['step']:>9} {row['wall']:8.1f} {row['maxrss_kb'] / 1024:8.0f} "
                      f"{row['rate_MBps']:8.1f} {row['of_copy_bw']:10.2e}" + ("" if row["rc"] == 0 else "  FAILED"))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
