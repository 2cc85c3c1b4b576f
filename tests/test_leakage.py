"""Leakage matrix: agreement with a direct projection of rendered modes, geometry, symmetries, grid."""

import numpy as np
import pytest

from globalhs.science.leakage import MapGeometry, _weights, leakage_block, row_of
from globalhs.science.observe import mode_pattern, ylm

SMALL = MapGeometry(MAPMMAX=180, SINBDIVS=60)  # coarse grid: fast, same code path


def _direct(geom, l, m, lp, mp, beta):
    """Render mode (l', m') on the SHT grid, apodise, and project on Y_lm by brute force."""
    lon = geom.longitudes()
    x = geom.sin_latitudes()
    colat = np.arccos(x)[:, None] * np.ones_like(lon)
    lons = np.ones_like(x)[:, None] * lon
    field = mode_pattern(lp, mp, colat, lons, np.radians(geom.B0), beta)
    y, _ = ylm(l, m, colat, lons)
    w = _weights(geom, x, lon)
    return np.sum(w * field * np.conj(y)) / geom.SINBDIVS * (np.pi / geom.MAPMMAX)


@pytest.mark.parametrize("b0", [0.0, 7.0])
def test_factorised_sum_equals_direct_projection(b0):
    geom = MapGeometry(MAPMMAX=180, SINBDIVS=60, B0=b0)
    block = leakage_block(geom, 8, 9, dl=2, dm=3)
    beta = 0.3  # large, so the horizontal term is tested, not hidden
    for l, m, lp, mp in [(8, 3, 8, 3), (8, 3, 9, 5), (9, -4, 7, -6), (9, 0, 10, 1), (8, 8, 9, 7)]:
        want = _direct(geom, l, m, lp, mp, beta)
        assert abs(want.imag) < 1e-12
        got = block.matrix(l, beta)[m + l, lp - l + 2, mp - m + 3]
        assert got == pytest.approx(want.real, abs=2e-6)


def test_diagonal_is_largest_and_visible_fraction():
    # l = 1, m = 0 is the one exception (C(1,0; 2,+-1) = 0.11 > C(1,0; 1,0) = 0.098 on the mdivw grid)
    block = leakage_block(SMALL, 2, 40, dl=4, dm=8)
    for l in (2, 5, 20, 40):
        c = block.matrix(l, 0.0)
        diag = c[:, 4, 8]
        assert np.all(np.abs(diag) > 0.05)
        for m in range(2 * l + 1):
            others = np.abs(c[m]).copy()
            others[4, 8] = 0
            assert abs(diag[m]) > others.max(), (l, m - l)


def test_parity_at_b0_zero_and_symmetry():
    block = leakage_block(SMALL, 10, 12, dl=3, dm=6)
    for l in (10, 11, 12):
        r, h = block.target(l)
        dlv = np.arange(-3, 4)[:, None]
        dmv = np.arange(-6, 7)[None, :]
        odd = ((dlv + dmv) % 2 == 1)
        scale = np.abs(r).max()
        assert np.abs(r[:, odd]).max() < 1e-6 * scale
        assert np.abs(h[:, odd]).max() < 1e-6 * np.abs(h).max()
        # C(l,-m; l',-m') = (-1)^(m+m') C(l,m; l',m'): flip m and m' - m
        m = np.arange(-l, l + 1)[:, None, None]
        sign = (-1.0) ** (2 * m + dmv[None])
        assert np.allclose(r[::-1, :, ::-1], sign * r, atol=1e-7 * scale)
        assert np.allclose(h[::-1, :, ::-1], sign * h, atol=1e-7 * np.abs(h).max())


def test_b0_breaks_parity_and_reflects():
    plus = leakage_block(MapGeometry(MAPMMAX=180, SINBDIVS=60, B0=7.0), 10, 10, dl=2, dm=4)
    minus = leakage_block(MapGeometry(MAPMMAX=180, SINBDIVS=60, B0=-7.0), 10, 10, dl=2, dm=4)
    r = plus.target(10)[0]
    dlv = np.arange(-2, 3)[:, None]
    dmv = np.arange(-4, 5)[None, :]
    odd = (dlv + dmv) % 2 == 1
    assert np.abs(r[:, odd]).max() > 0.02 * np.abs(r).max()  # forbidden at B0 = 0, present at 7 deg
    # north-south reflection B0 -> -B0 multiplies by (-1)^(l+m+l'+m')
    sign = np.where(odd, -1.0, 1.0)
    assert np.allclose(minus.target(10)[0], sign * r, atol=1e-6)
    assert np.allclose(minus.target(10)[1], sign * plus.target(10)[1], atol=1e-5)


def test_stable_under_finer_grid():
    coarse = leakage_block(MapGeometry(MAPMMAX=300, SINBDIVS=100, B0=5.0), 30, 30, dl=2, dm=4)
    fine = leakage_block(MapGeometry(MAPMMAX=600, SINBDIVS=200, B0=5.0), 30, 30, dl=2, dm=4)
    r1, r2 = coarse.target(30)[0], fine.target(30)[0]
    assert np.abs(r1 - r2).max() < 0.01 * np.abs(r2).max()


def test_rows_and_errors():
    assert row_of(5, -5, 5) == 0 and row_of(6, -6, 5) == 11
    block = leakage_block(SMALL, 0, 2, dl=1, dm=1)
    assert block.radial.shape == (9, 3, 3)
    with pytest.raises(KeyError, match="l = 0..2, not l = 3"):
        block.target(3)
    with pytest.raises(ValueError, match="lmin=5 lmax=4"):
        leakage_block(SMALL, 5, 4)


@pytest.mark.parametrize("b0", [0.0, 6.0])
def test_equals_the_pipeline_sht_of_rendered_modes(b0):
    """Render W Re(pattern) and W Im(pattern) of one mode on the remap grid and run the jv2ts SHT
    (science.sht, NORM=1, which gives a_lm = conj(sum f Y*_lm dOmega) / sqrt(pi) for a real map): the
    result must be the leakage block's C(l, +-m; l', m') combined as the conventions imply."""
    from globalhs.science.sht import SHT

    geom = MapGeometry(MAPMMAX=180, SINBDIVS=60, B0=b0)
    grid = geom.grid()
    lp, mp, beta = 8, 3, 0.2
    colat = np.arccos(grid.sin_lat)[:, None] * np.ones(grid.cols)
    lons = np.ones(grid.rows)[:, None] * grid.lon
    w = _weights(geom, grid.sin_lat, grid.lon)
    pattern = w * mode_pattern(lp, mp, colat, lons, np.radians(b0), beta)
    sht = SHT(grid, 5, 11, dtype=np.float64)
    a_re, a_im = sht.transform(np.stack([pattern.real, pattern.imag]))  # C is stored as float32: 1e-8
    block = leakage_block(geom, 5, 11, dl=6, dm=20)
    for l in range(5, 12):
        c = block.matrix(l, beta)
        for m in range(0, l + 1):
            row = l * (l + 1) // 2 + m - 15
            plus = c[m + l, lp - l + 6, mp - m + 20]
            minus = c[-m + l, lp - l + 6, mp + m + 20]
            # Re(p) = (p + p*)/2 and Im(p) = (p - p*)/(2i); p* projects onto Y_l,-m with (-1)^m
            assert a_re[row] == pytest.approx((plus + (-1) ** m * minus) / (2 * np.sqrt(np.pi)), abs=2e-8)
            assert a_im[row] == pytest.approx(1j * (plus - (-1) ** m * minus) / (2 * np.sqrt(np.pi)), abs=2e-8)
