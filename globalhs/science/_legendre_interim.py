"""Interim orthonormal Legendre functions, used only until ``globalhs.science.legendre`` (jv2ts) lands.

Same conventions and call signature as the project's ``legendre_table`` / ``lm_index``: P~_l^m
orthonormal on [-1, 1] with the Condon-Shortley phase, rows (l, m >= 0) from ``lmin``, and
dP~/dtheta from the m +- 1 neighbours.  Plain recurrence without exponent scaling: adequate to
l ~ 300 away from the poles (values that underflow there are below 1e-300).
"""

from __future__ import annotations

import numpy as np


def lm_index(l, m, lmin: int = 0):
    return l * (l + 1) // 2 + m - lmin * (lmin + 1) // 2


def legendre_table(lmax: int, x, *, lmin: int = 0, derivative: bool = False):
    x = np.asarray(x, dtype=float).ravel()
    sin_theta = np.sqrt((1.0 - x) * (1.0 + x))
    rows = (lmax + 1) * (lmax + 2) // 2 - lmin * (lmin + 1) // 2
    out = np.zeros((rows, x.size))
    sectoral = np.full(x.size, np.sqrt(0.5))
    with np.errstate(under="ignore"):
        for m in range(lmax + 1):
            if m > 0:
                sectoral = sectoral * (-np.sqrt((2.0 * m + 1.0) / (2.0 * m))) * sin_theta
            prev, cur = np.zeros_like(x), sectoral.copy()
            for l in range(m, lmax + 1):
                if l > m:
                    a = np.sqrt((4.0 * l * l - 1.0) / (l * l - m * m))
                    a_prev = np.sqrt((4.0 * (l - 1) ** 2 - 1.0) / ((l - 1) ** 2 - m * m)) if l - 1 > m else np.inf
                    prev, cur = cur, a * (x * cur - prev / a_prev)
                if l >= lmin:
                    out[lm_index(l, m, lmin)] = cur
    if not derivative:
        return out
    dout = np.zeros_like(out)
    for l in range(lmin, lmax + 1):
        p = out[lm_index(l, 0, lmin): lm_index(l, l, lmin) + 1]
        m = np.arange(l + 1, dtype=float)[:, None]
        up = np.zeros_like(p)
        up[:-1] = p[1:]
        down = np.zeros_like(p)
        down[1:] = p[:-1]
        if l >= 1:
            down[0] = -p[1]
        dout[lm_index(l, 0, lmin): lm_index(l, l, lmin) + 1] = 0.5 * (
            np.sqrt((l - m) * (l + m + 1)) * up - np.sqrt((l + m) * (l - m + 1)) * down)
    return out, dout
