"""Rotation kernels of the odd a-coefficients (SCIENCE.md §3), from the eigenfunctions of :mod:`eigen`.

For rotation Omega(r, theta) = sum_{s odd} Omega_s(r) P_s'(cos theta) the a-coefficients in the
JSOC normalisation (P_s^(l)(l) = l) are

    a_s(n, l) = c(l, s) int_0^R K_nls(r) Omega_s(r)/2pi dr
    K_nls     = [xi_r^2 - 2 xi_r xi_h + xi_h^2 (L^2 - s(s+1)/2)] rho r^2 / I_nl

so each mode needs only two radial functions, ``A`` = (xi_r^2 - 2 xi_r xi_h + L^2 xi_h^2) rho r^2/I
and ``B`` = xi_h^2 rho r^2/I, with K_nls = A - s(s+1)/2 B. Kernels here are per unit x = r/R
(multiplied by R), so integrals run over x.
"""

from __future__ import annotations

from functools import lru_cache
from math import lgamma

import numpy as np

from globalhs.science.apols import apols

__all__ = ["kernel_parts", "ledoux", "c_ls", "apol_at_one", "hat_matrix", "project", "ODD_S"]

#: The odd a-coefficient indices a rotation inversion uses (a_1 .. a_35).
ODD_S = tuple(range(1, 36, 2))


def kernel_parts(l, xi_r: np.ndarray, xi_h: np.ndarray, rho: np.ndarray, r: np.ndarray, R: float):
    """(A, B), each (nmodes, npoints), per unit r/R: K_nls = A - s(s+1)/2 * B, normalised by I_nl."""
    l = np.asarray(l, dtype=float)[:, None]
    L2 = l * (l + 1.0)
    w = rho * r**2
    inertia = np.trapezoid((xi_r**2 + L2 * xi_h**2) * w, r, axis=1)[:, None]
    scale = w * R / inertia
    A = (xi_r**2 - 2.0 * xi_r * xi_h + L2 * xi_h**2) * scale
    B = xi_h**2 * scale
    return A, B


def ledoux(l, xi_r: np.ndarray, xi_h: np.ndarray, rho: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Ledoux constant C_nl = int (2 xi_r xi_h + xi_h^2) rho r^2 dr / int (xi_r^2 + L^2 xi_h^2) rho r^2 dr."""
    l = np.asarray(l, dtype=float)[:, None]
    w = rho * r**2
    num = np.trapezoid((2.0 * xi_r * xi_h + xi_h**2) * w, r, axis=1)
    den = np.trapezoid((xi_r**2 + l * (l + 1.0) * xi_h**2) * w, r, axis=1)
    return num / den


@lru_cache(maxsize=1024)
def _apols_at_one(l: int) -> tuple[float, ...]:
    return tuple(apols(l, 36, np.array([1.0]))[:, 0].tolist())


def apol_at_one(l: int, s: int) -> float:
    """The a-coefficient polynomial P_s^(l)(m) at m = 1 (P_s(l) = l; :mod:`globalhs.science.apols`)."""
    if s > 2 * l:
        return 0.0
    if s <= 36:
        return _apols_at_one(int(l))[s]
    return float(apols(l, s, np.array([1.0]))[s, 0])


def c_ls(l: int, s: int) -> float:
    """c(l, s) = P_s^(l)(1) (2l+2)! (2l-1)! / [(2l+s+1)! (2l-s)!]; 0 when s > 2l (no such a_s)."""
    if l < 1 or s > 2 * l:
        return 0.0
    logf = lgamma(2 * l + 3) + lgamma(2 * l) - lgamma(2 * l + s + 2) - lgamma(2 * l - s + 1)
    return apol_at_one(l, s) * float(np.exp(logf))


def hat_matrix(x_points: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """Values of the piecewise-linear hat functions of ``grid`` at ``x_points``, shape (npoints, ngrid).

    The hats sum to one on [grid[0], grid[-1]] (a function given on the grid is interpolated linearly).
    """
    H = np.zeros((len(x_points), len(grid)))
    j = np.clip(np.searchsorted(grid, x_points) - 1, 0, len(grid) - 2)
    f = (x_points - grid[j]) / (grid[j + 1] - grid[j])
    inside = (x_points >= grid[0]) & (x_points <= grid[-1])
    rows = np.nonzero(inside)[0]
    H[rows, j[rows]] = 1.0 - f[rows]
    H[rows, j[rows] + 1] = f[rows]
    return H


def project(parts: np.ndarray, x_points: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """int parts(x) phi_i(x) dx for each hat phi_i of ``grid`` (trapezoid on ``x_points``), (nmodes, ngrid)."""
    w = np.zeros_like(x_points)
    dx = np.diff(x_points)
    w[:-1] += 0.5 * dx
    w[1:] += 0.5 * dx
    return (parts * w) @ hat_matrix(x_points, grid)
