"""What the peakbagging errors mean: the linearity diagnostic and the parametric bootstrap.

The inverse Hessian is the covariance of the fit only while the model is close to linear in the
parameters over their errors.  ``MultipletFit.linearity`` (median over m of sigma(nu_nlm)/Gamma) says
when it is not (docs/peakbagging.md, "What the errors mean"); ``FitSettings.bootstrap`` then replaces
the errors by those of a bias-corrected parametric bootstrap (globalhs.science.peakbag_errors)."""

import numpy as np
import pytest
from scipy import stats

from globalhs.science import peakbag as pb
from globalhs.science.leakage import MapGeometry, leakage_block
from globalhs.science.modetable import ModeTable
from globalhs.science.observe import horizontal_ratio
from globalhs.science.peakbag_errors import (
    CENTRE_LOG_VARIANCE,
    bootstrap_errors,
    bootstrap_factor,
    replicate_spectra,
    student_factor,
)
from globalhs.science.synthspec import synodic_frequencies, synthetic_degree

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


def test_student_factor_makes_two_bootstrap_sigma_the_95_percent_interval():
    """An rms from K deviations scatters (chi^2_K / K); the reported error is scaled by t_K(0.97725)/2 so
    that +-2 of it covers 95.45 % of fits.  Monte Carlo of 200000 fits, each with its own K = 40
    replicate deviations (binomial sd of the fraction 0.05 %): unscaled 94.77 %, scaled 95.45 %."""
    rng = np.random.default_rng(11)
    fits = 200_000
    for k in (20, 40):
        deviation = rng.standard_normal(fits)
        rms = np.sqrt(np.mean(rng.standard_normal((fits, k)) ** 2, axis=1))
        unscaled = np.mean(np.abs(deviation) < 2 * rms)
        scaled = np.mean(np.abs(deviation) < 2 * student_factor(k) * rms)
        assert abs(unscaled - (2 * stats.t.cdf(2, k) - 1)) < 0.002, (k, unscaled)
        assert abs(scaled - 0.9545) < 0.002, (k, scaled)
        assert abs(np.std(deviation / (student_factor(k) * rms)) - 1) < 0.02
    assert 1.03 < student_factor(40) < 1.035
    with pytest.raises(ValueError, match="at least 2"):
        student_factor(1)


def test_bootstrap_factor_covers_when_the_rms_is_also_scattered_by_its_simulation_point():
    """The bootstrap's rms scatters by the replicates' sampling (chi^2_K / K) and, being evaluated at the
    random point theta - b, by a further lognormal factor of log-variance CENTRE_LOG_VARIANCE (measured at
    l = 5, N = 36: docs/peakbagging.md).  Monte Carlo of 400000 fits with both (binomial sd 0.03 %): the
    Student factor alone covers about 95.18 %, short by 6 phi(2) V; bootstrap_factor covers 95.45 %."""
    rng = np.random.default_rng(12)
    fits = 400_000
    for k in (20, 40, 80):
        deviation = rng.standard_normal(fits)
        rms = np.sqrt(np.mean(rng.standard_normal((fits, k)) ** 2, axis=1))
        rms *= np.exp(rng.normal(0.0, np.sqrt(CENTRE_LOG_VARIANCE), fits))
        student_only = np.mean(np.abs(deviation) < 2 * student_factor(k) * rms)
        covered = np.mean(np.abs(deviation) < 2 * bootstrap_factor(k) * rms)
        assert student_only < 0.9545 - 0.0015, (k, student_only)
        assert abs(covered - 0.9545) < 0.0012, (k, covered)
    assert 1.045 < bootstrap_factor(40) < 1.053


def _sandwich_problem(errors):
    """A broad l = 6 mode on a 36-day grid (its leaked copies overlap it), the set-up of
    tests/test_peakbag_sandwich.py, with the fit's errors setting ``errors``."""
    l, n, dnu = 6, 14, 1e6 / (36 * 86400)
    geometry = MapGeometry(MAPMMAX=180, SINBDIVS=60, MAPRMAX=0.95, MAPLGMAX=89.0, MAPBMAX=89.0, APODIZE=1,
                           APINNER=0.83, APWIDTH=0.04, B0=5.0)
    leak = leakage_block(geometry, l - 2, l + 2, 2, 6)
    a = np.zeros((1, 6))
    a[0, 0], a[0, 2] = 440.0, 20.0
    truth = ModeTable([l], [n], [3000.0], [1.0], [4.0], [0.01], [0.0], np.zeros((1, 5)), a, np.zeros((1, 6)))
    nu = np.arange(int(2900 / dnu), int(3100 / dnu)) * dnu
    spec = pb.Spectrum(l, np.ones((2 * l + 1, nu.size)), nu[0], dnu)  # limit spectrum: Lorentzian profile
    prob = pb._Problem(spec, n, pb.guess_of(truth, 0), truth, leak, pb.FitSettings(nacoeff=6, errors=errors))
    theta = np.concatenate([[3000.0], prob._synodic(a[0])[:prob.nfree_a], np.log([1.0, 4.0, 0.01])])
    return prob, theta, leak, truth


@pytest.mark.parametrize("errors", ["hessian", "sandwich"])
def test_replicates_are_exponential_about_the_model_and_correlated_only_for_the_sandwich(errors):
    """replicate_spectra draws what the fit's errors setting says the data are.  Either way every bin is
    exponential about the model (mean M, variance M^2).  With errors='sandwich' the rows share their modes'
    realisations, Cov(P_m, P_m') = |Sigma_mm'|^2 with Sigma_mm' = sum_m'' C_mm'' C_m'm'' L_m'' (L the
    Lorentzian; computed here from the leakage block, as SCIENCE.md section 6 and leakage_sandwich have
    it); otherwise the rows are independent.  4000 replicates; the covariance of a pair of rows is summed
    over the bins where their correlation exceeds 0.1."""
    prob, theta, leak, truth = _sandwich_problem(errors)
    reps = replicate_spectra(prob, theta, 4000, np.random.default_rng(4))
    model = prob.model(theta)[0]
    assert reps.shape == (4000,) + model.shape
    valid = prob.valid
    assert np.all(reps[:, ~valid] == 0)
    ratio_mean = reps.mean(0)[valid] / model[valid]
    ratio_var = reps.var(0)[valid] / model[valid] ** 2
    assert abs(np.mean(ratio_mean) - 1) < 0.005 and np.all(np.abs(ratio_mean - 1) < 0.1)  # sd 1.6 % per bin
    assert abs(np.mean(ratio_var) - 1) < 0.03
    l, dm = prob.l, leak.dm
    c = leak.matrix(l, float(horizontal_ratio(truth.nu[0])))[:, leak.dl, :]  # (m, d)
    centres = synodic_frequencies(truth, 0, pb.ORBITAL_NHZ)
    ratios = []
    for m1, m2 in ((1, 3), (-2, 0), (-4, -2), (2, 4)):  # m +- 2: the strong leaks at B0 = 5 deg
        i1, i2 = m1 + l, m2 + l
        common = np.intersect1d(prob.k_abs[i1], prob.k_abs[i2])
        j1, j2 = np.searchsorted(prob.k_abs[i1], common), np.searchsorted(prob.k_abs[i2], common)
        x, y = reps[:, i1, j1], reps[:, i2, j2]
        cov = np.mean((x - x.mean(0)) * (y - y.mean(0)), axis=0)
        nu = prob.nu[i1, j1]
        sigma = sum(c[i1, s - m1 + dm] * c[i2, s - m2 + dm] / (1 + (2 * (nu - centres[s + l]) / 4.0) ** 2)
                    for s in range(-l, l + 1) if abs(s - m1) <= dm and abs(s - m2) <= dm)
        strong = sigma**2 > 0.1 * model[i1, j1] * model[i2, j2]  # correlation above 0.1
        assert strong.sum() >= 5
        ratios.append(np.sum(cov[strong]) / np.sum(sigma[strong] ** 2))
    ratios = np.array(ratios)
    if errors == "sandwich":
        assert np.all(np.abs(ratios - 1) < 0.12) and abs(np.mean(ratios) - 1) < 0.05, ratios
    else:
        assert np.all(np.abs(ratios) < 0.12), ratios
