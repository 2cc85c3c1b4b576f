"""Orthonormal associated Legendre functions P~_l^m(x), stable to any degree.

Convention (SPEC §3, SCIENCE.md): ``integral_{-1}^{1} P~_l^m(x)^2 dx = 1`` with the Condon–Shortley
phase ``(-1)^m``, so that ``Y_l^m(theta, phi) = P~_l^m(cos theta) exp(i m phi) / sqrt(2 pi)``.

Why not scipy: ``scipy.special.sph_legendre_p`` returns NaN from l = 646 in the installed version
and ``lpmv`` overflows beyond m ~ 150. Here the sectoral seed ``P~_m^m ~ sin^m(theta)`` (which
underflows double precision long before l = 1000 near the poles) is carried as a mantissa and a
binary exponent, and the three-term recurrence in l runs on scaled values; the exponent is
applied only at output, so every value representable as a double is returned correctly, and
values below the double range are exact zeros rather than garbage.

The tables are laid out in the SHT output order, row ``l(l+1)/2 + m - lmin(lmin+1)/2`` for
``lmin <= l <= lmax``, ``0 <= m <= l`` (:func:`lm_index`), one column per abscissa.
"""

from __future__ import annotations

import numpy as np

__all__ = ["lm_index", "lm_count", "lm_arrays", "legendre", "legendre_m", "legendre_table"]

# Rescale the recurrence when a scaled value exceeds 2**_RESCALE_BITS; the per-step growth is
# bounded by ~2*sqrt(2l) < 2**8 for l < 10**4, so checking every _CHECK_EVERY steps keeps
# values far below the double overflow at 2**1024.
_RESCALE_BITS = 400
_CHECK_EVERY = 8


def lm_index(l, m, lmin: int = 0):
    """Row of (l, m) in a table or time-series array that starts at degree ``lmin``."""
    return l * (l + 1) // 2 + m - lmin * (lmin + 1) // 2


def lm_count(lmin: int, lmax: int) -> int:
    """Number of (l, m >= 0) rows for ``lmin <= l <= lmax``."""
    return lm_index(lmax + 1, 0, lmin)


def lm_arrays(lmin: int, lmax: int) -> tuple[np.ndarray, np.ndarray]:
    """Arrays ``l``, ``m`` of every row, in row order."""
    l = np.concatenate([np.full(k + 1, k) for k in range(lmin, lmax + 1)])
    m = np.concatenate([np.arange(k + 1) for k in range(lmin, lmax + 1)])
    return l, m


def _coefficients(l: int, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """a_lm and 1/a_{l-1,m} of P~_l^m = a_lm (x P~_{l-1}^m - P~_{l-2}^m / a_{l-1,m}), for m < l."""
    m2 = m.astype(np.float64) ** 2
    a = np.sqrt((4.0 * l * l - 1.0) / (l * l - m2))
    lp = l - 1
    b = np.sqrt(np.maximum(lp * lp - m2, 0.0) / (4.0 * lp * lp - 1.0)) if lp > 0 else np.zeros_like(m2)
    return a, b


def legendre_table(
    lmax: int,
    x,
    *,
    lmin: int = 0,
    dtype=np.float64,
    derivative: bool = False,
):
    """P~_l^m(x) for ``lmin <= l <= lmax``, all ``0 <= m <= l``, at every abscissa ``x``.

    Parameters
    ----------
    lmax, lmin : int
        Degree range (rows start at ``lmin``; the recurrence always starts at l = 0).
    x : array_like
        Abscissae in [-1, 1] (cos colatitude = sin latitude), any shape; flattened.
    dtype : numpy dtype
        Output type (float32 halves the memory of SHT tables; the recurrence is float64).
    derivative : bool
        Also return dP~_l^m / dtheta (theta = arccos x), from the m +- 1 neighbours at the same l.

    Returns
    -------
    p : ndarray, shape (lm_count(lmin, lmax), x.size)
        Row :func:`lm_index` ``(l, m, lmin)``.
    dp : ndarray, same shape (only with ``derivative=True``)
    """
    if lmin < 0 or lmax < lmin:
        raise ValueError(f"need 0 <= lmin <= lmax, got lmin={lmin} lmax={lmax}")
    x = np.asarray(x, dtype=np.float64).ravel()
    if np.any(np.abs(x) > 1.0):
        raise ValueError("abscissae x must lie in [-1, 1]")
    nx = x.size
    sin_theta = np.sqrt((1.0 - x) * (1.0 + x))
    nm = lmax + 1
    cur = np.zeros((nm, nx))  # scaled P~_{l}^m   (row m), true value cur * 2**exp
    prev = np.zeros((nm, nx))  # scaled P~_{l-1}^m
    exp = np.zeros((nm, nx), dtype=np.int64)
    seed_mant = np.full(nx, np.sqrt(0.5))  # P~_0^0
    seed_exp = np.zeros(nx, dtype=np.int64)
    out = np.empty((lm_count(lmin, lmax), nx), dtype=dtype)
    dout = np.empty_like(out) if derivative else None
    scaled = np.zeros(nm, dtype=bool)  # rows whose binary exponent is nonzero somewhere
    tmp = np.empty((nm, nx))
    for l in range(lmax + 1):
        if l > 0:
            a, b = _coefficients(l, np.arange(l))
            # P_l = a (x P_{l-1} - b P_{l-2}), written over P_{l-2}'s storage, then the names swap
            t = tmp[:l]
            np.multiply(cur[:l], x, out=t)
            t *= a[:, None]
            p2 = prev[:l]
            p2 *= (-a * b)[:, None]
            p2 += t
            cur, prev = prev, cur
            # sectoral seed: P~_l^l = -sqrt((2l+1)/(2l)) sin(theta) P~_{l-1}^{l-1}
            seed_mant = seed_mant * (-np.sqrt((2.0 * l + 1.0) / (2.0 * l))) * sin_theta
            seed_mant, e = np.frexp(seed_mant)
            seed_exp = seed_exp + e
        cur[l] = seed_mant
        prev[l] = 0.0
        exp[l] = seed_exp
        scaled[l] = bool(seed_exp.any())
        if l % _CHECK_EVERY == 0:
            rows = np.flatnonzero(scaled[: l + 1])
            if rows.size:
                big = np.abs(cur[rows]) > 2.0**_RESCALE_BITS
                if big.any():
                    scale = np.where(big, 2.0**-_RESCALE_BITS, 1.0)
                    cur[rows] *= scale
                    prev[rows] *= scale
                    exp[rows] += np.where(big, _RESCALE_BITS, 0)
                    scaled[rows] = exp[rows].any(axis=1)
        if l >= lmin:
            row = lm_index(l, 0, lmin)
            values = cur[: l + 1].copy()
            rows = np.flatnonzero(scaled[: l + 1])
            if rows.size:
                values[rows] = np.ldexp(cur[rows], exp[rows])
            out[row : row + l + 1] = values
            if derivative:
                dout[row : row + l + 1] = _dtheta(l, values)
    return (out, dout) if derivative else out


def _dtheta(l: int, p: np.ndarray) -> np.ndarray:
    """dP~_l^m/dtheta = (sqrt((l-m)(l+m+1)) P~_l^{m+1} - sqrt((l+m)(l-m+1)) P~_l^{m-1}) / 2.

    P~_l^{-1} = -P~_l^1 (Condon–Shortley), which gives sqrt(l(l+1)) P~_l^1 at m = 0.
    """
    m = np.arange(l + 1, dtype=np.float64)[:, None]
    up = np.zeros_like(p)
    up[:-1] = p[1:]
    down = np.zeros_like(p)
    down[1:] = p[:-1]
    if l >= 1:
        down[0] = -p[1]
    return 0.5 * (np.sqrt((l - m) * (l + m + 1)) * up - np.sqrt((l + m) * (l - m + 1)) * down)


def legendre(l: int, m: int, x, *, derivative: bool = False):
    """P~_l^m(x) for one (l, m) (|m| <= l; negative m via P~_l^{-m} = (-1)^m P~_l^m), any x shape.

    Runs the recurrence for this m only (O(l) vector steps), with the same scaled seed as
    :func:`legendre_table`. With ``derivative=True`` returns ``(p, dp/dtheta)``.
    """
    if l < 0 or abs(m) > l:
        raise ValueError(f"need |m| <= l, got l={l} m={m}")
    sign = (-1.0) ** m if m < 0 else 1.0
    m = abs(m)
    x = np.asarray(x, dtype=np.float64)
    shape = x.shape
    xf = x.ravel()
    if np.any(np.abs(xf) > 1.0):
        raise ValueError("abscissae x must lie in [-1, 1]")
    sin_theta = np.sqrt((1.0 - xf) * (1.0 + xf))
    # P~_l^{m'} for m' = m-1, m, m+1 (the neighbours only for the derivative)
    wanted = (m - 1, m, m + 1) if derivative else (m,)
    values = {k: _single(l, k, xf, sin_theta) for k in wanted if 0 <= k <= l}
    p = values[m] * sign
    if not derivative:
        return p.reshape(shape)
    row = np.zeros((l + 1, xf.size))
    for k, v in values.items():
        row[k] = v
    dp = _dtheta(l, row)[m] * sign
    return p.reshape(shape), dp.reshape(shape)


def legendre_m(m: int, lmax: int, x) -> np.ndarray:
    """P~_l^m(x) for one m >= 0 and every l = m..lmax: rows l - m, one column per abscissa.

    O((lmax - m) * x.size): the cheap way to get one m's table (e.g. an SHT's per-m matrix).
    """
    if not 0 <= m <= lmax:
        raise ValueError(f"need 0 <= m <= lmax, got m={m} lmax={lmax}")
    x = np.asarray(x, dtype=np.float64).ravel()
    if np.any(np.abs(x) > 1.0):
        raise ValueError("abscissae x must lie in [-1, 1]")
    sin_theta = np.sqrt((1.0 - x) * (1.0 + x))
    out = np.empty((lmax - m + 1, x.size))
    for row, values in enumerate(_rows(m, lmax, x, sin_theta)):
        out[row] = values
    return out


def _single(l: int, m: int, x: np.ndarray, sin_theta: np.ndarray) -> np.ndarray:
    for values in _rows(m, l, x, sin_theta):
        pass
    return values


def _rows(m: int, lmax: int, x: np.ndarray, sin_theta: np.ndarray):
    """P~_l^m(x) for l = m..lmax, one row at a time: the sectoral seed and the three-term recurrence
    carried as mantissa and binary exponent, so values far below the double range stay exact."""
    mant = np.full(x.size, np.sqrt(0.5))
    exp = np.zeros(x.size, dtype=np.int64)
    for k in range(1, m + 1):
        mant, e = np.frexp(mant * (-np.sqrt((2.0 * k + 1.0) / (2.0 * k))) * sin_theta)
        exp += e
    prev, cur = np.zeros_like(mant), mant
    yield np.ldexp(cur, exp)
    for k in range(m + 1, lmax + 1):
        a, b = _coefficients(k, np.array([m]))
        cur, prev = a[0] * (x * cur - b[0] * prev), cur
        big = np.abs(cur) > 2.0**_RESCALE_BITS
        if big.any():
            cur = np.where(big, cur * 2.0**-_RESCALE_BITS, cur)
            prev = np.where(big, prev * 2.0**-_RESCALE_BITS, prev)
            exp = exp + np.where(big, _RESCALE_BITS, 0)
        yield np.ldexp(cur, exp)
