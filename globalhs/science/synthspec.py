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

import math

import numpy as np
from scipy.signal import lfilter

from globalhs.science.apols import apols
from globalhs.science.leakage import LeakageBlock
from globalhs.science.modetable import ModeTable
from globalhs.science.observe import horizontal_ratio
from globalhs.science.synth import ar1_coefficients

__all__ = ["series_degree", "synodic_frequencies", "synthetic_degree"]


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


def series_degree(table: ModeTable, l: int, leak: LeakageBlock, length: float, background: float,
                  rng: np.random.Generator, ns=None, orbital_nhz: float = 31.7, band: float = 400.0,
                  margin: float = 15.0):
    """(power (2l+1, nfreq), nu0, dnu) of target degree ``l``: periodograms of finite time series.

    Where :func:`synthetic_degree` draws exponential noise about the limit spectrum (a Lorentzian), this
    observes every mode (l, m') of the chosen multiplets (``ns``, default all of degree l) for ``length``
    seconds as a stationary complex Ornstein-Uhlenbeck process (the synthetic Sun's mode model,
    :mod:`globalhs.science.synth`), leaks it into the m-spectra with the same realisation in every row
    (y_m = sum_m' C(l,m; l,m') A_m'), adds white noise of density ``background`` and takes the
    periodogram on the grid k/length.  Its expectation is the Lorentzian convolved with the span's
    Fejer kernel, which is what a fit of a finite series must model.

    Each multiplet is simulated at baseband around its own centre, sampled at a rate of at least ``band``
    uHz, 4 times its spread and 200 widths, so aliased Lorentzian tails stay below (Gamma/rate)^2 of the
    peak; the periodograms are written into max(``margin``, 8 Gamma) uHz beyond its outermost components
    (elsewhere NaN).
    Heights H and background B are those of the expectation, H/(1 + x^2) + B, as in the table.
    Neighbouring degrees are not simulated, and where the ranges of two multiplets overlap the later one's
    periodogram is kept alone (simulate wide multiplets one per call, ``ns=[n]``).  Frequencies in uHz,
    ``length`` in seconds."""
    rows = [r for r in np.flatnonzero(table.l == l) if ns is None or int(table.n[r]) in ns]
    if not rows:
        raise ValueError(f"no multiplets of l={l} in the table")
    if not length > 0:
        raise ValueError(f"series length must be positive, got {length}")
    dnu = 1e6 / length
    m = np.arange(-l, l + 1)
    d_all = np.arange(-leak.dm, leak.dm + 1)
    spans = [synodic_frequencies(table, r, orbital_nhz) for r in rows]
    reach_max = max(margin, 8.0 * float(table.width[rows].max()))
    lo = min(c.min() for c in spans) - reach_max
    hi = max(c.max() for c in spans) + reach_max
    nu0 = np.floor(max(lo, dnu) / dnu) * dnu
    nfreq = int(np.ceil((hi - nu0) / dnu)) + 1
    power = np.full((2 * l + 1, nfreq), np.nan)
    for r, centres in zip(rows, spans):
        gamma, height = float(table.width[r]), float(table.amp[r])
        reach = max(margin, 8.0 * gamma)
        spread = centres.max() - centres.min() + 2 * reach
        nsamp = 2 ** math.ceil(math.log2(max(band, 4 * spread, 200.0 * gamma) / dnu))
        dt = 1.0 / (nsamp * dnu)  # 1/uHz
        k_ref = round(float(0.5 * (centres.max() + centres.min()) / dnu))
        rho = ar1_coefficients(0.0, gamma, 1.0, dt)[0].real  # baseband: the decay per step, exp(-pi Gamma dt)
        eps = (rng.standard_normal((2 * l + 1, nsamp)) + 1j * rng.standard_normal((2 * l + 1, nsamp))) / np.sqrt(2)
        u = np.empty_like(eps)
        # stationary complex AR(1) of unit innovation: u_0 drawn from the stationary law
        u[:, 0] = eps[:, 0] / np.sqrt(1.0 - rho**2)
        u[:, 1:] = lfilter([1.0], [1.0, -rho], eps[:, 1:], axis=1, zi=rho * u[:, :1])[0]
        t = np.arange(nsamp) * dt
        modes = u * np.exp(2j * np.pi * (centres - k_ref * dnu)[:, None] * t[None, :])
        # a unit-innovation AR(1)'s spectral density peaks at dt / (1 - rho)^2 (-> 1/(pi^2 Gamma^2 dt))
        modes *= (1.0 - rho) * np.sqrt(height / dt)
        c = leak.matrix(l, float(horizontal_ratio(table.nu[r])))[:, leak.dl, :]  # (m, d)
        series = np.zeros((2 * l + 1, nsamp), dtype=complex)
        for idx, d in enumerate(d_all):
            src = m + d
            ok = np.abs(src) <= l
            series[ok] += c[ok, idx][:, None] * modes[src[ok] + l]
        series += np.sqrt(background / dt / 2.0) * (rng.standard_normal(series.shape)
                                                   + 1j * rng.standard_normal(series.shape))
        spec = np.abs(np.fft.fft(series, axis=1)) ** 2 * dt / nsamp
        kk = np.fft.fftfreq(nsamp, d=1.0 / nsamp).astype(int) + k_ref  # absolute bin of each FFT column
        k_lo = int(np.floor((centres.min() - reach) / dnu))
        k_hi = int(np.ceil((centres.max() + reach) / dnu))
        keep = (kk >= k_lo) & (kk <= k_hi) & (kk * dnu >= nu0)
        cols = np.round(kk[keep] - nu0 / dnu).astype(int)
        inside = cols < nfreq
        power[:, cols[inside]] = spec[:, keep][:, inside]
    return power, nu0, dnu
