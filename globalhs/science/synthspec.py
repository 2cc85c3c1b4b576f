"""Synthetic m-resolved power spectra of one degree from a mode table, for testing and benchmarking.

Written independently of the fitting code (a plain sum over leaked modes), so that a test that fits
these spectra checks the fit's model too.  For target degree l and each m = -l..l

    E[P_m(nu)] = B + sum over table multiplets (n', l'), |l' - l| <= DL, and m', |m' - m| <= DM,
                 of |C^r + beta C^h|^2 (l, m; l', m') * H' / (1 + (2 (nu - nu_n'l'm') / Gamma')^2),

with synodic nu_n'l'm' = nu_n'l' + sum_i a_i P_i(m') - m' nu_orb.  Only bins within ``half_width(row)``
of each target multiplet's m-components are computed (the rest are NaN: no data), and only source
multiplets whose peaks come within ``tail_gammas`` widths of those bins, and leakage powers above
``weight_floor`` of the largest, are summed.  The power is the
expectation times a unit exponential variate (chi-square with 2 degrees of freedom) from ``rng``.
"""

from __future__ import annotations

import numpy as np

from globalhs.science.apols import apols
from globalhs.science.leakage import LeakageBlock
from globalhs.science.modetable import ModeTable
from globalhs.science.observe import horizontal_ratio

__all__ = ["synthetic_degree", "synodic_frequencies"]


def synodic_frequencies(table: ModeTable, row: int, orbital_nhz: float, m=None) -> np.ndarray:
    """nu_nlm (uHz) of a table row in the observer's frame, for m = -l..l (or the given m)."""
    l = int(table.l[row])
    m = np.arange(-l, l + 1) if m is None else np.asarray(m)
    nac = min(table.nacoeff, 2 * l)
    if nac == 0:
        return np.full(m.shape, table.nu[row])
    a = table.a[row, :nac].copy()
    a[0] -= orbital_nhz
    return table.nu[row] + (a @ apols(l, nac, m=m.astype(float))[1:]) * 1e-3


def synthetic_degree(table: ModeTable, l: int, leak: LeakageBlock, dnu: float, background: float,
                     rng: np.random.Generator, half_width, orbital_nhz: float = 31.7,
                     tail_gammas: float = 60.0, weight_floor: float = 1e-4, ns=None):
    """(power (2l+1, nfreq), nu0, expectation) for target degree ``l`` on the grid nu0 + k dnu.

    ``half_width(row)`` gives the half-width (uHz) of the window computed around each m-component
    of table row ``row``; ``ns`` restricts the target multiplets to those radial orders.
    """
    rows = [r for r in np.flatnonzero(table.l == l) if ns is None or int(table.n[r]) in ns]
    if not rows:
        raise ValueError(f"no multiplets of l={l} in the table")
    m = np.arange(-l, l + 1)
    windows = []
    for r in rows:
        centres = synodic_frequencies(table, r, orbital_nhz)
        windows.append((centres - half_width(r), centres + half_width(r)))
    lo = min(w[0].min() for w in windows)
    hi = max(w[1].max() for w in windows)
    nu0 = np.floor(max(lo, dnu) / dnu) * dnu
    nfreq = int(np.ceil((hi - nu0) / dnu)) + 1
    nu = nu0 + dnu * np.arange(nfreq)
    mask = np.zeros((2 * l + 1, nfreq), dtype=bool)
    for w_lo, w_hi in windows:
        mask |= (nu[None, :] >= w_lo[:, None]) & (nu[None, :] <= w_hi[:, None])
    # per-row bin lists, padded (padding repeats the row's last bin and is discarded)
    per_row = [np.flatnonzero(mask[i]) for i in range(2 * l + 1)]
    width = max(len(k) for k in per_row)
    kidx = np.array([np.pad(k, (0, width - len(k)), mode="edge") for k in per_row])
    nu_r = nu[kidx]  # (m, j)
    total = np.full(kidx.shape, background, dtype=float)
    d_all = np.arange(-leak.dm, leak.dm + 1)
    for r in np.flatnonzero(np.abs(table.l - l) <= leak.dl):
        lp = int(table.l[r])
        gamma, height = table.width[r], table.amp[r]
        reach = tail_gammas * gamma + 1e-3 * abs(table.a[r, 0]) * lp
        if table.nu[r] + reach < lo or table.nu[r] - reach > hi:
            continue
        # columns of the padded bin lists that come within reach of this multiplet (rows are sorted)
        first = min(np.searchsorted(nu_r[i], table.nu[r] - reach) for i in range(2 * l + 1))
        last = max(np.searchsorted(nu_r[i], table.nu[r] + reach) for i in range(2 * l + 1))
        if last <= first:
            continue
        near = slice(first, last)
        c = leak.matrix(l, float(horizontal_ratio(table.nu[r])))[:, lp - l + leak.dl, :]  # (m, d)
        c2 = c**2
        cutoff = weight_floor * c2.max()
        for idx, d in enumerate(d_all):
            src = m + d
            ok = (np.abs(src) <= lp) & (c2[:, idx] > cutoff)
            if not ok.any():
                continue
            centre = synodic_frequencies(table, r, orbital_nhz, src[ok])
            x = 2.0 * (nu_r[ok, near] - centre[:, None]) / gamma
            total[ok, near] += c2[ok, idx][:, None] * height / (1.0 + x * x)
    expect = np.full((2 * l + 1, nfreq), np.nan)
    rows = np.repeat(np.arange(2 * l + 1)[:, None], width, axis=1)
    expect[rows, kidx] = total
    power = expect * rng.exponential(size=expect.shape)
    return power, nu0, expect
