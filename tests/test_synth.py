"""The synthetic Sun's statistics and geometry: exact variance, Lorentzian recovered, determinism,
frame conversion, projections against direct evaluation of spherical harmonics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.special import sph_harm_y

from globalhs.science.apols import apols
from globalhs.science.ephemeris import AU, solar_geometry
from globalhs.science.modetable import ModeTable
from globalhs.science.observe import doppler_velocity, horizontal_ratio, mode_pattern
from globalhs.science.sunimage import disk_pixels, render_mode_velocity
from globalhs.science.synth import (
    ModeOscillators,
    SphericalFieldStream,
    ar1_coefficients,
    ar2_coefficients,
    ar2_variance,
    field_coefficients,
    gap_pattern,
    mode_set,
)
from globalhs.science.synthsun import ObservationConfig, synthetic_observation


def test_ar2_check_values_of_science_md():
    phi1, phi2, sigma_e = ar2_coefficients(3e-3, 1e-6, 1.0, 45.0)
    assert phi1 == pytest.approx(1.322437, abs=2e-6)
    assert phi2 == pytest.approx(-0.999717, abs=2e-6)
    assert sigma_e**2 == pytest.approx(3.18e-4, rel=2e-3)
    assert ar2_variance(phi1, phi2, sigma_e) == pytest.approx(1.0, rel=1e-9)


def test_ar1_excitation_gives_exact_stationary_variance():
    c, sigma_e = ar1_coefficients(3e-3, 2e-6, 4.0, 60.0)
    # Stationary E|z|^2 = sigma_e^2 / (1 - |c|^2) for a complex AR(1).
    assert sigma_e**2 / (1 - abs(c) ** 2) == pytest.approx(4.0, rel=1e-12)


def _long_series(nu, width, variance, dt, n, seed):
    osc = ModeOscillators(np.array([nu]), np.array([width]), np.array([variance]), dt, np.random.default_rng(seed))
    return osc.advance(n)[:, 0]


def test_sample_variance_matches_requested_variance():
    # A wide mode decorrelates fast: 2^17 steps hold about 1600 correlation times.
    z = _long_series(3e-3, 20e-6, 2.5, 60.0, 2**17, seed=3)
    assert np.mean(np.abs(z) ** 2) == pytest.approx(2.5, rel=0.08)


def test_lorentzian_frequency_and_width_recovered_by_mle():
    nu0, width, dt, n = 3.1e-3, 4e-6, 60.0, 2**18
    z = _long_series(nu0, width, 1.0, dt, n, seed=11)
    # Time runs as exp(-2 pi i nu t): the peak is at -nu0 in numpy's FFT convention.
    power = np.abs(np.fft.fft(z)) ** 2 / n
    freq = -np.fft.fftfreq(n, dt)
    sel = np.abs(freq - nu0) < 60e-6
    f, p = freq[sel], power[sel]

    def nll(params):
        centre, log_w, log_h, log_b = params
        model = np.exp(log_h) / (1 + ((f - centre) / (np.exp(log_w) / 2)) ** 2) + np.exp(log_b)
        return np.sum(np.log(model) + p / model)

    start = [f[np.argmax(np.convolve(p, np.ones(9), "same"))], np.log(3e-6), np.log(p.max()), np.log(np.median(p) / 10)]
    fit = minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-12, "fatol": 1e-9, "maxiter": 4000})
    T = n * dt
    sigma_nu = np.sqrt(width / (4 * np.pi * T))  # Libbrecht 1992, high signal-to-noise limit
    assert abs(fit.x[0] - nu0) < 5 * sigma_nu
    assert np.exp(fit.x[1]) == pytest.approx(width, rel=0.25)


def test_stream_is_deterministic_and_independent_of_blocking():
    nu, width, var = np.array([2e-3, 3e-3]), np.array([1e-6, 5e-6]), np.array([1.0, 2.0])
    a = ModeOscillators(nu, width, var, 60.0, np.random.default_rng(5)).advance(300)
    b_osc = ModeOscillators(nu, width, var, 60.0, np.random.default_rng(5), block=7)
    b = np.concatenate([b_osc.advance(13), b_osc.advance(287)])
    np.testing.assert_array_equal(a, b)
    c = ModeOscillators(nu, width, var, 60.0, np.random.default_rng(6)).advance(300)
    assert not np.allclose(a, c)


def _table(l, n, nu, amp, width, a):
    """A ModeTable from a few columns (errors, background, asymmetry zero)."""
    rows = len(l)
    a = np.asarray(a, dtype=float).reshape(rows, -1)
    zeros = np.zeros(rows)
    return ModeTable(l, n, nu, amp, width, zeros, zeros, np.zeros((rows, 5)), a, np.zeros_like(a))


def test_mode_set_frequencies_from_a_coefficients():
    a = np.zeros((1, 36))
    a[0, 0], a[0, 2] = 440.0, 20.0   # a1, a3 in nHz
    ms = mode_set(_table([5], [3], [3000.0], [2.0], [1.5], a), lmax=10)
    P = apols(5, 3)
    np.testing.assert_allclose(ms.nu, 3000e-6 + (440.0 * P[1] + 20.0 * P[3]) * 1e-9, rtol=1e-14)
    np.testing.assert_array_equal(ms.m, np.arange(-5, 6))
    np.testing.assert_allclose(ms.width, 1.5e-6)
    assert ms.beta[0] == pytest.approx(float(horizontal_ratio(3000.0)))
    with pytest.raises(ValueError, match="no usable multiplet"):
        mode_set(_table([50], [3], [3000.0], [2.0], [1.5], a), lmax=10)


def test_synodic_frequency_is_sidereal_minus_m_times_orbital_rate():
    nu0, m, dt, n = 3e-3, 2, 60.0, 2**15
    sub = mode_set(_table([2], [10], [nu0 * 1e6], [1.0], [0.05], np.zeros((1, 2))), lmax=2).select(
        np.arange(-2, 3) == m)
    stream = SphericalFieldStream(sub, lmax=2, dt=dt, seed=2)
    rate = 2 * np.pi * 31.7e-9 * 40  # an exaggerated orbital rate makes the shift many bins wide
    radial, _ = stream.next(n, rate * dt * np.arange(n))
    series = radial[:, 2 * (2 * 2 + 1 - 2) // 2 + 2]  # (l=2, m=2) in the ducc0 layout
    freq = -np.fft.fftfreq(n, dt)
    peak = freq[np.argmax(np.abs(np.fft.fft(series)))]
    assert peak == pytest.approx(nu0 - m * rate / (2 * np.pi), abs=2 / (n * dt))


@pytest.mark.parametrize("l, m", [(3, 2), (3, -2), (4, 0), (5, -3)])
def test_rendered_velocity_matches_direct_spherical_harmonics(l, m):
    """v_D = -[o_r Re(zY) + beta (o_theta d_theta + o_phi d_phi/sin) Re(zY)], evaluated independently."""
    z, beta, lmax = 0.7 - 1.3j, 0.4, 6
    radial = field_coefficients(np.array([l]), np.array([m]), np.array([z]), lmax)
    horizontal = field_coefficients(np.array([l]), np.array([m]), np.array([z]), lmax, weight=np.array([beta]))
    disk = disk_pixels((40, 40), 19.5, 19.5, 18.0, 6.0, 15.0, s_ratio=0.00465)
    got = render_mode_velocity(radial, horizontal, lmax, disk, epsilon=1e-12)

    def field(theta, phi):
        return np.real(z * sph_harm_y(l, m, theta, phi))

    h = 1e-6
    th, ph = disk.theta, disk.phi
    d_theta = (field(th + h, ph) - field(th - h, ph)) / (2 * h)
    d_phi = (field(th, ph + h) - field(th, ph - h)) / (2 * h) / np.sin(th)
    want = -(disk.o_r * field(th, ph) + beta * (disk.o_theta * d_theta + disk.o_phi * d_phi))
    np.testing.assert_allclose(got, want, atol=1e-7)
    # The same through the observation model the leakage matrix uses.
    model = doppler_velocity(z, mode_pattern(l, m, disk.theta, disk.phi, np.deg2rad(6.0), beta))
    np.testing.assert_allclose(got, model, atol=1e-7)


def test_disk_geometry_orientation():
    # P = 90 deg turns solar north to the east (-X); B0 = 0 puts the equator through the centre.
    disk = disk_pixels((101, 101), 50.0, 50.0, 50.0, 0.0, 90.0)
    east = (disk.rows == 50) & (disk.cols == 5)
    centre = (disk.rows == 50) & (disk.cols == 50)
    assert np.rad2deg(disk.theta[east])[0] == pytest.approx(90 - np.rad2deg(np.arcsin(0.9)), abs=1e-9)
    assert disk.theta[centre][0] == pytest.approx(np.pi / 2) and disk.phi[centre][0] == pytest.approx(0.0)
    assert disk.o_r[centre][0] == pytest.approx(1.0)
    # B0 > 0: the disk centre lies in the northern hemisphere at latitude B0.
    tilted = disk_pixels((101, 101), 50.0, 50.0, 50.0, 7.0, 0.0)
    c = (tilted.rows == 50) & (tilted.cols == 50)
    assert np.rad2deg(np.pi / 2 - tilted.theta[c])[0] == pytest.approx(7.0)


def test_ephemeris_meeus_example_and_annual_ranges():
    # Meeus, Astronomical Algorithms, example 29.a: 1992 October 13.0 TD.
    t = (2448908.5 - 2443144.5) * 86400.0
    g = solar_geometry(t)
    assert float(g.p) == pytest.approx(26.27, abs=0.02)
    assert float(g.b0) == pytest.approx(5.99, abs=0.02)
    assert float(g.l0) == pytest.approx(238.63, abs=0.03)
    year = solar_geometry(t + np.arange(366) * 86400.0)
    assert year.b0.max() == pytest.approx(7.25, abs=0.01) and year.b0.min() == pytest.approx(-7.25, abs=0.01)
    assert year.p.max() == pytest.approx(26.3, abs=0.1)
    assert np.rad2deg(np.mean(np.diff(year.eta))) == pytest.approx(0.9856, abs=1e-3)  # deg/day
    assert 29.0e3 < year.obs_vw.min() < year.obs_vw.max() < 30.4e3
    assert np.abs(year.obs_vr).max() == pytest.approx(500.0, rel=0.03)  # e * 29.8 km/s
    assert year.dsun.min() / AU == pytest.approx(0.9833, abs=5e-4)


def test_gap_pattern_duty_cycle_and_runs():
    status = gap_pattern(200_000, 0.9, np.random.default_rng(1), mean_gap=12.0, flagged_fraction=0.3)
    good = status == 0
    assert good.mean() == pytest.approx(0.9, abs=0.01)
    starts = np.flatnonzero(np.diff(good.astype(int)) == -1)
    assert (~good).sum() / starts.size == pytest.approx(12.0, rel=0.1)
    assert (status == 2).sum() / (~good).sum() == pytest.approx(0.3, abs=0.05)
    assert np.all(gap_pattern(100, 1.0, np.random.default_rng(1)) == 0)
    with pytest.raises(ValueError, match="duty cycle"):
        gap_pattern(10, 0.0, np.random.default_rng(1))


def test_observation_is_deterministic_and_flags_bad_images():
    ms = mode_set(_table([1, 2], [10, 10], [2500.0, 2600.0], [2.0, 2.0], [1.0, 1.0], np.zeros((2, 4))), lmax=4)
    config = ObservationConfig(size=48, duty_cycle=0.7, mean_gap=3, seed=9)
    first = list(synthetic_observation(ms, 1.0e9, 80, config))
    again = list(synthetic_observation(ms, 1.0e9, 80, config, block=7))
    assert [i.status for i in first] == [i.status for i in again]
    for a, b in zip(first, again):
        assert (a.image is None) == (b.image is None)
        if a.image is not None:
            np.testing.assert_array_equal(a.image, b.image)
    statuses = {i.status for i in first}
    assert statuses == {0, 1, 2}
    for img in first:
        assert (img.image is None) == (img.status == 1)
        assert (img.keywords["QUALITY"] != 0) == (img.status == 2)
    assert first[1].keywords["T_REC"] - first[0].keywords["T_REC"] == 60.0
    with pytest.raises(ValueError, match="instrument style"):
        ObservationConfig(style="gong")


def test_observation_without_modes_noise_or_signals_is_zero_on_disk():
    """Switching every contribution off leaves an all-zero disk: nothing else sneaks in."""
    ms = mode_set(_table([1], [10], [2500.0], [1e-30], [1.0], np.zeros((1, 2))), lmax=1)
    config = ObservationConfig(size=32, duty_cycle=1.0, pixel_noise=0.0, rotation=False, limb_shift=False,
                               observer_velocity=False)
    img = next(synthetic_observation(ms, 1.0e9, 1, config))
    disk = ~np.isnan(img.image)
    assert disk.sum() > 0.6 * 32 * 32
    np.testing.assert_allclose(img.image[disk], 0.0, atol=1e-12)


def test_steady_surface_and_observer_signals():
    from globalhs.science.sunimage import observer_velocity, surface_velocity

    disk = disk_pixels((201, 201), 100.0, 100.0, 100.0, 0.0, 0.0)
    centre = (disk.rows == 100) & (disk.cols == 100)
    west = (disk.rows == 100) & (disk.cols == 199)
    v = surface_velocity(disk, 0.0)
    assert v[centre][0] == pytest.approx(-166.0)                        # limb shift at mu = 0, no rotation
    mu = 1 - disk.cos_rho[west][0]
    rot = 1974.1 * np.sin(disk.phi[west][0])
    assert v[west][0] == pytest.approx(rot - 166 - 139 * mu + 700 * mu**2)
    assert rot == pytest.approx(1974.1 * 0.99)                          # the west limb recedes
    obs = observer_velocity(disk, 300.0, 30e3, 0.0, 0.00465)
    assert obs[centre][0] == pytest.approx(300.0)
    assert obs[west][0] == pytest.approx(300.0 - 0.00465 * 30e3 * disk.sky_x[west][0])


def test_geometry_reuse_within_tolerance_changes_images_negligibly():
    ms = mode_set(_table([1, 2], [10, 10], [2500.0, 2600.0], [2.0, 2.0], [1.0, 1.0], np.zeros((2, 4))), lmax=4)
    base = dict(size=64, duty_cycle=1.0, seed=3)
    exact = list(synthetic_observation(ms, 1.0e9, 30, ObservationConfig(geometry_tolerance=0.0, **base)))
    reused = list(synthetic_observation(ms, 1.0e9, 30, ObservationConfig(**base)))
    diff = max(np.nanmax(np.abs(a.image - b.image)) for a, b in zip(exact, reused))
    assert 0 < diff < 0.5   # m/s, against signals of 2 km/s


@pytest.mark.parametrize("m", [2, -2])
def test_conventions_match_the_sht_and_spectra(m):
    """A mode (l, m) synthesised here, sampled on jv2ts' grid over the whole sphere and transformed by
    its SHT, shows in row (l, |m|) at +nu for m > 0 and at -nu for m < 0 (spectra's convention), with
    |a_lm| = |z| / sqrt(4 pi) (the SHT's unit is a field of unit mean square; ours is orthonormal)."""
    sht_module = pytest.importorskip("globalhs.science.sht")
    from globalhs.science.grid import MapGrid

    import ducc0

    l, lmax, dt, n = 3, 4, 60.0, 512
    nu = round(3.0e-3 * n * dt) / (n * dt)
    ms = mode_set(_table([l], [10], [nu * 1e6], [1.0], [1e-3], np.zeros((1, 2))), lmax=lmax).select(
        np.arange(-l, l + 1) == m)
    radial, _ = SphericalFieldStream(ms, lmax=lmax, dt=dt, seed=4).next(n, np.zeros(n))
    grid = MapGrid(mapmmax=32, sinbdivs=32, maplgmin=-180.0, maplgmax=180.0 - 180.0 / 32, mapbmax=90.0)
    theta = np.arccos(grid.sin_lat)[:, None] * np.ones(grid.cols)
    phi = np.mod(grid.lon, 2 * np.pi)[None, :] * np.ones((grid.rows, 1))
    loc = np.column_stack([theta.ravel(), phi.ravel()])
    maps = np.stack([ducc0.sht.synthesis_general(alm=a[None], spin=0, lmax=lmax, loc=loc, epsilon=1e-10)[0]
                     for a in radial]).reshape(n, *grid.shape)
    a = sht_module.SHT(grid, 0, lmax, dtype=np.float64).transform(maps)        # [n, n_lm]
    series = a[:, sht_module.lm_index(l, abs(m), 0)]
    spectrum = np.abs(np.fft.fftshift(np.fft.fft(series, norm="forward"))) ** 2
    freq = (np.arange(n) - n // 2) / (n * dt)
    assert freq[np.argmax(spectrum)] == pytest.approx(np.sign(m) * nu)
    # The width is 1 nHz: over 512 steps the mode's modulus is nearly constant.
    z = SphericalFieldStream(ms, lmax=lmax, dt=dt, seed=4)._modes.advance(n)[:, 0]
    np.testing.assert_allclose(np.abs(series), np.abs(z) / np.sqrt(4 * np.pi), rtol=2e-3)


def test_parts_of_a_span_equal_the_whole():
    ms = mode_set(_table([1, 2], [10, 10], [2500.0, 2600.0], [2.0, 2.0], [1.0, 1.0], np.zeros((2, 4))), lmax=4)
    config = ObservationConfig(size=32, duty_cycle=0.8, mean_gap=3, seed=5)
    whole = list(synthetic_observation(ms, 1.0e9, 150, config, block=16))
    parts = [img for first, count in ((0, 37), (37, 80), (117, 40))
             for img in synthetic_observation(ms, 1.0e9, 150, config, block=16, part=(first, count))]
    assert [i.index for i in parts] == list(range(150))
    for a, b in zip(whole, parts):
        assert a.status == b.status and a.keywords == b.keywords
        if a.image is not None:
            np.testing.assert_array_equal(a.image, b.image)


def test_background_has_the_requested_variance_per_coefficient():
    ms = mode_set(_table([1], [10], [2500.0], [1e-30], [1.0], np.zeros((1, 2))), lmax=1)
    stream = SphericalFieldStream(ms, lmax=3, dt=60.0, seed=8, background_variance=2.0, background_width=1e-3)
    radial, _ = stream.next(8000, np.zeros(8000))
    # a_lm (m > 0) = (z_m + (-1)^m conj(z_-m)) / 2 of two independent series of variance 2: E|a|^2 = 1.
    a33 = radial[:, 3 * (2 * 3 + 1 - 3) // 2 + 3]
    assert np.mean(np.abs(a33) ** 2) == pytest.approx(1.0, rel=0.12)
    # a_l0 = Re z: E a^2 = 1 as well.
    assert np.mean(radial[:, 2].real ** 2) == pytest.approx(1.0, rel=0.12)
