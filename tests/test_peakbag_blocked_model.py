"""The blocked evaluation of the fit's profiles (peakbag.FEJER_BLOCK) against the per-element reference.

The finite-span profile is evaluated in cache-sized blocks of rows m with exp(-aT) factored into a
per-source and a per-bin phase; these tests hold it to the reference formula (_fejer_lorentz on the
whole (m, s, j) array, the form it replaced) for the model and every derivative array the optimiser
and the errors use, across the narrow (power-series), ordinary and wide (real closed form) regimes,
on both paths: numpy blocks and the C kernel ``_peakbag_c`` (GLOBALHS_PEAKBAG=numpy forces the first).
"""

import os

import numpy as np
import pytest

from globalhs.science import peakbag as pb
from globalhs.science.modetable import read_modetable
from globalhs.science.peakbag_calibration import calibration_leakage
from tests.conftest import refdata_path

LENGTH = 72 * 86400.0
DNU = 1e6 / LENGTH


def _reference(prob, theta):
    """Model, dM/dcentre, rows and second derivatives from _fejer_lorentz over the whole array."""
    nu_nl, a, height, gamma, bg, _ = prob.unpack(theta)
    centre = (nu_nl + prob.poly.T @ a)[prob.src]
    offset = prob.nu[:, None, :] - centre[:, :, None]
    g, g1, g2 = pb._fejer_lorentz(np.pi * gamma + 2j * np.pi * offset, prob.length_uhz)
    scale = height * np.pi * gamma
    pg = np.pi * gamma
    peaks = np.einsum("msj,ms->mj", scale * g.real, prob.k2)
    d_lng = np.einsum("msj,ms->mj", scale * (g + pg * g1).real, prob.k2)
    second = (scale * (-4 * np.pi**2 * g2).real, scale * (-2j * np.pi * (g1 + pg * g2)).real,
              scale * (g + 3 * pg * g1 + pg * pg * g2).real)
    source = prob.k2[:, :, None] * scale * (-2j * np.pi * g1).real
    return peaks + bg + prob.neighbour, source, np.array([peaks, d_lng, np.full_like(peaks, bg)]), second


@pytest.fixture(scope="module")
def problem():
    truth = read_modetable(refdata_path("hmi_modes", "hmi.6400.36"))
    l = 40  # 81 rows x 15 sources x 151 bins: several blocks
    leak = calibration_leakage(l)
    row = truth.find(8, l)
    guess = pb.guess_of(truth, row)
    spec = pb.Spectrum(l, np.ones((2 * l + 1, 30000)), 0.0, DNU, LENGTH)
    prob = pb._Problem(spec, 8, guess, truth, leak, pb.FitSettings(nacoeff=36))
    theta = pb._start(prob, guess, spec)
    theta[1 + prob.nfree_a] = theta[3 + prob.nfree_a] + np.log(300.0)  # H = 300 B: the leaks overlap strongly
    return prob, theta


def test_compiled_kernel_is_built_where_required():
    """Under GLOBALHS_REQUIRE_EXT=1 (.ci/run) the C kernel of the profile must have been built."""
    if os.environ.get("GLOBALHS_REQUIRE_EXT") != "1":
        pytest.skip("GLOBALHS_REQUIRE_EXT is not 1: the compiled kernel is optional here")
    assert pb._peakbag_c is not None, "GLOBALHS_REQUIRE_EXT=1 but globalhs.science._peakbag_c is not built (setup.py)"
    assert pb.kernel_path() == "compiled"


@pytest.mark.refdata
@pytest.mark.parametrize("path", ["numpy", "compiled"])
@pytest.mark.parametrize("width_bins", [0.12, 0.6, 3.0, 11.0, 20.0])
def test_blocked_finite_profile_equals_reference(problem, width_bins, path, monkeypatch):
    if path == "compiled" and pb._peakbag_c is None:
        pytest.skip("the C kernel _peakbag_c is not built")
    monkeypatch.setenv("GLOBALHS_PEAKBAG", path)
    assert pb.kernel_path() == path
    prob, theta = problem
    assert prob.k2.shape[0] > pb.FEJER_BLOCK // (prob.k2.shape[1] * prob.nu.shape[1])  # more than one block
    theta = theta.copy()
    theta[2 + prob.nfree_a] = np.log(width_bins * DNU)
    model, source, rows = prob.model(theta, derivatives=True)
    second = prob._second
    ref_model, ref_source, ref_rows, ref_second = _reference(prob, theta)
    # 0.6 bins is closest to the closed form's cancellation (|aT| ~ 2): rounding of order 1e-10 there
    for got, want in zip((model, source, rows, *second), (ref_model, ref_source, ref_rows, *ref_second)):
        assert np.abs(got - want).max() <= 1e-9 * np.abs(want).max()
    assert np.array_equal(prob.model(theta)[0], model)  # the value-only path is the same model


def _dense_score_covariance(prob, theta):
    """J over every pair (m, m') on the multiplet's absolute frequency bins (the dense form the banded
    leakage_sandwich replaced): Sigma_k = C diag(L_k) C^T, Cov = Sigma^2 off the diagonal, M^2 on it."""
    model, source, rows = prob.model(theta, derivatives=True)
    nu_nl, a, height, gamma, _, _ = prob.unpack(theta)
    dm = np.concatenate([np.einsum("pms,msj->pmj", prob.dcentre, source), rows])
    u = np.where(prob.valid, dm / model**2, 0.0)
    k0 = int(prob.k_abs.min())
    nk = int(prob.k_abs.max()) - k0 + 1
    nrow = prob.valid.shape[0]
    u_abs = np.zeros((dm.shape[0], nrow, nk))
    m_abs = np.zeros((nrow, nk))
    rr, jj = np.nonzero(prob.valid)
    u_abs[:, rr, prob.k_abs[rr, jj] - k0] = u[:, rr, jj]
    m_abs[rr, prob.k_abs[rr, jj] - k0] = model[rr, jj]
    c_full = np.zeros((nrow, nrow))
    np.add.at(c_full, (np.repeat(np.arange(nrow), prob.src.shape[1]), prob.src.ravel()), prob.c.ravel())
    nu_grid = prob.nu[0, 0] + (k0 - prob.k_abs[0, 0] + np.arange(nk)) * prob.dnu
    # each own mode's profile on the absolute grid: the finite-span profile of the reference formula
    offset = nu_grid[None, :] - (nu_nl + prob.poly.T @ a)[:, None]
    prof = height * np.pi * gamma * pb._fejer_lorentz(np.pi * gamma + 2j * np.pi * offset, prob.length_uhz)[0].real
    cov = np.einsum("ms,sk,ns->kmn", c_full, prof, c_full) ** 2
    cov[:, np.arange(nrow), np.arange(nrow)] = m_abs.T**2
    ub = u_abs.transpose(2, 0, 1)
    return np.einsum("kpm,kmn,kqn->pq", ub, cov, ub, optimize=True)


@pytest.mark.refdata
def test_banded_sandwich_equals_the_dense_score_covariance(problem):
    from globalhs.science.peakbag_errors import leakage_sandwich

    prob, theta = problem
    banded = leakage_sandwich(prob, theta)
    dense = _dense_score_covariance(prob, theta)
    assert np.abs(banded - dense).max() <= 1e-10 * np.abs(dense).max()
    fisher = prob.score_and_fisher(theta)[1]  # what J would be without the m-m' correlations
    assert np.max(np.abs(np.diag(banded) / np.diag(fisher) - 1)) > 0.05


@pytest.mark.refdata
@pytest.mark.parametrize("path", ["numpy", "compiled"])
def test_held_width_profile_equals_reference(problem, path, monkeypatch):
    """An unresolved mode's width is held: the width derivatives are zero, the rest as the reference."""
    import copy

    if path == "compiled" and pb._peakbag_c is None:
        pytest.skip("the C kernel _peakbag_c is not built")
    monkeypatch.setenv("GLOBALHS_PEAKBAG", path)
    prob, theta = problem
    held = copy.copy(prob)
    held.fixed_width = True
    held._buffers, held._last_evaluation = {}, None  # its own work arrays, nothing cached from prob
    theta = theta.copy()
    theta[2 + prob.nfree_a] = np.log(prob.true_width)
    model, source, rows = held.model(theta, derivatives=True)
    ref_model, ref_source, ref_rows, ref_second = _reference(held, theta)
    for got, want in ((model, ref_model), (source, ref_source), (rows[0], ref_rows[0]), (held._second[0], ref_second[0])):
        assert np.abs(got - want).max() <= 1e-9 * np.abs(want).max()
    assert not rows[1].any() and not held._second[1].any() and not held._second[2].any()


@pytest.mark.refdata
@pytest.mark.parametrize("observed", [False, True])
def test_compiled_score_and_information_equal_numpy(problem, observed, monkeypatch):
    """score_and_fisher's per-source sums (C kernel reduce_rows) against the numpy products."""
    if pb._peakbag_c is None:
        pytest.skip("the C kernel _peakbag_c is not built")
    prob, theta = problem
    data = prob.data
    try:
        prob.data = np.where(prob.valid, prob.model(theta)[0] * 1.3, 0.0)  # data off the model: resid != 0
        got = {}
        for path in ("numpy", "compiled"):
            monkeypatch.setenv("GLOBALHS_PEAKBAG", path)
            got[path] = prob.score_and_fisher(theta, observed=observed)
    finally:
        prob.data = data
    for a, b in zip(got["numpy"], got["compiled"]):
        assert np.abs(a - b).max() <= 1e-10 * np.abs(a).max()


@pytest.mark.parametrize("path", ["numpy", "compiled"])
def test_source_profiles_sum_to_the_model(problem, path, monkeypatch):
    """The per-source profiles the bootstrap's correlated replicates are built from, weighted by k2 and
    summed, are the model less background and neighbours, on either path and after the problem has
    evaluated (and cached) its own arrays: a copy with other weights must not use them."""
    if path == "compiled" and pb._peakbag_c is None:
        pytest.skip("the compiled kernel is not built")
    monkeypatch.setenv("GLOBALHS_PEAKBAG", path)
    prob, theta = problem
    theta = theta.copy()
    theta[2 + prob.nfree_a] = np.log(3.0 * DNU)  # 3 bins: the closed form, which the C kernel computes
    model = prob.model(theta, derivatives=True)[0]
    prof = prob.source_profiles(theta)
    assert prof.shape == prob.k2.shape + prob.nu.shape[1:]
    bg = prob.unpack(theta)[4]
    np.testing.assert_allclose(np.einsum("ms,msj->mj", prob.k2, prof) + bg + prob.neighbour, model,
                               rtol=1e-12, atol=1e-12 * model.max())
    assert prob.model(theta)[0] is not None and np.array_equal(prob.model(theta)[0], model)  # own caches intact


@pytest.mark.refdata
def test_pinned_evaluation_is_reused_and_not_shared_with_copies(problem):
    """The evaluation kept by pin() (the bootstrap's starting point) is returned, with or without
    derivatives, after other evaluations have overwritten the work arrays; copies with other weights
    (source_profiles) do not use it; pin(None) drops it."""
    prob, theta = problem
    fresh = [np.array(a) for a in prob.model(theta, derivatives=True)]
    second = [np.array(a) for a in prob._second]
    prob.pin(theta)
    try:
        other = theta.copy()
        other[0] += 0.05
        prob.model(other, derivatives=True)  # overwrites the work arrays and the last evaluation
        got = prob.model(theta, derivatives=True)
        for a, b in zip(got, fresh):
            np.testing.assert_array_equal(a, b)
        for a, b in zip(prob._second, second):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(prob.model(theta)[0], fresh[0])
        bg = prob.unpack(theta)[4]
        summed = np.einsum("ms,msj->mj", prob.k2, prob.source_profiles(theta)) + bg + prob.neighbour
        np.testing.assert_allclose(summed, fresh[0], rtol=1e-12, atol=1e-12 * fresh[0].max())
    finally:
        prob.pin(None)
    assert prob._pinned_evaluation is None


@pytest.mark.refdata
def test_compiled_neighbour_lorentzians_equal_numpy(problem, monkeypatch):
    """The neighbouring multiplets' leaked Lorentzians (C kernel lorentz) against the numpy blocks, on the
    windows of a problem with tens of neighbours."""
    if pb._peakbag_c is None:
        pytest.skip("the C kernel _peakbag_c is not built")
    prob, _ = problem
    rng = np.random.default_rng(3)
    centres = prob.nu[:, :1] + rng.uniform(-20, 20, prob.k2.shape)
    weights = np.where(rng.random(prob.k2.shape) < 0.2, 0.0, rng.random(prob.k2.shape))
    got = {}
    for path in ("numpy", "compiled"):
        monkeypatch.setenv("GLOBALHS_PEAKBAG", path)
        got[path] = pb._leaked_lorentzians(prob.nu, centres, weights, 0.7, 3.0)
    np.testing.assert_allclose(got["compiled"], got["numpy"], rtol=1e-13, atol=0)
    assert prob.neighbour.max() > 0  # the fixture's problem has neighbours, made by the same function
