"""Dopplergram -> map regular in longitude and sin(latitude) (the jv2ts remap), fast on batches.

Geometry (SPEC §3, SCIENCE.md §8): a map point at latitude B and longitude L west of the central
meridian has ``cos rho = sin B0 sin B + cos B0 cos B cos L``; its sky-plane position (solar radii,
west/north) is ``x = cos B sin L``, ``y = cos B0 sin B - sin B0 cos B cos L``; an observer at
``1/S`` solar radii (``S = RSUN_REF/DSUN``) sees it at ``alpha = atan(sin rho / (1/S - cos rho))``
from disk centre, i.e. at the fraction ``alpha / asin(S)`` of the apparent radius. The position
angle P (solar north counter-clockwise from image up) rotates (x, y) into the image, and the pixel
is ``(X0 + rsun*X, Y0 + rsun*Y)`` (column, row; row up = north for P = 0).

Why a *plan*: the interpolation taps and weights depend only on the geometry, which changes slowly
(B0 by < 0.13 deg/day). :class:`RemapPlan` holds them as a sparse matrix (apodisation folded in)
that maps a whole batch of images at once (one sparse x dense product), plus the velocity
corrections as maps, which are linear in the observer velocity. :class:`Remapper` reuses a plan for
images whose source positions move by less than ``geomtol`` pixels from the plan's geometry (the
map change this causes is measured in docs/performance.md).

Arguments follow the original (jv2helio/jv2ts names): LGSHIFT 0 none, 1 fixed (Carrington synodic)
rate from REF_T0/REF_L0, 2 nearest degree, 3 nearest tenth of a degree; INTERPO 0 bilinear,
1 cubic convolution (Keys, a = -0.5); APODIZE 0 none, 1 true coordinates, 2 as if B0 = 0, with
APEL/APX/APY for an elliptical taper; VCORLEV 1 subtracts differential rotation, limb shift and the
observer's velocity, 2 also divides by cos(rho); MCORLEV 1 divides by cos(rho) (line of sight to
radial); DISTORT 1 (MDI full disk) / 2 (MDI vector-weighted, 5x binned) applies the MDI optical
distortion: a cubic radial term CUBIC (full-disk pixel units) and a CCD tilt TILTALPHA about the
direction TILTBETA for an effective focal length TILTFEFF (full-disk pixels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
import scipy.sparse

from globalhs.science.grid import MapGrid

__all__ = [
    "RemapParams",
    "Geometry",
    "RemapPlan",
    "Remapper",
    "apodization_weight",
    "keys_weights",
    "MISSING_QUALITY_BIT",
    "CARRINGTON_SYNODIC_DEG_PER_DAY",
    "YEAR_DAYS",
]

MISSING_QUALITY_BIT = 0x80000000
"""QUALITY bit of an image that is missing or unusable (SPEC §3)."""

EQUATOR_ROTATION = 1974.1
"""m/s; rotation profile 1974.1 (1 - 0.121 sin^2 B - 0.178 sin^4 B) (SPEC §3)."""

CARRINGTON_SYNODIC_DEG_PER_DAY = 360.0 / 27.2753
"""Mean synodic rate of the Carrington frame seen from Earth (LGSHIFT=1's fixed rate)."""

YEAR_DAYS = 365.25
FD_CENTRE = 511.5  # nominal centre of the 1024^2 MDI CCD, full-disk pixels
VW_SCALE = 5.0  # MDI vector-weighted images are 5x binned full-disk pixels


@dataclass(frozen=True)
class RemapParams:
    """The remap arguments of jv2ts (names as the original's, lower case)."""

    grid: MapGrid
    maprmax: float = 0.998
    interpo: int = 1
    lgshift: int = 0
    ref_t0: float = 0.0  # internal TAI seconds, where the fixed-rate frame has longitude ref_l0
    ref_l0: float = 0.0
    apodize: int = 0
    apinner: float = 0.90
    apwidth: float = 0.05
    apel: int = 0
    apx: float = 1.0
    apy: float = 1.0
    vcorlev: int = 0
    mcorlev: int = 0
    distort: int = 0
    cubic: float = 7.06e-9
    tiltalpha: float = 2.59
    tiltbeta: float = 56.0
    tiltfeff: float = 12972.629
    perr: float = 0.0
    ierr: float = 0.0
    ref_tb0: float = 0.0  # internal TAI seconds when B0 = 0 (ascending), for the IERR correction

    def __post_init__(self):
        checks = [
            (self.interpo in (0, 1), f"INTERPO={self.interpo}: expected 0 (bilinear) or 1 (cubic convolution)"),
            (self.lgshift in (0, 1, 2, 3), f"LGSHIFT={self.lgshift}: expected 0, 1, 2 or 3"),
            (self.apodize in (0, 1, 2), f"APODIZE={self.apodize}: expected 0, 1 or 2"),
            (self.vcorlev in (0, 1, 2), f"VCORLEV={self.vcorlev}: expected 0, 1 or 2"),
            (self.mcorlev in (0, 1), f"MCORLEV={self.mcorlev}: expected 0 or 1 (2, radial field, is not implemented)"),
            (self.distort in (0, 1, 2), f"DISTORT={self.distort}: expected 0, 1 (MDI fd) or 2 (MDI vw)"),
            (0.0 < self.maprmax <= 1.0, f"MAPRMAX={self.maprmax}: expected a fraction of the radius in (0, 1]"),
            (self.apwidth > 0 or self.apodize == 0, f"APWIDTH={self.apwidth}: expected > 0"),
            (self.apx > 0 and self.apy > 0, f"APX={self.apx}, APY={self.apy}: expected > 0"),
        ]
        problems = [msg for ok, msg in checks if not ok]
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class Geometry:
    """Observation geometry of one image (normalised store keywords, angles in degrees)."""

    x0: float
    y0: float
    rsun_pix: float
    b0: float
    p: float = 0.0
    s_ratio: float = 0.0  # RSUN_REF / DSUN; 0 = observer at infinity
    l0: float = 0.0  # Carrington longitude of disk centre
    t: float = 0.0  # observation time, internal TAI seconds

    @classmethod
    def from_keywords(cls, kw: dict) -> "Geometry":
        """From normalised store keywords (X0, Y0, RSUN_PIX, B0, P, DSUN, RSUN_REF, L0, T_OBS)."""
        dsun = kw.get("DSUN")
        rsun_ref = kw.get("RSUN_REF") or 696000000.0
        s = rsun_ref / dsun if dsun and np.isfinite(dsun) and dsun > 0 else 0.0
        t = kw.get("T_OBS", kw.get("T_REC", 0.0))
        return cls(
            float(kw["X0"]), float(kw["Y0"]), float(kw["RSUN_PIX"]), float(kw["B0"]),
            float(kw.get("P") or 0.0), float(s), float(kw.get("L0") or 0.0), float(t or 0.0),
        )

    def corrected(self, params: RemapParams) -> "Geometry":
        """B0 and P with the PERR / IERR corrections (an error IERR in the inclination of the solar
        equator moves B0 by IERR sin(phi) and P by -IERR cos(phi), phi the annual phase from
        REF_TB0 when B0 = 0 ascending; PERR is a constant P offset)."""
        if params.perr == 0.0 and params.ierr == 0.0:
            return self
        phase = 2 * math.pi * (self.t - params.ref_tb0) / (YEAR_DAYS * 86400.0)
        return replace(
            self,
            b0=self.b0 + params.ierr * math.sin(phase),
            p=self.p + params.perr - params.ierr * math.cos(phase),
        )

    def longitude_shift(self, params: RemapParams) -> float:
        """Degrees added to the map's longitudes from the central meridian (LGSHIFT)."""
        if params.lgshift == 0:
            return 0.0
        if params.lgshift == 1:
            frame = params.ref_l0 - CARRINGTON_SYNODIC_DEG_PER_DAY * (self.t - params.ref_t0) / 86400.0
        else:
            unit = 1.0 if params.lgshift == 2 else 0.1
            frame = round(self.l0 / unit) * unit
        return (self.l0 - frame + 180.0) % 360.0 - 180.0

    def displacement(self, other: "Geometry", shift: float = 0.0) -> float:
        """Upper bound (pixels) on how far any on-disk source position moves between two geometries."""
        rad = math.pi / 180.0
        return (
            math.hypot(self.x0 - other.x0, self.y0 - other.y0)
            + abs(self.rsun_pix - other.rsun_pix)
            + self.rsun_pix * rad * (abs(self.b0 - other.b0) + abs(self.p - other.p) + abs(shift))
            + self.rsun_pix * abs(self.s_ratio - other.s_ratio)
        )


def keys_weights(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    """Cubic-convolution weights of the taps at offsets -1, 0, 1, 2 for fractional position t in [0, 1)."""
    t = np.asarray(t)
    d = np.stack([1 + t, t, 1 - t, 2 - t])  # distances to the four taps
    near = ((a + 2) * d - (a + 3)) * d * d + 1
    far = ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
    return np.where(d <= 1, near, far)


def apodization_weight(r: np.ndarray, apinner: float, apwidth: float) -> np.ndarray:
    """1 inside ``apinner``, a raised-cosine taper 0.5 + 0.5 cos(pi (r - apinner)/apwidth), 0 beyond."""
    r = np.asarray(r, dtype=np.float64)
    taper = 0.5 + 0.5 * np.cos(np.pi * (r - apinner) / apwidth)
    return np.where(r < apinner, 1.0, np.where(r < apinner + apwidth, taper, 0.0))


def _mdi_distort(col: np.ndarray, row: np.ndarray, shape: tuple[int, int], params: RemapParams):
    """CCD position of an ideal (undistorted) image position: cubic radial term and CCD tilt.

    Positions are taken relative to the image centre in full-disk pixel units (x5 for the binned
    vw images). The tilted CCD, normal tilted by TILTALPHA toward TILTBETA, intersects the ray
    of focal-plane position (d along TILTBETA, e across) at d' = t d cos(a) - (t - 1) F sin(a),
    e' = t e with t = 1 / (1 + d tan(a) / F).
    """
    scale = VW_SCALE if params.distort == 2 else 1.0
    cy, cx = (shape[0] - 1) / 2.0, (shape[1] - 1) / 2.0
    u, v = (col - cx) * scale, (row - cy) * scale
    r2 = u * u + v * v
    u, v = u * (1 + params.cubic * r2), v * (1 + params.cubic * r2)
    alpha, beta, feff = math.radians(params.tiltalpha), math.radians(params.tiltbeta), params.tiltfeff
    d = u * math.cos(beta) + v * math.sin(beta)
    e = -u * math.sin(beta) + v * math.cos(beta)
    t = 1.0 / (1.0 + d * math.tan(alpha) / feff)
    d2 = t * d * math.cos(alpha) - (t - 1.0) * feff * math.sin(alpha)
    e2 = t * e
    u2 = d2 * math.cos(beta) - e2 * math.sin(beta)
    v2 = d2 * math.sin(beta) + e2 * math.cos(beta)
    return cx + u2 / scale, cy + v2 / scale


class RemapPlan:
    """Interpolation matrix and correction maps for one geometry on one image shape.

    ``plan.remap(images, obs_v)`` -> maps ``[n, rows, cols]`` float32 for images ``[n, ny, nx]``;
    ``obs_v`` ``[n, 3]`` are (OBS_VR, OBS_VW, OBS_VN) per image (only used with VCORLEV >= 1).
    NaN pixels make the map points that use them NaN; callers zero them (ZEROMISS).
    """

    def __init__(self, params: RemapParams, geometry: Geometry, image_shape: tuple[int, int]):
        self.params, self.image_shape = params, tuple(image_shape)
        g = geometry.corrected(params)
        self.geometry = geometry
        self.shift = geometry.longitude_shift(params)
        grid = params.grid
        sin_b = grid.sin_lat[:, None]
        cos_b = np.sqrt(1.0 - sin_b**2)
        lon = grid.lon[None, :] + math.radians(self.shift)
        b0, p = math.radians(g.b0), math.radians(g.p)
        cos_rho = math.sin(b0) * sin_b + math.cos(b0) * cos_b * np.cos(lon)
        x = cos_b * np.sin(lon) * np.ones_like(sin_b)
        y = math.cos(b0) * sin_b - math.sin(b0) * cos_b * np.cos(lon)
        sin_rho = np.sqrt(np.maximum(1.0 - cos_rho**2, 0.0))
        if g.s_ratio > 0:
            alpha = np.arctan2(sin_rho, 1.0 / g.s_ratio - cos_rho)
            r_img = alpha / math.asin(g.s_ratio)
        else:
            r_img = sin_rho
        scale = np.divide(r_img, sin_rho, out=np.ones_like(r_img), where=sin_rho > 0)
        inside = (cos_rho > 0) & (r_img < params.maprmax)
        weight = np.ones(grid.shape)
        if params.apodize:
            if params.apodize == 1:
                ax, ay = x * scale, y * scale
            else:  # as if B0 = 0
                ax, ay = cos_b * np.sin(lon), sin_b * np.ones_like(lon)
            if params.apel:
                ax, ay = ax / params.apx, ay / params.apy
            weight = apodization_weight(np.hypot(ax, ay), params.apinner, params.apwidth)
        keep = inside & (weight > 0)
        self.map_index = np.flatnonzero(keep)
        X = (x * scale * math.cos(p) - y * scale * math.sin(p))[keep]
        Y = (x * scale * math.sin(p) + y * scale * math.cos(p))[keep]
        col = g.x0 + g.rsun_pix * X
        row = g.y0 + g.rsun_pix * Y
        if params.distort:
            col, row = _mdi_distort(col, row, self.image_shape, params)
        self.col, self.row = col, row
        self.matrix = self._matrix(col, row, weight[keep])
        # velocity corrections (m/s on the map, before apodisation): constant + linear in OBS_V
        cr, sb, cb, lk = cos_rho[keep], np.broadcast_to(sin_b, grid.shape)[keep], None, lon * np.ones_like(sin_b)
        self.cos_rho = cr
        self.divide = np.ones(keep.sum())
        if params.vcorlev >= 1:
            cos_bk = np.sqrt(1.0 - sb**2)
            speed = EQUATOR_ROTATION * (1 - 0.121 * sb**2 - 0.178 * sb**4)
            rotation = speed * cos_bk * math.cos(b0) * np.sin(lk[keep])
            mu = 1.0 - cr
            limb = -166.0 - 139.0 * mu + 700.0 * mu**2
            self.constant = rotation + limb
            # observer motion seen along each line of sight: OBS_VR - S (OBS_VW x + OBS_VN y)
            self.obs_terms = np.stack([np.ones_like(cr), -g.s_ratio * (x * scale)[keep], -g.s_ratio * (y * scale)[keep]])
        if params.vcorlev == 2 or params.mcorlev == 1:
            self.divide = 1.0 / np.maximum(cr, 1e-3)
        self.weight = weight[keep]

    def _matrix(self, col: np.ndarray, row: np.ndarray, weight: np.ndarray) -> scipy.sparse.csr_matrix:
        ny, nx = self.image_shape
        ntap = 4 if self.params.interpo == 1 else 2
        offsets = np.arange(ntap) - (1 if ntap == 4 else 0)
        c0, r0 = np.floor(col), np.floor(row)
        tc, tr = col - c0, row - r0
        if ntap == 4:
            wc, wr = keys_weights(tc), keys_weights(tr)
        else:
            wc, wr = np.stack([1 - tc, tc]), np.stack([1 - tr, tr])
        cols = c0.astype(np.int64)[None, :] + offsets[:, None]  # (ntap, npts)
        rows = r0.astype(np.int64)[None, :] + offsets[:, None]
        idx = rows[:, None, :] * nx + cols[None, :, :]  # (ntap_r, ntap_c, npts)
        w = wr[:, None, :] * wc[None, :, :] * weight[None, None, :]
        valid = (rows[:, None, :] >= 0) & (rows[:, None, :] < ny) & (cols[None, :, :] >= 0) & (cols[None, :, :] < nx)
        npts = col.size
        # a tap outside the image makes the point unusable: point it at a NaN guard column
        bad_point = ~valid.all(axis=(0, 1))
        idx = np.where(valid, idx, ny * nx)
        ptr = np.arange(npts + 1) * ntap * ntap
        indices = idx.transpose(2, 0, 1).reshape(-1)
        data = w.transpose(2, 0, 1).reshape(-1).astype(np.float32)
        m = scipy.sparse.csr_matrix((data, indices, ptr), shape=(npts, ny * nx + 1))
        self.bad_point = bad_point
        return m

    def remap(self, images: np.ndarray, obs_v: np.ndarray | None = None, datasign=1.0) -> np.ndarray:
        """Maps of a batch of images (float32, NaN where an input pixel was missing)."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 2:
            images = images[None]
        n = images.shape[0]
        if images.shape[1:] != self.image_shape:
            raise ValueError(f"images of shape {images.shape[1:]} do not match the plan's {self.image_shape}")
        flat = np.empty((self.image_shape[0] * self.image_shape[1] + 1, n), dtype=np.float32)
        flat[:-1] = images.reshape(n, -1).T
        flat[-1] = np.nan  # guard pixel for taps outside the image
        values = self.matrix @ flat  # (npts, n), apodised
        sign = np.broadcast_to(np.asarray(datasign, dtype=np.float32), (n,))
        values *= sign[None, :]
        if self.params.vcorlev >= 1:
            v = np.zeros((3, n)) if obs_v is None else np.asarray(obs_v, dtype=np.float64).T
            correction = self.constant[:, None] + self.obs_terms.T @ v
            values -= (correction * self.weight[:, None]).astype(np.float32)
        if self.params.vcorlev == 2 or self.params.mcorlev == 1:
            values *= self.divide[:, None].astype(np.float32)
        grid = self.params.grid
        maps = np.zeros((n, grid.rows * grid.cols), dtype=np.float32)
        maps[:, self.map_index] = values.T
        return maps.reshape(n, grid.rows, grid.cols)


class Remapper:
    """Remaps a stream of images, reusing a :class:`RemapPlan` while the geometry stays within
    ``geomtol`` pixels (0 = a new plan for every distinct geometry, as the original)."""

    def __init__(self, params: RemapParams, geomtol: float = 0.0):
        self.params, self.geomtol = params, geomtol
        self.plan: RemapPlan | None = None
        self.plans_built = 0

    def plan_for(self, geometry: Geometry, image_shape: tuple[int, int]) -> RemapPlan:
        plan = self.plan
        if plan is not None and plan.image_shape == tuple(image_shape):
            shift = geometry.longitude_shift(self.params) - plan.shift
            g, h = geometry.corrected(self.params), plan.geometry.corrected(self.params)
            if g == h and shift == 0.0 or g.displacement(h, shift) <= self.geomtol:
                return plan
        self.plan = RemapPlan(self.params, geometry, image_shape)
        self.plans_built += 1
        return self.plan
