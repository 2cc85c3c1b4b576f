"""Width bias of the peakbagging fit on periodograms of finite series, by width in frequency bins.

Simulates every n of the chosen degrees of a truth table (default hmi.6400.36) as finite time series
(:func:`globalhs.science.synthspec.series_degree`: damped modes observed for the span, leaked into the
m-spectra with one realisation per mode, white background), one multiplet per periodogram, and fits
each from guesses offset from the truth (0.3 widths in nu, 10 nHz in a1, as ``calibration_set``) twice:
with the span's length (pkbgn's finite-span profile) and without it (the bare Lorentzian).  Prints, per
class of true width in bins, the mean relative width error (fitted/true - 1) with its standard error and
the mean width pull (fit - true)/sigma: the tables of docs/peakbagging.md, "Widths".

    PYTHONPATH=. python bench/pkbwidths.py [--days 36] [--degrees 5,20,50,100,150] [--seeds 0:2]
        [--nacoeff 6] [--errors sandwich] [--background 0.002]

Not a speed benchmark: it prints the CPU time taken.  Fits that are rejected are counted per profile.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from globalhs.science import peakbag as pb
from globalhs.science.modetable import read_modetable
from globalhs.science.peakbag_calibration import calibration_leakage
from globalhs.science.synthspec import series_degree

CLASSES = (1.5, 2.5, 4.0, 8.0, 20.0, np.inf)
"""Edges of the width classes in frequency bins (the docs' table columns)."""
PROFILES = ("finite-span profile", "Lorentzian")


def width_errors(truth, degrees, seeds, days, settings, background):
    """{profile: (true width in bins, relative width error, width pull)} over every fitted multiplet,
    and {profile: rejected count}."""
    length = days * 86400.0
    dnu = 1e6 / length
    out = {p: [] for p in PROFILES}
    rejected = dict.fromkeys(PROFILES, 0)
    for l in degrees:
        leak = calibration_leakage(l)
        rows = np.flatnonzero(truth.l == l)
        for seed in seeds:
            offsets = np.random.default_rng([seed, l, 1])
            for r in rows:
                n = int(truth.n[r])
                power, nu0, _ = series_degree(truth, l, leak, length, background,
                                              np.random.default_rng([seed, l, n]), ns=[n],
                                              orbital_nhz=settings.orbital_nhz)
                guess = pb.guess_of(truth, int(r))
                guess["nu"] += offsets.normal(0, 0.3) * truth.width[r]
                guess["a"] = guess["a"].copy()
                guess["a"][0] += offsets.normal(0, 10.0)
                guess["bg"] = background
                own = truth.select(np.array([r]))
                for profile, span in zip(PROFILES, (length, 0.0)):
                    fit = pb.fit_multiplet(pb.Spectrum(l, power, nu0, dnu, span), n, guess, own, leak, settings)
                    if not fit.ok:
                        rejected[profile] += 1
                        continue
                    out[profile].append((truth.width[r] / dnu, fit.width / truth.width[r] - 1.0,
                                         (fit.width - truth.width[r]) / fit.err[2]))
    return {p: np.array(v).reshape(-1, 3) for p, v in out.items()}, rejected


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    refdata = os.environ.get("GLOBALHS_REFDATA", "../shared/data")
    parser.add_argument("--table", default=refdata + "/hmi_modes/hmi.6400.36")
    parser.add_argument("--days", type=float, default=36.0)
    parser.add_argument("--degrees", default="5,20,50,100,150")
    parser.add_argument("--seeds", default="0:2", help="first:stop")
    parser.add_argument("--nacoeff", type=int, default=6)
    parser.add_argument("--errors", default="sandwich")
    parser.add_argument("--background", type=float, default=0.002)
    opts = parser.parse_args()
    first, stop = (int(v) for v in opts.seeds.split(":"))
    degrees = [int(v) for v in opts.degrees.split(",")]
    truth = read_modetable(opts.table).with_nacoeff(opts.nacoeff)
    settings = pb.FitSettings(nacoeff=opts.nacoeff, errors=opts.errors)
    c0 = time.process_time()
    results, rejected = width_errors(truth, degrees, range(first, stop), opts.days, settings, opts.background)
    print(f"{opts.days:g} d, degrees {degrees}, seeds {first}..{stop - 1}, N={opts.nacoeff}, "
          f"ERRORS={opts.errors}, background {opts.background:g}")
    edges = list(zip(CLASSES[:-1], CLASSES[1:]))
    print("profile".ljust(22) + "".join(f"{lo:g}-{hi:g} bins".rjust(30) for lo, hi in edges))
    for profile, values in results.items():
        cells = []
        for lo, hi in edges:
            sel = values[(values[:, 0] >= lo) & (values[:, 0] < hi)]
            if len(sel) < 2:
                cells.append(f"({len(sel)} fits)")
                continue
            se = sel[:, 1].std(ddof=1) / np.sqrt(len(sel))
            cells.append(f"{100 * sel[:, 1].mean():+.1f} +- {100 * se:.1f} % pull {sel[:, 2].mean():+.2f} ({len(sel)})")
        print(profile.ljust(22) + "".join(c.rjust(30) for c in cells) + f"   rejected {rejected[profile]}")
    print(f"CPU {time.process_time() - c0:.0f} s (load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
