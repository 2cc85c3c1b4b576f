"""The leakage matrix: how much of mode (l', m') the spherical-harmonic transform puts in target (l, m).

The pipeline's SHT (jv2ts, SPEC section 3) samples a Dopplergram on a longitude x sin(latitude) grid
around the central meridian, multiplies by the apodisation W (zero beyond MAPRMAX of the disk radius)
and projects onto Y_lm.  A mode (l', m') is seen as the line-of-sight pattern of
:mod:`globalhs.science.observe`, so the target coefficient is (SCIENCE.md section 5)

    C(l, m; l', m') = C^r + beta C^h,
    C^r = sum_grid W (o.e_r) Y_l'm' Y*_lm dx dphi,
    C^h = sum_grid W [(o.e_theta) dY_l'm'/dtheta + (o.e_phi) (i m'/sin theta) Y_l'm'] Y*_lm dx dphi,

evaluated by the same quadrature the SHT uses (same grid points, same weights; no interpolation error,
since the mode is evaluated exactly at the grid points).  beta depends on the multiplet's frequency, so
C^r and C^h are kept separately and combined at fit time.

The sum factorises: with G_c(x_k, d) = sum_j W o_c e^{i d phi_j} (one longitude transform per
row and per component c), C = sum_k P~_l^m(x_k) P~_l'^m'(x_k) G(x_k, m' - m) dx dphi / (2 pi).  Rows
are folded about the equator (P~_l^m(-x) = (-1)^(l+m) P~_l^m(x)).  With a map symmetric east-west
(MAPLGMIN = -MAPLGMAX) C is real; that is required.

Stored layout (:func:`leakage_block`): for target degrees lmin..lmax, arrays ``radial`` and
``horizontal`` of shape (sum_l (2l+1), 2 DL + 1, 2 DM + 1): row ``l**2 - lmin**2 + (m + l)``, then
l' - l + DL, then m' - m + DM; zero where |m'| > l' or l' < 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from globalhs.science.legendre import legendre_table, lm_index

from globalhs.science.grid import MapGrid
from globalhs.science.observe import observer_components
from globalhs.science.remap import MAP_DEFAULTS, apodization_weight

__all__ = ["MapGeometry", "LeakageBlock", "leakage_block", "row_of"]


@dataclass(frozen=True)
class MapGeometry:
    """The remap/SHT parameters that shape the leakage (jv2ts argument names; defaults the original jv2ts',
    declared once in :data:`globalhs.science.remap.MAP_DEFAULTS`). The map is symmetric about the central
    meridian: MAPLGMIN = -MAPLGMAX."""

    MAPMMAX: int = MAP_DEFAULTS["MAPMMAX"]
    SINBDIVS: int = MAP_DEFAULTS["SINBDIVS"]
    MAPRMAX: float = MAP_DEFAULTS["MAPRMAX"]
    MAPLGMAX: float = MAP_DEFAULTS["MAPLGMAX"]
    MAPBMAX: float = MAP_DEFAULTS["MAPBMAX"]
    APODIZE: int = MAP_DEFAULTS["APODIZE"]
    APINNER: float = MAP_DEFAULTS["APINNER"]
    APWIDTH: float = MAP_DEFAULTS["APWIDTH"]
    B0: float = 0.0  # degrees

    def grid(self) -> MapGrid:
        """The jv2ts remap grid (:class:`globalhs.science.grid.MapGrid`), symmetric about the meridian."""
        return MapGrid(self.MAPMMAX, self.SINBDIVS, -self.MAPLGMAX, self.MAPLGMAX, self.MAPBMAX)

    def longitudes(self) -> np.ndarray:
        """Grid longitudes from the central meridian (radians, positive west): steps of 180/MAPMMAX deg."""
        return self.grid().lon

    def sin_latitudes(self) -> np.ndarray:
        """Grid rows: 2 int(sin(MAPBMAX) SINBDIVS) values of sin(latitude), no equator row."""
        return self.grid().sin_lat


def _weights(geom: MapGeometry, x: np.ndarray, lon: np.ndarray) -> np.ndarray:
    """W on the (row, longitude) grid: apodisation of the fractional disk radius, far side excluded."""
    lat = np.arcsin(x)[:, None]
    b0 = np.radians(geom.B0)
    cos_rho = np.sin(b0) * np.sin(lat) + np.cos(b0) * np.cos(lat) * np.cos(lon)
    visible = cos_rho > 0
    if geom.APODIZE == 2:  # taper computed as if B0 = 0 (the cut stays in true coordinates)
        cos_rho_taper = np.cos(lat) * np.cos(lon)
    else:
        cos_rho_taper = cos_rho
    r_true = np.sqrt(np.clip(1.0 - cos_rho**2, 0.0, None))
    r_taper = np.sqrt(np.clip(1.0 - cos_rho_taper**2, 0.0, None))
    if geom.APODIZE == 0:
        w = np.ones_like(r_true)
    else:
        w = apodization_weight(r_taper, geom.APINNER, geom.APWIDTH)  # the remap's own taper
    return np.where(visible & (r_true < geom.MAPRMAX), w, 0.0)


@dataclass
class LeakageBlock:
    """C^r and C^h for target degrees lmin..lmax (layout in the module docstring)."""

    lmin: int
    lmax: int
    dl: int
    dm: int
    radial: np.ndarray
    horizontal: np.ndarray
    geometry: MapGeometry

    def target(self, l: int) -> tuple[np.ndarray, np.ndarray]:
        """(radial, horizontal) of target degree l, each (2l+1, 2 dl + 1, 2 dm + 1), m = -l..l first."""
        if not self.lmin <= l <= self.lmax:
            raise KeyError(f"leakage block holds l = {self.lmin}..{self.lmax}, not l = {l}")
        start = row_of(l, -l, self.lmin)
        return self.radial[start:start + 2 * l + 1], self.horizontal[start:start + 2 * l + 1]

    def matrix(self, l: int, beta: np.ndarray | float) -> np.ndarray:
        """C = C^r + beta C^h for target l; ``beta`` scalar or per source degree (2 dl + 1 values)."""
        r, h = self.target(l)
        beta = np.broadcast_to(np.asarray(beta, dtype=float), (2 * self.dl + 1,))
        return r + beta[None, :, None] * h


def row_of(l: int, m: int, lmin: int) -> int:
    """Row of target (l, m) in a block starting at ``lmin``."""
    return l * l - lmin * lmin + (m + l)


def leakage_block(geom: MapGeometry, lmin: int, lmax: int, dl: int = 6, dm: int = 15,
                  dtype=np.float32) -> LeakageBlock:
    """C^r and C^h for every target (l, m), lmin <= l <= lmax, and source |l'-l| <= dl, |m'-m| <= dm."""
    if lmin < 0 or lmax < lmin:
        raise ValueError(f"leakage: need 0 <= lmin <= lmax, got lmin={lmin} lmax={lmax}")
    if dl < 0 or dm < 0:
        raise ValueError(f"leakage: need dl >= 0 and dm >= 0, got dl={dl} dm={dm}")
    lon = geom.longitudes()
    x_all = geom.sin_latitudes()
    half = x_all.size // 2
    x = x_all[half:]  # northern rows; the southern ones are -x[::-1]
    colat_all = np.arccos(x_all)
    w = _weights(geom, x_all, lon)
    o_r, o_t, o_p = observer_components(colat_all[:, None], lon[None, :], np.radians(geom.B0))
    deltas = np.arange(-dm, dm + 1)
    phase = np.exp(1j * np.outer(lon, deltas))  # (lon, delta)
    quad = (1.0 / geom.SINBDIVS) * (np.pi / geom.MAPMMAX) / (2.0 * np.pi)
    g_r, g_t, g_p = ((w * o) @ phase * quad for o in (o_r, o_t, o_p))  # (rows, delta)
    # East-west symmetry makes G_r, G_theta real and G_phi imaginary, hence C real; check, then go real.
    stray = max(np.abs(g_r.imag).max(), np.abs(g_t.imag).max(), np.abs(g_p.real).max())
    if stray > 1e-9 * max(np.abs(g_r).max(), 1e-300):
        raise ValueError(f"leakage: the map is not symmetric east-west (stray part {stray:.3g}); "
                         f"the leakage assumes MAPLGMIN = -MAPLGMAX and a symmetric apodisation")
    south = slice(half - 1, None, -1)  # row -x_k for each northern x_k
    fold = {}
    for name, g in (("r", g_r.real), ("t", g_t.real), ("p", g_p.imag)):
        fold[name, 0] = np.ascontiguousarray((g[half:] + g[south]).T)  # even total parity; (delta, rows)
        fold[name, 1] = np.ascontiguousarray((g[half:] - g[south]).T)  # odd total parity
    # the theta-derivative flips sign under x -> -x, so its fold uses the opposite parity
    src_lo, src_hi = max(lmin - dl, 0), lmax + dl
    p, dp = legendre_table(src_hi, x, lmin=src_lo, derivative=True)  # only the degrees needed
    inv_sin = 1.0 / np.sqrt(1.0 - x * x)
    nrows = (lmax + 1) ** 2 - lmin**2
    radial = np.zeros((nrows, 2 * dl + 1, 2 * dm + 1), dtype=dtype)
    horizontal = np.zeros_like(radial)
    for l in range(lmin, lmax + 1):
        ms = np.arange(-l, l + 1)
        target = _signed_rows(p, l, ms, src_lo)  # (2l+1, nx)
        base = row_of(l, -l, lmin)
        for il, lp in enumerate(range(l - dl, l + dl + 1)):
            if lp < src_lo:
                continue
            for idm, d in enumerate(deltas):
                mp = ms + d
                ok = np.abs(mp) <= lp
                if not ok.any():
                    continue
                src = _signed_rows(p, lp, mp[ok], src_lo)
                dsrc = _signed_rows(dp, lp, mp[ok], src_lo)
                parity = (l + lp + d) % 2  # (l + m + l' + m') mod 2, since m' - m = d
                prod = target[ok] * src
                rows = base + np.flatnonzero(ok)
                radial[rows, il, idm] = prod @ fold["r", parity][idm]
                # i m' (i Im G_phi) = -m' Im G_phi
                horizontal[rows, il, idm] = (target[ok] * dsrc) @ fold["t", 1 - parity][idm] \
                    - mp[ok] * ((prod * inv_sin) @ fold["p", parity][idm])
    return LeakageBlock(lmin, lmax, dl, dm, radial, horizontal, geom)


def _signed_rows(p: np.ndarray, l: int, ms: np.ndarray, lmin: int) -> np.ndarray:
    """Rows P~_l^m for the given m (negative m via (-1)^m P~_l^|m|), from a table starting at ``lmin``."""
    ms = np.asarray(ms)
    rows = p[lm_index(l, np.abs(ms), lmin)]
    sign = np.where((ms < 0) & (ms % 2 == 1), -1.0, 1.0)
    return rows * sign[:, None]
