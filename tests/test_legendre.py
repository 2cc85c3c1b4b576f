"""Orthonormal associated Legendre functions: orthonormality to l = 1000, mpmath values (tiny ones too)."""

import mpmath
import numpy as np
import pytest

import ducc0

from globalhs.science.legendre import legendre, legendre_m, legendre_table, lm_arrays, lm_count, lm_index


def gauss_legendre(n):
    # ducc0's nodes and weights are accurate to ~1e-16 (numpy's/scipy's weights are off by ~1e-9 at n = 1024)
    return np.cos(ducc0.misc.GL_thetas(n)), ducc0.misc.GL_weights(n, 1) / (2 * np.pi)


def mp_value(l, m, x):
    """P~_l^m(x) from mpmath's Ferrers function (Condon–Shortley phase included) times the norm."""
    mpmath.mp.dps = 30
    norm = mpmath.sqrt(mpmath.mpf(2 * l + 1) / 2 * mpmath.factorial(l - m) / mpmath.factorial(l + m))
    return norm * mpmath.legenp(l, m, mpmath.mpf(x), maxprec=20000, zeroprec=5000)


def mp_sectoral(m, x):
    """P~_m^m(x) in closed form: (-1)^m sqrt((2m+1)/2 (2m)!) / (2^m m!) (1 - x^2)^(m/2)."""
    mpmath.mp.dps = 30
    x = mpmath.mpf(x)
    return ((-1) ** m * mpmath.sqrt((2 * m + 1) / mpmath.mpf(2) * mpmath.factorial(2 * m))
            / (mpmath.mpf(2) ** m * mpmath.factorial(m)) * (1 - x * x) ** (mpmath.mpf(m) / 2))


def test_orthonormal_to_l1000():
    # 1002 nodes integrate P~ P~ (degree <= 2000) exactly; parity P~(-x) = (-1)^(l-m) P~(x) lets the
    # table be built on the positive half only (the products of opposite parity vanish exactly)
    x, w = gauss_legendre(1002)
    x, w = x[x > 0], 2 * w[x > 0]
    worst = 0.0
    for mm in (0, 1, 2, 7, 100, 333, 999, 1000):
        p = legendre_m(mm, 1000, x)
        parity = np.arange(p.shape[0]) % 2
        gram = (p * w) @ p.T * (parity[:, None] == parity[None, :])
        worst = max(worst, np.abs(gram - np.eye(len(p))).max())
    assert worst < 1e-12


def test_table_equals_per_m_recurrence():
    # the vectorised all-m table (what the SHT uses) against the per-m recurrence above, near the poles too
    x = np.cos(np.radians([0.3, 1.0, 10.0, 45.0, 89.0, 120.0, 179.5]))
    table = legendre_table(300, x)
    l, m = lm_arrays(0, 300)
    for mm in (0, 1, 150, 299, 300):
        np.testing.assert_allclose(table[m == mm], legendre_m(mm, 300, x), rtol=1e-10, atol=1e-11)


@pytest.mark.parametrize("l, m, x", [(1, 1, 0.5), (10, 3, 0.3), (300, 150, -0.6), (700, 20, 0.9999),
                                     (1000, 900, 0.3), (1200, 60, 0.999)])
def test_against_mpmath(l, m, x):
    expected = float(mp_value(l, m, x))
    assert legendre(l, m, x) == pytest.approx(expected, rel=1e-12)


def test_tiny_values_are_right_not_underflowed():
    # P~_1000^1000(0.5) ~ 1e-62: the sin^m seed of the recurrence would be ~1e-125 early on
    assert legendre(1000, 1000, 0.5) == pytest.approx(float(mp_sectoral(1000, 0.5)), rel=1e-12)
    # ~2e-23 in the evanescent region (mpmath's hypergeometric sum)
    assert legendre(120, 100, 0.9) == pytest.approx(float(mp_value(120, 100, 0.9)), rel=1e-12)
    # seed 0.3^600 ~ 1e-314 (denormal) yet the value at l = 601 is ~1e-298: scaled exponent keeps it
    expected = float(mp_sectoral(600, 0.954) * mpmath.sqrt(2 * 600 + 3) * mpmath.mpf(0.954))
    assert legendre(601, 600, 0.954) == pytest.approx(expected, rel=1e-12)
    # below the double range the result is an exact zero, never garbage
    assert legendre(1000, 1000, 0.99) == 0.0


def test_table_matches_single_and_negative_m():
    x = np.linspace(-0.99, 0.99, 7)
    table = legendre_table(60, x, lmin=40, dtype=np.float32)
    assert table.dtype == np.float32 and table.shape == (lm_count(40, 60), 7)
    for l, m in [(40, 0), (45, 17), (60, 60)]:
        np.testing.assert_allclose(table[lm_index(l, m, 40)], legendre(l, m, x), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(legendre(9, -4, x), legendre(9, 4, x))  # (-1)^m P~_l^m
    np.testing.assert_allclose(legendre(9, -3, x), -legendre(9, 3, x))


def test_theta_derivative_by_finite_differences():
    theta = np.radians([0.5, 5.0, 60.0, 120.0])
    p, dp = legendre_table(50, np.cos(theta), derivative=True)
    h = 1e-6
    for l, m in [(1, 0), (1, 1), (7, 3), (50, 0), (50, 50)]:
        fd = (legendre(l, m, np.cos(theta + h)) - legendre(l, m, np.cos(theta - h))) / (2 * h)
        scale = np.abs(fd).max() + 1
        assert np.abs(dp[lm_index(l, m)] - fd).max() < 1e-6 * scale
        np.testing.assert_allclose(legendre(l, m, np.cos(theta), derivative=True)[1], dp[lm_index(l, m)], atol=1e-12)


def test_bad_arguments():
    with pytest.raises(ValueError, match=r"\|m\| <= l"):
        legendre(3, 4, 0.1)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        legendre_table(3, [1.5])
