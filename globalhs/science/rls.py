"""2D regularised least-squares (RLS) rotation inversion of odd a-coefficients (SCIENCE.md §7).

Rotation is represented as Omega(r, x) = sum_{s odd} Omega_s(r) P_s'(x), x = cos(theta), with each
Omega_s piecewise linear in r on a radius grid (hat functions phi_i). Because a_s depends on Omega_s
only (SCIENCE.md §3), the data misfit is block diagonal in s; the latitude smoothing couples the s
at each radius. The unknowns are the n_s * n_r values Omega_s(r_i), solved as one dense symmetric
positive-definite system:

    (F + mu_r R_r + mu_t R_t) w = sum_s G_s^T W_s a_s,    F = blockdiag_s(G_s^T W_s G_s)

with R_r from int int (d^2 Omega/dr^2)^2 dr dx and R_t from int int (d^2 Omega/dtheta^2)^2 dr dx
(x quadrature over the hemisphere 0 <= x <= 1; Omega is symmetric). Units: a and Omega/2pi in nHz,
r in units of the model radius. Covariance Cov(w) = H^-1 F H^-1; resolution matrix H^-1 F.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.polynomial import legendre as npleg
from scipy.interpolate import CubicSpline
from scipy.linalg import cho_factor, cho_solve

__all__ = [
    "RLSError",
    "RLSResult",
    "legendre_derivative",
    "latitude_basis",
    "omega_s_from_map",
    "omega_map_from_s",
    "second_difference",
    "rls_invert",
    "averaging_kernel",
    "averaging_kernels",
]


class RLSError(ValueError):
    """Inconsistent inversion input; the message names the array and the expected shape."""


def legendre_derivative(s: int, x: np.ndarray, k: int = 1) -> np.ndarray:
    """k-th derivative of the Legendre polynomial P_s at x (Clenshaw on the derivative series)."""
    coef = np.zeros(s + 1)
    coef[s] = 1.0
    return npleg.legval(x, npleg.legder(coef, k)) if k <= s else np.zeros_like(np.asarray(x, dtype=float))


def latitude_basis(s_list, colat_deg) -> np.ndarray:
    """P_s'(cos theta) for each colatitude (rows) and s (columns)."""
    x = np.cos(np.radians(np.asarray(colat_deg, dtype=float)))
    return np.stack([legendre_derivative(s, x) for s in s_list], axis=1)


def _theta2_basis(s_list, x: np.ndarray) -> np.ndarray:
    """d^2/dtheta^2 of P_s'(cos theta) = sin^2 P_s''' - cos P_s'' at x = cos theta."""
    sin2 = 1.0 - x**2
    return np.stack([sin2 * legendre_derivative(s, x, 3) - x * legendre_derivative(s, x, 2) for s in s_list], axis=1)


def omega_s_from_map(omega: np.ndarray, colat_deg: np.ndarray, s_list, nquad: int = 200) -> np.ndarray:
    """Omega_s(r) = (2s+1)/(2s(s+1)) int_{-1}^{1} Omega P_s' (1 - x^2) dx from a hemisphere map.

    ``omega`` is (nr, ncolat) on colatitudes from 0 (pole) to 90 (equator), symmetric about the
    equator; it is mirrored and interpolated in theta with a cubic spline. Returns (nr, ns).
    """
    colat = np.asarray(colat_deg, dtype=float)
    if omega.ndim != 2 or omega.shape[1] != len(colat):
        raise RLSError(f"rotation map has shape {omega.shape}; expected (nr, {len(colat)}) for the colatitudes given")
    if abs(colat[0]) > 1e-9 or abs(colat[-1] - 90.0) > 1e-9:
        raise RLSError("rotation map colatitudes must run from 0 (pole) to 90 (equator)")
    theta = np.concatenate([colat, 180.0 - colat[-2::-1]])
    values = np.concatenate([omega, omega[:, -2::-1]], axis=1)
    spline = CubicSpline(theta, values, axis=1)
    xq, wq = npleg.leggauss(nquad)
    om_q = spline(np.degrees(np.arccos(xq)))  # (nr, nquad)
    out = []
    for s in s_list:
        f = legendre_derivative(s, xq) * (1.0 - xq**2) * wq
        out.append((2 * s + 1) / (2.0 * s * (s + 1)) * om_q @ f)
    return np.stack(out, axis=1)


def omega_map_from_s(omega_s: np.ndarray, colat_deg, s_list) -> np.ndarray:
    """Omega(r, theta) = sum_s Omega_s(r) P_s'(cos theta), (nr, ncolat)."""
    return omega_s @ latitude_basis(s_list, colat_deg).T


def second_difference(r: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """D2 ((n-2) x n), the second derivative on a non-uniform grid, and the quadrature weight of each row."""
    n = len(r)
    D = np.zeros((n - 2, n))
    for i in range(1, n - 1):
        h0, h1 = r[i] - r[i - 1], r[i + 1] - r[i]
        D[i - 1, i - 1] = 2.0 / (h0 * (h0 + h1))
        D[i - 1, i] = -2.0 / (h0 * h1)
        D[i - 1, i + 1] = 2.0 / (h1 * (h0 + h1))
    w = 0.5 * (r[2:] - r[:-2])
    return D, w


@dataclass
class RLSResult:
    """Solution on the radius grid: Omega_s(r_i), their covariance blocks, and what makes the solution."""

    r: np.ndarray
    s_list: tuple
    omega_s: np.ndarray  # (nr, ns)
    cov_blocks: np.ndarray  # (nr, ns, ns): covariance of Omega_s at each radius
    chi2: float
    ndata: int
    mu_r: float
    mu_t: float
    _hinv: np.ndarray = field(repr=False, default=None)
    _fisher: np.ndarray = field(repr=False, default=None)

    def omega_map(self, colat_deg) -> np.ndarray:
        return omega_map_from_s(self.omega_s, colat_deg, self.s_list)

    def error_map(self, colat_deg) -> np.ndarray:
        """1-sigma error of Omega(r_i, theta_j) propagated from the a-coefficient errors."""
        T = latitude_basis(self.s_list, colat_deg)  # (nt, ns)
        var = np.einsum("js,isu,ju->ij", T, self.cov_blocks, T)
        return np.sqrt(np.maximum(var, 0.0))


def rls_invert(
    blocks: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]],
    r: np.ndarray,
    mu_r: float,
    mu_t: float,
    *,
    nquad: int = 64,
    radial_weight: np.ndarray | None = None,
    latitude_measure: str = "cos",
    radial_coordinate: np.ndarray | None = None,
) -> RLSResult:
    """Solve the 2D RLS problem.

    Parameters
    ----------
    blocks : {s: (G_s, a_s, sigma_s)} with G_s (N_s, nr) = c(l,s) int K_nls phi_i dx for each datum,
        a_s (N_s,) observed a-coefficients (nHz) and sigma_s (N_s,) their errors (> 0).
    r : radius grid (fractions of R), increasing.
    mu_r, mu_t : tradeoff parameters of the radial and latitudinal second-derivative penalties.
    radial_weight : optional weight w_r(r_i) of both penalties (e.g. stronger smoothing in the core).
    latitude_measure : "cos" integrates the latitudinal penalty over x = cos(theta) (default),
        "theta" over theta (d theta = dx / sin theta: more weight near the pole).
    radial_coordinate : optional u(r_i), increasing, in which the radial second derivative is taken
        (e.g. acoustic radius); default r itself.
    """
    r = np.asarray(r, dtype=float)
    nr = len(r)
    if nr < 3 or np.any(np.diff(r) <= 0):
        raise RLSError("radius grid must be increasing with at least 3 points")
    if mu_r < 0 or mu_t < 0:
        raise RLSError(f"tradeoff parameters must be >= 0, got mu_r={mu_r}, mu_t={mu_t}")
    if latitude_measure not in ("cos", "theta"):
        raise RLSError(f"latitude_measure={latitude_measure!r}: expected 'cos' or 'theta'")
    u = r if radial_coordinate is None else np.asarray(radial_coordinate, dtype=float)
    if u.shape != r.shape or np.any(np.diff(u) <= 0):
        raise RLSError(f"radial_coordinate must be increasing with the radius grid's shape {r.shape}")
    s_list = tuple(sorted(blocks))
    if not s_list:
        raise RLSError("no a-coefficient data to invert")
    ns = len(s_list)
    nunk = ns * nr
    F = np.zeros((nunk, nunk))
    rhs = np.zeros(nunk)
    ndata = 0
    for j, s in enumerate(s_list):
        G, a, sig = blocks[s]
        if G.shape != (len(a), nr) or sig.shape != a.shape:
            raise RLSError(f"a_{s}: kernel matrix {G.shape}, data {a.shape}, errors {sig.shape}; expected (N, {nr}), (N,), (N,)")
        if np.any(~(sig > 0)):
            raise RLSError(f"a_{s}: errors must be positive")
        Gw = G / sig[:, None]
        sl = slice(j * nr, (j + 1) * nr)
        F[sl, sl] = Gw.T @ Gw
        rhs[sl] = Gw.T @ (a / sig)
        ndata += len(a)
    # latitude quadrature on the hemisphere (Omega symmetric): Gauss-Legendre on 0 <= x <= 1
    xq, wq = npleg.leggauss(2 * nquad)
    keep = xq > 0
    xq, wq = xq[keep], wq[keep]
    P = np.stack([legendre_derivative(s, xq) for s in s_list], axis=1)  # (nq, ns)
    T2 = _theta2_basis(s_list, xq)
    Mx = (P * wq[:, None]).T @ P
    wt = wq / np.sqrt(1.0 - xq**2) if latitude_measure == "theta" else wq
    Mt = (T2 * wt[:, None]).T @ T2
    D2, wd = second_difference(u)
    wr = np.ones(nr) if radial_weight is None else np.asarray(radial_weight, dtype=float)
    Rr = D2.T @ ((wd * wr[1:-1])[:, None] * D2)
    dr = np.gradient(r)
    Rt = np.diag(dr * wr)
    H = F + mu_r * np.kron(Mx, Rr) + mu_t * np.kron(Mt, Rt)
    try:
        cf = cho_factor(H, lower=False, check_finite=True)
    except np.linalg.LinAlgError:
        raise RLSError("normal matrix is singular: add regularisation (mu_r, mu_t > 0) or data") from None
    w = cho_solve(cf, rhs)
    hinv = cho_solve(cf, np.eye(nunk))
    Y = np.empty_like(hinv)  # F H^-1, using that F is block diagonal in s
    for j in range(ns):
        sl = slice(j * nr, (j + 1) * nr)
        Y[sl] = F[sl, sl] @ hinv[sl]
    # covariance blocks at each radius: Cov = H^-1 F H^-1
    Hr = np.ascontiguousarray(hinv.reshape(ns, nr, nunk).transpose(1, 0, 2))  # (nr, ns, nunk)
    Yr = np.ascontiguousarray(Y.reshape(nunk, ns, nr).transpose(2, 0, 1))  # (nr, nunk, ns)
    cov_blocks = np.matmul(Hr, Yr)  # (nr, ns, ns): the diagonal-in-radius blocks of H^-1 F H^-1
    chi2 = 0.0
    for j, s in enumerate(s_list):
        G, a, sig = blocks[s]
        chi2 += float(np.sum(((G @ w[j * nr : (j + 1) * nr] - a) / sig) ** 2))
    return RLSResult(
        r=r, s_list=s_list, omega_s=w.reshape(ns, nr).T, cov_blocks=cov_blocks, chi2=chi2, ndata=ndata,
        mu_r=mu_r, mu_t=mu_t, _hinv=hinv, _fisher=F,
    )


def averaging_kernel(result: RLSResult, r0: float, colat0_deg: float, colat_deg) -> np.ndarray:
    """Averaging kernel of the solution at (r0, colat0) on (result.r, colat_deg), per unit x = cos(theta).

    Omega_hat(r0, theta0) = sum_i int_{-1}^{1} K(r_i, x) Omega(r_i, x) dx for the rotation the data
    came from (in the inversion's basis); the values returned are K(r_i, x_j) (symmetric in x, so the
    hemisphere integral is half the total). For a well-resolved point K peaks at the target and
    sum_i int K dx = 1. ``r0`` is taken at the nearest grid radius.
    """
    return averaging_kernels(result, [(r0, colat0_deg)], colat_deg)[0]


def averaging_kernels(result: RLSResult, targets, colat_deg) -> np.ndarray:
    """Averaging kernels (ntargets, nr, ncolat) for targets [(r0, colat0_deg), ...] (see averaging_kernel)."""
    nr, ns = len(result.r), len(result.s_list)
    T0 = np.zeros((len(targets), ns * nr))
    for k, (r0, c0) in enumerate(targets):
        i0 = int(np.argmin(np.abs(result.r - r0)))
        T0[k, np.arange(ns) * nr + i0] = latitude_basis(result.s_list, [c0])[0]
    q = (T0 @ result._hinv) @ result._fisher  # rows of the resolution matrix H^-1 F (both symmetric)
    q = q.reshape(len(targets), ns, nr).transpose(0, 2, 1)  # (nt, nr, ns)
    x = np.cos(np.radians(np.asarray(colat_deg, dtype=float)))
    s = np.array(result.s_list, dtype=float)
    fac = (2 * s + 1) / (2 * s * (s + 1))
    basis = latitude_basis(result.s_list, colat_deg) * (1.0 - x**2)[:, None] * fac[None, :]
    return q @ basis.T
