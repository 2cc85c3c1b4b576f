"""Autoregressive gap filling after Fahlman & Ulrych (1982, MNRAS 199, 53), as JSOC's gapfill does it.

The gaps in a helioseismic time series put sidelobes on every mode peak; filling them with the
prediction of an autoregressive (AR) model of the series itself removes most of that leakage in time.
SCIENCE.md §9 gives the algorithm; in short:

1. the AR order comes from the distribution of good-segment lengths (``minpercentage``), capped at
   ``maxorder``: the model must be estimable from the segments that hold most of the data;
2. the AR prediction-error filter is estimated with multi-segment Burg over the good segments;
3. the unknown samples u of the gaps no longer than the order minimise the summed squared forward
   and backward prediction errors E(u) = |F x|^2 + |B x|^2. The normal equations
   M u = -S_u^H (F^H F + B^H B) S_d d are Hermitian Toeplitz inside a block (first row
   gamma_s = 2 sum_k a_k conj(a_{k+s})) and *banded* in the index of the unknowns, because unknowns
   more than p samples apart share no prediction error. We solve them exactly with a banded Cholesky
   factorisation (LAPACK pbsv via :func:`scipy.linalg.solveh_banded`), whose cost n_u * w^2 (w = the
   number of unknowns within p samples of one another, at most p) is no more than one Levinson
   solve per gap and needs no convergence tolerance; block ends (series ends, long gaps) are exact,
   not Toeplitz approximations;
4. iterate (3 times by default): gaps no longer than the order become good in the model window, the
   AR model is re-estimated from the longer segments, and the original gaps are refilled. Gaps
   longer than the final order, and gaps touching either end of the series (an extrapolation, not
   an interpolation), are left zero and bad.

All functions take one series (n,) or a batch (nseries, n) sharing one window, real or complex.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.linalg import LinAlgError, blas, solveh_banded

try:  # the compiled kernels (optional: setup.py builds them when a C compiler is present)
    from globalhs.science import _arfill_c
except ImportError:  # pragma: no cover - depends on the installation
    _arfill_c = None

__all__ = [
    "FillResult",
    "kernel_path",
    "runs",
    "choose_order",
    "burg",
    "fillable_gaps",
    "fill_plan",
    "filled_window",
    "fill_gaps",
    "fahlman_ulrych",
    "sigma_clip",
]


def kernel_path() -> str:
    """Which implementation the hot loops use: ``"compiled"`` (the C kernels of ``_arfill_c``, built at
    install) or ``"numpy"`` (the reference; also forced by ``GLOBALHS_ARFILL=numpy``)."""
    if _arfill_c is None or os.environ.get("GLOBALHS_ARFILL", "").lower() == "numpy":
        return "numpy"
    return "compiled"


def runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(starts, stops) of the runs of True in a 1-D boolean array."""
    m = np.concatenate(([False], np.asarray(mask, dtype=bool), [False]))
    edges = np.flatnonzero(m[1:] != m[:-1])
    return edges[0::2], edges[1::2]


def choose_order(good: np.ndarray, minpercentage: float, maxorder: int) -> int:
    """AR order from the good-segment lengths: take segments, longest first, until they hold at least
    ``minpercentage`` % of the good samples; the order is the length of the last one taken minus 1,
    capped at ``maxorder`` (0 when there is no good sample)."""
    starts, stops = runs(good)
    if len(starts) == 0:
        return 0
    lengths = np.sort(stops - starts)[::-1]
    cum = np.cumsum(lengths)
    last = int(np.searchsorted(cum, minpercentage / 100.0 * cum[-1] - 1e-9))
    return int(max(0, min(lengths[min(last, len(lengths) - 1)] - 1, maxorder)))


def _position_in_segment(good: np.ndarray) -> np.ndarray:
    """For each sample, how many good samples precede it in its segment (-1 where bad)."""
    good = np.asarray(good, dtype=bool)
    idx = np.arange(len(good))
    starts, _ = runs(good)
    is_start = np.zeros(len(good), dtype=bool)
    is_start[starts] = True
    seg_start = np.maximum.accumulate(np.where(is_start, idx, 0))
    return np.where(good, idx - seg_start, -1)


def _blas(work: np.dtype):
    """(dot with the first argument conjugated, axpy) of BLAS for the working precision."""
    return {np.dtype(np.float32): (blas.sdot, blas.saxpy), np.dtype(np.float64): (blas.ddot, blas.daxpy),
            np.dtype(np.complex64): (blas.cdotc, blas.caxpy),
            np.dtype(np.complex128): (blas.zdotc, blas.zaxpy)}[np.dtype(work)]


def _burg_stages(n: int, order: int, starts: np.ndarray, stops: np.ndarray) -> list[tuple[np.ndarray, ...]]:
    """Per Burg stage k = 1..order, the indices that depend on the window alone (shared by a batch):
    (heads, ends, stale) of :func:`_burg_series`."""
    lengths = stops - starts
    stages = []
    for k in range(1, order + 1):
        m = n - k
        live = lengths >= k
        if not live.any():
            raise ValueError(f"no good segment is longer than {k - 1} samples; cannot fit AR order {order}")
        heads = starts[live] - 1  # f_{k-1} at position k-1 of its segment: its pair is not inside
        ends = stops[live] - k  # the sample after a segment: b_{k-1}(t-1) valid, f_{k-1}(t) zero
        stale = np.concatenate((starts[live] + k - 1, stops[live])) - k  # garbage made at head and end
        stages.append((heads[heads >= 0], ends[ends < m], stale[(stale >= 0) & (stale < m)]))
    return stages


def _burg_series(x: np.ndarray, good: np.ndarray, stages) -> np.ndarray:
    """Reflection coefficients of multi-segment Burg for one series. See :func:`burg`.

    Arrays hold f_{k}(t) and b_{k}(t) at index t - k. Invariant: errors not inside one segment
    (position in segment < k) are zero, so the sums over all indices equal the sums over pairs inside
    segments except for two kinds of pair per segment, subtracted explicitly: the segment head where
    f_{k-1} is valid but its partner is not, and the sample after the segment's end. The loop is
    BLAS dot/axpy on contiguous vectors, in place: its cost is a few passes over the series per order;
    everything that depends on the window alone was computed once (``stages``).
    """
    n = len(x)
    work = np.result_type(x.dtype, np.float32)
    dot, axpy = _blas(work)
    f = np.where(good, x, 0).astype(work)
    b = f.copy()
    spare = np.empty_like(f)
    kappas = np.zeros(len(stages), dtype=np.result_type(work, np.float64))
    for k, (heads, ends, stale) in enumerate(stages, start=1):
        m = n - k
        ff = f[1 : m + 1]  # f_{k-1}(t), t = k..n-1
        bb = b[:m]  # b_{k-1}(t-1)
        num = dot(bb, ff)
        h = ff[heads].astype(kappas.dtype)
        e = bb[ends].astype(kappas.dtype)
        den = float(np.real(dot(ff, ff))) + float(np.real(dot(bb, bb))) - np.vdot(h, h).real - np.vdot(e, e).real
        kappa = -2.0 * num / den if den > 0 else 0.0 * num
        f_new = spare[:m]
        np.copyto(f_new, ff)
        axpy(bb, f_new, a=kappa)  # f_k(t) = f_{k-1}(t) + kappa b_{k-1}(t-1)
        axpy(ff, bb, a=np.conj(kappa))  # b_k(t) = b_{k-1}(t-1) + conj(kappa) f_{k-1}(t), in place
        f_new[stale] = 0
        bb[stale] = 0
        spare, f = f, spare
        kappas[k - 1] = kappa
    return kappas


def _burg_compiled(x2, good, order, starts, stops) -> tuple[np.ndarray, np.ndarray]:
    """Reflection coefficients (nseries, order) of :func:`_burg_series` from the C kernel, and the mean
    power of the good samples: one fused pass per stage (update, next sums, head/end zeroing)
    on float32 real/imaginary arrays, products summed in double precision. Real input runs as
    complex with zero imaginary part (the same coefficients)."""
    n = x2.shape[1]
    longest = int(np.max(stops - starts)) if len(starts) else 0
    if longest < order:
        raise ValueError(f"no good segment is longer than {longest} samples; cannot fit AR order {order}")
    z = np.ascontiguousarray(x2, dtype=np.complex64)
    kappas = np.zeros((len(z), order), dtype=np.complex128)
    energy = np.zeros(len(z))
    _arfill_c.burg(z, np.ascontiguousarray(good, dtype=np.bool_), starts.astype(np.int64), stops.astype(np.int64),
                   kappas, energy, len(z), n, len(starts), order)
    return (kappas if np.iscomplexobj(x2) else kappas.real.copy()), energy / max(int(np.sum(good)), 1)


def burg(x: np.ndarray, good: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """Multi-segment Burg estimate of the prediction-error filter (de Waele & Broersen 2000).

    Returns ``(a, power)``: ``a`` (..., order+1) with a[..., 0] = 1 such that the forward error is
    f_t = sum_k a_k x_{t-k} (MATLAB ``arburg`` convention), and the prediction-error power. Sums run
    inside each good segment only; the reflection coefficients have modulus < 1 (minimum phase).
    The error sequences stay in the input's precision (single precision halves the memory traffic of
    this O(order x n) loop); the coefficients are accumulated in double precision, for the whole
    batch at once from the reflection coefficients (Levinson step-up).
    """
    x = np.asarray(x)
    single = x.ndim == 1
    x2 = np.atleast_2d(x)
    good = np.asarray(good, dtype=bool)
    starts, stops = runs(good)
    wide = np.result_type(x2.dtype, np.float64)
    work = np.result_type(x2.dtype, np.float32)
    if kernel_path() == "compiled" and work in (np.float32, np.complex64) and x2.shape[1] > order:
        kappas, power = _burg_compiled(x2, good, order, starts, stops)
    else:
        stages = _burg_stages(x2.shape[1], order, starts, stops)
        kappas = np.array([_burg_series(np.ascontiguousarray(row), good, stages) for row in x2]).reshape(len(x2), order)
        power = np.mean(np.abs(x2[:, good].astype(wide)) ** 2, axis=1) if good.any() else np.zeros(len(x2))
    a = np.zeros((x2.shape[0], order + 1), dtype=wide)
    a[:, 0] = 1
    for k in range(1, order + 1):
        a[:, 1 : k + 1] += kappas[:, k - 1 : k] * np.conj(a[:, k - 1 :: -1][:, :k])
    power = power * np.prod(1 - np.abs(kappas) ** 2, axis=1)
    if not np.iscomplexobj(x):
        a = a.real
    return (a[0], power[0]) if single else (a, power)


def fillable_gaps(good: np.ndarray, order: int) -> np.ndarray:
    """Mask of the samples gap filling with an AR model of ``order`` will fill: gaps of at most
    ``order`` samples that touch neither end of the series and that at least one prediction error
    sees (a gap squeezed between longer gaps may have no room for one; it stays bad)."""
    good = np.asarray(good, dtype=bool)
    n = len(good)
    starts, stops = runs(~good)
    keep = (stops - starts <= order) & (starts > 0) & (stops < n)
    while True:
        fill = np.zeros(n, dtype=bool)
        for s, e in zip(starts[keep], stops[keep]):
            fill[s:e] = True
        if order < 1 or not fill.any():
            return fill
        rows = _valid_rows(n, order, ~good & ~fill)
        cum = np.concatenate(([0], np.cumsum(rows)))
        t = np.arange(n)
        seen = cum[np.minimum(t + order, n - 1) + 1] - cum[t] > 0  # a valid row r in [t, t+order]
        blind = np.array([not seen[s:e].all() for s, e in zip(starts, stops)]) & keep
        if not blind.any():
            return fill
        keep &= ~blind


def fill_plan(good: np.ndarray, minpercentage: float, maxorder: int, niter: int) -> list[tuple[int, np.ndarray]]:
    """The iterations of :func:`fahlman_ulrych` as (order, samples to fill), decided by the window
    alone: each order comes from the model window of the previous iteration (original window plus
    the gaps filled so far); stops when the order repeats or drops below 1 or nothing is left to fill.
    The last entry's mask, or'ed with the window, is the gap-filled window (gfgaps)."""
    good = np.asarray(good, dtype=bool)
    model = good
    plan: list[tuple[int, np.ndarray]] = []
    previous = -1
    for _ in range(niter):
        if model.all():
            break
        order = choose_order(model, minpercentage, maxorder)
        if order == previous or order < 1:
            break
        unknown = fillable_gaps(good, order)
        plan.append((order, unknown))
        model = good | unknown
        previous = order
    return plan


def filled_window(good: np.ndarray, minpercentage: float, maxorder: int, niter: int) -> np.ndarray:
    """Window after gap filling (what gfgaps writes): good, or filled by :func:`fahlman_ulrych`."""
    plan = fill_plan(good, minpercentage, maxorder, niter)
    return np.asarray(good, dtype=bool) | (plan[-1][1] if plan else False)


def _pair_sum_table(a: np.ndarray) -> np.ndarray:
    """C[..., s, m] = sum_{k<m} a_k conj(a_{k+s}): prefix sums of the lag-s products, for exact block
    ends; ``a`` is one filter (p+1,) or a stack (..., p+1)."""
    p = a.shape[-1] - 1
    apad = np.concatenate((a, np.zeros(a.shape[:-1] + (p + 1,), dtype=a.dtype)), axis=-1)
    k = np.arange(p + 1)
    products = a[..., None, :] * np.conj(apad[..., k[:, None] + k[None, :]])  # [..., s, k]
    table = np.zeros(products.shape[:-1] + (p + 2,), dtype=products.dtype)
    np.cumsum(products, axis=-1, out=table[..., 1:])
    return table


def _normal_matrix_pairs(p, tu, block_start, block_stop):
    """The nonzero upper entries (i <= j) of M = F_u^H F_u + B_u^H B_u for unknowns at times ``tu``,
    and where their values sit in the pair-sum table: M_ij = T[s, f1] - T[s, f0] + T[s, b1] - T[s, b0]
    with s = tu_j - tu_i. They depend on the window alone, so every series of a batch shares them.

    Prediction-error rows r run over [block_start + p, block_stop - 1] of each unknown's block.
    Returns (i, j, s, f1, f0, b1, b0) as flat integer arrays.
    """
    nu = len(tu)
    width = int(np.max(np.searchsorted(tu, tu + p, side="right") - np.arange(nu) - 1)) if nu else 0
    parts = []
    for d in range(width + 1):
        i = np.arange(nu - d)
        j = i + d
        s = tu[j] - tu[i]
        ok = (s <= p) & (block_start[i] == block_start[j])
        i, j, s = i[ok], j[ok], s[ok]
        rlo = np.maximum(tu[j], block_start[i] + p)
        rhi = np.minimum(tu[i] + p, block_stop[i] - 1)
        ok = rlo <= rhi
        i, j, s, rlo, rhi = i[ok], j[ok], s[ok], rlo[ok], rhi[ok]
        parts.append((i, j, s, rhi - tu[j] + 1, rlo - tu[j], tu[i] + p - rlo + 1, tu[i] + p - rhi))
    return tuple(np.concatenate(c) for c in zip(*parts)) if parts else (np.zeros(0, dtype=int),) * 7


def _pair_values(table, pairs):
    """Values of the entries ``pairs`` (from :func:`_normal_matrix_pairs`) for a table (s, m) or a
    stack of tables (nseries, s, m); returned as (entries,) or (entries, nseries).

    Away from block ends an entry is twice the full lag-s sum T[s, p+1-s] (the forward and backward
    errors see the same products), one gather from a small array; only the entries near a block end
    need the four partial sums."""
    _, _, s, f1, f0, b1, b0 = pairs
    p1 = table.shape[-1]  # p + 2
    flat = table.reshape(table.shape[:-2] + (-1,))
    flat = np.ascontiguousarray(np.moveaxis(flat, -1, 0))  # [(s, m), series]: each gather takes a row
    row = s * p1
    full = (f1 == p1 - 1 - s) & (f0 == 0) & (b1 == f1) & (b0 == 0)
    gamma = 2 * flat[np.arange(p1 - 1) * p1 + p1 - 1 - np.arange(p1 - 1)]  # [s, series]
    values = gamma[s]
    edge = np.flatnonzero(~full)
    r = row[edge]
    values[edge] = flat[r + f1[edge]] - flat[r + f0[edge]] + (flat[r + b1[edge]] - flat[r + b0[edge]])
    return values


def _normal_matrix_band(a, tu, block_start, block_stop):
    """Upper band (LAPACK storage) of M = F_u^H F_u + B_u^H B_u for unknowns at times ``tu``."""
    p = len(a) - 1
    nu = len(tu)
    width = int(np.max(np.searchsorted(tu, tu + p, side="right") - np.arange(nu) - 1)) if nu else 0
    pairs = _normal_matrix_pairs(p, tu, block_start, block_stop)
    band = np.zeros((width + 1, nu), dtype=np.result_type(a.dtype, np.float64))
    i, j = pairs[:2]
    band[width - (j - i), j] = _pair_values(_pair_sum_table(a), pairs)
    return band


def _solve_clusters(a2, tu, block_start, block_stop, rhs):
    """Solve M u = rhs for every series at once, or None when some series needs the careful path.

    Unknowns more than p apart (or in different blocks) share no prediction error, so M is block
    diagonal: one small dense block per cluster of nearby gaps. A block depends on the cluster's
    geometry only (its entries' lags and how far the block ends cut the sums), so clusters of the
    same geometry -- e.g. every isolated gap of m samples away from the ends -- share one matrix per
    series: it is factorised once and solved for all of them, for all series in one LAPACK call
    (instead of one banded solve of everything per series). Cholesky first, so that exactly the
    systems the banded solver would reject (not positive definite) are sent back; an unknown no
    prediction error sees does the same.
    """
    p = a2.shape[1] - 1
    nser, nu = rhs.shape
    if kernel_path() == "compiled" and rhs.dtype == np.complex128 and nu:
        return _solve_clusters_compiled(a2, p, tu, block_start, block_stop, rhs)
    pairs = _normal_matrix_pairs(p, tu, block_start, block_stop)
    i, j = pairs[:2]
    values = _pair_values(_pair_sum_table(a2), pairs)  # [entry, series]
    diag = np.zeros((nu, nser))
    diag[i[i == j]] = values[i == j].real
    if not np.all(diag > 1e-12 * np.maximum(diag.max(axis=0), 1e-300)):
        return None
    new = np.concatenate(([True], (np.diff(tu) > p) | (np.diff(block_start) != 0)))
    cluster = np.cumsum(new) - 1
    first = np.flatnonzero(new)
    size = np.diff(np.append(first, nu))
    order = np.argsort(cluster[i], kind="stable")
    bounds = np.searchsorted(cluster[i][order], np.arange(len(first) + 1))
    local = np.stack((i - first[cluster[i]], j - first[cluster[i]], *pairs[2:]))[:, order]
    groups: dict[bytes, list[int]] = {}
    for c in range(len(first)):
        groups.setdefault(size[c].tobytes() + local[:, bounds[c] : bounds[c + 1]].tobytes(), []).append(c)
    u = np.empty_like(rhs)
    for same in groups.values():
        c0, m = same[0], size[same[0]]
        e = order[bounds[c0] : bounds[c0 + 1]]
        li, lj = local[0, bounds[c0] : bounds[c0 + 1]], local[1, bounds[c0] : bounds[c0 + 1]]
        mat = np.zeros((nser, m, m), dtype=values.dtype)
        mat[:, lj, li] = np.conj(values[e]).T
        mat[:, li, lj] = values[e].T
        members = first[same][None, :] + np.arange(m)[:, None]  # [local, cluster] -> unknown index
        try:
            np.linalg.cholesky(mat)
        except np.linalg.LinAlgError:
            return None
        u[:, members] = np.linalg.solve(mat, rhs[:, members])
    return u


def _solve_clusters_compiled(a2, p, tu, block_start, block_stop, rhs):
    """:func:`_solve_clusters` by the C kernel: each cluster's matrix is built from the pair-sum table
    (:func:`_pair_sum_table`, computed in C per series) with the entry rule of
    :func:`_normal_matrix_pairs` and :func:`_pair_values`, Cholesky-factorised
    and solved, series by series; None in exactly the cases the numpy version returns None."""
    nser, nu = rhs.shape
    new = np.concatenate(([True], (np.diff(tu) > p) | (np.diff(block_start) != 0)))
    first = np.flatnonzero(new)
    size = np.diff(np.append(first, nu))
    u = np.empty_like(rhs)
    ok = _arfill_c.solve_clusters(np.ascontiguousarray(a2, dtype=np.complex128), tu.astype(np.int64),
                                  block_start.astype(np.int64), block_stop.astype(np.int64), first.astype(np.int64),
                                  size.astype(np.int64), np.ascontiguousarray(rhs), u, nser, nu, len(first), p)
    return u if ok else None


def _valid_rows(n: int, p: int, barrier: np.ndarray) -> np.ndarray:
    """Rows r whose prediction-error support [r-p, r] lies in the series and avoids ``barrier``."""
    cum = np.concatenate(([0], np.cumsum(barrier)))
    r = np.arange(n)
    lo = np.maximum(r - p, 0)
    return (r >= p) & (cum[r + 1] - cum[lo] == 0)


def _right_hand_side(d: np.ndarray, a2: np.ndarray, tu: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """-(F^H F + B^H B) d at the unknowns ``tu``, for every series (rows of ``d``, zero off the data).

    Only the prediction errors within p after an unknown matter. Unknowns closer than p form a
    cluster whose errors are those of the rows t0..t1+p, a contiguous stretch: its data windows are a
    strided view (no index arrays), one batched product over all series per cluster gives the forward
    and backward errors, and the same trick on the errors gives the gradient.
    """
    nser, n = d.shape
    p = a2.shape[1] - 1
    if kernel_path() == "compiled" and d.dtype in (np.complex64, np.complex128) and np.iscomplexobj(a2):
        rhs = np.empty((nser, len(tu)), dtype=np.complex128)
        _arfill_c.rhs(np.ascontiguousarray(d), np.ascontiguousarray(a2, dtype=np.complex128), tu.astype(np.int64),
                      np.ascontiguousarray(rows, dtype=np.bool_), rhs, nser, n, len(tu), p, d.dtype == np.complex64)
        return rhs
    pad = np.zeros((nser, n + 2 * p), dtype=d.dtype)  # d[t] at pad[t + p]: windows never leave it
    pad[:, p : p + n] = d
    valid = np.zeros(n + 2 * p, dtype=bool)  # row r at valid[r + p]
    valid[p : p + n] = rows
    # window j of row r is d[r-p+j]: forward error weights a_{p-j}, backward conj(a_j)
    weights = np.stack((a2[:, ::-1], np.conj(a2)), axis=2)  # [series, j, forward/backward]
    new = np.concatenate(([True], np.diff(tu) > p))
    first, last = tu[new], tu[np.append(new[1:], True)]
    bounds = np.searchsorted(tu, np.append(first, tu[-1] + 1))
    rhs = np.empty((nser, len(tu)), dtype=np.result_type(d.dtype, a2.dtype))
    for c, (t0, t1) in enumerate(zip(first, last)):
        seen = sliding_window_view(pad[:, t0 : t1 + 2 * p + 1], p + 1, axis=1)  # [series, r - t0, j]
        errors = (seen @ weights) * valid[t0 + p : t1 + 2 * p + 1, None]  # [series, r - t0, f/b]
        local = tu[bounds[c] : bounds[c + 1]] - t0
        # gradient sum_k conj(a_k) f[t+k] + a_k b[t+p-k], over the windows of errors after each t
        forward = sliding_window_view(errors[..., 0], p + 1, axis=1)[:, local]  # [series, t, k]
        backward = sliding_window_view(errors[..., 1], p + 1, axis=1)[:, local]
        rhs[:, bounds[c] : bounds[c + 1]] = -(np.einsum("stk,sk->st", forward, np.conj(a2))
                                                + np.einsum("stk,sk->st", backward, a2[:, ::-1]))
    return rhs


def fill_gaps(x: np.ndarray, good: np.ndarray, a: np.ndarray, unknown: np.ndarray,
              dtype=None) -> tuple[np.ndarray, np.ndarray]:
    """Fill the samples ``unknown`` by minimising the forward and backward prediction errors.

    Parameters
    ----------
    x : (n,) or (nseries, n); only samples with ``good`` are used as data.
    good : bool (n,), the data samples.
    a : (order+1,) prediction-error filter (a_0 = 1) shared by all series, or (nseries, order+1), one each.
    unknown : bool (n,), samples to fill (gaps no longer than the order; see :func:`fillable_gaps`).
        Samples neither good nor unknown are barriers: no prediction error may touch them.
    dtype : of the filled series (default: double precision of ``x`` and ``a``). The equations are
        solved in double precision either way; a single-precision ``dtype`` only rounds the result
        (what gapfill stores) and saves a double-precision copy of the batch.

    Returns
    -------
    (filled, filled_mask): the series with the unknowns filled and the other bad samples zero, and
    the mask of samples actually filled (an unknown with no prediction error inside its block, e.g.
    a gap in a block shorter than the order, stays unfilled).
    """
    x = np.asarray(x)
    single = x.ndim == 1
    x2 = np.atleast_2d(x)
    nser, n = x2.shape
    a2 = np.broadcast_to(np.atleast_2d(a), (nser, np.shape(a)[-1]))  # one filter may serve a batch
    p = a2.shape[1] - 1
    good = np.asarray(good, dtype=bool)
    unknown = np.asarray(unknown, dtype=bool) & ~good
    dtype = np.result_type(x2.dtype, a2.dtype, np.float64) if dtype is None else np.dtype(dtype)
    out = x2.astype(dtype)
    out[:, ~good] = 0
    if p == 0 or not unknown.any():
        filled_mask = np.zeros(n, dtype=bool)
        return (out[0] if single else out), filled_mask
    barrier = ~good & ~unknown
    rows = _valid_rows(n, p, barrier)
    # block of each unknown: the stretch between barriers (or the series ends) containing it
    bar_idx = np.flatnonzero(barrier)
    tu = np.flatnonzero(unknown)
    k = np.searchsorted(bar_idx, tu)
    block_start = np.where(k > 0, bar_idx[np.maximum(k - 1, 0)] + 1, 0) if len(bar_idx) else np.zeros_like(tu)
    block_stop = np.where(k < len(bar_idx), bar_idx[np.minimum(k, len(bar_idx) - 1)], n) if len(bar_idx) else np.full_like(tu, n)
    rhs = _right_hand_side(out, a2, tu, rows)
    filled_mask = np.zeros(n, dtype=bool)
    solved = np.ones(len(tu), dtype=bool)
    u = _solve_clusters(a2, tu, block_start, block_stop, rhs)
    if u is not None:
        out[:, tu] = u
    for i in range(nser) if u is None else ():  # one series at a time, dropping unseen unknowns
        band = _normal_matrix_band(a2[i], tu, block_start, block_stop)
        diag = band[-1].real
        keep = diag > 1e-12 * max(diag.max(), 1e-300)
        if not keep.all():  # unknowns that no prediction error sees: leave them unfilled
            sub = _normal_matrix_band(a2[i], tu[keep], block_start[keep], block_stop[keep])
            band, idx = sub, np.flatnonzero(keep)
        else:
            idx = np.arange(len(tu))
        try:
            u = solveh_banded(band, rhs[i, idx], lower=False, check_finite=False)
        except LinAlgError:
            solved[:] = False
            continue
        out[i, tu[idx]] = u
        solved &= keep
    filled_mask[tu[solved]] = True
    out[:, unknown & ~filled_mask] = 0
    if not np.iscomplexobj(x) and not np.iscomplexobj(a2):
        out = out.real
    return (out[0] if single else out), filled_mask


@dataclass(frozen=True)
class FillResult:
    """Output of :func:`fahlman_ulrych`."""

    data: np.ndarray  #: filled series; samples still bad are zero
    window: np.ndarray  #: bool (n,): good after filling (the gfgaps window)
    order: int  #: final AR order
    iterations: int  #: iterations actually run
    coefficients: np.ndarray  #: final prediction-error filter(s), a_0 = 1


def fahlman_ulrych(
    x: np.ndarray,
    good: np.ndarray,
    minpercentage: float = 90.0,
    maxorder: int = 100,
    niter: int = 3,
    plan: list[tuple[int, np.ndarray]] | None = None,
    dtype=None,
) -> FillResult:
    """Iterated AR gap filling of one series or a batch sharing one window (SCIENCE.md §9).

    Each iteration: order from the model window (:func:`choose_order`), Burg on the current series
    over the model window's segments, refill of the *original* gaps no longer than the order from
    the original data. Stops early when the order no longer changes or no gap is left. ``plan``
    (from :func:`fill_plan` with the same window and parameters) saves recomputing it per batch.
    ``dtype`` is that of the filled series (see :func:`fill_gaps`); single precision also keeps the
    later iterations' Burg in single precision, as the first.
    """
    x = np.asarray(x)
    good = np.asarray(good, dtype=bool)
    if good.shape != (x.shape[-1],):
        raise ValueError(f"window has shape {good.shape}, expected ({x.shape[-1]},)")
    data = x if not np.any(x[..., ~good]) else np.where(good, x, 0)  # bad samples zero (no copy if they are)
    current = data
    model = good
    order = 0
    a = np.ones(x.shape[:-1] + (1,), dtype=np.result_type(x.dtype, np.float64))
    if plan is None:
        plan = fill_plan(good, minpercentage, maxorder, niter)
    for order, unknown in plan:
        a, _ = burg(current, model, order)
        current, filled = fill_gaps(data, good, a, unknown, dtype=dtype)
        if not np.array_equal(filled, unknown):
            raise np.linalg.LinAlgError(f"AR order {order}: the gap-filling normal equations are singular")
        model = good | unknown
    if current is x:  # nothing was filled: never hand back the caller's array itself
        current = x.copy()
    return FillResult(current, model.copy(), order, len(plan), a)


def sigma_clip(x: np.ndarray, good: np.ndarray, nsigma: float, maxiter: int = 10) -> np.ndarray:
    """Window with outliers rejected: |x - mean| > nsigma * rms over the good samples, repeated until
    nothing changes. For a batch, returns one window per series (nseries, n)."""
    x2 = np.atleast_2d(np.asarray(x))
    win = np.broadcast_to(np.asarray(good, dtype=bool), x2.shape).copy()
    for _ in range(maxiter):
        cnt = np.maximum(win.sum(axis=1, keepdims=True), 1)
        mean = np.sum(np.where(win, x2, 0), axis=1, keepdims=True) / cnt
        dev = np.abs(x2 - mean)
        rms = np.sqrt(np.sum(np.where(win, dev**2, 0), axis=1, keepdims=True) / cnt)
        new = win & (dev <= nsigma * rms)
        if np.array_equal(new, win):
            break
        win = new
    return win[0] if np.asarray(x).ndim == 1 else win
