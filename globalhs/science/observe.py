"""How a global mode is seen: the line-of-sight (Doppler) velocity pattern of mode (l, m).

A mode's surface displacement is xi_r Y e_r + xi_h grad_1 Y (SCIENCE.md conventions); its velocity
seen along the unit vector o from the Sun to the observer is proportional to

    pattern = (o.e_r) Y_lm + beta [ (o.e_theta) dY_lm/dtheta + (o.e_phi) (i m / sin theta) Y_lm ],

with beta = xi_h / xi_r at the surface.  Heliographic coordinates: z along the rotation axis, x
toward the central meridian, so o = (cos B0, 0, sin B0) and (SCIENCE.md section 5)

    o.e_r     = cos B0 sin(theta) cos(phi) + sin B0 cos(theta)   (= cos rho, rho the angle from disk centre)
    o.e_theta = cos B0 cos(theta) cos(phi) - sin B0 sin(theta)
    o.e_phi   = -cos B0 sin(phi)

phi is the longitude from the central meridian, increasing in the direction of rotation.  Doppler
velocities are positive away from the observer, so a mode with complex amplitude A(t) contributes
``DOPPLER_SIGN * Re(A(t) * pattern)`` to a Dopplergram (DOPPLER_SIGN = -1).  The same pattern is
what the leakage matrix projects (``globalhs.science.leakage``) and what the synthetic Sun renders.

beta follows from the mode frequency at the surface, where the pressure perturbation is negligible:
beta = G M / (R^3 sigma^2), sigma = 2 pi nu (1.11e-3 at 3 mHz for p modes; 1/L for f modes).
"""

from __future__ import annotations

import numpy as np

from globalhs.science.legendre import legendre_table, lm_index

__all__ = ["DOPPLER_SIGN", "GM_SUN", "R_SUN", "horizontal_ratio", "observer_components", "ylm",
           "mode_pattern", "doppler_velocity"]

DOPPLER_SIGN = -1.0
"""Doppler velocity = DOPPLER_SIGN * (velocity . o): positive away from the observer."""

GM_SUN = 1.32712440018e20
"""Heliocentric gravitational constant, m^3 s^-2 (IAU 2015 nominal)."""

R_SUN = 6.959894e8
"""Solar radius of Model S (the photospheric radius the eigenfunctions are normalised to), m."""


def horizontal_ratio(nu_uhz) -> np.ndarray:
    """beta = xi_h / xi_r at the surface for a mode of cyclic frequency ``nu_uhz`` (uHz)."""
    sigma = 2.0 * np.pi * np.asarray(nu_uhz, dtype=float) * 1e-6
    return GM_SUN / (R_SUN**3 * sigma**2)


def observer_components(colat, lon, b0: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(o.e_r, o.e_theta, o.e_phi) at colatitudes ``colat`` and longitudes ``lon`` from the central
    meridian (radians, broadcast together) for the observer at heliographic latitude ``b0`` (radians)."""
    colat = np.asarray(colat, dtype=float)
    lon = np.asarray(lon, dtype=float)
    cb, sb = np.cos(b0), np.sin(b0)
    st, ct = np.sin(colat), np.cos(colat)
    cp, sp = np.cos(lon), np.sin(lon)
    return cb * st * cp + sb * ct, cb * ct * cp - sb * st, -cb * sp * np.ones_like(st)


def ylm(l: int, m: int, colat, lon) -> tuple[np.ndarray, np.ndarray]:
    """(Y_lm, dY_lm/dtheta) at (colat, lon) (radians, broadcast); orthonormal, Condon-Shortley phase.

    Negative m via Y_l^{-m} = (-1)^m conj(Y_l^m).
    """
    if l < 0 or abs(m) > l:
        raise ValueError(f"ylm: need |m| <= l, got l={l}, m={m}")
    colat, lon = np.broadcast_arrays(np.asarray(colat, dtype=float), np.asarray(lon, dtype=float))
    p, dp = legendre_table(l, np.cos(colat).ravel(), lmin=l, derivative=True)
    row = lm_index(l, abs(m), l)
    sign = (-1.0) ** m if m < 0 else 1.0
    phase = np.exp(1j * m * lon) / np.sqrt(2.0 * np.pi)
    return (sign * p[row].reshape(colat.shape) * phase, sign * dp[row].reshape(colat.shape) * phase)


def mode_pattern(l: int, m: int, colat, lon, b0: float, beta: float) -> np.ndarray:
    """Complex line-of-sight pattern of mode (l, m): o.e_r Y + beta (o.e_theta dY/dtheta + o.e_phi i m Y/sin theta).

    ``colat`` must avoid the poles (sin theta = 0) when ``beta * m != 0``.
    """
    y, dy = ylm(l, m, colat, lon)
    o_r, o_t, o_p = observer_components(colat, lon, b0)
    pattern = o_r * y
    if beta:
        with np.errstate(divide="ignore", invalid="ignore"):
            azimuthal = np.where(m == 0, 0.0, 1j * m * y / np.sin(np.asarray(colat, dtype=float)))
        pattern = pattern + beta * (o_t * dy + o_p * azimuthal)
    return pattern


def doppler_velocity(amplitude, pattern) -> np.ndarray:
    """Doppler velocity DOPPLER_SIGN * Re(amplitude * pattern) (broadcast, e.g. amplitude (nt, 1) against
    a pattern of shape (npoints,))."""
    return DOPPLER_SIGN * np.real(np.asarray(amplitude) * np.asarray(pattern))
