"""Benchmark of the peakbagging fit: a synthetic l <= 300 set (every STRIDE-th degree) at 72-day resolution.

Builds the leakage (mdivw72d grid) and synthetic m-resolved spectra from the HMI table hmi.6400.36
(all n of each chosen l, N = 36, high signal-to-noise background), fits every multiplet from guesses
offset from the truth, and prints multiplets per second, the fit time, the extrapolation to the whole
set (about 1800 multiplets) on the given number of parallel jobs, and the ratio of the fit's
elementwise throughput to numpy's on the same array shapes (the machine limit for this kind of work).

    PYTHONPATH=. python bench/pkbgn.py [--stride 30] [--lmin 0] [--nacoeff 36] [--jobs 2] [--errors hessian,sandwich]
        [--bootstrap 0] [--finite] [--label-settings [--label hmi72d]]

``--label-settings`` fits each degree with the settings (ERRORS, BOOTSTRAP, NACOEFF, NITER) of the pkbgn
job that holds it in a 72-day run of ``--label`` (default hmi72d, N = 36), rendered from the label's own
pkb template as the driver renders it, and with the finite-span profile (pkbgn passes the span).  Each
degree then runs NITER passes as pkbgn does (:func:`globalhs.modules.pkbgn.pass_settings`: the earlier
passes with the Hessian's errors and no bootstrap, each pass starting from the previous one's fits), and
all passes are timed: the figure is what a pkbgn run costs.  Other modes fit once per multiplet.

With several ``--errors`` settings every degree's spectra are fitted once per setting in the same run
(same spectra, same guesses, interleaved so that the machine's load affects them alike), and each
setting gets its own rate and extrapolation.  The spectra are limit spectra
(:func:`~globalhs.science.synthspec.synthetic_degree`, a Lorentzian times exponential noise), fitted
with the Lorentzian; ``--finite`` gives them the span's length as pow's records do in pkbgn, so that
the fits use pkbgn's finite-span (Fejer-convolved) profile and cost what pkbgn's do.  The model then
does not match these spectra (the narrowest modes' widths run to their lower bound and are rejected),
so use it for the cost only.

``--bootstrap K`` fits as pkbgn BOOTSTRAP=K does (bias-corrected parametric bootstrap, 2K replicate fits,
for the multiplets the linearity diagnostic flags); the nonlinear fits sit at low l, so measure its cost
with a fine stride over low degrees (e.g. ``--stride 5 --lmax 60``) rather than with the default stride.

Timings on the shared 2-core machine are noisy (other processes); record the command with the figure.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path

import numpy as np

from globalhs.modules.pkbgn import MODULE as PKBGN
from globalhs.modules.pkbgn import fit_settings, pass_settings
from globalhs.pipeline.params import parse_params
from globalhs.pipeline.plan import plan_step
from globalhs.pipeline.steps import STEPS_BY_NAME
from globalhs.science import peakbag as pb
from globalhs.science.modetable import read_modetable
from globalhs.science.peakbag_calibration import calibration_leakage  # the map of lkg.parms.mdivw72d
from globalhs.science.synthspec import synthetic_degree

LABEL_ERRORS = "label"
"""--errors value: each degree's settings from its pkbgn job of the label (:func:`label_job_settings`)."""


def label_job_settings(label: str, lmax: int) -> list[tuple[int, int, pb.FitSettings, int]]:
    """(lmin, lmax, fit settings, NITER) of every pkbgn job of a 72-day run of ``label`` over l = 0..lmax: the
    label's pkb template rendered per job by the driver's own planning (pipeline.plan.plan_step) and
    read by pkbgn's own argument table and :func:`globalhs.modules.pkbgn.fit_settings`.  ORBITAL=mean
    (set per span by pkbgn) becomes the default rate the synthetic spectra are made with."""
    with tempfile.TemporaryDirectory() as top:
        params = parse_params(["starttime=6400d", "totaltime=72d", f"label={label}", "lmin=0", f"lmax={lmax}",
                               f"topdir={top}"])
        jobs = plan_step(STEPS_BY_NAME["pkbgn"], params, Path(top)).jobs
    if not jobs:
        raise SystemExit(f"label {label!r} has no pkb template")
    orbital = pb.FitSettings().orbital_nhz
    parsed = [(job, PKBGN.parse(job.rendered.arguments)) for job in jobs]
    return [(job.lmin, job.lmax, replace(fit_settings(args), orbital_nhz=orbital), args["NITER"])
            for job, args in parsed]


def _describe(jobs) -> str:
    """The jobs' settings for the summary line, neighbouring jobs with the same settings merged."""
    runs: list[list] = []
    for lo, hi, s, niter in jobs:
        text = f"ERRORS={s.errors} BOOTSTRAP={s.bootstrap} N={s.nacoeff} NITER={niter}"
        if runs and runs[-1][2] == text:
            runs[-1][1] = hi
        else:
            runs.append([lo, hi, text])
    return f"{len(jobs)} jobs; " + "; ".join(f"l {lo}-{hi}: {text}" for lo, hi, text in runs)


def _numpy_config() -> str:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        return f"numpy {np.__version__}, BLAS {blas.get('name')} {blas.get('version')}"
    except Exception:  # pragma: no cover - older numpy
        return f"numpy {np.__version__}"


def _elementwise_rate(shape) -> float:
    """numpy's rate (elements/s) for the fit's inner kernel shape: x, 1/(1+x^2), weighted sum."""
    rng = np.random.default_rng(0)
    nu = rng.random((shape[0], 1, shape[2]))
    centre = rng.random((shape[0], shape[1], 1))
    k2 = rng.random(shape[:2])
    best = np.inf
    for _ in range(5):
        t = time.perf_counter()
        x = 2.0 * (nu - centre) / 1.3
        den = 1.0 / (1.0 + x * x)
        np.einsum("msj,ms->mj", den, k2)
        best = min(best, time.perf_counter() - t)
    return np.prod(shape) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default=os.environ.get("GLOBALHS_REFDATA", "../shared/data") + "/hmi_modes/hmi.6400.36")
    parser.add_argument("--stride", type=int, default=30, help="fit every STRIDE-th degree (1 = the whole set)")
    parser.add_argument("--lmin", type=int, default=0)
    parser.add_argument("--lmax", type=int, default=300)
    parser.add_argument("--bootstrap", type=int, default=0, help="BOOTSTRAP=K: replicates per stage for flagged fits")
    parser.add_argument("--nacoeff", type=int, default=36)
    parser.add_argument("--jobs", type=int, default=2, help="parallel pkbgn jobs assumed in the extrapolation")
    parser.add_argument("--errors", default="hessian", help="ERRORS settings to time, comma-separated")
    parser.add_argument("--finite", action="store_true", help="fit with the finite-span profile (pkbgn's cost)")
    parser.add_argument("--label-settings", action="store_true",
                        help="each degree fitted as its pkbgn job of --label is (its template's ERRORS, BOOTSTRAP, "
                             "NACOEFF), with the finite-span profile")
    parser.add_argument("--label", default="hmi72d", help="the label of --label-settings")
    opts = parser.parse_args()
    jobs = []
    if opts.label_settings:
        opts.finite, opts.errors = True, LABEL_ERRORS
        jobs = label_job_settings(opts.label, opts.lmax)
        opts.bootstrap = max(s.bootstrap for _, _, s, _ in jobs)  # for the printed summary
    print(_numpy_config())
    print(f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', 'unset')}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, cpus={os.cpu_count()}, "
          f"load average at start {os.getloadavg()[0]:.1f}")
    truth = read_modetable(opts.table)
    length = 72 * 86400.0
    dnu = 1e6 / length
    methods = opts.errors.split(",")
    window = pb.FitSettings(nacoeff=opts.nacoeff, bootstrap=opts.bootstrap)

    def settings(errors: str, l: int) -> tuple[pb.FitSettings, int]:
        """The fit settings and NITER of degree l."""
        if errors == LABEL_ERRORS:
            return next((s, niter) for lo, hi, s, niter in jobs if lo <= l <= hi)
        return pb.FitSettings(nacoeff=opts.nacoeff, errors=errors, bootstrap=opts.bootstrap), 1

    degrees = [l for l in range(opts.lmin, opts.lmax + 1, opts.stride) if np.any(truth.l == l)]
    rng = np.random.default_rng(1)
    t_leak = t_synth = 0.0
    stats = {e: dict(wall=0.0, cpu=0.0, nfit=0, nok=0, iters=[], elements=0, methods=Counter(), passes=[])
             for e in methods}
    load = []
    for l in degrees:
        t = time.perf_counter()
        leak = calibration_leakage(l)
        t_leak += time.perf_counter() - t
        t = time.perf_counter()
        power, nu0, _ = synthetic_degree(truth, l, leak, dnu, 0.002, np.random.default_rng(l),
                                         lambda r: max(window.window_gammas * truth.width[r], window.window_min) + 10)
        t_synth += time.perf_counter() - t
        spec = pb.Spectrum(l, power, nu0, dnu, length if opts.finite else 0.0)
        guesses = truth.select(np.arange(len(truth)))
        rows = np.flatnonzero(guesses.l == l)
        guesses.nu[rows] += rng.normal(0, 0.3, rows.size) * guesses.width[rows]
        guesses.a[rows, 0] += rng.normal(0, 10, rows.size)
        guesses.bg[:] = 0.002
        line = f"l={l:3d}: {rows.size:2d} multiplets"
        for e in methods:
            st = stats[e]
            t, c = time.perf_counter(), time.process_time()
            fit_settings_l, niter = settings(e, l)
            table, passes = guesses, []
            for iteration in range(niter):  # as pkbgn's passes: fit, update the guesses, refit
                fits = pb.fit_degree(spec, table, leak, pass_settings(fit_settings_l, iteration, niter),
                                     neighbours=truth)
                table = pb.update_table(table, fits)
                st["elements"] += sum(f.kernel_elements for f in fits)
                passes.append(time.process_time() - c - sum(passes))
            dt = time.perf_counter() - t
            st["wall"] += dt
            st["cpu"] += time.process_time() - c
            st["passes"].append(passes)
            st["nfit"] += len(fits)
            st["nok"] += sum(f.ok for f in fits)
            st["iters"].extend(f.iterations for f in fits)
            st["methods"].update(f.error_method for f in fits if f.ok)
            line += (f"; {e}: {sum(f.ok for f in fits):2d} fitted, {dt:6.2f} s wall {time.process_time() - c:6.2f} s CPU"
                     + (" (passes " + " + ".join(f"{p:.2f}" for p in passes) + " s)" if niter > 1 else "")
                     + "".join(f" (rejected n={f.n}: {f.reason})" for f in fits if not f.ok))
        load.append(os.getloadavg()[0])
        print(line, flush=True)
    total = len(truth.select((truth.l >= opts.lmin) & (truth.l <= opts.lmax)))
    print(f"\n{len(degrees)} degrees (stride {opts.stride}), {stats[methods[0]]['nfit']} multiplets of the {total} "
          f"with l = {opts.lmin}..{opts.lmax} ({100 * stats[methods[0]]['nfit'] / total:.1f} %); N = {opts.nacoeff}; BOOTSTRAP={opts.bootstrap}; "
          + (f"the settings of {opts.label}'s pkbgn jobs ({_describe(jobs)}); " if opts.label_settings else "")
          + "profile "
          + ("finite-span (--finite)" if opts.finite else "Lorentzian"))
    for e in methods:
        st = stats[e]
        multipass = max(map(len, st["passes"])) > 1
        rate = st["nfit"] / st["wall"]
        est, est_cpu = total / rate / opts.jobs, total / (st["nfit"] / st["cpu"]) / opts.jobs
        print(f"ERRORS={e}: {st['nok']} of {st['nfit']} accepted (errors from {dict(st['methods'])}); fit {st['wall']:.1f} s wall, "
              f"{st['cpu']:.1f} s CPU -> {rate:.2f} multiplets/s (wall), {st['nfit'] / st['cpu']:.2f} per CPU-second; "
              f"median iterations {np.median(st['iters']):.0f}" + (" (last pass)" if multipass else ""))
        if multipass:
            by_pass = np.sum([p for p in st["passes"] if len(p) == len(st["passes"][0])], axis=0)
            print("  CPU by pass (fit, update the guesses, refit): " + " + ".join(f"{p:.1f}" for p in by_pass) + " s")
        print(f"  extrapolated whole set ({total} multiplets) on {opts.jobs} jobs: {est / 60:.1f} min at this run's wall "
              f"rate, {est_cpu / 60:.1f} min at its CPU rate (an unloaded core)")
    if len(methods) > 1:
        base = stats[methods[0]]["cpu"]
        print("CPU time relative to " + methods[0] + ": "
              + ", ".join(f"{e} {stats[e]['cpu'] / base:.2f}" for e in methods[1:]))
    print(f"load average (1 min) after each degree: min {min(load):.1f}, median {np.median(load):.1f}, max {max(load):.1f} "
          f"(2 cores): wall figures are inflated by others' work")
    print(f"leakage {t_leak:.1f} s, synthetic spectra {t_synth:.1f} s (not part of pkbgn)")
    st = stats[methods[0]]
    achieved = st["elements"] / st["cpu"]
    limit = _elementwise_rate((201, 8, 150))
    print(f"profile values per CPU-second in the {methods[0]} fits: {achieved / 1e6:.1f} M/s; numpy's bare kernel (x, "
          f"1/(1+x^2), weighted sum) on a (201, 8, 150) array: {limit / 1e6:.1f} M/s wall; ratio {achieved / limit:.3f} "
          f"(a fit evaluation also forms about ten derivative arrays and the Hessian, so << 1 is expected)")


if __name__ == "__main__":
    main()
