"""Peakbagging: likelihood derivatives, layouts, recovery of synthetic multiplets, rejections."""

import numpy as np
import pytest

from globalhs.science import peakbag as pb
from globalhs.science.leakage import MapGeometry, leakage_block
from globalhs.science.modetable import ModeTable
from globalhs.science.synthspec import synthetic_degree

DNU = 1e6 / (72 * 86400)  # 72-day resolution, uHz
COARSE = MapGeometry(MAPMMAX=180, SINBDIVS=60)


def _table(l_values, nu_of, width=1.2, amp=1.0, a1=440.0, a3=20.0, nac=6):
    rows = [(l, n) for l in l_values for n in (10, 14)]
    t = ModeTable([r[0] for r in rows], [r[1] for r in rows], [nu_of(*r) for r in rows], [amp] * len(rows),
                  [width] * len(rows), [0.0] * len(rows), [0.0] * len(rows), np.zeros((len(rows), 5)),
                  np.zeros((len(rows), nac)), np.zeros((len(rows), nac)))
    t.a[:, 0] = a1
    t.a[:, 2] = a3
    return t


def _nu(l, n):
    return 1000.0 + 135.0 * n + 4.0 * l  # well separated multiplets


@pytest.fixture(scope="module")
def setup():
    l = 12
    truth = _table(range(l - 2, l + 3), _nu)
    leak = leakage_block(COARSE, l - 2, l + 2, 2, 6)
    return l, truth, leak


def _spectrum(truth, l, leak, seed, background=0.01):
    power, nu0, _ = synthetic_degree(truth, l, leak, DNU, background, np.random.default_rng(seed), lambda r: 25.0)
    return pb.Spectrum(l, power, nu0, DNU)


def _central_differences(prob, theta, step=1e-5):
    """The gradient of -ln(likelihood) and the Jacobian of its analytic gradient by central differences."""
    grad = np.zeros_like(theta)
    hess = np.zeros((theta.size, theta.size))
    for k in range(theta.size):
        dt = np.zeros_like(theta)
        dt[k] = step
        grad[k] = (prob.objective(theta + dt) - prob.objective(theta - dt)) / (2 * step)
        hess[:, k] = (prob.score_and_fisher(theta + dt)[0] - prob.score_and_fisher(theta - dt)[0]) / (2 * step)
    return grad, hess


def test_gradient_and_hessian_are_derivatives_of_the_likelihood(setup):
    l, truth, leak = setup
    spec = _spectrum(truth, l, leak, 0)
    guess = pb.guess_of(truth, truth.find(14, l))
    guess["bg"] = 0.01
    prob = pb._Problem(spec, 14, guess, truth, leak, pb.FitSettings(nacoeff=6))
    theta = pb._start(prob, guess, spec) + 0.003
    grad, hess = prob.score_and_fisher(theta, observed=True)
    numeric_grad, numeric_hess = _central_differences(prob, theta)
    assert np.allclose(grad, numeric_grad, rtol=1e-5, atol=1e-5 * np.abs(grad).max())
    assert np.abs(hess - numeric_hess).max() < 1e-6 * np.abs(hess).max()
    # the Fisher matrix is the expectation of the Hessian: same order, positive definite
    _, fisher = prob.score_and_fisher(theta)
    np.linalg.cholesky(fisher)


def test_recovers_a_multiplet_within_its_errors(setup):
    l, truth, leak = setup
    pulls = []
    for seed in range(12):
        spec = _spectrum(truth, l, leak, seed)
        guess = pb.guess_of(truth, truth.find(14, l))
        guess["nu"] += 0.3
        guess["a"][0] += 15.0
        fit = pb.fit_multiplet(spec, 14, guess, truth, leak, pb.FitSettings(nacoeff=6))
        assert fit.ok, fit.reason
        pulls.append([(fit.nu - truth.nu[truth.find(14, l)]) / fit.err[0], (fit.a[0] - 440.0) / fit.a_err[0],
                      (fit.a[2] - 20.0) / fit.a_err[2], (fit.width - 1.2) / fit.err[2]])
        assert fit.err[4] == 1000.0  # asymmetry not fitted: flagged
        assert np.all(fit.a[6:] == 0)
    pulls = np.array(pulls)
    assert np.all(np.abs(pulls) < 4)
    assert np.all(np.abs(pulls.mean(axis=0)) < 1.0)
    assert np.all((pulls.std(axis=0) > 0.5) & (pulls.std(axis=0) < 1.6))


def test_asymmetric_profile_fit(setup):
    l, truth, leak = setup
    spec = _spectrum(truth, l, leak, 3)
    guess = pb.guess_of(truth, truth.find(14, l))
    fit = pb.fit_multiplet(spec, 14, guess, truth, leak, pb.FitSettings(nacoeff=6, asymmetric=True))
    assert fit.ok, fit.reason
    assert abs(fit.asym) < 4 * fit.err[4] and fit.err[4] < 0.1
    assert abs(fit.nu - truth.nu[truth.find(14, l)]) < 4 * fit.err[0]


def test_failed_fit_is_reported_not_invented(setup):
    l, truth, leak = setup
    spec = _spectrum(truth, l, leak, 4)
    guess = pb.guess_of(truth, truth.find(14, l))
    guess["nu"] += 60.0  # no mode there: pure background in the window
    fit = pb.fit_multiplet(spec, 14, guess, truth, leak, pb.FitSettings(nacoeff=6))
    assert not fit.ok and fit.reason
    assert np.isnan(fit.nu)
    assert len(pb.fits_to_table([fit], 6)) == 0


def test_spectra_from_rows_maps_signs_of_m():
    l, nfreq = 2, 11  # frequencies -5..5 bins
    rows = np.zeros((l + 1, nfreq))
    k0 = nfreq // 2
    for m in range(l + 1):
        rows[m, k0 + 1 + m] = 10 + m  # mode +m at positive frequency bin 1+m
        rows[m, k0 - 1 - m] = 20 + m  # mode -m at negative frequency bin 1+m
    spec = pb.spectra_from_rows(l, rows, -k0 * 0.5, 0.5)
    assert spec.power.shape == (5, k0 + 1) and spec.nu0 == 0.0
    for m in range(-l, l + 1):
        assert spec.power[m + l, 1 + abs(m)] == (10 + m if m >= 0 else 20 - m)
    flipped = pb.spectra_from_rows(l, rows, -k0 * 0.5, 0.5, mflipped=True)
    assert np.array_equal(flipped.power, spec.power[::-1])
    with pytest.raises(ValueError, match="l\\+1 = 3 rows"):
        pb.spectra_from_rows(l, rows[:2], -k0 * 0.5, 0.5)


def test_lorentzian_and_bad_inputs():
    nu = np.linspace(-2000, 2000, 400001)
    prof = pb.lorentzian(nu, 0.0, 2.0, 3.0)
    assert np.trapezoid(prof, nu) == pytest.approx(3.0 * np.pi * 2.0 / 2, rel=1e-3)  # H pi Gamma / 2
    assert pb.lorentzian(1.0, 0.0, 2.0, 3.0, asym=0.0) == pytest.approx(1.5)
    with pytest.raises(ValueError, match="2l\\+1 = 5 rows"):
        pb.Spectrum(2, np.zeros((4, 10)), 0.0, 0.1)
    with pytest.raises(ValueError, match="neighbours"):
        pb.FitSettings(neighbours="ignore")


@pytest.mark.refdata
def test_model_s_guesses_are_close_to_observed(refdata):
    from globalhs.science.modetable import read_modetable

    hmi = read_modetable(refdata("hmi_modes", "hmi.6400.36"))
    model = np.loadtxt(refdata("model_s", "modelS_adipls_frequencies.txt"))
    guesses = pb.guesses_from_model(model[:, 0], model[:, 1], model[:, 2], hmi, 36)
    offsets = []
    for i in range(len(hmi)):
        g = guesses.find(hmi.n[i], hmi.l[i])
        if g is not None:
            offsets.append((guesses.nu[g] - hmi.nu[i], hmi.width[i]))
            assert 0.2 < guesses.width[g] / hmi.width[i] < 5
    off = np.array(offsets)
    assert len(off) > 1500
    # guesses fall inside the fit windows (>= 12 uHz half-width): 95% within 4 uHz of the observed
    assert np.percentile(np.abs(off[:, 0]), 95) < 4.0
    bare = [abs(model[(model[:, 0] == hmi.n[i]) & (model[:, 1] == hmi.l[i]), 2] - hmi.nu[i]).min()
            for i in range(0, len(hmi), 7) if np.any((model[:, 0] == hmi.n[i]) & (model[:, 1] == hmi.l[i]))]
    assert np.median(np.abs(off[:, 0])) < 0.5 * np.median(bare)  # the offset helps


def test_spectra_band_selection():
    l, nfreq = 1, 21
    rows = np.arange(2 * nfreq, dtype=float).reshape(l + 1, nfreq)
    full = pb.spectra_from_rows(l, rows, -10 * 0.5, 0.5)
    part = pb.spectra_from_rows(l, rows, -10 * 0.5, 0.5, band=(1.0, 2.0))
    assert part.nu0 == 1.0 and part.power.shape == (3, 3)
    assert np.array_equal(part.power, full.power[:, 2:5])


def test_unresolved_mode_width_is_held_and_flagged(setup):
    """A series too short to resolve the mode (Gamma < 1.5 bins): width held at the window's main lobe,
    not fitted (error flag 1000); frequency and a1 still fitted."""
    l, truth, leak = setup
    dnu = 1e6 / (2 * 86400)  # 2-day series: 5.8 uHz bins
    wide = truth.select(np.arange(len(truth)))
    wide.width[:] = np.hypot(1.2, dnu)  # what the fit models an unresolved mode with
    power, nu0, _ = synthetic_degree(wide, l, leak, dnu, 0.01, np.random.default_rng(8), lambda r: 80.0)
    guess = pb.guess_of(truth, truth.find(14, l))
    guess["nu"] += 0.5
    fit = pb.fit_multiplet(pb.Spectrum(l, power, nu0, dnu), 14, guess, wide, leak, pb.FitSettings(nacoeff=2))
    assert fit.ok, fit.reason
    assert fit.width == 1.2 and fit.err[2] == 1000.0
    assert abs(fit.nu - truth.nu[truth.find(14, l)]) < 4 * fit.err[0]


def test_finite_length_profile_limits():
    """The finite-T profile: the Lorentzian for Gamma T >> 1, the same integrated power always."""
    gamma, height = 0.8, 2.0
    nu = np.linspace(-400, 400, 800001)
    for t_sec, close in ((1e9, True), (86400.0, False)):
        g, _, _ = pb._fejer_lorentz(np.pi * gamma + 2j * np.pi * nu, t_sec * 1e-6)
        prof = height * np.pi * gamma * g.real
        lor = pb.lorentzian(nu, 0.0, gamma, height)
        assert np.trapezoid(prof, nu) == pytest.approx(np.trapezoid(lor, nu), rel=5e-3)  # tails beyond 400 uHz
        assert np.allclose(prof, lor, rtol=1e-3, atol=1e-6) == close


def test_finite_length_derivatives(setup):
    l, truth, leak = setup
    dnu = 1e6 / (2 * 86400)
    power, nu0, _ = synthetic_degree(truth, l, leak, dnu, 0.01, np.random.default_rng(2), lambda r: 80.0)
    spec = pb.Spectrum(l, power, nu0, dnu, 2 * 86400.0)
    guess = pb.guess_of(truth, truth.find(14, l))
    prob = pb._Problem(spec, 14, guess, truth, leak, pb.FitSettings(nacoeff=2))
    assert prob.finite_length
    theta = pb._start(prob, guess, spec) + 0.01
    grad, hess = prob.score_and_fisher(theta, observed=True)
    for k in range(theta.size):
        if k == 4:  # ln Gamma is held for an unresolved mode
            continue
        step = np.zeros_like(theta)
        step[k] = 1e-5
        num = (prob.objective(theta + step) - prob.objective(theta - step)) / 2e-5
        assert grad[k] == pytest.approx(num, rel=1e-4, abs=1e-6 * np.abs(grad).max())
        col = (prob.score_and_fisher(theta + step)[0] - prob.score_and_fisher(theta - step)[0]) / 2e-5
        keep = np.arange(theta.size) != 4
        assert np.abs(hess[keep, k] - col[keep]).max() < 1e-5 * np.abs(hess).max()


def test_finite_length_derivatives_with_the_width_fitted(setup):
    """A resolved mode of a series of known length: the Fejer-convolved profile with Gamma free; the
    gradient and the observed Hessian (ln Gamma rows included) are the likelihood's derivatives."""
    l, truth, leak = setup
    spec = _spectrum(truth, l, leak, 3)
    spec = pb.Spectrum(l, spec.power, spec.nu0, spec.dnu, 72 * 86400.0)
    guess = pb.guess_of(truth, truth.find(14, l))
    guess["bg"] = 0.01
    prob = pb._Problem(spec, 14, guess, truth, leak, pb.FitSettings(nacoeff=6))
    assert prob.finite_length and not prob.fixed_width
    theta = pb._start(prob, guess, spec) + 0.01
    grad, hess = prob.score_and_fisher(theta, observed=True)
    numeric_grad, numeric_hess = _central_differences(prob, theta)
    assert np.allclose(grad, numeric_grad, rtol=1e-4, atol=1e-5 * np.abs(grad).max())
    assert np.abs(hess - numeric_hess).max() < 1e-5 * np.abs(hess).max()


@pytest.mark.parametrize("path", ["numpy", "compiled"])
def test_wide_mode_finite_profile_closed_form_and_derivatives(setup, path, monkeypatch):
    """Gamma above 13 bins: the real closed form (the numpy path's) equals the complex Fejer formula,
    and on both paths the gradient and observed Hessian are the likelihood's derivatives."""
    if path == "compiled" and pb._peakbag_c is None:
        pytest.skip("the compiled kernel _peakbag_c is not built")
    monkeypatch.setenv("GLOBALHS_PEAKBAG", path)
    gamma, t = 3.0, 72 * 86400.0 * 1e-6
    assert np.pi * gamma * t > pb.FEJER_EXP_NEGLIGIBLE
    nu = np.linspace(-40, 40, 2001)
    g, _, _ = pb._fejer_lorentz(np.pi * gamma + 2j * np.pi * nu, t)
    x = 2 * nu / gamma
    eps = 1 / (np.pi * gamma * t)
    closed = 1 / (1 + x * x) - eps * (1 - x * x) / (1 + x * x) ** 2
    assert np.allclose(np.pi * gamma * g.real, closed, rtol=1e-12, atol=1e-15)
    l, truth, leak = setup
    wide = truth.select(np.arange(len(truth)))
    wide.width[:] = gamma
    power, nu0, _ = synthetic_degree(wide, l, leak, DNU, 0.01, np.random.default_rng(4), lambda r: 25.0)
    spec = pb.Spectrum(l, power, nu0, DNU, 72 * 86400.0)
    guess = pb.guess_of(wide, wide.find(14, l))
    guess["bg"] = 0.01
    prob = pb._Problem(spec, 14, guess, wide, leak, pb.FitSettings(nacoeff=6))
    theta = pb._start(prob, guess, spec) + 0.01
    grad, hess = prob.score_and_fisher(theta, observed=True)
    numeric_grad, numeric_hess = _central_differences(prob, theta)
    assert np.allclose(grad, numeric_grad, rtol=1e-4, atol=1e-5 * np.abs(grad).max())
    assert np.abs(hess - numeric_hess).max() < 1e-5 * np.abs(hess).max()


@pytest.mark.parametrize("a", [0.01 + 0.05j, 0.1 - 0.1j, 0.15 + 0.02j, 0.3 + 0.2j, 2.0 - 1.0j])
def test_fejer_lorentz_and_its_derivatives_against_mpmath(a):
    """g(a) = 1/a - (1 - exp(-aT))/(a^2 T) and its first two derivatives, by the power series where
    |aT| < 0.5 (the first four points; the closed form cancels there) and the closed form elsewhere,
    against 30-digit arithmetic."""
    mpmath = pytest.importorskip("mpmath")
    t = 3.0
    with mpmath.workdps(30):
        def g(x):
            return 1 / x - (1 - mpmath.exp(-x * t)) / (x * x * t)

        x = mpmath.mpc(a.real, a.imag)
        expected = [complex(g(x)), complex(mpmath.diff(g, x)), complex(mpmath.diff(g, x, 2))]
    got = pb._fejer_lorentz(np.array([a]), t)
    for value, want in zip(got, expected):
        assert abs(value[0] - want) <= 1e-13 * abs(want), (value[0], want)
