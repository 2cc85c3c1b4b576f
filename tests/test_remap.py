"""Remap: analytic fields through the exact geometry, apodisation, velocity corrections, real MDI data."""

import dataclasses

import numpy as np
import pytest

from globalhs.science.grid import MapGrid
from globalhs.science.remap import Geometry, RemapParams, RemapPlan, Remapper, apodization_weight, keys_weights
from globalhs.science.render import dopplergram_header, render_function
from globalhs.science.sht import SHT

GRID = MapGrid(mapmmax=600, sinbdivs=200, maplgmin=-89, maplgmax=89, mapbmax=89)


def field(theta, phi):
    return 100 * np.sin(theta) ** 2 * np.cos(3 * phi) + 50 * np.cos(theta) + 30 * np.sin(2 * theta) * np.sin(phi + 0.3)


def field_on_grid(plan):
    b = np.arcsin(GRID.sin_lat)[:, None] + 0 * GRID.lon[None, :]
    lon = GRID.lon[None, :] + np.radians(plan.shift) + 0 * b
    return field(np.pi / 2 - b, lon).ravel()[plan.map_index]


def test_keys_weights_sum_to_one_and_interpolate():
    t = np.linspace(0, 0.99, 17)
    w = keys_weights(t)
    np.testing.assert_allclose(w.sum(axis=0), 1.0, atol=1e-15)
    np.testing.assert_allclose(keys_weights(np.array([0.0]))[:, 0], [0, 1, 0, 0], atol=1e-15)
    # reproduces quadratics exactly (Keys a = -0.5 is third-order accurate)
    taps = np.array([-1.0, 0.0, 1.0, 2.0])[:, None]
    np.testing.assert_allclose((taps**2 * w).sum(axis=0), t**2, atol=1e-14)


@pytest.mark.parametrize("lgshift", [0, 3])
def test_analytic_field_1024_cubic_convolution(lgshift):
    g = Geometry(511.3, 511.6, 480.2, -6.5, 12.0, 696e6 / 1.47e11, l0=123.456)
    image = render_function(field, (1024, 1024), g)
    plan = RemapPlan(RemapParams(GRID, maprmax=0.95, interpo=1, lgshift=lgshift), g, image.shape)
    if lgshift == 3:
        assert plan.shift == pytest.approx(-0.044, abs=1e-9)  # 123.456 - 123.5
    got = plan.remap(image)[0].ravel()[plan.map_index]
    exact = field_on_grid(plan)
    cubic_err = np.abs(got - exact).max()
    assert cubic_err < 1e-4 * np.abs(exact).max()
    bilinear = RemapPlan(RemapParams(GRID, maprmax=0.95, interpo=0, lgshift=lgshift), g, image.shape)
    err = np.abs(bilinear.remap(image)[0].ravel()[bilinear.map_index] - exact).max()
    assert 10 * cubic_err < err < 1e-3 * np.abs(exact).max()  # bilinear: second order, much worse


def test_apodisation_weights_as_specified():
    r = np.array([0.0, 0.8299, 0.83, 0.84, 0.85, 0.86, 0.87, 0.9])
    expected = [1, 1, 1, 0.5 + 0.5 * np.cos(np.pi * 0.25), 0.5, 0.5 + 0.5 * np.cos(np.pi * 0.75), 0, 0]
    np.testing.assert_allclose(apodization_weight(r, 0.83, 0.04), expected, atol=1e-12)
    # APODIZE=2 (as if B0 = 0) on the grid: r = sqrt(cos^2 B sin^2 L + sin^2 B), elliptical with APX
    g = Geometry(95.5, 95.5, 90.0, 7.0, 0.0)
    params = RemapParams(GRID, maprmax=1.0, apodize=2, apinner=0.5, apwidth=0.3, apel=1, apx=1.2, apy=1.0)
    plan = RemapPlan(params, g, (192, 192))
    sb = np.repeat(GRID.sin_lat, GRID.cols)[plan.map_index]
    lon = np.tile(GRID.lon, GRID.rows)[plan.map_index]
    r = np.hypot(np.sqrt(1 - sb**2) * np.sin(lon) / 1.2, sb)
    np.testing.assert_allclose(plan.weight, apodization_weight(r, 0.5, 0.3), atol=1e-12)
    assert plan.weight.min() > 0 and plan.weight.max() == 1.0


def test_velocity_correction_removes_rotation_limb_shift_and_observer():
    g = Geometry(95.7, 95.2, 88.0, 5.0, -3.0, 696e6 / 1.5e11)
    obs_v = (1234.0, 29000.0, -800.0)
    image = render_function(field, (192, 192), g, surface=True, obs_v=obs_v)
    plan = RemapPlan(RemapParams(GRID, maprmax=0.9, vcorlev=1), g, image.shape)
    got = plan.remap(image, [obs_v])[0].ravel()[plan.map_index]
    exact = field_on_grid(plan)
    # residual: the interpolation of the 2 km/s rotation on a coarse 192^2 image
    assert np.abs(got - exact).max() < 2.0
    assert np.abs(plan.remap(image)[0].ravel()[plan.map_index] - exact).max() > 1000  # without: off by km/s


def test_header_round_trip_through_ingest():
    from astropy.io import fits

    from globalhs.drms.ingest import normalise_header

    g = Geometry(100.25, 99.5, 87.5, 3.25, 10.5, 696e6 / 1.5e11, l0=200.0, t=1.0e9)
    for style in ("mdi", "hmi"):
        kw = normalise_header(fits.Header(dopplergram_header(g, style=style, obs_v=(1.0, 2.0, 3.0))))
        back = Geometry.from_keywords(kw)
        for name in ("x0", "y0", "rsun_pix", "b0", "p", "s_ratio", "l0", "t"):
            assert getattr(back, name) == pytest.approx(getattr(g, name), rel=1e-9), (style, name)


def test_remapper_reuses_plans_within_tolerance():
    g = Geometry(95.5, 95.5, 90.0, 7.0)
    remapper = Remapper(RemapParams(GRID, maprmax=0.9), geomtol=0.015)
    first = remapper.plan_for(g, (192, 192))
    assert remapper.plan_for(dataclasses.replace(g, x0=95.51), (192, 192)) is first
    assert remapper.plan_for(dataclasses.replace(g, b0=7.05), (192, 192)) is not first  # ~0.08 px
    assert remapper.plans_built == 2


def test_first_order_geometry_correction_within_1e4th_of_rms():
    # a field with structure down to l = 80 on a 192^2 image, the source positions moved by ~0.015 px
    rng = np.random.default_rng(3)
    lmax = 80
    alm = np.zeros(((lmax + 1) * (lmax + 2)) // 2, dtype=complex)
    alm[:] = rng.normal(size=alm.size) + 1j * rng.normal(size=alm.size)
    alm[: lmax + 1] = alm[: lmax + 1].real  # m = 0 coefficients of a real field
    g = Geometry(95.3, 95.8, 88.0, 5.0, 2.0, 696e6 / 1.5e11)
    moved = dataclasses.replace(g, x0=g.x0 + 0.006, y0=g.y0 - 0.003, b0=g.b0 + 0.005, p=g.p + 0.002)
    from globalhs.science.render import render_alm

    image = render_alm(alm, lmax, (192, 192), moved, fill=0.0)
    params = RemapParams(GRID, maprmax=0.95, apodize=1, apinner=0.83, apwidth=0.04, distort=2)
    plan = RemapPlan(params, g, image.shape)
    assert 0.008 < plan.displacement(moved) < 0.02  # an upper bound; the true largest motion is ~0.013 px
    exact = RemapPlan(params, moved, image.shape).remap(image)[0]
    rms = np.sqrt(np.mean(exact[exact != 0] ** 2))
    first_order = plan.remap(image, geometries=[moved])[0]
    stale = plan.remap(image)[0]
    assert np.sqrt(np.mean((first_order - exact) ** 2)) < 1e-4 * rms
    assert np.sqrt(np.mean((stale - exact) ** 2)) > 1e-3 * rms  # reusing weights without the correction


def test_bad_parameters_named():
    with pytest.raises(ValueError, match="INTERPO=2"):
        RemapParams(GRID, interpo=2)
    with pytest.raises(ValueError, match="MCORLEV=2"):
        RemapParams(GRID, mcorlev=2)


@pytest.mark.refdata
def test_real_mdi_full_disk_distort1_vcorlev1(refdata):
    from globalhs.drms.ingest import normalise_header, read_dopplergram

    path = refdata("mdi", "fd_V_01h.fits")
    header, image = read_dopplergram(path)
    kw = normalise_header(header, path, image)
    obs_v = [[kw["OBS_VR"], kw["OBS_VW"], kw["OBS_VN"]]]
    # the stored image is already positive-away (west limb receding), whatever its DATASIGN keyword
    params = RemapParams(GRID, maprmax=0.95, distort=1, vcorlev=1, apodize=1, apinner=0.9, apwidth=0.05)
    sht = SHT(GRID, 0, 5)
    g = Geometry.from_keywords(kw)
    coefficients = []
    for dx in (0.0, 0.1):
        plan = RemapPlan(params, dataclasses.replace(g, x0=g.x0 + dx), image.shape)
        maps = plan.remap(image, obs_v, datasign=1.0)
        assert np.isfinite(maps).all()
        assert np.std(maps[maps != 0]) < 600  # rotation (2 km/s) removed
        coefficients.append(sht.transform(maps)[0])
    a, b = coefficients
    assert np.all(np.isfinite(a))
    assert np.abs(a - b).max() < 1e-3 * np.abs(a).max()
