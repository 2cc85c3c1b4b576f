"""Throughput and peak memory of retile (retilen + retile1), gapfill and pow on a synthetic data set.

Usage::

    PYTHONPATH=. python bench/timeseries.py [--sizes 20:4,30:8] [--maxorder 100]

Each size ``LMAX:DAYS`` builds an MDI-like set (60 s cadence, 6 h SHT chunks of 40 degrees, white
noise a_lm with 5 % of the images missing in gaps of 1-60 samples plus one 3-hour gap) in a private
store, then runs each step as the driver would, one subprocess per job (so the peak RSS of a job is
measured, ``ru_maxrss``), and prints the time per step, the time extrapolated to a full 72-day
lmax-300 set (45,451 series x 103,680 samples = 37.7 GB complex64) assuming cost linear in the data
volume (checked by the two sizes), and the ratio to the time of one complex64 FFT pass over the same
data measured in the same run (scipy.fft, one thread) -- the machine limit a spectrum step can reach.
The shared 2-core machine makes the figures noisy; rerun before quoting them.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import scipy.fft

ROOT = Path(__file__).resolve().parents[1]
FULL_ROWS = 301 * 302 // 2
FULL_NDT = 72 * 1440
RUNNER = ("import json, resource, sys, time\n"
          "from globalhs.modules import get_module\n"
          "module = get_module(sys.argv[1]); import globalhs.drms, astropy.io.fits, scipy.signal\n"
          "t = time.perf_counter(); c = time.process_time(); rc = module(sys.argv[2:])\n"
          "print('BENCH', json.dumps({'rc': rc, 's': time.perf_counter() - t, 'cpu_s': time.process_time() - c,\n"
          "      'rss_mb': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))\n")


def blas_summary() -> str:
    try:
        from threadpoolctl import threadpool_info

        return "; ".join(f"{i.get('internal_api')} {i.get('version')} threads={i.get('num_threads')}"
                         for i in threadpool_info())
    except ImportError:
        cfg = np.show_config(mode="dicts") if "mode" in np.show_config.__code__.co_varnames else {}
        blas = cfg.get("Build Dependencies", {}).get("blas", {}) if isinstance(cfg, dict) else {}
        return f"numpy BLAS {blas.get('name', '?')} {blas.get('version', '')}"


def kernel_summary() -> str:
    """Which arfill kernels gapfill uses here (compiled C or the numpy reference), as the jobs will."""
    sys.path.insert(0, str(ROOT))
    try:
        from globalhs.science import arfill
    except ImportError as exc:
        return f"arfill not importable ({exc})"
    if not hasattr(arfill, "kernel_path"):
        return "arfill kernels: numpy (this version has no compiled kernels)"
    path = arfill.kernel_path()
    isa = f", {arfill._arfill_c.ISA}" if path == "compiled" else ""
    return f"arfill kernels (Burg, fill right-hand side, cluster solves): {path}{isa}"


def run(module: str, args: list[str], env: dict[str, str]) -> dict:
    proc = subprocess.run([sys.executable, "-c", RUNNER, module, *args], env=env, capture_output=True, text=True)
    lines = [l for l in proc.stdout.splitlines() if l.startswith("BENCH ")]
    if proc.returncode or not lines or json.loads(lines[-1][6:])["rc"]:
        raise SystemExit(f"{module} {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(lines[-1][6:])


def build(lmax: int, days: int, env: dict[str, str], rng: np.random.Generator) -> np.ndarray:
    """Write the SHT chunks (jv2ts layout, 6 h x 40 degrees); returns the window (True = image)."""
    os.environ.update(env)
    from globalhs.drms import open_store
    from globalhs.drms.builtin import timeseries_series
    from globalhs.time import day_to_time

    ndt = days * 1440
    good = np.ones(ndt, dtype=bool)
    while good.mean() > 0.95:
        length = int(rng.integers(1, 61))
        start = int(rng.integers(0, ndt - length))
        good[start : start + length] = False
    good[ndt // 3 : ndt // 3 + 180] = False
    store = open_store()
    store.ensure_series(timeseries_series("bench.V_sht", tstep_slot="6h"))
    t0 = day_to_time(6400)
    with store.writer(replace=True) as w:
        for lo in range(0, lmax + 1, 40):
            hi = min(lo + 39, lmax)
            rows = (hi + 1) * (hi + 2) // 2 - lo * (lo + 1) // 2
            for k0 in range(0, ndt, 360):
                z = (rng.standard_normal((rows, 360)) + 1j * rng.standard_normal((rows, 360))).astype(np.complex64)
                z[:, ~good[k0 : k0 + 360]] = 0
                w.add("bench.V_sht", {"T_START": t0 + 60.0 * k0, "LMIN": lo, "LMAX": hi, "NDT": 360, "T_STEP": 60.0},
                      {"data": z.view(np.float32)})
    return good


def fft_pass_seconds(rows: int, ndt: int) -> float:
    """One complex64 FFT over every series (blocks of 64 rows; one thread), seconds."""
    block = np.ones((min(64, rows), ndt), dtype=np.complex64)
    scipy.fft.fft(block, axis=-1)
    t = time.perf_counter()
    for _ in range(3):
        scipy.fft.fft(block, axis=-1)
    per_row = (time.perf_counter() - t) / 3 / block.shape[0]
    return per_row * rows


def bench_size(lmax: int, days: int, maxorder: int) -> dict:
    rows = (lmax + 1) * (lmax + 2) // 2
    ndt = days * 1440
    tmp = tempfile.mkdtemp(prefix="globalhs-bench-")
    env = {**os.environ, "GLOBALHS_STORE": str(Path(tmp) / "store"), "PYTHONPATH": str(ROOT),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env.pop("GLOBALHS_STAGE", None)
    build(lmax, days, env, np.random.default_rng(lmax * 100 + days))
    total, piece = f"{days}d", f"{days // 2}d"
    res: dict[str, dict] = {}
    steps = []
    for p in range(2):  # retilen: two pieces, 40 degrees per record (lchunk2)
        start = f"{6400 + p * days // 2}d"
        steps.append(("retilen", "retile", [f"in=bench.V_sht[{start}/{piece}]", f"out=bench.V_sht_{piece}",
                                            f"TSTART={start}", f"TTOTAL={piece}", f"LMAX={lmax}", "LCHUNK=40"]))
    steps.append(("retile1", "retile", [f"in=bench.V_sht_{piece}[6400d/{total}]", f"out=bench.V_sht_{total}",
                                        "TSTART=6400d", f"TTOTAL={total}", f"LMAX={lmax}", "LCHUNK=1"]))
    steps.append(("mkgaps", "mkgaps", [f"in=bench.V_sht_{total}[6400d]", f"out=bench.V_sht_gaps_{total}",
                                       f"LMAX={lmax}", f"POWLMAX={min(lmax, 20)}"]))
    steps.append(("gapfill", "gapfill", [f"in=bench.V_sht_{total}[6400d]", f"gaps=bench.V_sht_gaps_{total}[6400d]",
                                         f"out=bench.V_sht_gf_{total}", f"LMAX={lmax}", f"MAXORDER={maxorder}",
                                         "DETRENDORDER=2", "DTWINDOW=1d", "DTOVERLAP=4h"]))
    steps.append(("pow", "pow", [f"in=bench.V_sht_gf_{total}[6400d]", f"out=bench.V_sht_pow_{total}",
                                 f"LMAX={lmax}"]))
    for name, module, args in steps:
        r = run(module, args, env)
        agg = res.setdefault(name, {"s": 0.0, "cpu_s": 0.0, "rss_mb": 0.0})
        agg["s"] += r["s"]
        agg["cpu_s"] += r["cpu_s"]
        agg["rss_mb"] = max(agg["rss_mb"], r["rss_mb"])
    res["retile"] = {"s": res["retilen"]["s"] + res["retile1"]["s"],
                     "cpu_s": res["retilen"]["cpu_s"] + res["retile1"]["cpu_s"],
                     "rss_mb": max(res["retilen"]["rss_mb"], res["retile1"]["rss_mb"])}
    fft = fft_pass_seconds(rows, ndt)
    res["fft"] = {"s": fft, "cpu_s": fft, "rss_mb": 0.0}
    subprocess.run(["rm", "-rf", tmp])
    return {"lmax": lmax, "days": days, "rows": rows, "ndt": ndt, "steps": res}


def bench_full_record(l: int, maxorder: int) -> dict:
    """One full-length record (degree l, 72 d at 60 s: (l+1) series x 103,680 samples): the memory of a
    gapfill or pow job at full scale, and its time."""
    tmp = tempfile.mkdtemp(prefix="globalhs-bench-")
    env = {**os.environ, "GLOBALHS_STORE": str(Path(tmp) / "store"), "PYTHONPATH": str(ROOT),
           "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    env.pop("GLOBALHS_STAGE", None)
    os.environ.update(env)
    from globalhs.drms import open_store
    from globalhs.drms.builtin import timeseries_series
    from globalhs.time import day_to_time

    rng = np.random.default_rng(l)
    good = np.ones(FULL_NDT, dtype=bool)
    while good.mean() > 0.95:
        length = int(rng.integers(1, 61))
        start = int(rng.integers(0, FULL_NDT - length))
        good[start : start + length] = False
    z = (rng.standard_normal((l + 1, FULL_NDT)) + 1j * rng.standard_normal((l + 1, FULL_NDT))).astype(np.complex64)
    z[:, ~good] = 0
    store = open_store()
    store.ensure_series(timeseries_series("bench.V_sht_72d"))
    with store.writer() as w:
        w.add("bench.V_sht_72d", {"T_START": day_to_time(6400), "LMIN": l, "LMAX": l, "NDT": FULL_NDT,
                                  "T_STEP": 60.0}, {"data": z.view(np.float32)})
    del z
    res = {}
    res["mkgaps"] = run("mkgaps", ["in=bench.V_sht_72d[6400d]", "out=bench.V_sht_gaps_72d", f"LMIN={l}",
                                   f"LMAX={l}", f"POWLMIN={l}", f"POWLMAX={l}"], env)
    res["gapfill"] = run("gapfill", ["in=bench.V_sht_72d[6400d]", "gaps=bench.V_sht_gaps_72d[6400d]",
                                     "out=bench.V_sht_gf_72d", f"LMIN={l}", f"LMAX={l}", f"MAXORDER={maxorder}",
                                     "DETRENDORDER=2", "DTWINDOW=1d", "DTOVERLAP=4h"], env)
    res["pow"] = run("pow", ["in=bench.V_sht_gf_72d[6400d]", "out=bench.V_sht_pow_72d", f"LMIN={l}", f"LMAX={l}"], env)
    fft = fft_pass_seconds(l + 1, FULL_NDT)
    res["fft"] = {"s": fft, "cpu_s": fft, "rss_mb": 0.0}
    subprocess.run(["rm", "-rf", tmp])
    return res


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="20:4,30:8", help="LMAX:DAYS,... (days even)")
    parser.add_argument("--maxorder", type=int, default=100)
    parser.add_argument("--full-record", type=int, default=None, metavar="L",
                        help="instead: one full 72-day record of degree L (memory of a gapfill/pow job)")
    opts = parser.parse_args()
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, scipy {scipy.__version__}; {blas_summary()}")
    print(f"cpus: {os.cpu_count()} (shared); load average {os.getloadavg()[0]:.1f}; command: {' '.join(sys.argv)}")
    print(kernel_summary())
    if opts.full_record is not None:
        l = opts.full_record
        res = bench_full_record(l, opts.maxorder)
        volume = (l + 1) * FULL_NDT
        print(f"\none 72-day record, l={l}: {l + 1} series x {FULL_NDT} samples")
        for name, st in res.items():
            print(f"  {name:8} {st['s']:8.2f} s {1e9 * st['s'] / volume:10.1f} ns/sample "
                  f"{st['s'] / res['fft']['s']:8.1f} x FFT  CPU {st['cpu_s']:8.2f} s "
                  f"{1e9 * st['cpu_s'] / volume:8.1f} ns/sample  peak RSS {st['rss_mb']:8.0f} MB")
        print(f"load average after: {os.getloadavg()[0]:.1f}")
        return
    for size in opts.sizes.split(","):
        lmax, days = map(int, size.split(":"))
        out = bench_size(lmax, days, opts.maxorder)
        volume = out["rows"] * out["ndt"]
        scale = FULL_ROWS * FULL_NDT / volume
        fft = out["steps"]["fft"]["s"]
        print(f"\nlmax {lmax}, {days} d: {out['rows']} series x {out['ndt']} samples "
              f"({volume * 8 / 1e6:.0f} MB complex64; full set = {scale:.0f} x)")
        print(f"  {'step':8} {'s':>8} {'ns/sample':>10} {'x FFT':>8} {'full set (est.)':>16} "
              f"{'CPU s':>8} {'CPU ns/sample':>14} {'peak RSS MB':>12}")
        for name in ("retilen", "retile1", "retile", "mkgaps", "gapfill", "pow", "fft"):
            st = out["steps"][name]
            print(f"  {name:8} {st['s']:8.2f} {1e9 * st['s'] / volume:10.1f} {st['s'] / fft:8.1f} "
                  f"{st['s'] * scale / 60:13.1f} min {st['cpu_s']:8.2f} {1e9 * st['cpu_s'] / volume:14.1f} "
                  f"{st['rss_mb']:12.0f}")
        three = sum(out["steps"][n]["s"] for n in ("retile", "gapfill", "pow")) * scale / 60
        three_cpu = sum(out["steps"][n]["cpu_s"] for n in ("retile", "gapfill", "pow")) * scale / 60
        print(f"  retile + gapfill + pow, full 72-day lmax-300 set (linear extrapolation): {three:.0f} core-min "
              f"wall-clock per job, {three_cpu:.0f} core-min CPU; two jobs at once on the 2 cores: about "
              f"{three / 2:.0f} min (goal 15 min)")
        print(f"  load average after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
