"""End to end: a synthetic Sun through the real driver and the local executor, results against the truth.

The small test (1 day, lmax 20) is part of the normal suite; the 36-day, lmax-60 one is ``slow``
(``make test-slow``) and asks for what a helioseismologist would: >= 90 % of the fitted multiplets
with nu and a1 within 2 sigma of the truth.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from globalhs.drms import open_store
from globalhs.modules import MODULES
from globalhs.pipeline.steps import STEPS_BY_NAME
from globalhs.pipeline.templates import find_template
from globalhs.report.build import _modes, build_report, find_products
from globalhs.report.compare import compare_tables, spectral_recovery
from globalhs.science.synthsun import ObservationConfig
from globalhs.synthetic.generate import default_modes_path, generate
from globalhs.synthetic.truth import load_truth
from globalhs.time import DAY, format_time, parse_time_or_day

ROOT = Path(__file__).resolve().parents[1]


def _pipeline_or_skip(laststep: str) -> None:
    """Skip, naming what is missing, while a step of the synth label has no module or template yet."""
    from globalhs.pipeline.steps import STEP_NAMES

    missing = []
    for name in STEP_NAMES[: STEP_NAMES.index(laststep) + 1]:
        step = STEPS_BY_NAME[name]
        if find_template(step.desc, "synth") is None:
            if name in ("sht", "retile1", "gapfill", "pow", "pkbgn", "invert"):
                missing.append(f"template {step.desc}.parms.synth")
            continue
        if importlib.util.find_spec(MODULES[step.module].split(":")[0]) is None:
            missing.append(f"module {step.module}")
    if missing:
        pytest.skip("the synth chain is incomplete: " + ", ".join(missing))
    if not default_modes_path().exists():
        pytest.skip(f"reference mode table {default_modes_path()} is absent (GLOBALHS_REFDATA)")


def _run(args: list[str], timeout: float) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "globalhs", "run", *args, "--quiet"], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout)


def _check_products(args: list[str], lmax: int, total: float) -> None:
    """Every step that writes has records for this run, and the time series cover 0..lmax over the span."""
    run = find_products(args)
    store = open_store()
    start = format_time(run.start)
    for step, series in run.outputs.items():
        if not STEPS_BY_NAME[step].writes:
            continue
        assert store.has_series(series), f"step {step}: no series {series}"
        defn = store.series(series)
        first = defn.prime[0].name
        recs = store.query(f"{series}[{start}/{total:g}s]") if first in ("T_REC", "T_START") else store.query(series)
        assert recs, f"step {step}: no records of {series} for {start}"
        names = [k.name for k in defn.prime]
        if names == ["T_START", "LMIN", "LMAX", "NDT"] and step in ("retile1", "gapfill", "pow"):
            covered = set()
            for r in recs:
                assert r.keywords["T_START"] == pytest.approx(run.start)
                covered |= set(range(int(r.keywords["LMIN"]), int(r.keywords["LMAX"]) + 1))
            assert covered >= set(range(0, lmax + 1)), f"step {step}: degrees {sorted(set(range(lmax + 1)) - covered)} missing"
            if step != "pow":
                assert {int(r.keywords["NDT"]) * float(r.keywords["T_STEP"]) for r in recs} == {total}


def _fitted_against_truth(args: list[str]):
    run = find_products(args)
    store = open_store()
    fitted = _modes(store, f"{run.outputs['pkbgn']}[{format_time(run.start)}]")
    assert fitted is not None and len(fitted) > 0, "pkbgn wrote no mode table"
    truth = load_truth(store.root, run.input_series)
    return compare_tables(fitted, truth.modes)


def _spectral_recovery(args: list[str], lmax_check: int):
    from globalhs.report.build import _power

    run = find_products(args)
    store = open_store()
    ls, freq, power = _power(store, f"{run.outputs['pow']}[{format_time(run.start)}]")
    return spectral_recovery(ls, freq, power, load_truth(store.root, run.input_series).modes, lmax_check)


def test_one_day_lmax_20_through_driver_and_local_executor():
    """Every step up to the leakage matrix on one day of a synthetic Sun, through the real driver,
    then pkbgn.

    One day does not resolve the mode widths (about 1 uHz: weeks), so the frequencies are checked
    first where they can be: the power of every true low-degree multiplet stands out of the l-nu
    diagram at its true frequency, to within the resolution 1/T. Then pkbgn (widths held at the
    window's main lobe) must run and give the low-degree frequencies back within a few sigma.
    """
    _pipeline_or_skip("leakage")
    days, lmax = 1, 20
    generate(parse_time_or_day("6400d"), days * DAY, lmax=lmax, config=ObservationConfig(size=64, seed=1))
    args = ["starttime=6400d", f"totaltime={days}d", "label=synth", "lmin=0", f"lmax={lmax}", "laststep=leakage"]
    done = _run(args, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:]
    _check_products(args, lmax, days * DAY)
    rec = _spectral_recovery(args, lmax_check=5)
    offsets, contrast = rec.offset, rec.contrast
    assert offsets.size >= 30
    assert np.median(np.abs(offsets)) < 0.5 and np.max(np.abs(offsets)) < 1.5, np.round(offsets, 2)
    assert np.median(contrast) > 10 and contrast.min() > 2, np.round(contrast, 1)
    path, _ = build_report(args)
    assert (path.parent / "lnu.png").exists() and (path.parent / "window.png").exists()
    # pkbgn on the same day (the driver skips the verified steps): every job succeeds (multiplets that
    # cannot be fitted are rejections, not failures), and the low-degree frequencies come back within a
    # few sigma. Measured: 278 of 306 fitted, median |nu - true| / sigma 0.98 for l <= 5 (the formal
    # errors of 1-day fits are too small: rms 4.1 sigma with a few outliers, docs/peakbagging.md).
    fit_args = args[:-1] + ["laststep=pkbgn"]
    done = _run(fit_args, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:]
    comp = _fitted_against_truth(fit_args)
    assert comp.n_fitted >= 0.8 * comp.n_truth, comp.summary()
    low = comp.l <= 5
    assert low.sum() >= 30, comp.summary()
    assert np.median(np.abs(comp.nu_residual[low])) < 2, np.round(comp.nu_residual[low], 1)


@pytest.mark.slow
def test_36_days_lmax_60_recovers_nu_and_a1_within_2_sigma():
    """36 days of a synthetic Sun at lmax 60 (192x192 images, seed 7) through the inversion.

    Measured (2026-11-21, the same generate() call and run arguments in a persistent store, on the shared
    2-core machine at load 8-11): synthesis 31 min wall (51840 images, 50480 written), the run 28 min wall
    (1120 s CPU; sht 12 min, pkbgn 12 min, the rest 4 min), peak RSS 0.7 GB. Result:
    `688 of 869 true multiplets fitted (l 0-60); nu within 2 sigma 94%, a1 within 2 sigma 96%; median
    |nu - true| 29.6 nHz, rms residual 1.07 sigma`; the fractions asserted here: nu 93.6 %, a1 95.3 %.
    Before the fixes (session 1, 36 days at lmax 20) nu was 72 %: pkbgn modelled the leaks of
    neighbouring degrees with height 0 (guess table without heights), and the diagonal likelihood's
    errors ignored that a mode's realisation appears in several m-spectra (the synth label now uses
    ERRORS=sandwich); docs/tutorial.md section 6. Then 181 multiplets (mostly l > 40) were rejected for an
    observed Hessian not positive definite at the end point: the synthetic Sun has no background, and the
    flat ln B direction stopped those fits short of the optimum. With pkbgn holding an undetermined
    background and testing the end point by the Newton decrement (issue 6; the same steps run once by
    script at load 9-10): `869 of 869 true multiplets fitted (l 0-60); nu within 2 sigma 94%, a1 within
    2 sigma 96%; median |nu - true| 31.7 nHz, rms residual 1.09 sigma`, the fractions asserted here nu
    93.7 %, a1 95.6 %. The test counts the fitted ones, as the issue asks.
    """
    _pipeline_or_skip("invert")
    days, lmax = 36, 60
    generate(parse_time_or_day("6400d"), days * DAY, lmax=lmax, config=ObservationConfig(seed=7), workers=2)
    args = ["starttime=6400d", f"totaltime={days}d", "label=synth", "lmin=0", f"lmax={lmax}", "laststep=invert"]
    done = _run(args, timeout=6 * 3600)
    assert done.returncode == 0, done.stdout[-3000:]
    _check_products(args, lmax, days * DAY)
    comp = _fitted_against_truth(args)
    assert comp.l.size >= 100, comp.summary()
    # Each within 2 sigma for >= 90 % (a unit normal gives 95.4 %; both at once would be 91 %).
    assert np.mean(np.abs(comp.nu_residual) <= 2) >= 0.90, comp.summary()
    assert np.mean(np.abs(comp.a_residual(1)) <= 2) >= 0.90, comp.summary()
    path, _ = build_report(args)
    assert path.exists()
