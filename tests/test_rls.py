"""2D RLS mechanics on synthetic kernels: recovery, error propagation, averaging kernels, bad input."""

import numpy as np
import pytest

from globalhs.science.kernels import c_ls
from globalhs.science.rls import (
    RLSError,
    averaging_kernel,
    latitude_basis,
    omega_map_from_s,
    omega_s_from_map,
    rls_invert,
    second_difference,
)

S_LIST = (1, 3, 5)


def _kernels(rng, n, grid):
    """Localised smooth radial kernels (Gaussians at random depths), already projected on hats."""
    centres = rng.uniform(0.3, 0.98, n)
    widths = rng.uniform(0.02, 0.08, n)
    x = np.linspace(0, 1, 4001)
    K = np.exp(-0.5 * ((x[None, :] - centres[:, None]) / widths[:, None]) ** 2)
    K /= np.trapezoid(K, x, axis=1)[:, None]
    from globalhs.science.kernels import project

    return project(K, x, grid)


def _problem(rng, noise=0.1, n=400):
    grid = np.linspace(0, 1, 41)
    truth = np.stack([440 - 30 * (1 - grid) ** 2, -20 + 5 * grid, 3 + 0 * grid], axis=1)  # Omega_s(r)
    blocks = {}
    for j, s in enumerate(S_LIST):
        G = _kernels(rng, n, grid) * np.array([c_ls(int(l), s) for l in rng.integers(20, 200, n)])[:, None]
        sig = np.full(n, noise)
        a = G @ truth[:, j]
        blocks[s] = (G, a, sig)
    return grid, truth, blocks


def test_noise_free_recovery_where_kernels_reach():
    rng = np.random.default_rng(3)
    grid, truth, blocks = _problem(rng)
    res = rls_invert(blocks, grid, 1e-9, 1e-9)
    inside = (grid > 0.4) & (grid < 0.95)
    assert np.allclose(res.omega_s[inside], truth[inside], atol=0.05)
    assert res.chi2 / res.ndata < 1e-3


def test_errors_match_monte_carlo_scatter():
    rng = np.random.default_rng(4)
    grid, truth, blocks = _problem(rng, noise=1.0)
    base = rls_invert(blocks, grid, 1e-6, 1e-5)
    colat = np.array([0.0, 30.0, 60.0, 90.0])
    err = base.error_map(colat)
    draws = []
    for _ in range(30):
        noisy = {s: (G, a + rng.normal(0, sig), sig) for s, (G, a, sig) in blocks.items()}
        draws.append(rls_invert(noisy, grid, 1e-6, 1e-5).omega_map(colat))
    scatter = np.std(draws, axis=0)
    inside = (grid > 0.4) & (grid < 0.95)
    ratio = scatter[inside] / err[inside]
    assert 0.7 < np.median(ratio) < 1.3


def test_averaging_kernel_peaks_at_target_and_integrates_to_one():
    rng = np.random.default_rng(5)
    grid, truth, blocks = _problem(rng, noise=0.3)
    res = rls_invert(blocks, grid, 1e-6, 1e-5)
    colat = np.linspace(0, 90, 91)
    K = averaging_kernel(res, 0.7, 45.0, colat)
    i, j = np.unravel_index(np.argmax(np.abs(K)), K.shape)
    assert abs(grid[i] - 0.7) < 0.1
    # sum over radii of the integral over x in [-1, 1] (twice the hemisphere)
    x = np.cos(np.radians(colat))
    total = 2 * np.sum(np.trapezoid(K[:, ::-1], x[::-1], axis=1))
    assert total == pytest.approx(1.0, abs=0.05)


def test_regularisation_smooths():
    rng = np.random.default_rng(6)
    grid, truth, blocks = _problem(rng, noise=2.0)
    D, w = second_difference(grid)
    rough = [np.sum(w[:, None] * (D @ rls_invert(blocks, grid, mu, 1e-5).omega_s) ** 2) for mu in (1e-8, 1e-4, 1)]
    assert rough[0] > rough[1] > rough[2]


def test_radial_coordinate_and_latitude_measure():
    """A linear radial coordinate u = a r only rescales mu_r (by a^-3); the theta measure weights the pole."""
    rng = np.random.default_rng(8)
    grid, truth, blocks = _problem(rng, noise=2.0)
    a = 7.0
    plain = rls_invert(blocks, grid, 1e-4 * a**-3, 1e-5)
    scaled = rls_invert(blocks, grid, 1e-4, 1e-5, radial_coordinate=a * grid)
    assert np.allclose(plain.omega_s, scaled.omega_s, rtol=1e-8, atol=1e-8)
    colat = np.array([0.0, 10.0, 45.0, 90.0])
    cos_m = rls_invert(blocks, grid, 1e-6, 1e2).omega_map(colat)
    theta_m = rls_invert(blocks, grid, 1e-6, 1e2, latitude_measure="theta").omega_map(colat)
    assert not np.allclose(cos_m, theta_m, atol=1e-3)
    with pytest.raises(RLSError, match="latitude_measure"):
        rls_invert(blocks, grid, 1, 1, latitude_measure="phi")
    with pytest.raises(RLSError, match="radial_coordinate"):
        rls_invert(blocks, grid, 1, 1, radial_coordinate=grid[::-1])


def test_latitude_basis_is_legendre_derivative():
    colat = np.array([0.0, 60.0, 90.0])
    B = latitude_basis((1, 3), colat)
    x = np.cos(np.radians(colat))
    assert np.allclose(B[:, 0], 1.0)
    assert np.allclose(B[:, 1], 0.5 * (15 * x**2 - 3))
    m = omega_map_from_s(np.array([[450.0, 0.0]]), colat, (1, 3))
    assert np.allclose(m, 450.0)
    back = omega_s_from_map(np.full((1, 49), 450.0), np.arange(49) * 1.875, (1, 3))
    assert np.allclose(back, [[450.0, 0.0]], atol=1e-9)


def test_bad_input():
    grid = np.linspace(0, 1, 5)
    G = np.ones((3, 5))
    with pytest.raises(RLSError, match="expected \\(N, 5\\)"):
        rls_invert({1: (np.ones((3, 4)), np.ones(3), np.ones(3))}, grid, 1, 1)
    with pytest.raises(RLSError, match="errors must be positive"):
        rls_invert({1: (G, np.ones(3), np.zeros(3))}, grid, 1, 1)
    with pytest.raises(RLSError, match=">= 0"):
        rls_invert({1: (G, np.ones(3), np.ones(3))}, grid, -1, 1)
    with pytest.raises(RLSError, match="increasing"):
        rls_invert({1: (G, np.ones(3), np.ones(3))}, grid[::-1], 1, 1)
    with pytest.raises(RLSError, match="colatitudes"):
        omega_s_from_map(np.ones((2, 3)), np.array([0.0, 45.0, 80.0]), (1,))
