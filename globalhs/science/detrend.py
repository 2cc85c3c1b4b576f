"""Polynomial detrending of spherical-harmonic time series (SPEC §4).

The slow trends left in each a_lm(t) (drifts of the instrument, the orbit, residual rotation) are
removed before gap filling, because an autoregressive model assumes a stationary series. A trend is
fitted in overlapping windows with Legendre polynomials made orthonormal over the *good* samples of
each window only, and the window fits are blended with cos^2 ramps over the overlaps, so the trend is
smooth where the windows meet. Each section between discontinuities (instrument jumps) is detrended
on its own: no window straddles a discontinuity.

A fit with a real basis to complex data is the same as separate fits to the real and imaginary parts,
so complex series are handled as such (SPEC: "real and imaginary parts separately").
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from numpy.polynomial import legendre

__all__ = ["detrend", "window_starts", "polynomial_fit"]


def polynomial_fit(x: np.ndarray, good: np.ndarray, order: int) -> np.ndarray:
    """Least-squares polynomial of degree ``order`` through the good samples, evaluated at all samples.

    Parameters
    ----------
    x : array (..., n), real or complex; the fit is along the last axis.
    good : bool array (n,); bad samples do not influence the fit.
    order : polynomial degree; lowered to (number of good samples - 1) when there are too few.

    The basis is Legendre P_0..P_order on the window mapped to [-1, 1], orthonormalised over the good
    samples by a QR factorisation, which keeps the fit well conditioned for high degrees and long windows.
    """
    n = x.shape[-1]
    good = np.asarray(good, dtype=bool)
    ngood = int(good.sum())
    if ngood == 0:
        return np.zeros_like(x)
    degree = min(order, ngood - 1)
    u = np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
    basis = legendre.legvander(u, degree)  # (n, degree+1)
    q, r = np.linalg.qr(basis[good])
    coeffs = np.linalg.solve(r, q.T @ np.moveaxis(x[..., good], -1, 0).reshape(ngood, -1))
    fit = basis @ coeffs  # (n, nseries)
    return np.moveaxis(fit.reshape((n,) + x.shape[:-1]), 0, -1).astype(x.dtype, copy=False)


def _window_operators(good: np.ndarray, order: int, blend: np.ndarray):
    """(W, E) with trend = (x @ W) @ E for a window whose good samples are ``good``: W (win, d+1) maps
    the window's samples to the coefficients of the basis orthonormal over the good ones (zero rows at
    bad samples), E (d+1, win) is that basis times the blending weight. The fit of
    :func:`polynomial_fit`, factored so that it is two thin matrix products; None without good samples.
    Depends on the window alone, so the last few are remembered (gapfill detrends every batch of every
    record with the same window)."""
    good = np.ascontiguousarray(good, dtype=bool)
    blend = np.ascontiguousarray(blend, dtype=np.float64)
    key = (good.tobytes(), int(order), blend.tobytes())
    if key not in _OPERATORS:
        if len(_OPERATORS) >= 256:
            _OPERATORS.pop(next(iter(_OPERATORS)))
        _OPERATORS[key] = _build_window_operators(good, order, blend)
    return _OPERATORS[key]


_OPERATORS: dict[tuple, tuple[np.ndarray, np.ndarray] | None] = {}


def _build_window_operators(good: np.ndarray, order: int, blend: np.ndarray):
    n = len(good)
    ngood = int(good.sum())
    if ngood == 0:
        return None
    degree = min(order, ngood - 1)
    u = np.linspace(-1.0, 1.0, n) if n > 1 else np.zeros(1)
    basis = legendre.legvander(u, degree)  # (n, degree+1)
    q, r = np.linalg.qr(basis[good])
    to_coeffs = np.zeros((n, degree + 1))
    to_coeffs[good] = np.linalg.solve(r, q.T).T  # c = R^-1 Q^T x_good
    trend = basis.T * blend
    to_coeffs.flags.writeable = trend.flags.writeable = False  # shared by every caller of the cache
    return to_coeffs, trend


def window_starts(length: int, window: int, overlap: int) -> np.ndarray:
    """Starts of the fewest windows of ``window`` samples, overlapping by at least ``overlap``, that
    cover ``length`` samples, spread evenly (the first at 0, the last ending at ``length``)."""
    if window >= length:
        return np.zeros(1, dtype=int)
    step = window - overlap
    if step <= 0:
        raise ValueError(f"overlap {overlap} must be smaller than the window {window}")
    nwin = 1 + int(np.ceil((length - window) / step))
    return np.round(np.linspace(0, length - window, nwin)).astype(int)


def _taper(n: int, ramp_in: int, ramp_out: int) -> np.ndarray:
    """1 inside, cos^2 ramps of the given lengths at either end (samples at half-integer phase)."""
    w = np.ones(n)
    if ramp_in > 0:
        w[:ramp_in] = np.sin(0.5 * np.pi * (np.arange(ramp_in) + 0.5) / ramp_in) ** 2
    if ramp_out > 0:
        w[n - ramp_out :] = np.cos(0.5 * np.pi * (np.arange(ramp_out) + 0.5) / ramp_out) ** 2
    return w


def detrend(
    x: np.ndarray,
    good: np.ndarray,
    order: int = 5,
    window: int | None = None,
    overlap: int = 0,
    sections: Sequence[tuple[int, int]] | None = None,
) -> np.ndarray:
    """Series minus its blended polynomial trend; bad samples are returned as zero.

    Parameters
    ----------
    x : array (..., n), real or complex; one series per leading index, all sharing the window ``good``.
    good : bool array (n,).
    order : polynomial degree in each window.
    window : window length in samples (default: the whole section).
    overlap : samples shared by neighbouring windows, blended with cos^2 weights; the blend is
        normalised by the summed weights, so a polynomial of degree <= ``order`` is removed exactly.
    sections : (start, stop) sample ranges between discontinuities (default: one section, the whole
        series); samples outside every section are left as they are, times the window.
    """
    x = np.asarray(x)
    good = np.asarray(good, dtype=bool)
    n = x.shape[-1]
    if good.shape != (n,):
        raise ValueError(f"window has shape {good.shape}, expected ({n},) to match the series")
    if sections is None:
        sections = [(0, n)]
    out = np.array(x, dtype=np.result_type(x.dtype, np.float32), copy=True)
    for start, stop in sections:
        if not 0 <= start < stop <= n:
            raise ValueError(f"section ({start}, {stop}) is not inside the series of {n} samples")
        length = stop - start
        win = length if window is None else min(window, length)
        ov = min(overlap, win // 2) if win < length else 0
        starts = window_starts(length, win, ov)
        tapers = []
        weight = np.zeros(length)
        for j, s in enumerate(starts):
            ramp_in = 0 if j == 0 else starts[j - 1] + win - s
            ramp_out = 0 if j == len(starts) - 1 else s + win - starts[j + 1]
            tapers.append(_taper(win, ramp_in, ramp_out))
            weight[s : s + win] += tapers[-1]
        # each window's trend as (coefficients of x) x (blended basis): two thin matrix products on the
        # strided window of x, no gathers; the coefficients come from the input x
        trends = []
        for s, w in zip(starts, tapers):
            seg = slice(start + s, start + s + win)
            ops = _window_operators(good[seg], order, w / weight[s : s + win])
            if ops is not None:
                trends.append((s, x[..., seg] @ ops[0], ops[1]))
        # between window edges a sample's blended trend is the sum over the windows covering it:
        # summed in double precision, subtracted once
        edges = np.unique(np.concatenate(([0, length], starts, np.minimum(starts + win, length))))
        for lo, hi in zip(edges[:-1], edges[1:]):
            trend = None
            for s, coeff, basis in trends:
                if s <= lo and hi <= s + win:
                    part = coeff @ basis[:, lo - s : hi - s]
                    trend = part if trend is None else trend + part
            if trend is not None:
                out[..., start + lo : start + hi] = x[..., start + lo : start + hi] - trend
    out[..., ~good] = 0
    return out
