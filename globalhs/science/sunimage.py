"""Line-of-sight velocity images of a spherical velocity field: the synthetic Sun's camera.

Pixels (column X, row Y) are measured from the disk centre in units of the apparent solar radius,
celestial north up (+Y, increasing row) and solar west +X (increasing column), as in SCIENCE.md
section 8. For each pixel we find the heliographic colatitude theta and the longitude phi from the
central meridian (west positive) with the exact finite-distance geometry (the observer at distance
D sees the limb at the angle asin(R/D), the pipeline's S = RSUN_REF/DSUN_OBS correction), undoing
the position angle P and tilting by B0.

The velocity field of the modes is ``Re sum z (e_r Y + beta grad_h Y)``; its Doppler signal is
``v_D = -v . o_hat`` (positive away from the observer), with o_hat = (cos B0, 0, sin B0) in
heliographic axes (x toward the central meridian, z along the rotation axis):

    o.e_r = cos B0 sin(theta) cos(phi) + sin B0 cos(theta)
    o.e_theta = cos B0 cos(theta) cos(phi) - sin B0 sin(theta)
    o.e_phi = -cos B0 sin(phi)

(SCIENCE.md section 5; ``globalhs.science.observe``, the projection the leakage matrix uses). Spherical harmonics are
evaluated at the exact pixel positions with ``ducc0.sht.synthesis_general`` (a non-uniform FFT: cost
about lmax^2 + npix per image), and their horizontal gradient with its ``DERIV1`` mode.

Also the signals a real Dopplergram carries besides the modes, which the pipeline's velocity
correction (SPEC section 3, VCORLEV) removes: the surface differential rotation, the convective limb
shift and the observer's motion.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

import ducc0

from globalhs.science.observe import DOPPLER_SIGN

__all__ = ["DiskPixels", "disk_pixels", "render_mode_velocity", "surface_velocity", "observer_velocity"]


@dataclass(frozen=True)
class DiskPixels:
    """The on-disk pixels of an image and their geometry (1-D arrays over those pixels)."""

    shape: tuple[int, int]
    rows: np.ndarray
    cols: np.ndarray
    theta: np.ndarray      # colatitude, rad
    phi: np.ndarray        # longitude from the central meridian, rad, west positive, in [0, 2 pi)
    cos_rho: np.ndarray    # cosine of the heliocentric angle from disk centre
    o_r: np.ndarray
    o_theta: np.ndarray
    o_phi: np.ndarray
    sky_x: np.ndarray      # sky-plane position toward solar west / north (units of R, after undoing P)
    sky_y: np.ndarray
    sin_theta: np.ndarray | None = None   # sin/cos of theta and sin of phi, when the maker has them
    cos_theta: np.ndarray | None = None
    sin_phi: np.ndarray | None = None


def disk_pixels(
    shape: tuple[int, int], x0: float, y0: float, rsun_pix: float, b0_deg: float, p_deg: float,
    *, s_ratio: float = 0.0, rmax: float = 1.0,
) -> DiskPixels:
    """Geometry of the pixels within ``rmax`` of the apparent limb for an image of ``shape``.

    ``x0, y0``: disk centre (0-based column, row); ``rsun_pix``: apparent radius in pixels;
    ``s_ratio``: R_sun / observer distance (0 for an observer at infinity).
    """
    rows, cols, X, Y, scale = _disk_frame(tuple(shape), float(x0), float(y0), float(rsun_pix), float(s_ratio),
                                          float(rmax))
    b0, p = np.deg2rad(b0_deg), np.deg2rad(p_deg)
    # Undo the position angle of solar north (P, counted eastward from celestial north).
    xs = X * np.cos(p) + Y * np.sin(p)
    ys = -X * np.sin(p) + Y * np.cos(p)
    xs, ys = xs * scale, ys * scale
    zs = np.sqrt(np.maximum(1.0 - xs**2 - ys**2, 0.0))
    sin_lat = ys * np.cos(b0) + zs * np.sin(b0)
    lon = np.arctan2(xs, zs * np.cos(b0) - ys * np.sin(b0))
    theta = np.pi / 2 - np.arcsin(np.clip(sin_lat, -1, 1))
    phi = np.mod(lon, 2 * np.pi)
    # observer_components (globalhs.science.observe), with its sines and cosines kept for
    # surface_velocity: the same numbers, each computed once.
    cb, sb = np.cos(b0), np.sin(b0)
    st, ct = np.sin(theta), np.cos(theta)
    cp, sp = np.cos(phi), np.sin(phi)
    return DiskPixels(
        shape=tuple(shape), rows=rows, cols=cols, theta=theta, phi=phi, cos_rho=zs,
        o_r=cb * st * cp + sb * ct, o_theta=cb * ct * cp - sb * st, o_phi=-cb * sp * np.ones_like(st),
        sky_x=xs, sky_y=ys, sin_theta=st, cos_theta=ct, sin_phi=sp,
    )


@functools.lru_cache(maxsize=4)
def _disk_frame(shape: tuple[int, int], x0: float, y0: float, rsun_pix: float, s_ratio: float, rmax: float):
    """The on-disk pixels and their sky-plane positions before P and B0 are applied: (rows, cols,
    X, Y, scale), read-only. Cached: it depends only on the image layout and the observer's
    distance, which change far less often than B0 and P (a synthetic day redraws the geometry
    hundreds of times)."""
    rows, cols = np.indices(shape)
    X = (cols - x0) / rsun_pix
    Y = (rows - y0) / rsun_pix
    r = np.hypot(X, Y)
    on = r < rmax
    rows, cols, X, Y, r = rows[on], cols[on], X[on], Y[on], r[on]
    if s_ratio > 0:
        # Ray at angle alpha = r asin(S) from the Sun's centre hits the sphere at sin(rho) below.
        alpha = r * np.arcsin(s_ratio)
        dist = 1.0 / s_ratio                                     # observer distance in solar radii
        along = dist * np.cos(alpha) - np.sqrt(np.maximum(1.0 - (dist * np.sin(alpha)) ** 2, 0.0))
        sin_rho = along * np.sin(alpha)
    else:
        sin_rho = r
    scale = np.divide(sin_rho, r, out=np.ones_like(r), where=r > 0)
    for a in (rows, cols, X, Y, scale):
        a.flags.writeable = False
    return rows, cols, X, Y, scale


def render_mode_velocity(
    radial_alm: np.ndarray, horizontal_alm: np.ndarray, lmax: int, disk: DiskPixels,
    *, epsilon: float = 1e-7, nthreads: int = 1,
) -> np.ndarray:
    """Doppler velocity (m/s, positive away) of the field at the disk pixels.

    ``radial_alm``/``horizontal_alm``: real-field coefficients in the ducc0 layout
    (``globalhs.science.synth.SphericalFieldStream``); the horizontal part is the gradient of the
    second set.
    """
    loc = np.column_stack([disk.theta, disk.phi])
    radial = ducc0.sht.synthesis_general(
        alm=np.ascontiguousarray(radial_alm)[None], spin=0, lmax=lmax, loc=loc, epsilon=epsilon, nthreads=nthreads
    )[0]
    d_theta, d_phi = ducc0.sht.synthesis_general(
        alm=np.ascontiguousarray(horizontal_alm)[None], spin=1, lmax=lmax, loc=loc, epsilon=epsilon,
        nthreads=nthreads, mode="DERIV1",
    )
    return DOPPLER_SIGN * (disk.o_r * radial + disk.o_theta * d_theta + disk.o_phi * d_phi)


EQUATOR_ROTATION = 1974.1
"""Sidereal surface rotation speed at the equator (m/s), with the latitude profile below (SPEC section 3)."""


def surface_velocity(disk: DiskPixels, b0_deg: float, *, rotation: bool = True, limb_shift: bool = True) -> np.ndarray:
    """Doppler velocity (m/s) of the Sun's steady surface flows at the disk pixels.

    Rotation R Omega(B) = 1974.1 (1 - 0.121 sin^2 B - 0.178 sin^4 B) m/s toward the west and the
    convective limb shift -166 - 139 mu + 700 mu^2 m/s with mu = 1 - cos(rho) (SPEC section 3).
    """
    b0 = np.deg2rad(b0_deg)
    v = np.zeros(disk.theta.size)
    if rotation:
        sin_lat = np.cos(disk.theta) if disk.cos_theta is None else disk.cos_theta
        sin_theta = np.sin(disk.theta) if disk.sin_theta is None else disk.sin_theta
        sin_phi = np.sin(disk.phi) if disk.sin_phi is None else disk.sin_phi
        # Linear speed R Omega(B) of the profile, times cos(B) for the distance from the axis; the
        # line-of-sight part of speed cos(B) e_phi is -v . o = speed cos(B) cos(B0) sin(phi).
        speed = EQUATOR_ROTATION * (1 - 0.121 * sin_lat**2 - 0.178 * sin_lat**4)
        v += speed * sin_theta * np.cos(b0) * sin_phi
    if limb_shift:
        mu = 1.0 - disk.cos_rho
        v += -166.0 - 139.0 * mu + 700.0 * mu**2
    return v


def observer_velocity(disk: DiskPixels, obs_vr: float, obs_vw: float, obs_vn: float, s_ratio: float) -> np.ndarray:
    """Doppler velocity (m/s) from the observer's motion, seen along each pixel's line of sight.

    The line of sight to surface point p is u = (R p - D o)/|R p - D o|; to first order in R/D,
    -v_obs . u = OBS_VR - (R/D)(OBS_VW x + OBS_VN y), with (x, y) the point's sky-plane position toward
    solar west and north in solar radii: the sky-plane motion enters through the tilt of the line of sight.
    """
    return obs_vr - s_ratio * (obs_vw * disk.sky_x + obs_vn * disk.sky_y)
