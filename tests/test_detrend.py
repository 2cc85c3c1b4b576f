"""Polynomial detrending: exact on polynomials, blind to bad samples, per section."""

from __future__ import annotations

import numpy as np
import pytest

from globalhs.science.detrend import detrend, polynomial_fit, window_starts


def _poly(n, coeffs):
    u = np.linspace(-1.0, 1.0, n)
    return np.polynomial.polynomial.polyval(u, coeffs)


@pytest.mark.parametrize("window,overlap", [(None, 0), (1000, 300), (700, 350)])
def test_polynomial_removed_exactly_on_good_points_whatever_the_bad_ones_hold(window, overlap):
    rng = np.random.default_rng(0)
    n = 5000
    x = _poly(n, [3.0, -2.0, 5.0, 1.5]) + 1j * _poly(n, [-1.0, 4.0, 0.5, -2.0])
    good = rng.random(n) > 0.2
    x[~good] = 1e6 * rng.normal(size=(~good).sum())  # garbage in bad samples
    out = detrend(x, good, order=3, window=window, overlap=overlap)
    assert np.max(np.abs(out[good])) < 1e-8
    assert np.all(out[~good] == 0)


def test_each_section_detrended_on_its_own():
    n = 3000
    x = np.where(np.arange(n) < 1200, _poly(n, [1.0, 2.0]), _poly(n, [-5.0, 0.0, 3.0]))
    good = np.ones(n, dtype=bool)
    out = detrend(x, good, order=2, sections=[(0, 1200), (1200, n)])
    assert np.max(np.abs(out)) < 1e-9
    # one section across the jump cannot remove it
    assert np.max(np.abs(detrend(x, good, order=2))) > 0.1


def test_signal_above_the_trend_survives_and_batches_match():
    n = 4096
    t = np.arange(n)
    signal = np.cos(2 * np.pi * 0.05 * t)  # 200 cycles: orthogonal to low-order polynomials
    x = np.stack([signal + _poly(n, [2, 1, -3]), 2 * signal - _poly(n, [0, 4])])
    good = np.ones(n, dtype=bool)
    out = detrend(x, good, order=2, window=1024, overlap=256)
    # a quadratic over 1024 samples absorbs a few per cent of a 51-cycle cosine near window edges
    np.testing.assert_allclose(out[0], signal, atol=0.05)
    np.testing.assert_allclose(out[1], 2 * signal, atol=0.1)
    assert np.sqrt(np.mean((out[0] - signal) ** 2)) < 0.01
    np.testing.assert_allclose(out[1], detrend(x[1], good, order=2, window=1024, overlap=256))


def test_fit_with_too_few_good_points_lowers_the_degree():
    x = np.arange(10.0)
    good = np.zeros(10, dtype=bool)
    good[[2, 7]] = True
    np.testing.assert_allclose(polynomial_fit(x, good, 5), x, atol=1e-12)  # a line through two points


def test_window_starts_cover_and_overlap():
    starts = window_starts(10_000, 1000, 200)
    assert starts[0] == 0 and starts[-1] == 9000
    assert np.all(np.diff(starts) <= 800)
