"""Full-chain benchmark: wall time, CPU time and peak memory of every step at several sizes of a synthetic Sun.

For each size ``DAYS:LMAX[:SYNTHLMAX]`` it synthesises the input (timed like a step; modes up to
SYNTHLMAX, default LMAX), then runs the pipeline one step at a time (``globalhs run ...
firststep=S laststep=S`` on the local executor, label ``synth``) in a fresh process tree, so a
wrapper's ``getrusage(RUSAGE_CHILDREN)`` gives the step's CPU seconds (user + system of every job
and of the driver) and the peak resident memory of its largest process. Per step it prints: wall
and CPU seconds, peak RSS, the store's size on disk after the step, the load average before and
after, and the input data rate (bytes of Dopplergrams per wall second) as a fraction of the
machine's memory-copy bandwidth measured in the same run. The sht row also gives maps per wall
and per CPU second.

The cost of sht and later steps does not depend on what the images hold, so a chain at a high
LMAX can be fed by a synthesis at a low SYNTHLMAX (``72:300:20`` is what an lmax-300 run costs from
sht on, with a synthesis that costs what lmax 20 does). With two or more spans at one LMAX it prints
each step's cost extrapolated linearly in the span to ``--extrapolate`` days (default 72) from the
two longest, labelled as such. ``--prune`` deletes a series' files once no later step reads them
(the catalog rows stay; the bench store is thrown away), so a long run stays within the disk.

Usage::

    python bench/e2e.py --quick                    # 1 day, lmax 20, up to leakage (a few minutes)
    python bench/e2e.py --sizes 6:100 18:100       # the whole chain, extrapolated to 72 days
    python bench/e2e.py --sizes 2:300:20 6:300:20 --steps sht,retilen,retile1,mkgaps,gapfill,pow --prune

Timings on a shared 2-core machine are noisy (CPU seconds much less than wall): quote the command,
the load and the BLAS line with the figures. ``--json FILE`` keeps every row.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
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
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"rc": rc, "wall": wall, "cpu": ru.ru_utime + ru.ru_stime, "maxrss_kb": ru.ru_maxrss}))
"""

SYNTH = "synth.V"


def readers(days: float) -> dict[str, list[str]]:
    """Which steps read each series of the synth label (parmtemplates/*.parms.synth), for --prune."""
    total = f"{days:g}d"
    sht = f"{SYNTH}_sht"
    return {
        SYNTH: ["sht", "mkgaps", "leakage"],
        sht: ["shtcheck", "retilen"],
        f"{sht}_12d": ["dscopyn", "retile1"],
        f"{sht}_12d_copy": [],
        f"{sht}_{total}": ["dscopy1", "mkgaps", "gapfill"],
        f"{sht}_{total}_copy": [],
        f"{sht}_gaps_{total}": ["gapfill", "gfgaps"],
        f"{sht}_gfgaps_{total}": [],
        f"{sht}_gf_{total}": ["pow", "slice"],
        f"{sht}_pow_{total}": ["pkbgn"],
        f"{sht}_slice_{total}": [],
    }


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
        return f"numpy {np.__version__} blas={blas.get('name', '?')} {blas.get('version', '')} (threadpoolctl absent)"


def disk_bytes(path: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(dirpath, name)).st_blocks * 512
            except OSError:
                pass
    return total


def measured(command: list[str], env: dict) -> dict:
    """Run ``command`` under the wrapper: wall and CPU seconds, peak RSS of its largest descendant."""
    load = os.getloadavg()[0]
    out = subprocess.run([sys.executable, "-c", _WRAPPER, *command], env=env, stdout=subprocess.PIPE, text=True)
    return {**json.loads(out.stdout.strip().splitlines()[-1]), "load_before": load, "load_after": os.getloadavg()[0]}


def prune(store: Path, remaining: list[str], days: float) -> list[str]:
    """Delete the files of the series no remaining step reads (the catalog keeps their rows)."""
    removed = []
    for series, steps in readers(days).items():
        target = store / "data" / series
        if target.exists() and not any(s in remaining for s in steps):
            shutil.rmtree(target, ignore_errors=True)
            removed.append(series)
    return removed


def bench_size(days: float, lmin: int, lmax: int, synth_lmax: int, steps: list[str], workroot: Path, ref: dict,
               size: int, do_prune: bool, report) -> list[dict]:
    store = workroot / "store"
    env = dict(os.environ, GLOBALHS_STORE=str(store), GLOBALHS_TOPDIR=str(workroot / "top"),
               PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    nbytes = days * 1440 * size * size * 4
    images = int(round(days * 1440))
    synth = measured([sys.executable, "-m", "globalhs", "synth", "--starttime", "6400d", "--totaltime", f"{days:g}d",
                      "--lmax", str(synth_lmax), "--size", str(size), "--quiet", "--replace",
                      "--workers", str(min(os.cpu_count() or 1, 4))], env)
    rows = [report({"step": "synth", **synth, "bytes": nbytes, "images": images, "disk": disk_bytes(store)})]
    if synth["rc"] != 0:
        return rows
    args = ["starttime=6400d", f"totaltime={days:g}d", "label=synth", f"lmin={lmin}", f"lmax={lmax}"]
    for k, step in enumerate(steps):
        r = measured([sys.executable, "-m", "globalhs", "run", *args, f"firststep={step}", f"laststep={step}",
                      "--quiet"], env)
        pruned = prune(store, steps[k + 1:], days) if do_prune else []
        rows.append(report({"step": step, **r, "bytes": nbytes, "images": images, "disk": disk_bytes(store),
                            "pruned": pruned}))
        if r["rc"] != 0:
            print(f"  step {step} failed (status {r['rc']}); see {workroot / 'top'}", file=sys.stderr)
            break
    return rows


def extrapolate(results: list[dict], target_days: float) -> list[str]:
    """Lines with each step's wall and CPU time at ``target_days``, linear through the two longest spans."""
    lines = []
    for lmax in sorted({r["lmax"] for r in results}):
        spans = sorted({r["days"] for r in results if r["lmax"] == lmax and r["rc"] == 0})
        if len(spans) < 2:
            continue
        d1, d2 = spans[-2], spans[-1]
        lines.append(f"# EXTRAPOLATED to {target_days:g} days at lmax {lmax}, linear in the span through "
                     f"{d1:g} and {d2:g} days (not measured):")
        lines.append(f"{'days':>5} {'lmax':>5} {'step':>9} {'wall s':>9} {'cpu s':>9} {'wall/day':>9} {'cpu/day':>9}")
        for step in dict.fromkeys(r["step"] for r in results if r["lmax"] == lmax):
            pair = {r["days"]: r for r in results if r["lmax"] == lmax and r["step"] == step and r["rc"] == 0}
            if d1 not in pair or d2 not in pair:
                continue
            out = []
            for key in ("wall", "cpu"):
                slope = (pair[d2][key] - pair[d1][key]) / (d2 - d1)
                out += [pair[d2][key] + slope * (target_days - d2), slope]
            lines.append(f"{target_days:5g} {lmax:5d} {step:>9} {out[0]:9.0f} {out[2]:9.0f} {out[1]:9.1f} {out[3]:9.1f}")
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="one small size (1 day, lmax 20, up to the leakage step)")
    ap.add_argument("--sizes", nargs="*", default=["6:100", "18:100"], help="DAYS:LMAX[:SYNTHLMAX] triples")
    ap.add_argument("--last", default="invert", choices=STEP_NAMES, help="last step to run")
    ap.add_argument("--steps", default=None, help="comma-separated steps to run (default: every step to --last)")
    ap.add_argument("--size", type=int, default=192, help="image size (pixels)")
    ap.add_argument("--lmin", type=int, default=0, help="lowest degree of the chain (a degree fraction of it)")
    ap.add_argument("--prune", action="store_true", help="delete each series' files once no later step reads them")
    ap.add_argument("--extrapolate", type=float, default=72.0, help="span (days) to extrapolate to")
    ap.add_argument("--keep", type=Path, default=None, help="work here and keep it (default: a temporary dir)")
    ap.add_argument("--json", type=Path, default=None, help="append every row to this file (JSON lines)")
    a = ap.parse_args(argv)
    sizes = ["1:20"] if a.quick else a.sizes
    if a.quick:
        a.last = "leakage"   # one day does not resolve the mode widths: pkbgn needs weeks
    wanted = a.steps.split(",") if a.steps else STEP_NAMES[: STEP_NAMES.index(a.last) + 1]
    unknown = [s for s in wanted if s not in STEP_NAMES]
    if unknown:
        ap.error(f"unknown steps {unknown}; expected some of {STEP_NAMES}")
    steps = [s for s in STEP_NAMES if s in wanted and find_template(STEPS_BY_NAME[s].desc, "synth") is not None]
    ref = machine_reference()
    load = os.getloadavg()
    print(f"# machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores, load {load[0]:.1f} "
          f"{load[1]:.1f} {load[2]:.1f}; copy {ref['copy_GBps']:.1f} GB/s, FFT 2^17 {ref['fft_GFLOPs']:.2f} GFLOP/s; "
          f"{blas_summary()}; OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}", flush=True)
    print(f"# command: {' '.join([sys.executable, *sys.argv])}", flush=True)
    print(f"{'days':>5} {'lmax':>5} {'step':>9} {'wall s':>8} {'cpu s':>8} {'peak MB':>8} {'disk GB':>8} "
          f"{'load':>9} {'of copy bw':>10}  notes", flush=True)
    results = []
    for spec in sizes:
        parts = spec.split(":")
        days, lmax = float(parts[0]), int(parts[1])
        synth_lmax = int(parts[2]) if len(parts) > 2 else lmax

        def report(row, days=days, lmax=lmax, synth_lmax=synth_lmax):
            row.update(days=days, lmin=a.lmin, lmax=lmax, synth_lmax=synth_lmax)
            rate = row["bytes"] / row["wall"] if row["wall"] > 0 else float("nan")
            notes = []
            if row["step"] == "synth":
                notes.append(f"modes to l={synth_lmax}; {row['images'] / row['wall']:.0f} images/s wall")
            if row["step"] == "sht":
                notes.append(f"{row['images'] / row['wall']:.0f} maps/s wall, {row['images'] / row['cpu']:.0f} per CPU-s")
            if row["step"] not in ("synth", "sht", "shtcheck", "leakage", "pkbgn", "invert") and row["rc"] == 0:
                samples = ((lmax + 1) ** 2 - a.lmin**2 + (lmax + 1) - a.lmin) // 2 * row["images"]
                notes.append(f"{row['cpu'] / samples * 1e9:.0f} ns/sample CPU")
            if row.get("pruned"):
                notes.append("pruned " + ",".join(s.removeprefix(SYNTH) or SYNTH for s in row["pruned"]))
            if row["rc"] != 0:
                notes.append("FAILED")
            print(f"{days:5g} {lmax:5d} {row['step']:>9} {row['wall']:8.1f} {row['cpu']:8.1f} "
                  f"{row['maxrss_kb'] / 1024:8.0f} {row['disk'] / 1e9:8.2f} "
                  f"{row['load_before']:4.1f}-{row['load_after']:<4.1f} {rate / (ref['copy_GBps'] * 1e9):10.2e}  "
                  + "; ".join(notes), flush=True)
            if a.json:
                with open(a.json, "a") as fh:
                    fh.write(json.dumps(row) + "\n")
            return row

        with tempfile.TemporaryDirectory(prefix="globalhs-bench-", dir=os.environ.get("GLOBALHS_BENCH_TMP")) as tmp:
            workroot = a.keep / spec.replace(":", "_") if a.keep else Path(tmp)
            results += bench_size(days, a.lmin, lmax, synth_lmax, steps, workroot, ref, a.size, a.prune, report)
    for line in extrapolate(results, a.extrapolate):
        print(line, flush=True)
    print(f"# load average at the end: {os.getloadavg()[0]:.1f}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
