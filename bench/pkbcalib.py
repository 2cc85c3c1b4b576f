"""Calibration of the peakbagging errors: pulls of nu, a1, a3 on synthetic spectra from hmi.6400.36.

Fits every n of the chosen degrees for each noise seed (globalhs.science.peakbag_calibration) and
prints the fraction of pulls within 2 sigma (pooled and per quantity), their spread and mean, per
degree, with the binomial standard deviation a calibrated estimator would show for that many pulls.

    PYTHONPATH=. python bench/pkbcalib.py --nacoeff 6 --seeds 0:24 [--degrees 5,20,50,100,150]
        [--bootstrap 0]    # K replicates per stage of the bias-corrected bootstrap (pkbgn BOOTSTRAP)
        [--bootstrap-above X]  # linearity above which a fit is bootstrapped (default: FitSettings')
        [--correlated --errors sandwich]  # periodograms of leakage-correlated series (real data's kind)

Not a speed benchmark: it prints the CPU time taken so that the test's runtime can be planned.
"""

from __future__ import annotations

import argparse
import os
import time

from globalhs.science import peakbag as pb
from globalhs.science.modetable import read_modetable
from globalhs.science.peakbag_calibration import calibration_set


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    refdata = os.environ.get("GLOBALHS_REFDATA", "../shared/data")
    parser.add_argument("--table", default=refdata + "/hmi_modes/hmi.6400.36")
    parser.add_argument("--nacoeff", type=int, default=6)
    parser.add_argument("--seeds", default="0:24", help="first:stop")
    parser.add_argument("--degrees", default="5,20,50,100,150")
    parser.add_argument("--bootstrap", type=int, default=0)
    parser.add_argument("--bootstrap-above", type=float, default=pb.FitSettings.bootstrap_above)
    parser.add_argument("--errors", default="hessian", choices=("hessian", "fisher", "sandwich"))
    parser.add_argument("--correlated", action="store_true",
                        help="spectra from synthspec.series_degree (rows share their modes' realisations)")
    opts = parser.parse_args()
    first, stop = (int(v) for v in opts.seeds.split(":"))
    degrees = [int(v) for v in opts.degrees.split(",")]
    truth = read_modetable(opts.table).with_nacoeff(opts.nacoeff)
    settings = pb.FitSettings(nacoeff=opts.nacoeff, bootstrap=opts.bootstrap, bootstrap_above=opts.bootstrap_above,
                              errors=opts.errors)
    t0, c0 = time.perf_counter(), time.process_time()
    result = calibration_set(truth, degrees, range(first, stop), settings, correlated=opts.correlated)
    print(f"N={opts.nacoeff} degrees {degrees} seeds {first}..{stop - 1} bootstrap {opts.bootstrap} "
          f"above linearity {opts.bootstrap_above}, errors {opts.errors}"
          f"{', correlated spectra (series_degree)' if opts.correlated else ''}")
    print(result.summary())
    print(f"wall {time.perf_counter() - t0:.0f} s, CPU {time.process_time() - c0:.0f} s "
          f"(load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
