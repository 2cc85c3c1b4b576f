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
    "keys_derivative",
    "MISSING_QUALITY_BIT",
    "CARRINGTON_SYNODIC_DEG_PER_DAY",
    "YEAR_DAYS",
    "MAP_DEFAULTS",
]

MISSING_QUALITY_BIT = 0x80000000
"""QUALITY bit of an image that is missing or unusable (SPEC §3)."""

EQUATOR_ROTATION = 1974.1
"""m/s; rotation profile 1974.1 (1 - 0.121 sin^2 B - 0.178 sin^4 B) (SPEC §3)."""

CARRINGTON_SYNODIC_DEG_PER_DAY = 360.0 / 27.2753
"""Mean synodic rate of the Carrington frame seen from Earth (LGSHIFT=1's fixed rate)."""

YEAR_DAYS = 365.25

MAP_DEFAULTS = {
    "MAPMMAX": 5402, "SINBDIVS": 2160, "MAPRMAX": 0.998, "MAPLGMIN": -90.0, "MAPLGMAX": 90.0, "MAPBMAX": 90.0,
    "APODIZE": 0, "APINNER": 0.90, "APWIDTH": 0.05,
}
"""The original jv2ts' defaults of the arguments that shape the remapped map, and so the leakage matrix:
the one place they are written. jv2ts' argument table (``globalhs.modules.jv2ts.MAP_ARGS``, which the
leakage module shares) and :class:`globalhs.science.leakage.MapGeometry` take them from here; a label's
templates set every one of them explicitly."""
FD_CENTRE = 511.5  # nominal centre of the 1024^2 MDI CCD, full-disk pixels
VW_SCALE = 5.0  # MDI vector-weighted images are 5x binned full-disk pixels


@dataclass(frozen=True)
class RemapParams:
    """The remap arguments of jv2ts (names as the original's, lower case)."""

    grid: MapGrid
    maprmax: float = MAP_DEFAULTS["MAPRMAX"]
    interpo: int = 1
    lgshift: int = 0
    ref_t0: float = 0.0  # internal TAI seconds, where the fixed-rate frame has longitude ref_l0
    ref_l0: float = 0.0
    apodize: int = MAP_DEFAULTS["APODIZE"]
    apinner: float = MAP_DEFAULTS["APINNER"]
    apwidth: float = MAP_DEFAULTS["APWIDTH"]
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
    # clipping the phase to [0, pi] gives exactly 1 inside and exactly 0 beyond, one cosine per point
    phase = np.clip((r - apinner) / apwidth, 0.0, 1.0)
    phase *= np.pi
    return 0.5 + 0.5 * np.cos(phase)


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


def keys_derivative(t: np.ndarray, a: float = -0.5) -> np.ndarray:
    """d/dt of :func:`keys_weights` (the taps' weights as the sample point moves by dt)."""
    t = np.asarray(t)
    d = np.stack([1 + t, t, 1 - t, 2 - t])
    sign = np.array([1.0, 1.0, -1.0, -1.0])[:, None] * np.ones_like(t)  # d(distance)/dt per tap
    near = (3 * (a + 2) * d - 2 * (a + 3)) * d
    far = (3 * a * d - 10 * a) * d + 8 * a
    return sign * np.where(d <= 1, near, far)


def _project(params: RemapParams, v: np.ndarray, sin_b: np.ndarray, lon: np.ndarray, image_shape) -> dict:
    """Image positions and disk quantities of heliographic points for geometry vector ``v``
    (x0, y0, rsun_pix, b0, p, shift [deg], s_ratio), with B0/P already corrected."""
    x0, y0, rsun, b0, p, shift, s_ratio = v
    b0, p = math.radians(b0), math.radians(p)
    cos_b = np.sqrt(1.0 - sin_b**2)
    lon = lon + math.radians(shift)
    cos_rho = math.sin(b0) * sin_b + math.cos(b0) * cos_b * np.cos(lon)
    x = cos_b * np.sin(lon)
    y = math.cos(b0) * sin_b - math.sin(b0) * cos_b * np.cos(lon)
    sin_rho = np.sqrt(np.maximum(1.0 - cos_rho**2, 0.0))
    if s_ratio > 0:
        r_img = np.arctan2(sin_rho, 1.0 / s_ratio - cos_rho) / math.asin(s_ratio)
    else:
        r_img = sin_rho
    scale = np.divide(r_img, sin_rho, out=np.ones_like(r_img), where=sin_rho > 0)
    xs, ys = x * scale, y * scale
    col = x0 + rsun * (xs * math.cos(p) - ys * math.sin(p))
    row = y0 + rsun * (xs * math.sin(p) + ys * math.cos(p))
    if params.distort:
        col, row = _mdi_distort(col, row, image_shape, params)
    if params.apodize == 2:  # as if B0 = 0
        ax, ay = x * 0 + cos_b * np.sin(lon), sin_b + 0 * lon
    else:
        ax, ay = xs, ys
    if params.apel:
        ax, ay = ax / params.apx, ay / params.apy
    return {"col": col, "row": row, "r_img": r_img, "cos_rho": cos_rho, "xs": xs, "ys": ys,
            "r_apod": np.hypot(ax, ay), "lon": lon}


class RemapPlan:
    """Interpolation matrices and correction maps for one geometry on one image shape.

    ``plan.remap(images, obs_v, datasign, geometries)`` -> maps ``[n, rows, cols]`` float32 for
    images ``[n, ny, nx]``; ``obs_v`` ``[n, 3]`` are (OBS_VR, OBS_VW, OBS_VN) per image (VCORLEV >= 1).
    With ``geometries`` (one :class:`Geometry` per image) the plan corrects to first order for each
    image's own geometry: the source positions move by ``J dg`` (J the Jacobian of the positions in
    the geometry, by finite differences) and the map value by the interpolation's derivative
    matrices times that motion; the apodisation is re-evaluated at the moved radius. NaN pixels
    make the map points that use them NaN; callers zero them (ZEROMISS).
    """

    # finite-difference steps of the geometry vector (x0, y0, rsun_pix, b0, p, shift, s_ratio)
    _STEPS = np.array([1e-3, 1e-3, 1e-3, 1e-5, 1e-5, 1e-5, 1e-7])

    def __init__(self, params: RemapParams, geometry: Geometry, image_shape: tuple[int, int]):
        self.params, self.image_shape = params, tuple(image_shape)
        self.geometry = geometry
        self.shift = geometry.longitude_shift(params)
        self.vector = self.geometry_vector(geometry)
        grid = params.grid
        sin_b = np.repeat(grid.sin_lat, grid.cols)
        lon = np.tile(grid.lon, grid.rows)
        q = _project(params, self.vector, sin_b, lon, self.image_shape)
        inside = (q["cos_rho"] > 0) & (q["r_img"] < params.maprmax)
        weight = apodization_weight(q["r_apod"], params.apinner, params.apwidth) if params.apodize else np.ones(sin_b.size)
        keep = inside & (weight > 0)
        self.map_index = np.flatnonzero(keep)
        if self.map_index.size == 0:
            raise ValueError(f"no map point falls on the visible disk (longitude shift {self.shift:.1f} deg "
                             f"from LGSHIFT={params.lgshift}; L0={geometry.l0}): check L0, REF_T0/REF_L0 and MAPRMAX")
        self.sin_b, self.lon = sin_b[keep], lon[keep]
        self.col, self.row = q["col"][keep], q["row"][keep]
        self.r_apod = q["r_apod"][keep]
        self.weight = weight[keep]
        self.matrix, self.dcol_matrix, self.drow_matrix = self._matrices(self.col, self.row)
        self._jacobian = None
        cr = q["cos_rho"][keep]
        self.cos_rho = cr
        if params.vcorlev >= 1:
            sb = self.sin_b
            speed = EQUATOR_ROTATION * (1 - 0.121 * sb**2 - 0.178 * sb**4)
            rotation = speed * np.sqrt(1.0 - sb**2) * math.cos(math.radians(self.vector[3])) * np.sin(q["lon"][keep])
            mu = 1.0 - cr
            self.constant = rotation + (-166.0 - 139.0 * mu + 700.0 * mu**2)
            # observer motion seen along each line of sight: OBS_VR - S (OBS_VW x + OBS_VN y)
            s = self.vector[6]
            self.obs_terms = np.stack([np.ones_like(cr), -s * q["xs"][keep], -s * q["ys"][keep]])
        self.divide = 1.0 / np.maximum(cr, 1e-3) if (params.vcorlev == 2 or params.mcorlev == 1) else None

    def geometry_vector(self, geometry: Geometry) -> np.ndarray:
        g = geometry.corrected(self.params)
        return np.array([g.x0, g.y0, g.rsun_pix, g.b0, g.p, geometry.longitude_shift(self.params), g.s_ratio])

    @property
    def jacobian(self) -> np.ndarray:
        """d(col, row, r_apod)/d(geometry vector) at the kept points, shape (3, 7, npts)."""
        if self._jacobian is None:
            jac = np.empty((3, 7, self.col.size))
            for k, h in enumerate(self._STEPS):
                v = self.vector.copy()
                v[k] += h
                q = _project(self.params, v, self.sin_b, self.lon, self.image_shape)
                jac[0, k] = (q["col"] - self.col) / h
                jac[1, k] = (q["row"] - self.row) / h
                jac[2, k] = (q["r_apod"] - self.r_apod) / h
            self._jacobian = jac
        return self._jacobian

    @property
    def jacobian32(self) -> np.ndarray:
        if getattr(self, "_jacobian32", None) is None:
            self._jacobian32 = self.jacobian.astype(np.float32)
        return self._jacobian32

    @property
    def _taper_points(self) -> np.ndarray:
        return np.flatnonzero(self.r_apod > self.params.apinner - 0.01)

    def displacement(self, geometry: Geometry) -> float:
        """Upper bound (pixels) on the motion of any source position between this plan's geometry
        and ``geometry``: sum over the geometry parameters of |change| x the largest |Jacobian|."""
        dv = np.abs(self.geometry_vector(geometry) - self.vector)
        if not dv.any():
            return 0.0
        if getattr(self, "_jac_max", None) is None:
            jac = self.jacobian
            self._jac_max = np.hypot(jac[0], jac[1]).max(axis=1)
        return float(dv @ self._jac_max)

    def _matrices(self, col: np.ndarray, row: np.ndarray):
        ny, nx = self.image_shape
        ntap = 4 if self.params.interpo == 1 else 2
        offsets = np.arange(ntap) - (1 if ntap == 4 else 0)
        c0, r0 = np.floor(col), np.floor(row)
        tc, tr = col - c0, row - r0
        if ntap == 4:
            wc, wr = keys_weights(tc), keys_weights(tr)
            dwc, dwr = keys_derivative(tc), keys_derivative(tr)
        else:
            wc, wr = np.stack([1 - tc, tc]), np.stack([1 - tr, tr])
            dwc = dwr = np.stack([-np.ones_like(tc), np.ones_like(tc)])
        cols = c0.astype(np.int64)[None, :] + offsets[:, None]  # (ntap, npts)
        rows = r0.astype(np.int64)[None, :] + offsets[:, None]
        idx = rows[:, None, :] * nx + cols[None, :, :]  # (ntap_r, ntap_c, npts)
        valid = (rows[:, None, :] >= 0) & (rows[:, None, :] < ny) & (cols[None, :, :] >= 0) & (cols[None, :, :] < nx)
        # a tap outside the image makes the point unusable: point it at a NaN guard pixel
        idx = np.where(valid, idx, ny * nx)
        npts = col.size
        ptr = np.arange(npts + 1) * ntap * ntap
        indices = idx.transpose(2, 0, 1).reshape(-1)

        def csr(w):
            data = w.transpose(2, 0, 1).reshape(-1).astype(np.float32)
            return scipy.sparse.csr_matrix((data, indices, ptr), shape=(npts, ny * nx + 1))

        return (csr(wr[:, None, :] * wc[None, :, :]), csr(wr[:, None, :] * dwc[None, :, :]),
                csr(dwr[:, None, :] * wc[None, :, :]))

    @property
    def _point_factor32(self) -> np.ndarray:
        """Apodisation weight times the 1/cos(rho) division (when asked for), per kept point."""
        if getattr(self, "_factor32", None) is None:
            factor = self.weight * (self.divide if self.divide is not None else 1.0)
            self._factor32 = np.ascontiguousarray(factor, dtype=np.float32)
        return self._factor32

    def remap_points(self, images: np.ndarray, obs_v=None, datasign=1.0, geometries=None) -> np.ndarray:
        """Values at the kept map points :attr:`map_index`, ``[npts, n]`` float32 (the layout the
        sparse product gives; :meth:`remap` scatters it into maps)."""
        images = np.asarray(images, dtype=np.float32)
        if images.ndim == 2:
            images = images[None]
        n = images.shape[0]
        if images.shape[1:] != self.image_shape:
            raise ValueError(f"images of shape {images.shape[1:]} do not match the plan's {self.image_shape}")
        flat = np.empty((self.image_shape[0] * self.image_shape[1] + 1, n), dtype=np.float32)
        flat[:-1] = images.reshape(n, -1).T
        flat[-1] = np.nan  # guard pixel for taps outside the image
        dv = None
        if geometries is not None:
            dv = np.stack([self.geometry_vector(g) - self.vector for g in geometries], axis=1)  # (7, n)
            if not dv.any():
                dv = None
        moved_weight = None
        values = self.matrix @ flat  # (npts, n)
        if dv is not None:
            jac = self.jacobian32
            dv32 = dv.astype(np.float32)
            # first order in the motion of each source position: + dcol * dvalue/dcol + drow * ...
            moved = jac[0].T @ dv32
            moved *= self.dcol_matrix @ flat
            values += moved
            moved = np.matmul(jac[1].T, dv32, out=moved)
            moved *= self.drow_matrix @ flat
            values += moved
            if self.params.apodize:
                # only points near the taper can change weight (|dr| << 0.01 within GEOMTOL)
                near = self._taper_points
                r = self.r_apod[near, None] + jac[2][:, near].T.astype(np.float64) @ dv
                moved_weight = (near, apodization_weight(r, self.params.apinner, self.params.apwidth))
        sign = np.broadcast_to(np.asarray(datasign, dtype=np.float32), (n,))
        if (sign != 1).any():
            values *= sign[None, :]
        if self.params.vcorlev >= 1:
            v = np.zeros((3, n), dtype=np.float32) if obs_v is None else np.asarray(obs_v, dtype=np.float32).T
            # constant + observer terms as one small matrix product: [constant, obs_terms] @ [1; v]
            if getattr(self, "_vcor32", None) is None:
                self._vcor32 = np.ascontiguousarray(np.vstack([self.constant, self.obs_terms]).T, dtype=np.float32)
            coeff = np.vstack([np.ones((1, n), dtype=np.float32), v])
            values -= self._vcor32 @ coeff
        values *= self._point_factor32[:, None]
        if moved_weight is not None:  # the taper points at each image's own geometry
            near, w = moved_weight
            values[near] *= (w / self.weight[near, None]).astype(np.float32)
        return values

    def remap(self, images: np.ndarray, obs_v=None, datasign=1.0, geometries=None) -> np.ndarray:
        """Maps of a batch of images (float32, NaN where an input pixel was missing)."""
        values = self.remap_points(images, obs_v, datasign, geometries)
        n = values.shape[1]
        grid = self.params.grid
        maps = np.zeros((n, grid.rows * grid.cols), dtype=np.float32)
        maps[:, self.map_index] = np.ascontiguousarray(values.T)
        return maps.reshape(n, grid.rows, grid.cols)


class Remapper:
    """Remaps a stream of images, reusing a :class:`RemapPlan` while every source position stays
    within ``geomtol`` pixels of the plan's (the plan corrects to first order in between);
    ``geomtol=0`` builds a new plan for every distinct geometry, as the original does."""

    def __init__(self, params: RemapParams, geomtol: float = 0.0):
        self.params, self.geomtol = params, geomtol
        self.plan: RemapPlan | None = None
        self.plans_built = 0

    def covers(self, plan: RemapPlan | None, geometry: Geometry, image_shape: tuple[int, int]) -> bool:
        """Whether ``plan`` may remap an image of ``geometry`` (same geometry, or within geomtol)."""
        if plan is None or plan.image_shape != tuple(image_shape):
            return False
        if not (plan.geometry_vector(geometry) - plan.vector).any():
            return True
        return self.geomtol > 0 and plan.displacement(geometry) <= self.geomtol

    def plan_for(self, geometry: Geometry, image_shape: tuple[int, int], ahead=()) -> RemapPlan:
        """The plan for ``geometry``: the current one while within ``geomtol``, else a new one.

        ``ahead`` (the geometries of the images that follow, in order) lets a new plan be centred
        ahead of ``geometry``: at the furthest following geometry still within ``geomtol`` of it
        (measured with the previous plan's Jacobian), so a slow drift uses both sides of the
        tolerance and about half as many plans are built. Every image is still checked against
        the plan it gets with that plan's own Jacobian, so the accuracy bound is unchanged.
        """
        plan = self.plan
        if self.covers(plan, geometry, image_shape):
            return plan
        centre = geometry
        if self.geomtol > 0 and plan is not None and plan.image_shape == tuple(image_shape) and len(ahead):
            here = plan.geometry_vector(geometry)
            plan.displacement(geometry)  # makes plan._jac_max
            for g in ahead:
                if np.abs(plan.geometry_vector(g) - here) @ plan._jac_max > self.geomtol:
                    break
                centre = g
        self.plan = RemapPlan(self.params, centre, image_shape)
        self.plans_built += 1
        if centre is not geometry and self.plan.displacement(geometry) > self.geomtol:
            # the Jacobian moved more than expected: fall back to a plan at this image's geometry
            self.plan = RemapPlan(self.params, geometry, image_shape)
            self.plans_built += 1
        return self.plan
