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

__all__ = ["MIN_BOOTSTRAP", "bootstrap_errors", "component_error_ratio", "leakage_sandwich"]

MIN_BOOTSTRAP = 20
"""Fewest bootstrap replicates accepted: below this the scatter of the sample standard deviation
(1/sqrt(2K), 16 % at 20) would itself spoil the errors."""


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
    (SCIENCE.md section 6). The maximum of the diagonal likelihood is still consistent (E P_m = M_m),
    and its covariance is the sandwich H^-1 J H^-1 with

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
    from globalhs.science.peakbag import (
        lorentzian,  # at call time: peakbag imports this module
    )

    model, source, rows = prob.model(theta, derivatives=True)
    nu_nl, a, height, gamma, _, asym = prob.unpack(theta)
    valid = prob.valid
    nrow, nbin = valid.shape
    # dM/dtheta on every (m, j): frequency parameters through the source centres, then ln H, ln G, ln B[, b]
    dm = np.concatenate([np.einsum("pms,msj->pmj", prob.dcentre, source), rows])  # (p, m, j)
    npar = dm.shape[0]
    u = np.where(valid, dm / np.where(valid, model, 1.0) ** 2, 0.0)  # (p, m, j)
    # the multiplet's own modes: signed leakage C(l,m; l,m'') of row m (sources m'' = src) and its dense
    # copy for looking up C(l,m'; l,m'') of another row m'
    c_full = np.zeros((nrow, nrow))
    np.add.at(c_full, (np.repeat(np.arange(nrow), prob.src.shape[1]), prob.src.ravel()), prob.c.ravel())
    split = prob.poly.T @ a if prob.nfree_a else np.zeros(nrow)
    centres = (nu_nl + split)[prob.src]  # (m, s) synodic
    width = prob.width if prob.fixed_width else gamma
    prof = lorentzian(prob.nu[:, None, :], centres[:, :, None], width, height, asym)  # (m, s, j)
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

    Returns (rms deviations of the free parameters, replicate fits that converged, estimated bias of
    the free parameters).  ``refit(start)`` must maximise the likelihood of ``prob.data`` from ``start``
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
    together) is the error.  The fitted values themselves are not changed.
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
    return np.sqrt(np.mean(np.square(second), axis=0)), 2 * replicates - failed, bias


def replicate_spectra(prob, truth: np.ndarray, replicates: int, rng: np.random.Generator) -> np.ndarray:
    """``replicates`` spectra (K, m, j) simulated at ``truth`` on the fit's bins: the model times unit
    exponentials (independent bins), zero where the fit has no valid data."""
    expect, _, _ = prob.model(truth)
    draws = rng.exponential(size=(replicates,) + expect.shape)
    return np.where(prob.valid, expect * draws, 0.0)


def _deviations(prob, truth: np.ndarray, free: np.ndarray, replicates: int, rng: np.random.Generator,
                refit) -> np.ndarray:
    """Deviations (fit - truth) of the free parameters over the :func:`replicate_spectra` at ``truth``,
    each refitted from ``truth``; only converged replicate fits are kept.  Leaves the last replicate in
    ``prob.data`` (the caller restores it)."""
    samples = []
    for spectrum in replicate_spectra(prob, truth, replicates, rng):
        prob.data = spectrum
        fitted, _, converged, _, failure = refit(truth)
        if converged and not failure:
            samples.append(fitted[free] - truth[free])
    return np.array(samples).reshape(-1, int(free.sum()))
