"""Synthetic Dopplergrams: any function of (colatitude, longitude), or spherical-harmonic fields,
drawn onto an image of any size with given B0, P, centre, radius and observer velocity, with
MDI-style or HMI-style keywords.

The pixel geometry is :func:`globalhs.science.sunimage.disk_pixels` (one source of truth for
the synthetic Sun and for these test images; the exact finite-distance ray geometry that
:mod:`globalhs.science.remap` inverts). Spherical-harmonic fields are evaluated at the exact pixel
positions with ``ducc0.sht.synthesis_general`` (cost ~ lmax^2 + npix).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

import ducc0

from globalhs.science.remap import Geometry
from globalhs.science.sunimage import disk_pixels, observer_velocity, surface_velocity
from globalhs.time import format_time

__all__ = ["render_function", "render_alm", "dopplergram_header", "AU"]

AU = 149597870700.0


def _pixels(shape, geometry: Geometry, rmax: float):
    return disk_pixels(
        tuple(shape), geometry.x0, geometry.y0, geometry.rsun_pix, geometry.b0, geometry.p,
        s_ratio=geometry.s_ratio, rmax=rmax,
    )


def render_function(
    func: Callable[[np.ndarray, np.ndarray], np.ndarray],
    shape: tuple[int, int],
    geometry: Geometry,
    *,
    rmax: float = 1.0,
    obs_v: tuple[float, float, float] | None = None,
    surface: bool = False,
    fill: float = np.nan,
) -> np.ndarray:
    """Image whose on-disk pixels hold ``func(theta, phi)`` (colatitude, longitude west of the
    central meridian, radians), plus the observer's velocity ``obs_v = (OBS_VR, OBS_VW, OBS_VN)``
    and, with ``surface=True``, differential rotation and limb shift (what VCORLEV removes).
    Off-disk pixels (beyond ``rmax`` of the apparent radius) are ``fill``."""
    disk = _pixels(shape, geometry, rmax)
    phi = np.where(disk.phi > np.pi, disk.phi - 2 * np.pi, disk.phi)
    values = np.asarray(func(disk.theta, phi), dtype=np.float64)
    if surface:
        values = values + surface_velocity(disk, geometry.b0)
    if obs_v is not None:
        values = values + observer_velocity(disk, *obs_v, geometry.s_ratio)
    image = np.full(shape, fill, dtype=np.float64)
    image[disk.rows, disk.cols] = values
    return image


def render_alm(alm: np.ndarray, lmax: int, shape: tuple[int, int], geometry: Geometry, **kwargs) -> np.ndarray:
    """Image of the real field ``sum a_lm Y_lm`` (ducc0 layout: complex m >= 0 coefficients of a real
    field, ``ducc0.sht`` orthonormal Y), same options as :func:`render_function`."""
    alm = np.ascontiguousarray(alm, dtype=np.complex128)

    def field(theta, phi):
        loc = np.column_stack([theta, np.mod(phi, 2 * np.pi)])
        return ducc0.sht.synthesis_general(alm=alm[None], spin=0, lmax=lmax, loc=loc, epsilon=1e-10)[0]

    return render_function(field, shape, geometry, **kwargs)


def dopplergram_header(
    geometry: Geometry,
    *,
    style: str = "mdi",
    obs_v: tuple[float, float, float] = (0.0, 0.0, 0.0),
    quality: int = 0,
    datasign: int = 1,
    cdelt: float = 1.98,
) -> dict:
    """FITS keywords describing a rendered image, as the instrument writes them.

    ``style="mdi"``: X0, Y0 (0-based), R_SUN (pixels), B0, P, L0, OBS_DIST (AU), DATASIGN;
    ``style="hmi"``: CRPIX1/2 (1-based), CDELT1/2, RSUN_OBS (arcsec), CRLT_OBS, CROTA2 = -P,
    CRLN_OBS, DSUN_OBS (m), CRVAL1/2 = 0. Both: T_REC, T_OBS, OBS_VR/VW/VN, QUALITY, RSUN_REF.
    """
    t = format_time(geometry.t, zone="TAI")
    common = {
        "T_REC": t, "T_OBS": t, "QUALITY": int(quality), "RSUN_REF": 696000000.0,
        "OBS_VR": float(obs_v[0]), "OBS_VW": float(obs_v[1]), "OBS_VN": float(obs_v[2]),
    }
    dsun = 696000000.0 / geometry.s_ratio if geometry.s_ratio > 0 else None
    if style == "mdi":
        kw = {"X0": geometry.x0, "Y0": geometry.y0, "R_SUN": geometry.rsun_pix, "B0": geometry.b0,
              "P": geometry.p, "L0": geometry.l0, "DATASIGN": int(datasign), "CDELT1": cdelt}
        if dsun:
            kw["OBS_DIST"] = dsun / AU
    elif style == "hmi":
        kw = {"CRPIX1": geometry.x0 + 1, "CRPIX2": geometry.y0 + 1, "CRVAL1": 0.0, "CRVAL2": 0.0,
              "CDELT1": cdelt, "CDELT2": cdelt, "RSUN_OBS": geometry.rsun_pix * cdelt,
              "CRLT_OBS": geometry.b0, "CROTA2": -geometry.p, "CRLN_OBS": geometry.l0}
        if dsun:
            kw["DSUN_OBS"] = dsun
    else:
        raise ValueError(f"style={style!r}: expected 'mdi' or 'hmi'")
    return {**common, **kw}
