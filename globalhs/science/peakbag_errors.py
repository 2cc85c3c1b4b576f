"""Uncertainties of a fitted multiplet: what the formal errors of :func:`peakbag.fit_multiplet` are made of.

The fit maximises the diagonal likelihood of the m-resolved spectra (``peakbag._Problem``).  Its
covariance is, by default, the inverse of the observed Hessian of -ln(likelihood) at the optimum.  This
module holds what qualifies or replaces that:

* :func:`component_error_ratio` -- the linearity diagnostic: median over m of sigma(nu_nlm)/Gamma.
* :func:`leakage_sandwich` -- the score covariance J when the m-spectra share their modes' realisations
  through the leakage (ERRORS=sandwich: H^-1 J H^-1).
* :func:`bootstrap_errors` -- a parametric bootstrap of the whole fit, for fits the diagnostic flags.

Every function takes the fit's problem object (``peakbag._Problem``: ``model``, ``unpack``, ``data``,
``valid`` ...) and, where it refits, the optimiser as an argument, so that this module does not import
peakbag (which imports it).  docs/peakbagging.md, "What the errors mean", says what the numbers mean
and how well they are calibrated.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

__all__ = ["CENTRE_LOG_VARIANCE", "MIN_BOOTSTRAP", "bootstrap_errors", "bootstrap_factor",
           "component_error_ratio", "leakage_sandwich", "replicate_spectra", "student_factor"]

MIN_BOOTSTRAP = 20
"""Fewest bootstrap replicates accepted: below this the scatter of the sample standard deviation
(1/sqrt(2K), 16 % at 20) would itself spoil the errors."""
CENTRE_LOG_VARIANCE = 0.011
"""Variance of ln(bootstrap rms) that comes from the randomness of the point theta - b the replicates
are simulated at, beyond the replicates' own sampling (:func:`bootstrap_factor`).  Measured at l = 5,
N = 36 (the least linear fits the bootstrap serves), noise seeds 80..159, 708 bootstrapped fits: within
each n, ln(stage-2 rms) of nu, a1, a3 has variance 0.023-0.026, against 0.013-0.014 for 40 replicates
drawn at the truth on the same windows (1/(2K) = 0.0125 is the chi^2_40 part); the difference is
0.008-0.013 (docs/peakbagging.md, "What the errors mean")."""


def student_factor(replicates: int) -> float:
    """Factor on an rms error estimated from ``replicates`` deviations so that +-2 of it is the 95.45 %
    interval (that of +-2 sigma of a normal distribution): t_K(0.97725) / 2.

    The bootstrap estimates sigma by the rms s of K replicate deviations, s^2 ~ sigma^2 chi^2_K / K.  A
    deviation of the data's fit d ~ N(0, sigma^2), independent of the replicates, then has d/s ~ Student's
    t with K degrees of freedom, which puts only P(|t_K| < 2) = 94.77 % (K = 40) within 2 s, and its pulls
    d/s have variance K/(K - 2) (spread 1.026).  Scaled by this factor (1.032 at K = 40, 1.016 at 80)
    the interval +-2 s covers 95.45 % and the spread of the pulls is 1.006: the error means what a Hessian
    error means, including its own sampling error."""
    if replicates < 2:
        raise ValueError(f"the rms of {replicates} deviations has no Student factor (need at least 2)")
    return float(stats.t.ppf(stats.norm.cdf(2.0), replicates) / 2.0)


def bootstrap_factor(replicates: int) -> float:
    """Factor on the bootstrap's rms so that +-2 of it is the 95.45 % interval: :func:`student_factor`
    (the replicates' sampling) times exp(1.5 CENTRE_LOG_VARIANCE) (1.049 at K = 40 against 1.032).

    The rms s is evaluated at theta - b, and theta is itself a draw of the estimator: a fitted width low
    by one of its sigmas simulates narrower peaks and gives a smaller s (d ln s / d ln Gamma mostly
    0.5-0.9 at l = 5).  That part of the scatter of s is noise about the error the data's fit needs, like the
    sampling part: within an n, the fits with the smallest quarter of s have rms pulls 1.10-1.21 and the
    largest quarter 0.79-0.80 (nu, a1, a3; seeds 80..159), as a noise of that size predicts, so the
    deviation does not grow with s.  An error e^eps sigma with eps ~ N(0, V) covers
    E[2 Phi(2 e^eps) - 1] = 0.9545 - 6 phi(2) V to first order in V, which the factor exp(1.5 V) gives back
    (exact to 0.001 in the factor at V = 0.011: quadrature over chi^2_40 and the normal eps)."""
    return student_factor(replicates) * float(np.exp(1.5 * CENTRE_LOG_VARIANCE))


def component_error_ratio(prob, cov_freq: np.ndarray, gamma: float) -> float:
    """Median over m of sigma(nu_nlm) / Gamma, nu_nlm = nu_nl + sum_i a_i P_i(m), from the covariance
    of (nu_nl, a_1..a_N').

    The inverse Hessian is the right covariance only while the model is close to linear in the
    parameters over their errors.  The frequencies enter through Lorentzians, which are far from linear
    in their centre beyond about Gamma/(2 sqrt 3) = 0.29 Gamma (where dL/dnu turns over), so 2 sigma of
    every component must stay well inside that: sigma(nu_nlm)/Gamma below about 0.15.  It is exceeded
    when each component is nearly free (N' close to 2l, low l: the 2l+1 components are then estimated
    one by one from the few bins of partly blended peaks) and for modes a few bins wide."""
    q = np.vstack([np.ones((1, prob.m.size)), prob.poly]) if prob.nfree_a else np.ones((1, prob.m.size))
    var = np.einsum("im,ij,jm->m", q, cov_freq, q)
    return float(np.median(np.sqrt(np.clip(var, 0.0, None))) / gamma)


def leakage_sandwich(prob, theta: np.ndarray) -> np.ndarray:
    """Covariance J of the score of -ln(likelihood) when the m-spectra are correlated by the leakage.

    The diagonal likelihood treats every P_m(nu) as independent, but a mode (l, m'') appears in every
    row m it leaks into, with the same realisation: y_m(nu) = sum_m'' C(l,m; l,m'') A_m''(nu) + noise,
    so (complex Gaussian y) Cov(P_m, P_m') = |Sigma_mm'|^2 with Sigma_mm' = sum_m'' C_mm'' C_m'm'' L_m''
    (SCIENCE.md section 6), L_m'' the mode's profile in the fit's own model (``prob.source_profiles``:
    the finite-span profile for spectra of known length). The maximum of the diagonal likelihood is still
    consistent (E P_m = M_m), and its covariance is the sandwich H^-1 J H^-1 with

        J_pq = sum_nu sum_{m,m'} (dM_m/dp / M_m^2)(dM_m'/dq / M_m'^2) Cov(P_m, P_m'),

    which is the Fisher matrix when Sigma is diagonal. The diagonal of Cov is M_m^2 (everything the model
    holds); the off-diagonal terms are those of the multiplet's own modes (neighbouring multiplets'
    shared leaks are weaker and are left out). Rows m are matched by absolute frequency bin.

    The leakage couples only |m'' - m| <= dm, so Sigma is banded (|m' - m| <= 2 dm) and J is formed
    band by band: for each offset delta = m' - m >= 0, Sigma(m, m + delta) on row m's own window bins
    (the profiles of row m's sources, already on those bins) against the score terms of row m + delta
    at the same absolute frequency bins; the delta < 0 bands are the transposes.  This costs
    (2 dm + 1)(4 dm + 1)(2l+1) bins instead of (2l+1)^3 bins for the dense (m, m') products.
    """
    model, source, rows = prob.model(theta, derivatives=True)
    valid = prob.valid
    nrow, nbin = valid.shape
    # dM/dtheta on every (m, j): frequency parameters through the source centres, then ln H, ln G, ln B[, b]
    dm = np.concatenate([np.einsum("pms,msj->pmj", prob.dcentre, source), rows])  # (p, m, j)
    npar = dm.shape[0]
    u = np.where(valid, dm / np.where(valid, model, 1.0) ** 2, 0.0)  # (p, m, j)
    # the multiplet's own modes: signed leakage C(l,m; l,m'') of row m (sources m'' = src) and its dense
    # copy for looking up C(l,m'; l,m'') of another row m'
    c_full = _own_leakage(prob)
    prof = prob.source_profiles(theta)  # (m, s, j): the fit's own profile (finite-span, asymmetric alike)
    # score terms of any row at any absolute bin: flat index into u, the extra last column is zero
    u_flat = np.concatenate([u.reshape(npar, nrow * nbin), np.zeros((npar, 1))], axis=1)
    k_start = prob.k_abs[:, 0]  # each row's window is k_start + 0..nbin-1
    rows_m = np.arange(nrow)
    bins = np.arange(nbin)
    reach = int(np.max(np.abs(prob.src - rows_m[:, None]), initial=0))  # dm of the kept sources
    score_cov = np.zeros((npar, npar))
    for delta in range(min(2 * reach, nrow - 1) + 1):
        m = slice(0, nrow - delta)  # rows m, and m' = m + delta
        mp = rows_m[delta:]
        if delta == 0:
            cov = model**2  # exact variance: every source, neighbours and background
        else:
            weight = prob.c[m] * c_full[mp[:, None], prob.src[m]]  # C(m, m'') C(m', m'') over row m's sources
            if not weight.any():  # rows that share no mode (at B0 = 0, every odd offset: the parity rule)
                continue
            cov = np.einsum("ms,msj->mj", weight, prof[m]) ** 2  # |Sigma_mm'|^2 on row m's bins
        j_other = bins[None, :] + (k_start[m] - k_start[mp])[:, None]  # the same bins in row m'
        index = np.where((j_other >= 0) & (j_other < nbin), mp[:, None] * nbin + j_other, nrow * nbin)
        u_other = u_flat[:, index.ravel()]  # (p, m j)
        u_other *= cov.ravel()
        block = u[:, m].reshape(npar, -1) @ u_other.T
        score_cov += block if delta == 0 else block + block.T
    return score_cov


def bootstrap_errors(prob, theta: np.ndarray, free: np.ndarray, replicates: int, rng: np.random.Generator,
                     refit) -> tuple[np.ndarray, int, np.ndarray]:
    """Errors of the free parameters from a bias-corrected parametric bootstrap of the fit.

    Returns (errors of the free parameters, replicate fits that converged, estimated bias of the free
    parameters).  ``refit(start)`` must maximise the likelihood of ``prob.data`` from ``start``
    over the free parameters and return ``peakbag._maximise``'s tuple (theta, value, converged,
    iterations, failure).

    Why two stages.  The scatter of the estimate depends on the parameters themselves: with every
    component frequency free (N' = 2l at low l), the shared width is biased low by the many incidental
    centres (a Neyman-Scott effect: -29 % at l = 5, n = 11, 72 days), and narrower peaks are easier
    to separate.  A bootstrap simulated at the estimate therefore samples an easier problem than the
    data came from and underestimates the scatter (measured: 94.2 % within 2 sigma instead of 95.5 %).
    Stage 1 simulates ``replicates`` spectra at ``theta`` (the fitted model times unit exponentials on
    the same bins) and refits them: their mean deviation estimates the bias b of the estimator.  Stage
    2 simulates ``replicates`` more at theta - b, the bias-corrected estimate of the truth, and refits
    them from there; the root-mean-square deviation from theta - b (scatter and bias of the estimator
    together), times :func:`bootstrap_factor` of the number of converged stage-2 replicates (1.049 at
    K = 40: an rms of K deviations at a random point theta - b is itself uncertain, and unscaled +-2 of
    it would cover only about 94.5 %), is the error.  The replicates are drawn as
    :func:`replicate_spectra` says (correlated through the leakage when the fit's errors setting is
    "sandwich").

    The fitted values themselves are not changed.  Measured (docs/peakbagging.md, "What the errors
    mean"): subtracting b from the reported a-coefficients does not improve their coverage (the a_i's
    bias is a few per cent of sigma; b's own sampling error, sigma/sqrt(K), then adds to their scatter),
    and the width's bias, which b does estimate well, is the only large one.  The bias stays in the error
    through the stage-2 rms.
    """
    data = prob.data
    failed = 0
    try:
        first = _deviations(prob, theta, free, replicates, rng, refit)
        failed += replicates - len(first)
        if len(first) < 2:
            return np.full(int(free.sum()), np.nan), len(first), np.full(int(free.sum()), np.nan)
        bias = first.mean(axis=0)
        centre = theta.copy()
        centre[free] -= bias
        if not prob.admissible(centre):  # a bias estimate that leaves the model's domain is not used
            centre = theta
        second = _deviations(prob, centre, free, replicates, rng, refit)
        failed += replicates - len(second)
    finally:
        prob.data = data
    if len(second) < 2:
        return np.full(int(free.sum()), np.nan), 2 * replicates - failed, bias
    rms = np.sqrt(np.mean(np.square(second), axis=0))
    return bootstrap_factor(len(second)) * rms, 2 * replicates - failed, bias


def replicate_spectra(prob, truth: np.ndarray, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """``replicates`` spectra (K, m, j) simulated at ``truth`` on the fit's bins, zero where the fit has
    no valid data, drawn as the data the fit is applied to are assumed to be.

    With ``prob.settings.errors`` "hessian" or "fisher" (spectra of independent bins, as
    :func:`globalhs.science.synthspec.synthetic_degree` makes them): the model times unit exponentials.
    With "sandwich" (the user says the m-spectra share their modes' realisations through the leakage, as
    real spectra and :func:`globalhs.science.synthspec.series_degree`'s do): every own mode (l, m'') gets
    one complex Gaussian realisation per absolute frequency bin, leaked into every row m with the signed
    C(l,m; l,m''), plus independent complex Gaussian noise holding the rest of the model (background and
    neighbours):

        P_m = |sum_m'' C_mm'' sqrt(L_m'') g_m'' + sqrt(R_m) g'_m|^2,   E P_m = M_m,
        Cov(P_m, P_m') = |Sigma_mm'|^2,  Sigma_mm' = sum_m'' C_mm'' C_m'm'' L_m''  (m != m'),

    the covariance :func:`leakage_sandwich` assumes (and its simplification: the neighbours' shared leaks
    are left out).  Each bin is still exponential about the model, so only the correlations differ.  The
    bootstrap must draw what the data are: replicates of the other kind would measure the scatter of a
    different estimator (independent draws understate it for correlated data, correlated draws overstate
    it for independent ones)."""
    expect, _, _ = prob.model(truth)
    if prob.settings.errors != "sandwich":
        draws = rng.exponential(size=(replicates,) + expect.shape)
        return np.where(prob.valid, expect * draws, 0.0)
    return np.where(prob.valid, _correlated_power(prob, truth, expect, replicates, rng), 0.0)


def _correlated_power(prob, theta: np.ndarray, expect: np.ndarray, replicates: int,
                      rng: np.random.Generator) -> np.ndarray:
    """Leakage-correlated replicate spectra (K, m, j) at ``theta`` (see :func:`replicate_spectra`).

    A mode's profile depends only on the absolute frequency bin, so each own mode's amplitude
    sqrt(L_m'') g_m'' is formed once on the absolute bins, leaked into every row by one product with
    the dense leakage matrix, and each row then takes its own window's bins.  The real and imaginary
    parts are kept as a leading axis of real arrays (no complex temporaries: they are tens of megabytes
    at l = 60)."""
    prof = prob.source_profiles(theta)
    k_rel = prob.k_abs - prob.k_abs.min()
    nk = int(k_rel.max()) + 1
    nrow = 2 * prob.l + 1
    parts = np.empty((2, replicates, nrow, nk))  # real and imaginary parts of g_m''(k)
    rng.standard_normal(out=parts[0])
    rng.standard_normal(out=parts[1])
    amplitude = np.zeros((nrow, nk))  # sqrt(L_m''(k)/2) wherever a row that holds m'' sees bin k
    amplitude[prob.src[:, :, None], k_rel[:, None, :]] = np.sqrt(prof / 2)
    parts *= amplitude
    leaked = np.matmul(_own_leakage(prob), parts.reshape(2 * replicates, nrow, nk))  # (2 K, m, k)
    y = leaked[:, np.arange(nrow)[:, None], k_rel].reshape((2, replicates) + k_rel.shape)  # rows' windows
    rest = np.clip(expect - np.einsum("ms,msj->mj", prob.k2, prof), 0.0, None)  # background, neighbours
    noise = np.empty(y.shape)
    rng.standard_normal(out=noise[0])
    rng.standard_normal(out=noise[1])
    y += np.sqrt(rest / 2) * noise
    return y[0] ** 2 + y[1] ** 2


def _own_leakage(prob) -> np.ndarray:
    """The dense signed leakage C(l,m; l,m'') (m, m'') of the multiplet's own modes, from the kept
    sources (zero elsewhere)."""
    nrow = prob.src.shape[0]
    c_full = np.zeros((nrow, 2 * prob.l + 1))
    np.add.at(c_full, (np.repeat(np.arange(nrow), prob.src.shape[1]), prob.src.ravel()), prob.c.ravel())
    return c_full


def _deviations(prob, truth: np.ndarray, free: np.ndarray, replicates: int, rng: np.random.Generator,
                refit) -> np.ndarray:
    """Deviations (fit - truth) of the free parameters over the :func:`replicate_spectra` at ``truth``,
    each refitted from ``truth``; only converged replicate fits are kept.  Leaves the last replicate in
    ``prob.data`` (the caller restores it)."""
    samples = []
    prob.pin(truth)  # every refit starts there
    try:
        for spectrum in replicate_spectra(prob, truth, replicates, rng):
            prob.data = spectrum
            fitted, _, converged, _, failure = refit(truth)
            if converged and not failure:
                samples.append(fitted[free] - truth[free])
    finally:
        prob.pin(None)
    return np.array(samples).reshape(-1, int(free.sum()))
