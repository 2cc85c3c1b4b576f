"""The issue's acceptance check: fit synthetic spectra built from the HMI truth table.

Spectra of l = 5, 20, 50, 100, 150 (every n the table has: 52 multiplets) are built from hmi.6400.36
(frequencies, widths, amplitudes as peak heights, a1..aN) through the project's leakage matrix
(mdivw72d grid, |l'-l| <= 6, |m'-m| <= 15) with exponential noise of fixed seeds, and fitted from
guesses offset from the truth (nu by 0.3 Gamma, a1 by 10 nHz, random)
(:func:`globalhs.science.peakbag_calibration.calibration_set`).  Required: every multiplet is fitted
or rejected with a reason (no silent failures); of the fitted nu, a1 and a3, >= 95 % lie within 2
formal sigma of the truth and the spread of (fit - truth)/sigma is between 0.8 and 1.25.

Sample size.  A calibrated estimator puts 95.45 % of its pulls within 2 sigma, and the fraction
sampled from n pulls scatters about that by sqrt(0.0455 * 0.9545 / n): 1.2 % for the 312 pulls of 2
seeds, which is why 2 seeds could not decide.  The slow test uses 24 seeds (fixed before it was
run): n = 24 x 52 x 3 = 3744 pulls, scatter 0.34 %, so a calibrated estimator falls below the 95 %
line only by a 1.3-sigma fluctuation, errors 5 % too small (94.3 % expected) pass it only by a
2-sigma one, and errors 10 % too small (93.1 %) are 5.6 sigma below.  Measured 95.19 % (nu / a1 / a3
94.9 / 96.0 / 94.7 %, spreads 1.03 / 0.97 / 1.01), 371 s CPU: docs/peakbagging.md.

N = 36 and 18 (the real labels' choices).  Where the fit is nonlinear (low l: every component
frequency free) the Hessian errors are too small; BOOTSTRAP=40 replaces them, for the fits the
linearity diagnostic flags, by a bias-corrected parametric bootstrap's
(:func:`globalhs.science.peakbag_errors.bootstrap_errors`).  The tests of N = 36 and 18 run with it.
"""

import functools

import numpy as np
import pytest

from globalhs.science import peakbag as pb
from globalhs.science.modetable import read_modetable
from globalhs.science.peakbag_calibration import calibration_set

DEGREES = (5, 20, 50, 100, 150)
SLOW_TIMEOUT = 3600
"""Seconds (wall) a slow calibration test may take: each needs 300-1500 s of CPU, more than the suite's
900-s limit (pyproject.toml) on a machine shared with other work; the limit is for hangs."""
BIG_SEEDS = range(24)


def _check_accounted(result):
    """No silent failures: every multiplet is a fit with finite values and errors, or a rejection with
    a reason."""
    assert len(result.pulls) + len(result.rejected) == result.total
    assert np.all(np.isfinite(result.pulls))
    assert all(reason for *_, reason in result.rejected)


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT)
@pytest.mark.refdata
def test_issue_criterion_95_percent_within_2_sigma_n6(refdata):
    """N = 6, 24 seeds (3744 pulls, binomial scatter 0.34 %): the issue's criterion as it states it."""
    truth = read_modetable(refdata("hmi_modes", "hmi.6400.36")).with_nacoeff(6)
    result = calibration_set(truth, DEGREES, BIG_SEEDS, pb.FitSettings(nacoeff=6))
    print(result.summary())
    _check_accounted(result)
    assert len(result.rejected) <= 0.01 * result.total, result.summary()
    assert result.pooled() >= 0.95, result.summary()
    assert np.all(result.within() >= 0.94), result.summary()  # each of nu, a1, a3 (1248 pulls: sd 0.6 %)
    assert np.all((result.spread() > 0.8) & (result.spread() < 1.25)), result.summary()


BOOTSTRAP = 40
"""Replicates per stage of the bias-corrected bootstrap (80 refits per nonlinear multiplet): the
sample rms of K = 40 scatters by 1/sqrt(2K) = 11 %, which would cost the pooled fraction about 0.7
point (94.77 % within 2 rms); the reported error carries the Student factor t_40(0.97725)/2 = 1.032
that gives that back, times exp(1.5 x 0.011) for the further scatter of an rms simulated at the random
point theta - b: 1.049 (peakbag_errors.bootstrap_factor, session 5)."""
FEW_SEEDS = range(4)


def _criterion(result, rejected_share):
    print(result.summary())
    _check_accounted(result)
    assert len(result.rejected) <= rejected_share * result.total, result.summary()
    assert result.pooled() >= 0.95, result.summary()
    assert np.all((result.spread() > 0.8) & (result.spread() < 1.25)), result.summary()


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT)
@pytest.mark.refdata
def test_issue_criterion_all_degrees_n36_with_bootstrap(refdata):
    """N = 36 (hmi72d, mdifd72d) over l = 5, 20, 50, 100, 150 with BOOTSTRAP=40, seeds 0..3 (208
    multiplets, 624 pulls, binomial sd 0.83 %: a calibrated estimator passes 95 % only 70 % of the time,
    so this is a weak check; the l = 5 test below is the strong one).  Measured 95.31 % (nu / a1 / a3
    95.6 / 94.7 / 95.6 %, spreads 0.94 / 1.05 / 1.02), 2 of 208 rejected with reasons; l = 20 alone
    93.63 % of 204 pulls.  About 850 s CPU (l = 20: 547 s).  Session 4 (bootstrap above linearity 0.10,
    Student factor): 95.49 % (95.2 / 95.2 / 96.1 %, spreads 0.94 / 1.03 / 1.00), 1 rejected, 87
    bootstrapped (l = 20: 43 of 68, 94.12 %); 449 s wall on a quiet machine.  Session 5 (bootstrap
    factor 1.049): the same fractions, spreads 0.94 / 1.02 / 0.99."""
    truth = read_modetable(refdata("hmi_modes", "hmi.6400.36")).with_nacoeff(36)
    result = calibration_set(truth, DEGREES, FEW_SEEDS, pb.FitSettings(nacoeff=36, bootstrap=BOOTSTRAP))
    _criterion(result, 0.02)


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT)
@pytest.mark.refdata
def test_issue_criterion_all_degrees_n18_with_bootstrap(refdata):
    """N = 18 (mdivw72d) over l = 5, 20, 50, 100, 150 with BOOTSTRAP=40, seeds 0..3 (624 pulls, binomial
    sd 0.83 %, as above).  At l = 5 N' = min(N, 2l) = 10, the same fit as N = 36.  Measured
    96.60 % (nu / a1 / a3 97.6 / 98.1 / 94.2 %, spreads 0.95 / 0.98 / 1.02), 2 of 208 rejected with
    reasons, 28 fits bootstrapped; 194 s CPU.  Session 4 (bootstrap above linearity 0.10, Student
    factor): 96.62 % (97.1 / 98.1 / 94.7 %, spreads 0.95 / 0.96 / 1.00), 1 rejected, 68 bootstrapped.
    Session 5 (bootstrap factor 1.049): the same fractions, spreads 0.94 / 0.96 / 1.00."""
    truth = read_modetable(refdata("hmi_modes", "hmi.6400.36")).with_nacoeff(18)
    result = calibration_set(truth, DEGREES, FEW_SEEDS, pb.FitSettings(nacoeff=18, bootstrap=BOOTSTRAP))
    _criterion(result, 0.02)


@pytest.mark.refdata
def test_small_set_is_calibrated_n6(refdata):
    """The fast version: l = 5 only, 10 seeds (100 multiplets, 300 pulls, binomial scatter 1.2 %).

    l = 5 is the least linear degree of the set (docs/peakbagging.md: 94.5 % within 2 sigma over 20
    seeds), so the bound is 91 %, three standard deviations below that; errors 15 % too small would
    put the fraction at about 89 %."""
    truth = read_modetable(refdata("hmi_modes", "hmi.6400.36")).with_nacoeff(6)
    result = calibration_set(truth, (5,), range(10), pb.FitSettings(nacoeff=6))
    _check_accounted(result)
    assert not result.rejected, result.summary()
    assert result.pooled() >= 0.91, result.summary()
    assert np.all((result.spread() > 0.8) & (result.spread() < 1.25)), result.summary()


@functools.cache
def _l5_n36(path):
    truth = read_modetable(path).with_nacoeff(36)
    return calibration_set(truth, (5,), range(12), pb.FitSettings(nacoeff=36))


L5_SEEDS = range(40)


@pytest.mark.slow
@pytest.mark.timeout(SLOW_TIMEOUT)
@pytest.mark.refdata
def test_issue_criterion_at_l5_with_36_coefficients(refdata):
    """l = 5 with N = 36: every one of the 11 components has its own frequency (N' = 2l), the fit is
    nonlinear and its Hessian errors are too small (91 %, docs/peakbagging.md, "What the errors mean").
    With BOOTSTRAP=40 the flagged fits (linearity > 0.10) take their errors from the bias-corrected
    bootstrap (times the Student factor of its 40 replicates).  40 seeds (fixed before the run): 400
    multiplets, 1200 pulls, binomial sd 0.60 %, so a calibrated estimator falls below 95 % only on a
    0.75-sd fluctuation (23 % of the time) and the Hessian's 91.6 % (measured on seeds 0..99) is 5.6 sd
    below.  Each quantity must reach 93 % (400 pulls, sd 1.0 %).  Measured (session 4): 95.64 % (nu /
    a1 / a3 96.5 / 96.7 / 93.7 %, spreads 0.94 / 0.99 / 1.06, a3 mean pull +0.17), 2 of 400 rejected
    with reasons, 349 fits bootstrapped; 448 s CPU.  Before the factor and the threshold 0.10 (0.15):
    94.89 % (a3 93.0 %), a strict xfail.  On fresh seeds 40..79 the same code gives 94.82 % (a3
    93.5 %), so 0..79 together 95.23 % of 2391 pulls: pooled, consistent with calibrated errors; a3 alone
    is 2.5 sd low (docs/peakbagging.md, "What the errors mean", session 4).  Session 5 (factor 1.049,
    peakbag_errors.bootstrap_factor, on main with its merges): 95.73 % (96.7 / 96.7 / 93.7 %, spreads
    0.92 / 0.98 / 1.05, a3 mean pull +0.17), 2 rejected, 349 bootstrapped, 307 s wall; over seeds
    0..239 a3 covers 94.6 % with the factor (94.1 % without; 2390 fits), still 2 sd low."""
    truth = read_modetable(refdata("hmi_modes", "hmi.6400.36")).with_nacoeff(36)
    result = calibration_set(truth, (5,), L5_SEEDS, pb.FitSettings(nacoeff=36, bootstrap=BOOTSTRAP))
    _criterion(result, 0.05)
    assert np.all(result.within() >= 0.93), result.summary()
    assert result.bootstrapped > 0.3 * len(result.pulls), result.summary()


@pytest.mark.refdata
def test_l5_with_36_coefficients_is_flagged_nonlinear_and_hessian_errors_too_small(refdata):
    """Without the bootstrap, the same kind of fits (12 seeds, 120 multiplets, 354 pulls, binomial sd
    1.1 %): no silent failures, the linearity diagnostic flags them (median above 0.15, above the
    bootstrap's line 0.10, unlike N = 6 at
    l = 100, medians 0.02), and the Hessian errors are too small -- below 93 % within 2 sigma (measured
    91.0 %), which is why BOOTSTRAP exists.  8 s CPU."""
    result = _l5_n36(str(refdata("hmi_modes", "hmi.6400.36")))
    _check_accounted(result)
    assert len(result.rejected) <= 0.05 * result.total, result.summary()
    assert np.median(result.linearity) > 0.15, result.summary()
    assert result.pooled() < 0.93, result.summary()
    assert result.bootstrapped == 0, result.summary()
