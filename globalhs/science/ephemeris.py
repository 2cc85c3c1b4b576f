"""Where the Sun's axis and the observer are: B0, P, L0, distance and observer velocity at any time.

A synthetic observation needs the same slowly varying geometry a real one has, so that the pipeline's
remap (B0, P), its synodic-to-sidereal frame and its velocity corrections (OBS_VR, OBS_VW, OBS_VN) are
exercised. The model is the classical low-precision one (Meeus, *Astronomical Algorithms*, 2nd ed.,
ch. 25 for the Sun's apparent longitude and distance, ch. 29 for the physical ephemeris with Carrington's
elements I = 7.25 deg, K = 73.6667 deg + 1.3958333 deg per century, sidereal period 25.38 d): B0 and P to
about 0.01 deg, enough for a synthetic Sun (the pipeline reads them back from the keywords, so the model
only has to be realistic, not exact). The observer is at Earth's centre (SOHO at L1 and SDO are within
1 % in distance; SDO's 3 km/s daily orbit is not modelled).

Velocities are the time derivatives of the position, split along the Sun-observer line (``OBS_VR``,
positive away from the Sun), solar west in the plane of the sky (``OBS_VW``, the direction in which the
sub-observer point moves in the inertial frame) and solar north (``OBS_VN``, the direction of growing B0).

Times are internal TAI seconds since 1977.01.01_00:00:00_TAI (``globalhs.time``). The 69 s between TAI
and TT-like dynamical time is ignored (a 1e-6 deg effect).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["AU", "RSUN", "SolarGeometry", "solar_geometry"]

AU = 1.495978707e11
"""Astronomical unit, metres."""
RSUN = 6.96e8
"""Solar radius used for pixels and the observer-velocity projection (metres; JSOC's RSUN_REF)."""

_JD_T0 = 2443144.5  # Julian date of 1977-01-01 00:00 (the internal time's origin)
_DAY = 86400.0
_CARRINGTON_SIDEREAL_DEG_PER_DAY = 360.0 / 25.38
_INCLINATION = np.deg2rad(7.25)


@dataclass(frozen=True)
class SolarGeometry:
    """Physical ephemeris at one or more times (arrays of the shape of the input time).

    Angles in degrees except ``eta`` (radians, continuous: it does not wrap, so that its derivative is
    the observer's inertial angular rate about the solar axis). Distance in metres, velocities in m/s.
    """

    b0: np.ndarray
    p: np.ndarray
    l0: np.ndarray
    eta: np.ndarray
    dsun: np.ndarray
    obs_vr: np.ndarray
    obs_vw: np.ndarray
    obs_vn: np.ndarray

    @property
    def rsun_arcsec(self) -> np.ndarray:
        """Apparent solar radius (arcsec) at this distance."""
        return np.rad2deg(np.arcsin(RSUN / self.dsun)) * 3600.0


def _angles(t: np.ndarray) -> tuple[np.ndarray, ...]:
    """(B0, P, L0 in radians, eta (continuous, rad), distance in m) at internal times ``t``."""
    jd = _JD_T0 + t / _DAY
    T = (jd - 2451545.0) / 36525.0
    mean_lon = np.deg2rad(280.46646 + 36000.76983 * T + 0.0003032 * T**2)  # continuous, not wrapped
    anomaly = np.deg2rad(357.52911 + 35999.05029 * T - 0.0001537 * T**2)
    ecc = 0.016708634 - 0.000042037 * T - 0.0000001267 * T**2
    centre = np.deg2rad(
        (1.914602 - 0.004817 * T - 0.000014 * T**2) * np.sin(anomaly)
        + (0.019993 - 0.000101 * T) * np.sin(2 * anomaly)
        + 0.000289 * np.sin(3 * anomaly)
    )
    true_lon = mean_lon + centre
    true_anomaly = anomaly + centre
    dsun = 1.000001018 * (1 - ecc**2) / (1 + ecc * np.cos(true_anomaly)) * AU
    omega = np.deg2rad(125.04 - 1934.136 * T)
    apparent_lon = true_lon - np.deg2rad(0.00569 + 0.00478 * np.sin(omega))
    eps0 = 23.0 + (26.0 + (21.448 - 46.8150 * T - 0.00059 * T**2 + 0.001813 * T**3) / 60.0) / 60.0
    eps = np.deg2rad(eps0 + 0.00256 * np.cos(omega))
    node = np.deg2rad(73.6667 + 1.3958333 * (jd - 2396758.0) / 36525.0)
    theta = np.deg2rad((jd - 2398220.0) * _CARRINGTON_SIDEREAL_DEG_PER_DAY)
    # Meeus 29: lambda' corrected for aberration-free heliocentric sense; x, y give P, B0 and eta.
    lam = apparent_lon
    x = np.arctan(-np.cos(lam) * np.tan(eps))
    y = np.arctan(-np.cos(lam - node) * np.tan(_INCLINATION))
    p = x + y
    b0 = np.arcsin(np.sin(lam - node) * np.sin(_INCLINATION))
    eta_wrapped = np.arctan2(-np.sin(lam - node) * np.cos(_INCLINATION), -np.cos(lam - node))
    # eta follows lam - node + pi up to a bounded correction: keep it continuous through that anchor.
    anchor = lam - node + np.pi
    eta = anchor + np.angle(np.exp(1j * (eta_wrapped - anchor)))
    l0 = np.mod(eta - theta, 2 * np.pi)
    return b0, p, l0, eta, dsun


def solar_geometry(t: float | np.ndarray, *, velocity_step: float = 600.0) -> SolarGeometry:
    """B0, P, L0, eta, distance and observer velocity at internal TAI time(s) ``t``.

    Velocities are central differences over ``velocity_step`` seconds (the position is smooth on
    that scale, so the truncation error is below 1e-6 relative).
    """
    t = np.asarray(t, dtype=float)
    b0, p, l0, eta, dsun = _angles(t)
    b0_p, _, _, eta_p, d_p = _angles(t + velocity_step / 2)
    b0_m, _, _, eta_m, d_m = _angles(t - velocity_step / 2)
    obs_vr = (d_p - d_m) / velocity_step
    obs_vw = dsun * np.cos(b0) * (eta_p - eta_m) / velocity_step
    obs_vn = dsun * (b0_p - b0_m) / velocity_step
    return SolarGeometry(
        b0=np.rad2deg(b0), p=np.rad2deg(p), l0=np.rad2deg(l0), eta=eta, dsun=dsun,
        obs_vr=obs_vr, obs_vw=obs_vw, obs_vn=obs_vn,
    )
