"""SHT of maps: NORM=1 normalisation over the whole sphere, the longitude convention, batching."""

import numpy as np
import pytest

from globalhs.science.grid import MapGrid
from globalhs.science.legendre import legendre, lm_arrays, lm_index
from globalhs.science.sht import SHT, longitude_fft


def unit_rms_re_ylm(grid, l, m, phase=0.0):
    """Re(exp(i phase) Y_l^m) with Y normalised to unit mean square over the sphere, on the grid."""
    return np.sqrt(2.0) * legendre(l, m, grid.sin_lat)[:, None] * np.cos(m * grid.lon[None, :] + phase)


def test_whole_sphere_unit_modulus_and_no_leak():
    # whole sphere, no projection or apodisation. SINBDIVS=1000 resolves P~_l'^m for every
    # l' <= 300 at the m below (the equal-sin-latitude grid aliases P~_l^m near the poles when
    # m < l^2 / (pi SINBDIVS): the original's grid trades that for the invisible poles).
    grid = MapGrid(mapmmax=600, sinbdivs=1000, maplgmin=-180, maplgmax=180, mapbmax=90)
    sht = SHT(grid, 0, 300, dtype=np.float64)
    cases = [(1, 1), (10, 3), (40, 20), (120, 70), (200, 30), (300, 100), (300, 300)]
    maps = np.array([unit_rms_re_ylm(grid, l, m) for l, m in cases])
    a = sht.transform(maps)
    for k, (l, m) in enumerate(cases):
        target = lm_index(l, m)
        assert abs(a[k, target]) == pytest.approx(1.0, abs=1e-3)
        others = np.delete(np.abs(a[k]), target)
        assert others.max() < 1e-3, (l, m)


def test_phase_convention_exp_plus_i_m_phi():
    # c_m = (1/lfft) sum f exp(+i m phi): Re(exp(i psi) Y) -> a = exp(-i psi), i.e. a_lm ~ integral f Y
    grid = MapGrid(mapmmax=120, sinbdivs=400, maplgmin=-180, maplgmax=180, mapbmax=90)
    sht = SHT(grid, 0, 30, dtype=np.float64)
    a = sht.transform(unit_rms_re_ylm(grid, 12, 5, phase=0.7)[None])[0]
    assert a[lm_index(12, 5)] == pytest.approx(np.exp(-0.7j), abs=1e-4)
    # m = 0 of a real map is real
    a0 = sht.transform(np.random.default_rng(1).normal(size=(1,) + grid.shape))[0]
    l, m = lm_arrays(0, 30)
    assert np.abs(a0[m == 0].imag).max() < 1e-12


def test_longitude_fft_partial_map_centre_column_is_phase_zero():
    grid = MapGrid(mapmmax=60, sinbdivs=10, maplgmin=-80, maplgmax=80, mapbmax=90)
    rng = np.random.default_rng(0)
    maps = rng.normal(size=(2, grid.rows, grid.cols))
    c = longitude_fft(maps, grid, 20)
    phi = grid.lon
    m = np.arange(21)
    direct = np.einsum("nrj,jm->nrm", maps, np.exp(1j * phi[:, None] * m[None, :])) / grid.lfft
    np.testing.assert_allclose(c, direct, atol=1e-12)


def test_batch_layout_real_imag_interleaved_and_float32():
    grid = MapGrid(mapmmax=120, sinbdivs=60, maplgmin=-90, maplgmax=90, mapbmax=90)
    sht = SHT(grid, 5, 40)
    maps = np.random.default_rng(2).normal(size=(3,) + grid.shape).astype(np.float32)
    out = sht(maps)
    assert out.dtype == np.float32 and out.shape == (sht.nlm, 6)
    single = SHT(grid, 5, 40, dtype=np.float64).transform(maps[1:2].astype(np.float64))[0]
    np.testing.assert_allclose(out[:, 2] + 1j * out[:, 3], single, rtol=1e-4, atol=1e-5)


def test_bad_ranges():
    grid = MapGrid(mapmmax=100, sinbdivs=20)
    with pytest.raises(ValueError, match="MAPMMAX"):
        SHT(grid, 0, 100)
    with pytest.raises(ValueError, match="LMIN"):
        SHT(grid, 10, 5)


@pytest.mark.parametrize("norm", [1, 0])
def test_ducc0_backend_gives_the_same_coefficients(norm):
    grid = MapGrid(mapmmax=120, sinbdivs=60, maplgmin=-89, maplgmax=89, mapbmax=89)
    maps = np.random.default_rng(4).normal(size=(3,) + grid.shape)
    gemm = SHT(grid, 3, 50, dtype=np.float64, norm=norm)(maps)
    ducc = SHT(grid, 3, 50, dtype=np.float64, backend="ducc0", norm=norm)(maps)
    np.testing.assert_allclose(ducc, gemm, atol=1e-10 * np.abs(gemm).max())
