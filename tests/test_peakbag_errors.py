"""What the peakbagging errors mean: the linearity diagnostic and the parametric bootstrap.

The inverse Hessian is the covariance of the fit only while the model is close to linear in the
parameters over their errors.  ``MultipletFit.linearity`` (median over m of sigma(nu_nlm)/Gamma) says
when it is not (docs/peakbagging.md, "What the errors mean"); ``FitSettings.bootstrap`` then replaces
the errors by those of a bias-corrected parametric bootstrap (globalhs.science.peakbag_errors)."""

import numpy as np
import pytest

from globalhs.science import peakbag as pb
from globalhs.science.leakage import MapGeometry, leakage_block
from globalhs.science.modetable import ModeTable
from globalhs.science.peakbag_errors import bootstrap_errors
from globalhs.science.synthspec import synthetic_degree

DNU = 1e6 / (72 * 86400)
COARSE = MapGeometry(MAPMMAX=180, SINBDIVS=60)


def _table(l, width, nac):
    ls = [l - 1, l, l + 1]
    t = ModeTable(ls, [14] * 3, [2900.0 + 4.0 * x for x in ls], [1.0] * 3, [width] * 3, [0.0] * 3, [0.0] * 3,
                  np.zeros((3, 5)), np.zeros((3, nac)), np.zeros((3, nac)))
    t.a[:, 0] = 440.0
    t.a[:, 2] = 20.0
    return t


def _spectrum(l, width, nac, seed):
    truth = _table(l, width, nac)
    leak = leakage_block(COARSE, l - 1, l + 1, 1, 6)
    power, nu0, _ = synthetic_degree(truth, l, leak, DNU, 0.002, np.random.default_rng(seed), lambda r: 20.0)
    guess = pb.guess_of(truth, truth.find(14, l))
    guess["bg"] = 0.002
    return pb.Spectrum(l, power, nu0, DNU), guess, truth, leak


def _fit(l, width, nac, seed, **settings):
    spec, guess, truth, leak = _spectrum(l, width, nac, seed)
    fit = pb.fit_multiplet(spec, 14, guess, truth, leak, pb.FitSettings(nacoeff=nac, **settings))
    assert fit.ok, fit.reason
    return fit


def test_linearity_separates_constrained_from_nearly_free_components():
    # l = 12 with 6 a-coefficients and a well-resolved width: 13 components tied by 7 parameters
    resolved = _fit(12, 1.2, 6, 0)
    assert resolved.linearity < 0.15 and resolved.error_method == "hessian"
    # l = 4 with every a-coefficient free (N' = 2l) and a width of 2 bins: each component on its own
    free = _fit(4, 2 * DNU, 8, 0)
    assert free.linearity > 0.15 and free.error_method == "hessian"  # flagged, bootstrap off by default


def test_bootstrap_agrees_with_the_hessian_where_the_fit_is_linear():
    """Forced on a linear fit, the bootstrap's rms errors equal the Hessian's to their sampling error
    (K = 40 replicates: 1/sqrt(2K) = 11 %; bounds at 3 of those)."""
    plain = _fit(12, 1.2, 6, 1)
    boot = _fit(12, 1.2, 6, 1, bootstrap=40, bootstrap_above=1e-6)
    assert boot.error_method.startswith("bootstrap")
    assert boot.nu == plain.nu and np.array_equal(boot.a, plain.a)  # the estimate is not touched
    ratio = np.array([boot.err[0] / plain.err[0], boot.a_err[0] / plain.a_err[0], boot.a_err[2] / plain.a_err[2]])
    assert np.all(ratio >= 1.0)  # reported: the larger of the two (the Hessian's is a lower bound)
    assert np.all(ratio < 1.34), ratio


def test_bootstrap_widens_the_errors_of_a_nonlinear_fit():
    plain = _fit(4, 2 * DNU, 8, 2)
    boot = _fit(4, 2 * DNU, 8, 2, bootstrap=40)
    assert plain.linearity > 0.15 and boot.error_method.startswith("bootstrap")
    assert boot.err[0] > 1.1 * plain.err[0], (boot.err[0], plain.err[0])


def test_bootstrap_estimates_the_width_bias_of_a_multiplet_with_every_component_free():
    """Stage 1 of the bootstrap estimates the estimator's bias.  With all 2l+1 component frequencies free
    and a width of 2 bins, the maximum-likelihood width is biased low by the incidental centres (a
    Neyman-Scott effect): measured over 100 seeds at l = 5, n = 11, 72 days, -0.34 in ln Gamma (-29 %)
    at a scatter of 0.21.  Here (l = 4, N' = 8, Gamma = 2 bins) the mean over 40 replicates must be
    negative by more than 3 of its own standard errors, while the frequencies' bias stays within 3
    (they have no such bias), and the errors returned are those of the replicates at fit - bias."""
    spec, guess, truth, leak = _spectrum(4, 2 * DNU, 8, 3)
    settings = pb.FitSettings(nacoeff=8)
    prob = pb._Problem(spec, 14, guess, truth, leak, settings)
    free = np.ones(prob.nfree_a + 4, dtype=bool)
    theta, _, converged, _, failure = pb._maximise(prob, pb._start(prob, guess, spec), free, settings)
    assert converged and not failure
    data = prob.data.copy()
    replicates = 40
    errors, converged_reps, bias = bootstrap_errors(prob, theta, free, replicates, np.random.default_rng(5),
                                                    lambda first: pb._maximise(prob, first, free, settings))
    assert np.array_equal(prob.data, data)  # the data are restored
    assert converged_reps >= 0.9 * 2 * replicates
    ln_gamma = 2 + prob.nfree_a
    standard_error = errors / np.sqrt(replicates)
    assert bias[ln_gamma] < -3 * standard_error[ln_gamma], (bias[ln_gamma], standard_error[ln_gamma])
    assert np.all(np.abs(bias[:1 + prob.nfree_a]) < 3 * standard_error[:1 + prob.nfree_a]), bias / standard_error


def test_bootstrap_settings_are_checked():
    with pytest.raises(ValueError, match="bootstrap must be 0"):
        pb.FitSettings(bootstrap=5)
    with pytest.raises(ValueError, match="bootstrap_above"):
        pb.FitSettings(bootstrap_above=0.0)
