"""The fit's inner evaluations on each kernel path: compiled (_peakbag_c) against the numpy reference.

For one multiplet of each chosen degree (hmi.6400.36, 72 days, N = 36, the finite-span profile), times
the model with its derivatives plus the observed Hessian (``score_and_fisher(observed=True)``, what
every Newton iteration costs) and the value-only model (what every line-search trial costs), each on
both paths (``GLOBALHS_PEAKBAG=numpy`` forces the reference).  Every figure is the best of --repeats
runs of --calls calls; the spread (slowest/fastest run) is printed too, since this shared machine's
speed varies from run to run.  Also prints the rate of profile elements against numpy's bare kernel on
the same shape (bench/pkbgn.py's machine limit).

    PYTHONPATH=. python bench/pkbkernels.py [--degrees 30,120,210] [--repeats 5] [--calls 20]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from globalhs.science import peakbag as pb
from globalhs.science.modetable import read_modetable
from globalhs.science.peakbag_calibration import calibration_leakage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pkbgn import _elementwise_rate, _numpy_config  # noqa: E402  (the bench's BLAS summary and machine limit)

LENGTH = 72 * 86400.0


def _problem(truth, l: int):
    """The lowest-n multiplet of degree l with its leakage, on exponential noise (the values do not matter)."""
    leak = calibration_leakage(l)
    row = int(np.flatnonzero(truth.l == l)[0])
    guess = pb.guess_of(truth, row)
    power = np.random.default_rng(l).exponential(size=(2 * l + 1, 40000))
    spec = pb.Spectrum(l, power, 0.0, 1e6 / LENGTH, LENGTH)
    prob = pb._Problem(spec, int(truth.n[row]), guess, truth, leak, pb.FitSettings(nacoeff=36))
    return prob, pb._start(prob, guess, spec)


def _timed(call, theta, repeats: int, calls: int) -> tuple[float, float]:
    """(best seconds per call, slowest run / fastest run); theta moves by a tiny step per call so that
    no evaluation is the cached one."""
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        for i in range(calls):
            moved = theta.copy()
            moved[0] += 1e-9 * (i + 1)
            call(moved)
        runs.append((time.perf_counter() - t) / calls)
    return min(runs), max(runs) / min(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    refdata = os.environ.get("GLOBALHS_REFDATA", "../shared/data")
    parser.add_argument("--table", default=refdata + "/hmi_modes/hmi.6400.36")
    parser.add_argument("--degrees", default="30,120,210")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=20)
    opts = parser.parse_args()
    print(_numpy_config())
    print(f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, compiled kernel "
          f"{'built' if pb._peakbag_c is not None else 'NOT built'}, load average {os.getloadavg()[0]:.1f}")
    truth = read_modetable(opts.table).with_nacoeff(36)
    for l in (int(v) for v in opts.degrees.split(",")):
        prob, theta = _problem(truth, l)
        shape = prob.k2.shape + prob.nu.shape[1:]
        line = f"l={l:3d} (m, s, j) = {shape}:"
        best = {}
        for path in ("compiled", "numpy"):
            if path == "compiled" and pb._peakbag_c is None:
                continue
            os.environ["GLOBALHS_PEAKBAG"] = path
            newton, spread_n = _timed(lambda t: prob.score_and_fisher(t, observed=True), theta, opts.repeats, opts.calls)
            value, spread_v = _timed(prob.model, theta, opts.repeats, opts.calls)
            best[path] = newton
            line += (f"  {path}: Newton evaluation {1e3 * newton:.2f} ms (spread {spread_n:.2f}), value "
                     f"{1e3 * value:.2f} ms (spread {spread_v:.2f})")
        os.environ.pop("GLOBALHS_PEAKBAG", None)
        if len(best) == 2:
            line += f"; numpy / compiled {best['numpy'] / best['compiled']:.1f}x"
        limit = _elementwise_rate(shape)
        fastest = min(best.values())
        line += (f"; profile elements {np.prod(shape) / fastest / 1e6:.0f} M/s per Newton evaluation against "
                 f"numpy's bare kernel {limit / 1e6:.0f} M/s (ratio {np.prod(shape) / fastest / limit:.2f})")
        print(line, flush=True)


if __name__ == "__main__":
    main()
