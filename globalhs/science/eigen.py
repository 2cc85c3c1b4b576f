"""Adiabatic oscillation eigenfrequencies and eigenfunctions of a spherical model (SCIENCE.md §2).

Method: shooting in t = ln x on the Dziembowski/GYRE variables y1..y4, with the full fourth-order
system (perturbed gravitational potential included; ``cowling=True`` drops it), the regularity
conditions at the centre and, at the top of the model, the potential condition plus the isothermal
("JCD") atmospheric condition. The solutions allowed by the central conditions are integrated
outwards with the classical fourth-order Runge-Kutta scheme on a mesh made of the model's own
points, each interval subdivided so that h * |eigenvalue of the local system matrix| <= ``hk``
(resolves the local radial wavelength and keeps the explicit scheme stable in evanescent zones);
the coefficients between model points come from cubic splines in t. The two solutions are
re-orthonormalised (Gram-Schmidt, positive diagonal) as they go, which leaves the sign of the
surface determinant D(nu) unchanged. Roots of D are bracketed on a frequency grid and refined by a
vectorised Illinois (regula falsi) iteration.

Everything is vectorised over frequencies and over a group of degrees l, which share one mesh: a
numpy operation then advances hundreds of trial solutions at once (there is no compiled ODE solver
for this problem in the stack; one scipy ``solve_ivp`` call per trial would be ~100x slower).

High-l modes are started at a fraction of the inner turning point, not at the centre: below it the
solution grows like x^l and the rest of the interior does not affect the mode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.interpolate import CubicSpline

from globalhs.science.model import SolarModel

__all__ = ["ModeSet", "EigenError", "solve_modes", "radial_order", "photospheric_inertia", "inertia_ratio"]


class EigenError(ValueError):
    """Impossible request (degree or frequency range); the message says what was expected."""


@dataclass
class ModeSet:
    """Modes found for a set of degrees: arrays over modes, eigenfunctions on the model's points.

    ``xi_r`` and ``xi_h`` (shape (nmodes, npoints), on ``r`` = the model's radii with r > 0, in cm)
    are normalised so that the inertia integral int (xi_r^2 + L^2 xi_h^2) rho r^2 dr is 1; points
    below a mode's starting radius hold 0 (the mode is evanescent there, amplitude < 1e-12).
    """

    l: np.ndarray
    n: np.ndarray
    nu: np.ndarray  # microhertz
    r: np.ndarray
    rho: np.ndarray
    xi_r: np.ndarray
    xi_h: np.ndarray
    R: float

    def __len__(self) -> int:
        return len(self.l)


class _Coefficients:
    """Cubic splines of V/Gamma1, U, c1, As in t = ln x, and the model's points."""

    def __init__(self, model: SolarModel):
        d = model.dimensionless()
        self.x = d["x"]
        self.t = np.log(self.x)
        self.r = d["r"]
        self.rho = d["rho"]
        self.names = ("Vg", "U", "c1", "As")
        self.nodes = {k: d[k] for k in self.names}
        # cubic, PCHIP, Akima and linear interpolation change Model S frequencies by < 0.01 uHz
        self.splines = {k: CubicSpline(self.t, d[k]) for k in self.names}
        c = np.sqrt(model.c2[model.r > 1e-12 * model.R])
        self.c_over_r = c / self.r
        self.omega_scale = model.omega_scale()
        self.R = model.R

    def at(self, t: np.ndarray) -> dict[str, np.ndarray]:
        return {k: self.splines[k](t) for k in self.names}

    def turning_point(self, ell: float, sigma: float) -> float:
        """Inner turning point x_t of a p mode: c(r_t)/r_t = sigma/L (c/r decreases outwards)."""
        L = math.sqrt(ell * (ell + 1.0))
        target = sigma / L
        above = np.nonzero(self.c_over_r <= target)[0]
        return float(self.x[above[0]]) if len(above) else float(self.x[-1])


def _local_rate(co: _Coefficients, ells: np.ndarray, w2s: np.ndarray, order: int) -> np.ndarray:
    """Largest |eigenvalue| of the system matrix at each model point, over the given l and omega~^2."""
    rate = np.zeros_like(co.x)
    nd = co.nodes
    for ell in ells:
        lam = ell * (ell + 1.0)
        for w2 in w2s:
            w = nd["c1"] * w2
            A = np.zeros((len(co.x), order, order))
            A[:, 0, 0] = nd["Vg"] - 1 - ell
            A[:, 0, 1] = lam / w - nd["Vg"]
            A[:, 1, 0] = w - nd["As"]
            A[:, 1, 1] = 3 - nd["U"] + nd["As"] - ell
            if order == 4:
                A[:, 0, 2] = lam / w
                A[:, 1, 3] = -1
                A[:, 2, 2] = 3 - nd["U"] - ell
                A[:, 2, 3] = 1
                A[:, 3, 0] = nd["As"] * nd["U"]
                A[:, 3, 1] = nd["Vg"] * nd["U"]
                A[:, 3, 2] = lam
                A[:, 3, 3] = -(nd["U"] + ell - 2)
            rate = np.maximum(rate, np.abs(np.linalg.eigvals(A)).max(axis=1))
    return rate


class _Mesh:
    """RK4 steps from x_start to the top point: node values and midpoint values of the coefficients."""

    def __init__(self, co: _Coefficients, x_start: float, rate: np.ndarray, hk: float):
        i0 = max(int(np.searchsorted(co.x, x_start)) - 1, 0)
        t_nat = co.t[i0:]
        r_int = np.maximum(rate[i0:-1], rate[i0 + 1 :])
        nsub = np.maximum(1, np.ceil(np.diff(t_nat) * r_int / hk)).astype(int)
        pieces = [np.linspace(t_nat[k], t_nat[k + 1], nsub[k] + 1)[:-1] for k in range(len(nsub))]
        t = np.concatenate(pieces + [t_nat[-1:]])
        self.t = t
        self.h = np.diff(t)
        # index in t of each model point used (for eigenfunction output)
        self.native_index = np.concatenate([[0], np.cumsum(nsub)])
        self.native_first = i0
        tm = 0.5 * (t[:-1] + t[1:])
        node = co.at(t)
        mid = co.at(tm)
        self.node = [tuple(float(node[k][i]) for k in co.names) for i in range(len(t))]
        self.mid = [tuple(float(mid[k][i]) for k in co.names) for i in range(len(tm))]
        self.x = np.exp(t)

    def __len__(self) -> int:
        return len(self.t)


class _System:
    """The oscillation equations for a batch: degrees ``ell`` (G,1), omega~^2 ``w2`` (G,F)."""

    def __init__(self, ell: np.ndarray, w2: np.ndarray, order: int, radial: bool):
        self.l = ell[:, None].astype(float)
        self.lam = self.l * (self.l + 1)
        self.w2 = w2
        self.lam_w2 = self.lam / w2
        self.order = order
        self.radial = radial

    def rhs(self, y: np.ndarray, c: tuple[float, float, float, float], out: np.ndarray) -> np.ndarray:
        Vg, U, c1, As = c
        l = self.l
        w = c1 * self.w2
        lw = self.lam_w2 * (1.0 / c1)
        y0, y1 = y[0], y[1]
        if self.order == 4:
            y2, y3 = y[2], y[3]
            out[0] = (Vg - 1 - l) * y0 + (lw - Vg) * y1 + lw * y2
            out[1] = (w - As) * y0 + (3 - U + As - l) * y1 - y3
            out[2] = (3 - U - l) * y2 + y3
            out[3] = (As * U) * y0 + (Vg * U) * y1 + self.lam * y2 - (U + l - 2) * y3
        else:
            a21 = w - As + U if self.radial else w - As
            out[0] = (Vg - 1 - l) * y0 + (lw - Vg) * y1
            out[1] = a21 * y0 + (3 - U + As - l) * y1
        return out

    def start(self, c1: float) -> np.ndarray:
        """Solutions allowed by the central regularity conditions, shape (order, nsol, G, F)."""
        G, F = self.w2.shape
        lw = np.broadcast_to(self.l / (c1 * self.w2), (G, F))
        if self.order == 4:
            y = np.zeros((4, 2, G, F))
            y[0, 0] = lw
            y[1, 0] = 1.0
            y[0, 1] = lw
            y[2, 1] = 1.0
            y[3, 1] = self.l
        else:
            y = np.zeros((2, 1, G, F))
            y[0, 0] = 0.0 if self.radial else lw
            y[1, 0] = 1.0
        return y

    def surface_rows(self, c: tuple[float, float, float, float]) -> np.ndarray:
        """Outer boundary conditions, shape (nrows, order, G, F): isothermal atmosphere (+ potential)."""
        Vg, U, c1, As = c
        w = c1 * self.w2
        lw = self.lam / w
        a11 = Vg - 3.0
        a12 = lw - Vg
        a21 = w - As
        a22 = As + 1.0
        tr = a11 + a22
        disc = (a11 - a22) ** 2 + 4.0 * a12 * a21
        chi = 0.5 * (tr - np.sqrt(np.maximum(disc, 0.0)))
        G, F = self.w2.shape
        if self.order == 2:
            rows = np.zeros((1, 2, G, F))
            rows[0, 0] = chi - a11
            rows[0, 1] = -a12
            return rows
        rows = np.zeros((2, 4, G, F))
        rows[0, 0] = chi - a11
        rows[0, 1] = -a12
        rows[0, 2] = a12 * (lw - self.l - 1.0) / (As + Vg)
        rows[1, 0] = U
        rows[1, 2] = self.l + 1.0
        rows[1, 3] = 1.0
        return rows


def _orthonormalise(y: np.ndarray) -> np.ndarray:
    """Gram-Schmidt of the solution columns in place; returns R (nsol, nsol, G, F), y_old = y_new R."""
    nsol = y.shape[1]
    R = np.zeros((nsol, nsol) + y.shape[2:])
    u = y[:, 0]
    nu_ = np.sqrt(np.sum(u * u, axis=0))
    y[:, 0] = u / nu_
    R[0, 0] = nu_
    if nsol == 2:
        proj = np.sum(y[:, 0] * y[:, 1], axis=0)
        v = y[:, 1] - proj * y[:, 0]
        nv = np.sqrt(np.sum(v * v, axis=0))
        y[:, 1] = v / nv
        R[0, 1] = proj
        R[1, 1] = nv
    return R


def _integrate(mesh: _Mesh, system: _System, keep: bool = False, renorm: int = 4):
    """RK4 from the inner to the top point; returns D (G,F) and, if ``keep``, the path and R factors."""
    y = system.start(mesh.node[0][2])
    k1, k2, k3, k4 = (np.empty_like(y) for _ in range(4))
    path = [] if keep else None
    Rs = {}
    if keep:
        path.append(y.copy())
    for i, h in enumerate(mesh.h.tolist()):
        cn, cm, c2 = mesh.node[i], mesh.mid[i], mesh.node[i + 1]
        system.rhs(y, cn, k1)
        system.rhs(y + (0.5 * h) * k1, cm, k2)
        system.rhs(y + (0.5 * h) * k2, cm, k3)
        system.rhs(y + h * k3, c2, k4)
        y = y + (h / 6.0) * (k1 + 2.0 * (k2 + k3) + k4)
        if keep:
            path.append(y.copy())
        if (i + 1) % renorm == 0 or i == len(mesh.h) - 1:
            R = _orthonormalise(y)
            if keep:
                Rs[i + 1] = R
    rows = system.surface_rows(mesh.node[-1])
    M = np.einsum("rkgf,ksgf->rsgf", rows, y)  # (nrows, nsol, G, F)
    if M.shape[0] == 1:
        D = M[0, 0]
    else:
        D = M[0, 0] * M[1, 1] - M[0, 1] * M[1, 0]
    if not keep:
        return D
    return D, M, np.array(path), Rs


def _null_vector(M: np.ndarray) -> np.ndarray:
    """Coefficients c (nsol, G, F) with M c = 0 at a root (use the better-conditioned row)."""
    if M.shape[1] == 1:
        return np.ones((1,) + M.shape[2:])
    n0 = np.hypot(M[0, 0], M[0, 1])
    n1 = np.hypot(M[1, 0], M[1, 1])
    use0 = n0 >= n1
    a = np.where(use0, M[0, 0], M[1, 0])
    b = np.where(use0, M[0, 1], M[1, 1])
    return np.stack([b, -a])


def _solution_on_path(path: np.ndarray, Rs: dict[int, np.ndarray], c_top: np.ndarray) -> np.ndarray:
    """The one solution y (nsteps, order, G, F) from the stored basis and the surface coefficients.

    ``path[i]`` holds the basis after step i, before any re-orthonormalisation at i; ``Rs[i]`` is the
    factor of that re-orthonormalisation (basis_before = basis_after R). Walking back from the top,
    c <- R^-1 c gives the coefficients valid on each segment between re-orthonormalisations.
    """
    out = np.empty((path.shape[0], path.shape[1]) + path.shape[3:])
    c = c_top
    marks = sorted(Rs)
    for j in range(len(marks) - 1, -1, -1):
        R = Rs[marks[j]]
        if R.shape[0] == 1:
            c = c / R[0, 0]
        else:
            c1 = c[1] / R[1, 1]
            c0 = (c[0] - R[0, 1] * c1) / R[0, 0]
            c = np.stack([c0, c1])
        lo = marks[j - 1] + 1 if j > 0 else 0
        out[lo : marks[j] + 1] = np.einsum("nksgf,sgf->nkgf", path[lo : marks[j] + 1], c)
    return out


def radial_order(ell: int, y1: np.ndarray, yh: np.ndarray) -> int:
    """Eckart-Scuflaire-Osaki-Takata radial order from y1 and y_h = y2 + y3 along r (outwards).

    A node of y1 where y1 goes + -> - with y_h >= 0, or - -> + with y_h <= 0, is a p-type winding;
    any other node is g-type. l >= 1: n = n_p - n_g; l = 0: n = n_p + n_g + 1 (SCIENCE.md §2).
    For l = 1 Takata's rule (n_p - n_g + 1, on his dipole variables) is what ADIPLS tables follow;
    counted on y1 and y2 + y3 instead, the winding near the centre that his +1 accounts for is
    already included, and n_p - n_g reproduces the ADIPLS numbering of every l = 1 mode from
    1 to 5.5 mHz (tests/test_eigen.py). Mixed l = 1 modes (below ~0.3 mHz in the Sun) are not covered.
    """
    s = np.sign(y1)
    idx = np.nonzero(s[:-1] * s[1:] < 0)[0]
    n_p = n_g = 0
    for i in idx:
        f = y1[i] / (y1[i] - y1[i + 1])
        yh_node = yh[i] + f * (yh[i + 1] - yh[i])
        down = y1[i] > 0
        if (down and yh_node >= 0) or ((not down) and yh_node <= 0):
            n_p += 1
        else:
            n_g += 1
    if ell == 0:
        return n_p + n_g + 1
    return n_p - n_g


def _illinois(f, a: np.ndarray, b: np.ndarray, fa: np.ndarray, fb: np.ndarray, xtol: float, maxiter: int = 60):
    """Vectorised regula falsi (Illinois variant) on brackets [a, b] with f(a) f(b) < 0."""
    side = np.zeros(a.shape, dtype=int)
    c_prev = np.full(a.shape, np.inf)
    for _ in range(maxiter):
        c = (a * fb - b * fa) / (fb - fa)
        bad = ~np.isfinite(c) | (c <= np.minimum(a, b)) | (c >= np.maximum(a, b))
        c = np.where(bad, 0.5 * (a + b), c)
        fc = f(c)
        left = np.sign(fc) == np.sign(fa)
        # replace the endpoint with the same sign; halve the other's value if it is kept twice
        a_new = np.where(left, c, a)
        fa_new = np.where(left, fc, np.where(side == -1, 0.5 * fa, fa))
        b_new = np.where(left, b, c)
        fb_new = np.where(left, np.where(side == 1, 0.5 * fb, fb), fc)
        side = np.where(left, 1, -1)
        a, b, fa, fb = a_new, b_new, fa_new, fb_new
        if np.all((np.abs(b - a) < xtol) | (np.abs(c - c_prev) < xtol)):
            break
        c_prev = c
        done = fc == 0
        if np.any(done):
            a = np.where(done, c, a)
            b = np.where(done, c, b)
    return np.where(np.abs(fa) < np.abs(fb), a, b)


def solve_modes(
    model: SolarModel,
    ells,
    numin: float = 1000.0,
    numax: float = 5500.0,
    *,
    cowling: bool = False,
    dnu_scan: float = 20.0,
    hk: float = 0.3,
    group: int = 12,
    eigenfunctions: bool = True,
    progress=None,
) -> ModeSet:
    """All modes with degree in ``ells`` and numin <= nu <= numax (microhertz).

    Parameters
    ----------
    cowling : drop the potential perturbation (second-order system); l = 0 is always exact.
    dnu_scan : frequency step (uHz) of the bracketing grid; must be below the mode spacing.
    hk : accuracy knob, the largest h * |local eigenvalue| of an RK4 step (0.15 and 0.4 agree to 1e-4 uHz on
        Model S, whose own mesh then sets most steps).
    group : degrees integrated together on one mesh (speed: numpy works on all of them at once).
    eigenfunctions : also return xi_r, xi_h on the model's points (needed for kernels).
    progress : optional callable(done_degrees, total_degrees).
    """
    ells = np.unique(np.asarray(ells, dtype=int))
    if len(ells) == 0 or ells.min() < 0:
        raise EigenError(f"degrees must be >= 0, got {ells.tolist()[:5]}...")
    if not (0 < numin < numax):
        raise EigenError(f"need 0 < numin < numax (uHz), got numin={numin}, numax={numax}")
    if dnu_scan <= 0 or hk <= 0:
        raise EigenError("dnu_scan and hk must be positive")
    co = _Coefficients(model)
    to_w2 = lambda nu: (2 * np.pi * nu * 1e-6 / co.omega_scale) ** 2  # noqa: E731
    nu_grid = np.arange(numin, numax + dnu_scan, dnu_scan)
    nu_grid[-1] = min(nu_grid[-1], numax)
    nu_grid = nu_grid[nu_grid <= numax]
    if nu_grid[-1] < numax:
        nu_grid = np.append(nu_grid, numax)
    out_l, out_n, out_nu, out_xr, out_xh = [], [], [], [], []
    # l = 0 alone (radial system), then groups of nonradial degrees
    batches = []
    if ells[0] == 0:
        batches.append(np.array([0]))
    rest = ells[ells > 0]
    for k in range(0, len(rest), group):
        batches.append(rest[k : k + group])
    sigma_max = 2 * np.pi * numax * 1e-6
    done = 0
    for batch in batches:
        radial = batch[0] == 0
        order = 2 if (cowling or radial) else 4
        lmin = float(batch.min())
        if radial:
            x_start = co.x[0]
        else:
            xt = co.turning_point(lmin, sigma_max)
            x_start = max(co.x[0], xt * min(0.5, 10 ** (-6.0 / lmin)))
        rate = _local_rate(co, np.unique([batch.min(), batch.max()]), [to_w2(numin), to_w2(numax)], order)
        mesh = _Mesh(co, x_start, rate, hk)
        G = len(batch)
        w2g = np.broadcast_to(to_w2(nu_grid)[None, :], (G, len(nu_grid))).copy()
        D = _integrate(mesh, _System(batch, w2g, order, radial))
        sign = np.sign(D)
        gi, fi = np.nonzero(sign[:, :-1] * sign[:, 1:] < 0)
        if len(gi) == 0:
            done += G
            continue
        a = nu_grid[fi]
        b = nu_grid[fi + 1]
        fa = D[gi, fi]
        fb = D[gi, fi + 1]
        lb = batch[gi]
        # refine every bracket of the batch together: brackets become the F axis of one degree row each
        def D_of(nu, lb=lb):
            sys_ = _System(lb, to_w2(nu)[:, None], order, radial)
            return _integrate(mesh, sys_)[:, 0]

        # normalise the function values: regula falsi only needs signs and ratios
        nu_root = _illinois(D_of, a, b, fa, fb, xtol=1e-6)
        sys_ = _System(lb, to_w2(nu_root)[:, None], order, radial)
        _, M, path, Rs = _integrate(mesh, sys_, keep=True)
        c_top = _null_vector(M)
        y = _solution_on_path(path, Rs, c_top)[:, :, :, 0]  # (nsteps, order, nmodes)
        yh = y[:, 1] + (y[:, 2] if order == 4 else 0.0)
        for j in range(len(lb)):
            n = radial_order(int(lb[j]), y[:, 0, j], yh[:, j])
            out_l.append(int(lb[j]))
            out_n.append(n)
            out_nu.append(float(nu_root[j]))
        if eigenfunctions:
            xr, xh = _eigenfunctions(co, mesh, y, lb, to_w2(nu_root), model.R)
            out_xr.append(xr)
            out_xh.append(xh)
        done += G
        if progress is not None:
            progress(done, len(ells))
    order_ = np.lexsort((np.array(out_nu), np.array(out_l))) if out_l else np.array([], dtype=int)
    npts = len(co.x)
    xr_all = np.concatenate(out_xr)[order_] if out_xr else np.zeros((len(out_l) if not eigenfunctions else 0, npts))
    xh_all = np.concatenate(out_xh)[order_] if out_xh else np.zeros_like(xr_all)
    return ModeSet(
        l=np.array(out_l, dtype=int)[order_],
        n=np.array(out_n, dtype=int)[order_],
        nu=np.array(out_nu)[order_],
        r=co.r,
        rho=co.rho,
        xi_r=xr_all,
        xi_h=xh_all,
        R=model.R,
    )


def _eigenfunctions(co, mesh, y, lb, w2, R):
    """xi_r, xi_h (nmodes, npoints) on the model's points, inertia-normalised (int (xi_r^2+L^2 xi_h^2) rho r^2 dr = 1)."""
    idx = mesh.native_index
    first = mesh.native_first
    x = co.x[first:]
    c1 = co.nodes["c1"][first:]
    yn = y[idx]  # (npoints_used, order, nmodes)
    nm = len(lb)
    npts = len(co.x)
    xr = np.zeros((nm, npts))
    xh = np.zeros((nm, npts))
    for j in range(nm):
        ell = float(lb[j])
        lnx = (ell - 1.0) * np.log(x)
        # combine the power of x in logs so high-l values do not overflow before normalising
        y1 = yn[:, 0, j]
        yhh = (yn[:, 1, j] + (yn[:, 2, j] if yn.shape[1] == 4 else 0.0)) / (c1 * w2[j])
        big = lnx.max()
        fac = np.exp(lnx - big)
        xr[j, first:] = y1 * fac
        xh[j, first:] = yhh * fac
    L2 = lb * (lb + 1.0)
    w = co.rho * co.r**2
    inertia = np.trapezoid((xr**2 + L2[:, None] * xh**2) * w[None, :], co.r, axis=1)
    norm = 1.0 / np.sqrt(inertia)
    return xr * norm[:, None], xh * norm[:, None]


def photospheric_inertia(ms: ModeSet, M: float) -> np.ndarray:
    """Mode inertia E = I / (M xi_r(R)^2) with the displacement taken at the photosphere (r = R).

    The usual normalisation for comparing modes of different degree: near-surface effects (the
    model's outer layers, the surface condition) shift a mode's frequency by F(nu) / Q with
    Q = E / E_0(nu) (:func:`inertia_ratio`), F a function of frequency only.
    """
    top = np.array([np.interp(ms.R, ms.r, row) for row in ms.xi_r])
    return 1.0 / (M * top**2)  # eigenfunctions have unit inertia


def inertia_ratio(l: np.ndarray, nu: np.ndarray, inertia: np.ndarray, reach: float = 150.0) -> np.ndarray:
    """Q = E / E_0(nu): each mode's inertia over the radial modes' inertia at the same frequency.

    log E_0 is interpolated linearly in nu between the l = 0 modes among the given ones, and
    extrapolated from the end segments at most ``reach`` uHz (about one radial spacing) beyond them.
    """
    l, nu, inertia = (np.asarray(v, dtype=float) for v in (l, nu, inertia))
    radial = l == 0
    if radial.sum() < 2:
        raise EigenError("inertia_ratio needs at least two radial (l = 0) modes to interpolate E_0(nu)")
    order = np.argsort(nu[radial])
    nu0, loge0 = nu[radial][order], np.log(inertia[radial][order])
    if nu.min() < nu0[0] - reach or nu.max() > nu0[-1] + reach:
        raise EigenError(f"radial modes span {nu0[0]:.0f}-{nu0[-1]:.0f} uHz; modes asked about span "
                         f"{nu.min():.0f}-{nu.max():.0f} (at most {reach:g} uHz beyond)")
    loge = np.interp(nu, nu0, loge0)
    lo, hi = nu < nu0[0], nu > nu0[-1]
    loge[lo] = loge0[0] + (nu[lo] - nu0[0]) * (loge0[1] - loge0[0]) / (nu0[1] - nu0[0])
    loge[hi] = loge0[-1] + (nu[hi] - nu0[-1]) * (loge0[-1] - loge0[-2]) / (nu0[-1] - nu0[-2])
    return inertia / np.exp(loge)
