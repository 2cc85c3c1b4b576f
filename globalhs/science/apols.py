"""The a-coefficient polynomials of Schou, Christensen-Dalsgaard & Thompson (1994).

For a multiplet of degree l the frequencies of its 2l+1 components are written

    nu_nlm = nu_nl + sum_{i>=1} a_i P_i^(l)(m),     m = -l..l,

with P_i^(l) the discrete orthogonal polynomials of degree i in m (orthogonal under the plain sum over
m = -l..l, i.e. the discrete Chebyshev/Gram polynomials on N = 2l+1 points) normalised so that
P_i^(l)(l) = l.  P_0 = l, P_1 = m.  There are 2l+1 of them (i = 0..2l); coefficients beyond i = 2l do
not exist and are zero in the JSOC tables.

They are computed from the three-term recurrence of SCIENCE.md section 4

    p_0 = 1, p_1 = m, p_{k+1} = m p_k - beta_k p_{k-1},  beta_k = k^2 (N^2 - k^2) / (4 (4k^2 - 1)),

run on orthonormal vectors over the nodes m = -l..l with re-orthogonalisation (Stieltjes/Lanczos),
then scaled to P_i(l) = l.  The bare recurrence is accurate to i = 36 at l = 300 but not when i
approaches 2l at small l (i = 36 at l = 18 loses 1e-7 of orthogonality); Gram-Schmidt of powers of m
is worse still.
"""

from __future__ import annotations

import functools

import numpy as np

__all__ = ["apols", "frequencies", "acoeffs_from_frequencies", "splittings"]


def apols(l: int, nmax: int, m: np.ndarray | None = None) -> np.ndarray:
    """P_i^(l)(m) for i = 0..nmax, shape (nmax+1, len(m)); rows i > 2l are zero (no such polynomial).

    Parameters
    ----------
    l : int
        Degree (>= 0).
    nmax : int
        Highest polynomial order wanted (e.g. 36).
    m : array, optional
        Where to evaluate; default the 2l+1 integers -l..l (the only points where the polynomials are
        orthogonal, but the recurrence is valid for any real m).
    """
    if l < 0 or nmax < 0:
        raise ValueError(f"apols: need l >= 0 and nmax >= 0, got l={l}, nmax={nmax}")
    nodes = np.arange(-l, l + 1, dtype=float)
    if m is None:
        m = nodes
    m = np.asarray(m, dtype=float)
    out = np.zeros((nmax + 1,) + m.shape)
    if l == 0:
        return out  # P_0 = l = 0: a radial mode has no m dependence at all
    top = min(nmax, 2 * l)
    on_nodes = np.all(m == np.round(m)) and np.all(np.abs(m) <= l)
    if on_nodes:
        full = _orthonormal_on_nodes(l, top)
        q, ends = full[:, (m + l).astype(int)], full[:, -1]
    else:
        q, ends = _orthonormal_recurrence(l, top, m)
    out[: top + 1] = q * (l / ends)[(slice(None),) + (None,) * m.ndim]
    out[0] = l
    if top >= 1:
        out[1] = m  # exactly, so a_1 alone gives a_1 m to the last bit
    return out


def _beta(k: int, n_points: int) -> float:
    """Monic recurrence coefficient beta_k of the Gram polynomials on n_points equispaced points."""
    return k * k * (n_points * n_points - k * k) / (4.0 * (4.0 * k * k - 1.0))


@functools.lru_cache(maxsize=4096)
def _orthonormal_on_nodes(l: int, top: int) -> np.ndarray:
    """Orthonormal Gram vectors q_0..q_top on m = -l..l (sum q_k^2 = 1), q_k(l) > 0.

    Stieltjes/Lanczos with the known coefficients plus full re-orthogonalisation: the bare recurrence
    loses orthogonality once the degree exceeds about 2 sqrt(2l+1) (e.g. i = 36 at l = 18).
    """
    n_points = 2 * l + 1
    m = np.arange(-l, l + 1, dtype=float)
    q = np.zeros((top + 1, n_points))
    q[0] = 1.0 / np.sqrt(n_points)
    for k in range(top):
        v = m * q[k] - (np.sqrt(_beta(k, n_points)) * q[k - 1] if k else 0.0)
        for _ in range(2):  # twice is enough (Kahan-Parlett)
            v -= q[: k + 1].T @ (q[: k + 1] @ v)
        v /= np.linalg.norm(v)
        q[k + 1] = v if v[-1] > 0 else -v
    q.flags.writeable = False  # cached: shared between calls
    return q


def _orthonormal_recurrence(l: int, top: int, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Orthonormal recurrence at arbitrary m (and at m = l); accurate for top <~ 2 sqrt(2l+1)."""
    n_points = 2 * l + 1
    ends = np.array([float(l)])
    q = np.zeros((top + 1,) + m.shape)
    e = np.zeros(top + 1)
    q[0], e[0] = 1.0 / np.sqrt(n_points), 1.0 / np.sqrt(n_points)
    for k in range(top):
        b_next = np.sqrt(_beta(k + 1, n_points))
        b_prev = np.sqrt(_beta(k, n_points)) if k else 0.0
        q[k + 1] = (m * q[k] - (b_prev * q[k - 1] if k else 0.0)) / b_next
        e[k + 1] = ((ends * e[k] - (b_prev * e[k - 1] if k else 0.0)) / b_next)[0]
    return q, e


def frequencies(nu_nl: float, acoeffs: np.ndarray, l: int) -> np.ndarray:
    """nu_nlm for m = -l..l from the mean frequency and a_1..a_N (a in the same unit as the result).

    ``acoeffs[0]`` is a_1.  A conversion of units (a-coefficients in nHz, nu in uHz) is the caller's:
    ``frequencies(nu, a * 1e-3, l)``.
    """
    a = np.asarray(acoeffs, dtype=float)
    return nu_nl + splittings(a, l)


def splittings(acoeffs: np.ndarray, l: int) -> np.ndarray:
    """sum_i a_i P_i^(l)(m) for m = -l..l (a_1 first); zero for l = 0."""
    a = np.asarray(acoeffs, dtype=float)
    if a.ndim != 1:
        raise ValueError(f"splittings: acoeffs must be 1-D (a_1..a_N), got shape {a.shape}")
    if a.size == 0:
        return np.zeros(2 * l + 1)
    return a @ apols(l, a.size)[1:]


def acoeffs_from_frequencies(nu_m: np.ndarray, l: int, nmax: int) -> tuple[float, np.ndarray]:
    """(nu_nl, a_1..a_nmax) of a complete set of 2l+1 frequencies, by orthogonal projection.

    a_i = sum_m P_i(m) (nu_m - nu_nl) / sum_m P_i(m)^2; coefficients with i > 2l are 0.
    """
    nu_m = np.asarray(nu_m, dtype=float)
    if nu_m.shape != (2 * l + 1,):
        raise ValueError(f"acoeffs_from_frequencies: need 2l+1 = {2 * l + 1} frequencies for l={l}, got shape {nu_m.shape}")
    nu_nl = float(nu_m.mean())
    p = apols(l, nmax)[1:]
    norm = np.einsum("im,im->i", p, p)
    a = np.zeros(nmax)
    ok = norm > 0
    a[ok] = (p[ok] @ (nu_m - nu_nl)) / norm[ok]
    return nu_nl, a
