"""The observation model of a mode: geometry, normalisation, horizontal term."""

import numpy as np
import pytest

from globalhs.science.observe import (GM_SUN, R_SUN, doppler_velocity, horizontal_ratio, mode_pattern,
                                      observer_components, ylm)


def _sphere_quadrature(n=64):
    x, w = np.polynomial.legendre.leggauss(n)
    phi = np.arange(2 * n) * np.pi / n
    colat = np.arccos(x)[:, None] * np.ones(2 * n)
    lon = np.ones(n)[:, None] * phi
    return colat, lon, w[:, None] * (np.pi / n)


@pytest.mark.parametrize("l,m", [(0, 0), (1, 1), (5, -3), (20, 7), (30, 30)])
def test_ylm_orthonormal_and_gradient_norm(l, m):
    colat, lon, w = _sphere_quadrature()
    y, dy = ylm(l, m, colat, lon)
    assert np.sum(w * abs(y) ** 2) == pytest.approx(1.0, abs=1e-12)
    grad2 = abs(dy) ** 2 + abs(1j * m * y / np.sin(colat)) ** 2
    assert np.sum(w * grad2) == pytest.approx(l * (l + 1), rel=1e-10)
    y2, _ = ylm(l + 1, m, colat, lon) if abs(m) <= l + 1 else (0 * y, 0)
    assert abs(np.sum(w * y * np.conj(y2))) < 1e-12


def test_condon_shortley_and_negative_m():
    colat, lon = 0.7, 0.3
    y11, _ = ylm(1, 1, colat, lon)
    assert y11 == pytest.approx(-np.sqrt(3 / (8 * np.pi)) * np.sin(colat) * np.exp(1j * lon))
    y1m, _ = ylm(1, -1, colat, lon)
    assert y1m == pytest.approx(-np.conj(y11))


@pytest.mark.parametrize("b0", [0.0, np.radians(7.25), -0.1])
def test_observer_components_are_o_dot_unit_vectors(b0):
    rng = np.random.default_rng(1)
    colat, lon = rng.uniform(0.1, 3.0, 50), rng.uniform(-3, 3, 50)
    o = np.array([np.cos(b0), 0.0, np.sin(b0)])
    st, ct, sp, cp = np.sin(colat), np.cos(colat), np.sin(lon), np.cos(lon)
    e_r = np.stack([st * cp, st * sp, ct])
    e_t = np.stack([ct * cp, ct * sp, -st])
    e_p = np.stack([-sp, cp, 0 * sp])
    got = observer_components(colat, lon, b0)
    for g, e in zip(got, (e_r, e_t, e_p)):
        assert np.allclose(g, o @ e, atol=1e-15)


@pytest.mark.parametrize("b0", [0.0, 0.12])
def test_l1_translation_is_uniform(b0):
    """beta = 1 at l = 1 is a rigid translation grad(r Y_1m): the same line-of-sight velocity everywhere.

    This checks the signs of the horizontal terms and the i m / sin(theta) factor together."""
    rng = np.random.default_rng(2)
    colat, lon = rng.uniform(0.2, 2.9, 40), rng.uniform(-1.5, 1.5, 40)
    p10 = mode_pattern(1, 0, colat, lon, b0, beta=1.0)
    assert np.allclose(p10, np.sqrt(3 / (4 * np.pi)) * np.sin(b0), atol=1e-14)
    p11 = mode_pattern(1, 1, colat, lon, b0, beta=1.0)  # r Y_11 = -sqrt(3/8pi) (x + i y)
    assert np.allclose(p11, -np.sqrt(3 / (8 * np.pi)) * np.cos(b0), atol=1e-14)
    p1m = mode_pattern(1, -1, colat, lon, b0, beta=1.0)  # r Y_1-1 = sqrt(3/8pi) (x - i y)
    assert np.allclose(p1m, np.sqrt(3 / (8 * np.pi)) * np.cos(b0), atol=1e-14)


def test_horizontal_ratio():
    assert horizontal_ratio(3000.0) == pytest.approx(1.11e-3, rel=5e-3)  # SCIENCE.md section 5
    # f mode: sigma^2 = g L / R gives beta = 1/L
    g = GM_SUN / R_SUN**2
    big_l = np.sqrt(200 * 201)
    nu_f = np.sqrt(g * big_l / R_SUN) / (2 * np.pi) * 1e6
    assert horizontal_ratio(nu_f) == pytest.approx(1 / big_l, rel=1e-12)


def test_doppler_sign_radial_mode_at_disk_centre():
    # an outward (toward the observer) radial motion at disk centre is a negative Doppler velocity
    pattern = mode_pattern(0, 0, np.pi / 2, 0.0, 0.0, 0.0)
    assert pattern == pytest.approx(1 / np.sqrt(4 * np.pi))
    assert doppler_velocity(1.0, pattern) < 0
    assert doppler_velocity(np.ones((3, 1)), np.ones(4)).shape == (3, 4)


def test_bad_mode_named():
    with pytest.raises(ValueError, match="l=2, m=3"):
        ylm(2, 3, 0.5, 0.0)
