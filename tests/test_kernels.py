"""Rotation kernels: c(l, s), the Ledoux constant, solid-body and 2D forward consistency."""

import numpy as np
import pytest

from globalhs.science.kernels import ODD_S, apol_at_one, c_ls, hat_matrix, kernel_parts, ledoux, project
from globalhs.science.rls import omega_map_from_s, omega_s_from_map


def test_c_ls_published_values_and_closed_forms():
    # SCIENCE.md §3 test values
    assert c_ls(3, 3) == pytest.approx(-2 / 3, abs=1e-12)
    assert c_ls(6, 3) == pytest.approx(-1.0, abs=1e-12)
    assert c_ls(12, 5) == pytest.approx(1.0536398, abs=1e-7)
    assert c_ls(50, 5) == pytest.approx(1.6310680, abs=1e-7)
    for l in (2, 7, 40, 300):
        assert c_ls(l, 1) == pytest.approx(1.0, abs=1e-12)
        assert c_ls(l, 3) == pytest.approx(-3 * (l - 1) / (2 * l + 3), rel=1e-11)
        assert c_ls(l, 5) == pytest.approx(7.5 * (l - 1) * (l - 2) / ((2 * l + 3) * (2 * l + 5)), rel=1e-10)
    # l -> infinity: c(l, s) -> P_s'(0) = -3/2, 15/8, ...; no a_s beyond 2l
    assert c_ls(20000, 3) == pytest.approx(-1.5, rel=1e-3)
    assert c_ls(20000, 5) == pytest.approx(15 / 8, rel=1e-3)
    assert c_ls(2, 5) == 0.0 and c_ls(17, 35) == 0.0 and c_ls(18, 35) != 0.0


def test_apol_values():
    # SCIENCE.md §4 at l = 10, m = 1
    assert apol_at_one(10, 2) == pytest.approx(-5.6315789, abs=1e-7)
    assert apol_at_one(10, 3) == pytest.approx(-1.8947368, abs=1e-7)
    assert apol_at_one(10, 4) == pytest.approx(5.5727554, abs=1e-7)
    assert apol_at_one(10, 1) == 1.0


def test_hats_partition_of_unity_and_projection():
    grid = np.array([0.0, 0.3, 0.5, 0.9, 1.0])
    x = np.linspace(0, 1, 1001)
    H = hat_matrix(x, grid)
    assert np.allclose(H.sum(axis=1), 1.0)
    f = np.sin(3 * x)[None, :]
    omega = 1 + grid**2  # integral of f * (piecewise-linear interpolant of 1 + x^2)
    exact = np.trapezoid(f[0] * np.interp(x, grid, omega), x)
    assert project(f, x, grid) @ omega == pytest.approx(exact, rel=1e-12)


def _random_modes(rng, nmodes=4, npts=400):
    r = np.linspace(1e-3, 1.0, npts) * 7e10
    l = rng.integers(2, 60, nmodes)
    xr = rng.normal(size=(nmodes, npts)).cumsum(axis=1)
    xh = rng.normal(size=(nmodes, npts)).cumsum(axis=1) / l[:, None]
    rho = np.exp(-5 * r / r[-1])
    return l, xr, xh, rho, r


def test_solid_body_a1_is_one_minus_ledoux_and_higher_vanish():
    rng = np.random.default_rng(1)
    l, xr, xh, rho, r = _random_modes(rng)
    R = r[-1]
    A, B = kernel_parts(l, xr, xh, rho, r, R)
    C = ledoux(l, xr, xh, rho, r)
    x = r / R
    grid = np.linspace(0.0, 1.0, 30)
    omega0 = 435.0
    colat = np.arange(49) * 1.875
    # a solid-body map through the 2D route: only Omega_1 survives
    om_s = omega_s_from_map(np.full((len(grid), 49), omega0), colat, ODD_S)
    assert np.allclose(om_s[:, 0], omega0, rtol=1e-12)
    assert np.max(np.abs(om_s[:, 1:])) < 1e-9
    PA, PB = project(A, x, grid), project(B, x, grid)
    for s_idx, s in enumerate(ODD_S[:3]):
        a_s = np.array([c_ls(int(li), s) for li in l]) * ((PA - 0.5 * s * (s + 1) * PB) @ om_s[:, s_idx])
        if s == 1:
            # int K dx over the grid's span (x from 1e-3: the hats cover it)
            assert np.allclose(a_s, (1 - C) * omega0, rtol=1e-3)
        else:
            assert np.max(np.abs(a_s)) < 1e-6


def test_latitude_projection_round_trip():
    colat = np.arange(49) * 1.875
    rng = np.random.default_rng(2)
    om_s = rng.normal(size=(3, len(ODD_S))) / np.arange(1, len(ODD_S) + 1) ** 2
    m = omega_map_from_s(om_s, colat, ODD_S)
    back = omega_s_from_map(m, colat, ODD_S, nquad=400)
    # cubic interpolation of a 1.875-degree map: high s lose a little
    assert np.allclose(back[:, :6], om_s[:, :6], atol=2e-4)


@pytest.mark.refdata
def test_model_s_kernels_solid_body(refdata):
    """Real eigenfunctions: int K_nl1 dx = 1 - C_nl; p modes have C ~ 0, the f mode C ~ 1/L."""
    from globalhs.science.eigen import solve_modes
    from globalhs.science.model import parse_fgong

    model = parse_fgong(refdata("model_s", "fgong.l5bi.d.15c").read_text())
    ms = solve_modes(model, [5, 6], 1000, 1300)
    A, B = kernel_parts(ms.l, ms.xi_r, ms.xi_h, ms.rho, ms.r, ms.R)
    C = ledoux(ms.l, ms.xi_r, ms.xi_h, ms.rho, ms.r)
    x = ms.r / ms.R
    assert np.allclose(np.trapezoid(A - B, x, axis=1), 1 - C, atol=1e-8)
    assert np.all(C > 0) and np.all(C < 0.05)
    f_mode = (ms.n == 0)
    if f_mode.any():
        L2 = ms.l[f_mode] * (ms.l[f_mode] + 1.0)
        assert np.allclose(C[f_mode], 1 / np.sqrt(L2), rtol=0.3)
