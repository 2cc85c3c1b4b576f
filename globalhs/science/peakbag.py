"""Peakbagging: maximum-likelihood fit of a multiplet (n, l) over the power spectra of all its 2l+1 m.

Data model (SCIENCE.md section 6, diagonal approximation).  The power P_m(nu) of target (l, m) is
exponentially distributed (chi-square, 2 degrees of freedom) about

    M_m(nu) = sum_{m'} K(m, m') L(nu; nu_nlm', Gamma, H, b) + F_m(nu) + B,
    K(m, m') = |C^r(l,m; l,m') + beta C^h(l,m; l,m')|^2,          (leakage, globalhs.science.leakage)
    nu_nlm'  = nu_nl + sum_{i=1..N} a_i P_i^(l)(m') - m' nu_orb      (synodic: the spectra are)
    L        = H [(1 + b x)^2 + b^2] / (1 + x^2),  x = 2 (nu - nu_nlm') / Gamma  (b = 0: Lorentzian)

F_m is the fixed contribution of neighbouring multiplets (n', l') with |l' - l| <= DL whose peaks
fall in the window, from the current mode table ("include"); alternatively the bins they dominate are
dropped ("mask").  Free parameters: nu_nl, a_1..a_N' (N' = min(N, 2l)), ln H, ln Gamma, ln B and
optionally b.  Each m is fitted in its own window of half-width W = max(WINDOW_GAMMAS * Gamma,
WINDOW_MIN) around its guessed nu_nlm (so high-l multiplets, spread over 2 l a_1, cost only the bins
near each peak).  -ln(likelihood) = sum_m sum_nu [ln M + P/M] is minimised by Fisher scoring with
Levenberg damping, switching to Newton steps with the observed Hessian wherever that is positive
definite (quadratic convergence near the optimum); formal errors are sqrt(diag(H^-1)) with H the
observed Hessian of -ln(likelihood) at the optimum (for asymmetric profiles, or where the observed
Hessian is indefinite, the Fisher matrix sum (dM/dp_i dM/dp_j)/M^2, its expectation).  Those errors hold while the model is close to linear
in the parameters over them; each fit reports how far it is from that (``MultipletFit.linearity``,
the median over m of sigma(nu_nlm)/Gamma), and ``FitSettings.bootstrap`` replaces the errors of fits
above ``bootstrap_above`` by a bias-corrected parametric bootstrap's (module peakbag_errors, which holds
the uncertainty estimates; docs/peakbagging.md, "What the errors mean").

Units: frequencies and widths in uHz, a-coefficients in nHz (a_1 reported sidereal: the fit's
synodic a_1 plus ``orbital_nhz``, 31.7 nHz by default here; pkbgn passes the span's mean rate), H and B in the units of the power spectra.
The mode table's "amplitude" column holds H and "background" holds B (what these columns mean in the
JSOC tables is [unverified]; see docs/peakbagging.md).

A fit is rejected (reported, never written with invented values) when it does not converge in
``max_iter`` steps or its end point is not at the optimum (Newton decrement above MAX_DECREMENT), when
the Fisher matrix there is not finite or not positive definite (a parameter the data do not determine),
when nu_nl moves by more than ``max_shift`` window half-widths from its guess, when Gamma is at or near
its bounds (outside [dnu, 2 W]), or when the formal error of nu_nl exceeds Gamma (:func:`_end_point`).
An observed Hessian that is indefinite at an accepted end point is not a reason: the errors then come
from the Fisher matrix (``MultipletFit.error_method`` says which), and a background the data do not
determine (B far below the modes' power) is held in the errors, its own error flagged.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import lapack

from globalhs.science.apols import apols
from globalhs.science.leakage import LeakageBlock
from globalhs.science.modetable import ERROR_FLAG, ModeTable
from globalhs.science.observe import horizontal_ratio
from globalhs.science.peakbag_errors import (
    MIN_BOOTSTRAP,
    bootstrap_errors,
    component_error_ratio,
    leakage_sandwich,
)

try:  # the compiled kernel of the finite-span profile (optional: setup.py builds it when a C compiler is present)
    from globalhs.science import _peakbag_c
except ImportError:  # pragma: no cover - depends on the installation
    _peakbag_c = None

__all__ = ["FitSettings", "MultipletFit", "Spectrum", "fit_multiplet", "fit_degree", "fits_to_table",
           "update_table", "guess_of", "lorentzian", "spectra_from_rows", "LeakageBlock", "ORBITAL_NHZ",
           "mean_orbital_nhz", "kernel_path"]

ORBITAL_NHZ = 31.7
"""Mean orbital frequency of SOHO/SDO (nHz) over a year: a1 sidereal = a1 synodic + this (SCIENCE.md
conventions).  The rate varies from 30.5 (early July) to 32.6 nHz (early January), so for spans shorter
than a year :func:`mean_orbital_nhz` of the span is the better choice (pkbgn's default)."""


def kernel_path() -> str:
    """Which implementation evaluates the finite-span profile, the neighbours' Lorentzians and the
    score's sums: ``"compiled"`` (the C kernel ``_peakbag_c``, built at install) or ``"numpy"`` (the
    reference; also forced by ``GLOBALHS_PEAKBAG=numpy``)."""
    if _peakbag_c is None or os.environ.get("GLOBALHS_PEAKBAG", "").lower() == "numpy":
        return "numpy"
    return "compiled"


def mean_orbital_nhz(t_start: float, length: float) -> float:
    """Mean rate (nHz) at which an Earth-bound observer circles the solar axis over [t_start, t_start +
    length] (internal TAI seconds): the synodic-to-sidereal shift of a1 that such a span's spectra hold,
    (eta(end) - eta(start)) / (2 pi length) with eta from :mod:`globalhs.science.ephemeris`."""
    from globalhs.science.ephemeris import solar_geometry

    if not length > 0:
        raise ValueError(f"span length must be positive, got {length}")
    eta = solar_geometry(np.array([t_start, t_start + length])).eta
    return float((eta[1] - eta[0]) / (2.0 * np.pi * length) * 1e9)


@dataclass(frozen=True)
class FitSettings:
    """How a multiplet is fitted (the pkbgn arguments of the same names in upper case)."""

    nacoeff: int = 36
    window_gammas: float = 6.0
    window_min: float = 12.0
    window_bins: float = 5.0  # and at least this many frequency bins (short series)
    resolved_bins: float = 1.5  # narrower modes (in bins) are unresolved: width held, not fitted
    asymmetric: bool = False
    neighbours: str = "include"  # or "mask"
    neighbour_gammas: float = 60.0  # neighbours whose peaks come within this many widths are modelled
    leak_threshold: float = 1e-4  # sources with |C|^2 below this fraction of the largest are dropped
    max_iter: int = 60
    tolerance: float = 1e-2  # convergence: every step below this fraction of its formal error,
    gain: float = 1e-3  # or -ln(likelihood) improving by less than this for 3 steps
    max_shift: float = 0.5  # reject when nu_nl moves more than this many window half-widths
    orbital_nhz: float = ORBITAL_NHZ
    errors: str = "hessian"  # formal errors from the observed Hessian, "fisher" (its expectation), or
    # "sandwich": H^-1 J H^-1 with J the covariance of the score when the m-spectra share modes through
    # the leakage (the diagonal likelihood's own errors assume they do not; see leakage_sandwich)
    bootstrap: int = 0  # replicates per stage of the bias-corrected bootstrap for nonlinear fits (0: never)
    bootstrap_above: float = 0.10  # nonlinear: median sigma(nu_nlm)/Gamma above this (3 sigma inside 0.29 Gamma)
    seed: int = 0  # of the bootstrap's random numbers (with n and l: each multiplet's are reproducible)

    def __post_init__(self) -> None:
        if self.neighbours not in ("include", "mask"):
            raise ValueError(f"neighbours must be 'include' or 'mask', got {self.neighbours!r}")
        if self.errors not in ("hessian", "fisher", "sandwich"):
            raise ValueError(f"errors must be 'hessian', 'fisher' or 'sandwich', got {self.errors!r}")
        if self.nacoeff < 0:
            raise ValueError(f"nacoeff must be >= 0, got {self.nacoeff}")
        if self.bootstrap < 0 or 0 < self.bootstrap < MIN_BOOTSTRAP:
            raise ValueError(f"bootstrap must be 0 (off) or at least {MIN_BOOTSTRAP} replicates, got {self.bootstrap}")
        if not self.bootstrap_above > 0:
            raise ValueError(f"bootstrap_above must be positive, got {self.bootstrap_above}")


@dataclass
class Spectrum:
    """Power spectra of one target degree l: ``power`` (2l+1, nfreq) for m = -l..l at nu0 + k dnu (uHz)."""

    l: int
    power: np.ndarray
    nu0: float
    dnu: float
    length: float = 0.0  # seconds observed (N dt); > 0: the model is the finite-T (Fejer-convolved) profile

    def __post_init__(self) -> None:
        self.power = np.asarray(self.power, dtype=float)
        if self.power.ndim != 2 or self.power.shape[0] != 2 * self.l + 1:
            raise ValueError(f"spectra of l={self.l} must have 2l+1 = {2 * self.l + 1} rows (m = -l..l), "
                             f"got shape {self.power.shape}")
        if not self.dnu > 0:
            raise ValueError(f"frequency spacing must be positive, got {self.dnu}")


@dataclass
class MultipletFit:
    """Result of one multiplet: values and formal errors, or ``ok=False`` with the reason."""

    n: int
    l: int
    ok: bool
    reason: str = ""
    nu: float = np.nan
    amp: float = np.nan
    width: float = np.nan
    bg: float = np.nan
    asym: float = 0.0
    err: np.ndarray = field(default_factory=lambda: np.full(5, np.nan))
    a: np.ndarray = field(default_factory=lambda: np.zeros(0))
    a_err: np.ndarray = field(default_factory=lambda: np.zeros(0))
    iterations: int = 0
    nbins: int = 0
    loglike: float = np.nan
    kernel_elements: int = 0  # profile values computed (sources x bins x model evaluations): for benchmarks
    linearity: float = np.nan  # median over m of sigma(nu_nlm) / Gamma from the Hessian (see fit_multiplet)
    error_method: str = ""  # "hessian", "fisher", "sandwich", "... (observed Hessian indefinite)", "bootstrap K"


def lorentzian(nu, centre, width, height, asym=0.0):
    """H [(1 + b x)^2 + b^2] / (1 + x^2), x = 2 (nu - centre)/width (Nigam & Kosovichev form)."""
    x = 2.0 * (np.asarray(nu) - centre) / width
    return height * ((1.0 + asym * x) ** 2 + asym**2) / (1.0 + x * x)


def _row_blocks(nrow: int, per_row: int) -> list[slice]:
    """Slices of ``nrow`` rows holding about FEJER_BLOCK elements each (``per_row`` per row): the blocks
    in which the (m, s, j) profiles are evaluated, small enough to stay in the CPU cache."""
    block = max(1, FEJER_BLOCK // max(per_row, 1))
    return [slice(r0, min(r0 + block, nrow)) for r0 in range(0, nrow, block)]


def _leaked_lorentzians(nu: np.ndarray, centres: np.ndarray, weights: np.ndarray, width: float,
                        height: float) -> np.ndarray:
    """sum_s weights[m, s] H / (1 + x^2), x = 2 (nu[m, j] - centres[m, s]) / width: the symmetric
    :func:`lorentzian` of every source leaked into each row, (m, j): by the C kernel
    ``_peakbag_c.lorentz``, or in numpy in blocks of rows that stay in the CPU cache (FEJER_BLOCK).  A
    fit's set-up evaluates it for every neighbouring multiplet (tens of them)."""
    out = np.empty(nu.shape)
    if kernel_path() == "compiled":
        _peakbag_c.lorentz(np.ascontiguousarray(nu, dtype=float), np.ascontiguousarray(centres, dtype=float),
                           np.ascontiguousarray(weights, dtype=float), float(width), float(height),
                           weights.shape[0], weights.shape[1], nu.shape[1], out)
        return out
    for sl in _row_blocks(weights.shape[0], weights.shape[1] * nu.shape[1]):
        x = np.subtract(nu[sl, None, :], centres[sl, :, None])
        x *= 2.0 / width
        x *= x
        x += 1.0
        np.divide(height, x, out=x)
        out[sl] = np.einsum("ms,msj->mj", weights[sl], x)
    return out


def spectra_from_rows(l: int, rows: np.ndarray, freq0: float, dnu: float, mflipped: bool = False,
                      band: tuple[float, float] | None = None) -> Spectrum:
    """Spectra of m = -l..l at nu >= 0 from the pow layout: rows m = 0..l over fftshift frequencies
    freq0 + k dnu (freq0 < 0).  Mode (l, m >= 0) sits at +nu of row m, (l, -m) at -nu of row m
    (MFLIPPED = 0; MFLIPPED = 1 swaps the sign of m).  Frequencies in uHz.  ``band`` = (lo, hi)
    keeps only the bins with lo <= nu <= hi (the fits need a few hundred uHz, not the whole axis)."""
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[0] != l + 1:
        raise ValueError(f"pow rows of l={l} must have l+1 = {l + 1} rows (m = 0..l), got shape {rows.shape}")
    k0 = int(round(-freq0 / dnu))
    if not (0 <= k0 < rows.shape[1]) or abs(freq0 + k0 * dnu) > 1e-6 * dnu:
        raise ValueError(f"frequency axis starting at {freq0} with step {dnu} has no zero-frequency column")
    npos = min(rows.shape[1] - k0, k0 + 1)
    first, stop = 0, npos
    if band is not None:
        first = int(np.clip(np.floor(band[0] / dnu), 0, npos))
        stop = int(np.clip(np.ceil(band[1] / dnu) + 1, first, npos))
    k = np.arange(first, stop)
    power = np.empty((2 * l + 1, k.size))
    power[l:] = rows[:, k0 + k]  # m = 0..l at +nu
    power[:l] = rows[1:, k0 - k][::-1]  # m = -l..-1 from rows l..1 at -nu
    if mflipped:
        power = power[::-1]
    return Spectrum(l, power, first * dnu, dnu, 1e6 / dnu)


class _Problem:
    """Everything fixed during one multiplet fit: data windows, leakage weights, neighbours."""

    def __init__(self, spec: Spectrum, n: int, guess: dict, table: ModeTable, leak: LeakageBlock,
                 settings: FitSettings, with_neighbours: bool = True):
        l = spec.l
        self.l, self.n, self.settings = l, n, settings
        self.nfree_a = min(settings.nacoeff, 2 * l)
        self.m = np.arange(-l, l + 1)
        self.poly = apols(l, max(self.nfree_a, 1))[1:self.nfree_a + 1] * 1e-3  # nHz -> uHz, (i, m)
        # a mode narrower than resolved_bins frequency bins is not resolved by this series: its width is
        # held at sqrt(Gamma^2 + dnu^2) (the spectral window's main lobe) and not fitted
        self.fixed_width = guess["width"] < settings.resolved_bins * spec.dnu
        self.true_width = float(guess["width"])
        self.length_uhz = spec.length * 1e-6 if spec.length else 0.0  # T in 1/uHz
        # spectra of a known span: the profile is the Lorentzian convolved with the span's Fejer kernel,
        # for every width (held or fitted); the asymmetric profile stays the bare limit form
        self.finite_length = self.length_uhz > 0 and not settings.asymmetric
        width = float(np.hypot(guess["width"], spec.dnu)) if self.fixed_width else float(guess["width"])
        self.half = max(settings.window_gammas * width, settings.window_min, settings.window_bins * spec.dnu)
        # guessed synodic nu_nlm fix the per-m windows
        a_syn = self._synodic(guess["a"])
        centre = guess["nu"] + self.poly.T @ a_syn[: self.nfree_a] if self.nfree_a else np.full(2 * l + 1, guess["nu"])
        nb = int(np.ceil(self.half / spec.dnu))
        k_centre = np.round((centre - spec.nu0) / spec.dnu).astype(int)
        k = k_centre[:, None] + np.arange(-nb, nb + 1)[None, :]
        inside = (k >= 0) & (k < spec.power.shape[1])
        kc = np.clip(k, 0, spec.power.shape[1] - 1)
        self.nu = spec.nu0 + k * spec.dnu  # (m, j)
        self.data = spec.power[self.m[:, None] + l, kc]
        self.valid = inside & np.isfinite(self.data)
        self.data = np.where(self.valid, self.data, 0.0)
        # leakage of the target multiplet into each m (same l, m' = m + d)
        beta = float(horizontal_ratio(guess["nu"]))
        c = leak.matrix(l, beta)[:, leak.dl, :]  # (m, d)
        k2 = c**2
        d_all = np.arange(-leak.dm, leak.dm + 1)
        mp = self.m[:, None] + d_all[None, :]
        k2 = np.where(np.abs(mp) <= l, k2, 0.0)
        keep = k2.max(axis=0) > settings.leak_threshold * k2.max()
        self.k2 = k2[:, keep]
        self.c = np.where(np.abs(mp) <= l, c, 0.0)[:, keep]  # signed C(l,m; l,m'), for leakage_sandwich
        self.k_abs = k  # absolute frequency bin of each (m, j)
        self.src = np.clip(mp[:, keep], -l, l) + l  # index into m = -l..l
        # d(centre)/d(nu_nl, a_1..a_N') of each own mode m'' (p, 2l+1) and of each source (p, m, s): fixed,
        # the centres are linear; and the flat (m'', m''') index of every pair of sources (m, s, s') of a
        # row, with which score_and_fisher sums T per pair of modes before the (p, p) products
        self._dcentre_modes = np.vstack([np.ones((1, 2 * l + 1)), self.poly])
        self.dcentre = self._dcentre_modes[:, self.src]
        self._pair_index = (self.src[:, :, None] * (2 * l + 1) + self.src[:, None, :]).ravel()
        self.neighbour = np.zeros_like(self.nu)
        self.centre, self.width = centre, width
        if with_neighbours:
            self._neighbours(spec, n, table, leak, settings)
        self.nbins = int(self.valid.sum())
        self.evaluations = 0
        self._phase_nu = None  # exp(-2 pi i nu T) on the bins, for the finite-span profile (on first use)
        self._phase_nu_parts = None  # its real and imaginary parts and nu, as the C kernel takes them
        self._buffers = {}  # work arrays (see _work)
        self._valid_float = None  # valid as 1.0 / 0.0, as the C kernel takes it (on first use)
        self._last_evaluation = None  # (theta, kernel path), (model, D, rows), second derivatives
        self._pinned_evaluation = None  # the same, kept by pin()
        self.background_information = np.inf  # of ln B at the last score_and_fisher point
        self.dnu = spec.dnu
        self.log_scale = float(np.log(max(np.mean(self.data[self.valid]), 1e-300))) if self.nbins else 0.0

    def _synodic(self, a_nhz: np.ndarray) -> np.ndarray:
        a = np.zeros(max(self.nfree_a, 1))
        k = min(a.size, len(a_nhz))
        a[:k] = a_nhz[:k]
        a[0] -= self.settings.orbital_nhz if self.nfree_a else 0.0
        return a

    def _neighbours(self, spec, n, table, leak, settings) -> None:
        """Fixed model (or mask) of every other multiplet of the table that leaks into the windows."""
        l = self.l
        lo, hi = self.nu.min(), self.nu.max()
        d_all = np.arange(-leak.dm, leak.dm + 1)
        polys = {}  # apols of each neighbouring degree, shared by its overtones
        for row in range(len(table)):
            lp, np_ = int(table.l[row]), int(table.n[row])
            if (lp == l and np_ == n) or abs(lp - l) > leak.dl:
                continue
            gamma = table.width[row]
            spread = 1e-3 * abs(table.a[row, 0]) * lp + settings.neighbour_gammas * gamma + self.half
            if table.nu[row] + spread < lo or table.nu[row] - spread > hi:
                continue
            beta = float(horizontal_ratio(table.nu[row]))
            c = leak.matrix(l, beta)[:, lp - l + leak.dl, :]  # (m, d), source m' = m + d of degree lp
            mp = self.m[:, None] + d_all[None, :]
            ok = np.abs(mp) <= lp
            k2 = np.where(ok, c**2, 0.0)
            keep = k2.max(axis=0) > settings.leak_threshold * max(self.k2.max(), 1e-300)
            if not keep.any():
                continue
            nac = min(table.nacoeff, 2 * lp)
            a = table.a[row, :nac].copy()
            if nac:
                a[0] -= settings.orbital_nhz
            mps = mp[:, keep]
            if nac and (lp, nac) not in polys:
                polys[lp, nac] = apols(lp, nac)[1:]
            split = (a @ polys[lp, nac][:, np.clip(mps, -lp, lp).ravel() + lp]).reshape(mps.shape) * 1e-3 \
                if nac else np.zeros(mps.shape)
            centres = table.nu[row] + split  # (m, s)
            contrib = _leaked_lorentzians(self.nu, centres, k2[:, keep], gamma, table.amp[row])
            if settings.neighbours == "include":
                self.neighbour += contrib
            else:
                near = np.abs(self.nu[:, None, :] - centres[:, :, None]) < 2 * gamma
                strong = (near & (k2[:, keep][:, :, None] > 0.1 * self.k2.max())).any(axis=1)
                self.valid &= ~strong

    # ---- model and derivatives -------------------------------------------------------------------------
    def unpack(self, theta):
        na = self.nfree_a
        nu_nl, a = theta[0], theta[1:1 + na]
        ln_h, ln_g, ln_b = theta[1 + na:4 + na]
        asym = theta[4 + na] if self.settings.asymmetric else 0.0
        return nu_nl, a, np.exp(ln_h), np.exp(ln_g), np.exp(ln_b), asym

    def model(self, theta, derivatives=False):
        """M (m, j); with ``derivatives`` also D = dM/d(centre of source s) (m, s, j) and the rows of
        dM/d(ln H, ln Gamma, ln B[, b]) (q, m, j).  The second derivatives of the profile that the
        observed Hessian needs are kept in ``self._second``.  D and the second derivatives may be the
        problem's work arrays (:meth:`_work`): valid until the next call with ``derivatives``, and not
        to be modified.  The last evaluation with derivatives, and the one kept by :meth:`pin`, are reused
        when asked again at the same ``theta`` (the optimiser's Fisher fallback after an indefinite observed
        Hessian, the end point's Fisher matrix, Hessian and sandwich, the bootstrap's starting point), with
        or without ``derivatives``: the model does not depend on ``data``."""
        key = self._key(theta)
        for kept in (self._last_evaluation, self._pinned_evaluation):
            if kept is not None and kept[0] == key:
                if not derivatives:
                    return kept[1][0], None, None
                _, result, self._second = kept
                return result
        if not derivatives:
            return self._evaluate(theta, False)
        result = self._evaluate(theta, True)
        self._last_evaluation = (key, result, self._second)
        return result

    def pin(self, theta) -> None:
        """Keep the evaluation with derivatives at ``theta`` (None: drop it) beside the last one, copied
        out of the work arrays: the bootstrap starts every replicate's fit from the same point."""
        if theta is None:
            self._pinned_evaluation = None
            return
        model, source, rows = self.model(theta, derivatives=True)
        second = tuple(None if a is None else a.copy() for a in self._second)
        self._pinned_evaluation = (self._key(theta), (model, source.copy(), rows), second)

    @staticmethod
    def _key(theta) -> tuple:
        """What identifies an evaluation of the model: the parameters' bytes and the kernel path."""
        return np.asarray(theta, dtype=float).tobytes(), kernel_path()

    def source_profiles(self, theta) -> np.ndarray:
        """The profile (m, s, j) of each own source column s on row m's bins at unit leakage weight, with
        no background or neighbours: the terms the model sums with the weights ``k2`` (the bootstrap's
        leakage-correlated replicates need them one by one).  Evaluated by this problem's own model
        (Lorentzian, finite-span or asymmetric alike) on a copy with one column's weight at a time and
        its own caches."""
        single = copy.copy(self)
        single.neighbour = np.zeros_like(self.neighbour)
        single._buffers, single._last_evaluation, single._pinned_evaluation = {}, None, None
        background = self.unpack(theta)[4]
        prof = np.empty(self.k2.shape + self.nu.shape[1:])
        for s in range(self.k2.shape[1]):
            single.k2 = np.zeros_like(self.k2)
            single.k2[:, s] = 1.0
            prof[:, s] = single.model(theta)[0] - background
        return np.clip(prof, 0.0, None)

    def _evaluate(self, theta, derivatives):
        nu_nl, a, height, gamma, bg, asym = self.unpack(theta)
        split = self.poly.T @ a if self.nfree_a else np.zeros(2 * self.l + 1)
        centre = (nu_nl + split)[self.src]  # (m, s)
        if self.finite_length:
            return self._model_finite(centre, height, self.true_width if self.fixed_width else gamma, bg,
                                      derivatives)
        offset = self.nu[:, None, :] - centre[:, :, None]  # (m, s, j)
        x = 2.0 * offset / gamma
        den = 1.0 / (1.0 + x * x)
        if self.settings.asymmetric:
            num = (1.0 + asym * x) ** 2 + asym**2
            prof = height * num * den
        else:
            prof = height * den
        peaks = np.einsum("msj,ms->mj", prof, self.k2)
        model = peaks + bg + self.neighbour
        if not derivatives:
            return model, None, None
        # dL/dx = H [2 b (1 + b x)(1 + x^2) - 2 x num] / (1 + x^2)^2
        if self.settings.asymmetric:
            dl_dx = height * (2.0 * asym * (1.0 + asym * x) - 2.0 * x * num * den) * den
        else:
            dl_dx = -2.0 * x * prof * den
        d2l_dx2 = height * (6.0 * x * x - 2.0) * den**3  # symmetric profile (Newton is not used otherwise)
        # per-profile derivatives: d/dcentre, d2/dcentre2, d2/dcentre dlnG, d2/dlnG2 (x = 2 offset/G)
        self._second = (d2l_dx2 * (4.0 / gamma**2), (-2.0 / gamma) * (-x * d2l_dx2 - dl_dx),
                        d2l_dx2 * x * x + dl_dx * x)
        source = self.k2[:, :, None] * dl_dx * (-2.0 / gamma)  # dM/dcentre_s (m, s, j)
        rows = [peaks,  # d/d ln H
                np.einsum("msj,ms->mj", dl_dx * (-x), self.k2),  # d/d ln Gamma (dx/dlnG = -x)
                np.full_like(model, bg)]  # d/d ln B
        if self.settings.asymmetric:
            dl_db = height * (2.0 * x * (1.0 + asym * x) + 2.0 * asym) * den
            rows.append(np.einsum("msj,ms->mj", dl_db, self.k2))
        return model, source, np.array(rows)

    def _model_finite(self, centre, height, gamma, bg, derivatives):
        """The expected periodogram of a mode observed for a finite time T: the Lorentzian of width G
        convolved with the Fejer kernel of the span (the series' spectral window),

            F = H pi G Re g(a),  g(a) = 1/a - (1 - exp(-aT)) / (a^2 T),  a = pi G + 2 pi i (nu - c),

        which tends to the Lorentzian H/(1+x^2) as T -> infinity and to sigma^2 T sinc^2(pi (nu-c) T)
        as G -> 0.  A Lorentzian fitted to such a periodogram comes out too wide by about 0.3 bins
        (+12 % at 2 bins, +4 % at 10: docs/peakbagging.md, "Widths"), so every symmetric fit of spectra
        whose length is known uses this profile.  For an unresolved mode ``gamma`` is the held width.

        Evaluated in blocks of rows m small enough to stay in the CPU cache (the (m, s, j) arrays of a
        high-l multiplet are megabytes, and a complex expression of them is memory-bound: 5x slower),
        with exp(-aT) = exp(-pi G T) exp(2 pi i c T) exp(-2 pi i nu T) as a product of a per-source and
        a per-bin phase (no complex exponential per element; :func:`_fejer_lorentz` is the reference).
        ``centre`` (m, s) holds the source centres."""
        t = self.length_uhz
        alpha = np.pi * gamma
        compiled = alpha * t >= FEJER_SERIES_BELOW and kernel_path() == "compiled"  # wide modes too
        if alpha * t > FEJER_EXP_NEGLIGIBLE and not compiled:
            return self._model_finite_wide(centre, height, gamma, bg, derivatives)
        if self._phase_nu is None:  # exp(-2 pi i nu T) on the fixed bins, reduced mod 1 for accuracy
            self._phase_nu = np.exp(-2j * np.pi * np.mod(self.nu * t, 1.0))
        phase_c = np.exp(-alpha * t) * np.exp(2j * np.pi * np.mod(centre * t, 1.0))  # (m, s)
        scale = height * np.pi * gamma
        nsrc, nbin = self.k2.shape[1], self.nu.shape[1]
        if compiled:
            return self._model_finite_compiled(centre, phase_c, alpha, scale, bg, derivatives)
        peaks, source, d2, d2c_lng, d2lng, d_lng = self._blocked_outputs(derivatives)
        for sl in _row_blocks(self.k2.shape[0], nsrc * nbin):
            k2 = self.k2[sl]
            a = np.empty((k2.shape[0], nsrc, nbin), dtype=complex)
            a.real = alpha
            np.multiply(np.subtract(self.nu[sl, None, :], centre[sl, :, None]), 2.0 * np.pi, out=a.imag)
            if alpha * t < FEJER_SERIES_BELOW:  # |aT| may be small where the closed form cancels
                g, g1, g2 = _fejer_lorentz(a, t)
                peaks[sl] = np.einsum("msj,ms->mj", scale * g.real, k2)
            else:
                e = phase_c[sl, :, None] * self._phase_nu[sl, None, :]  # exp(-aT)
                inv = np.reciprocal(a, out=a)  # 1/a
                q = np.subtract(1.0, e)
                q *= inv
                q *= 1.0 / t  # q = (1 - e)/(a T):  g = (1 - q)/a
                g = np.subtract(1.0, q)
                g *= inv
                peaks[sl] = np.einsum("msj,ms->mj", g.real, k2) * scale
                if not derivatives:
                    continue
                inv2 = inv * inv
                g1 = q * 2.0  # g' = (2 q - 1 - e)/a^2
                g1 -= 1.0
                g1 -= e
                g1 *= inv2
                g2 = e * 4.0  # g'' = (T e + (2 + 4 e - 6 q)/a)/a^2
                g2 += 2.0
                q *= 6.0
                g2 -= q
                g2 *= inv
                e *= t
                g2 += e
                g2 *= inv2
            if not derivatives:
                continue
            # da/dcentre = -2 pi i: dF/dcentre = scale 2 pi Im g', d2F/dcentre2 = -4 pi^2 scale Re g''
            np.multiply(g1.imag, (2.0 * np.pi * scale) * k2[:, :, None], out=source[sl])
            np.multiply(g2.real, -4.0 * np.pi**2 * scale, out=d2[sl])
            if not self.fixed_width:
                # da/dlnG = pi G: dF/dlnG = scale Re[g + pi G g'], and its derivatives in lnG and the centre
                dlng = g1.real * alpha
                dlng += g.real
                dlng *= scale
                d_lng[sl] = np.einsum("msj,ms->mj", dlng, k2)
                s2 = g1.real * (3.0 * alpha)
                s2 += g.real
                s2 += g2.real * alpha**2
                np.multiply(s2, scale, out=d2lng[sl])
                s1 = g2.imag * alpha
                s1 += g1.imag
                np.multiply(s1, 2.0 * np.pi * scale, out=d2c_lng[sl])
        return self._profile_result(peaks, bg, derivatives, source, (d2, d2c_lng, d2lng), d_lng)

    def _blocked_outputs(self, derivatives):
        """The arrays a blocked profile evaluation fills: peaks (m, j) and, with ``derivatives``,
        dM/dcentre, d2F/dcentre2, d2F/dcentre dlnG, d2F/dlnG2 (m, s, j) and dM/dlnG (m, j), the last
        three zero (:meth:`_held_width_zeros`, not filled) for a held width."""
        nrow, nsrc = self.k2.shape
        nbin = self.nu.shape[1]
        peaks = np.empty((nrow, nbin))
        if not derivatives:
            return peaks, None, None, None, None, None
        source = np.empty((nrow, nsrc, nbin))
        d2c = np.empty_like(source)
        if self.fixed_width:
            return (peaks, source, d2c) + self._held_width_zeros()
        return peaks, source, d2c, np.empty_like(source), np.empty_like(source), np.empty((nrow, nbin))

    def _held_width_zeros(self) -> tuple:
        """The width derivatives of a held width, d2F/dcentre dlnG, d2F/dlnG2 (m, s, j) and dM/dlnG
        (m, j): zero, the first two as read-only views of one zero (no megabytes to fill on every
        evaluation)."""
        nrow, nsrc = self.k2.shape
        nbin = self.nu.shape[1]
        zero = np.broadcast_to(0.0, (nrow, nsrc, nbin))
        return zero, zero, np.zeros((nrow, nbin))

    def _profile_result(self, peaks, bg, derivatives, source, second, d_lng):
        """:meth:`model`'s result from a profile evaluation's filled arrays (blocked or compiled); the
        second derivatives go to ``self._second``."""
        model = peaks + bg + self.neighbour
        if not derivatives:
            return model, None, None
        self._second = second
        return model, source, np.array([peaks, d_lng, np.full_like(model, bg)])

    def _work(self, name: str, shape: tuple) -> np.ndarray:
        """A work array of the problem, reused from call to call: fresh (m, s, j) arrays of megabytes
        cost more in page faults (the kernel zeroes every new page) than the C kernel takes to fill
        them (measured at l = 120: 11 ms per derivative evaluation fresh, 3.9 ms reused)."""
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape:
            buf = self._buffers[name] = np.empty(shape)
        return buf

    def _model_finite_compiled(self, centre, phase_c, alpha, scale, bg, derivatives):
        """:meth:`_model_finite`'s closed form in one pass per element by the C kernel
        ``_peakbag_c.fejer`` (the same formulas; tests/test_peakbag_blocked_model.py compares them)."""
        nrow, nsrc = self.k2.shape
        nbin = self.nu.shape[1]
        if self._phase_nu_parts is None:
            self._phase_nu_parts = (np.ascontiguousarray(self._phase_nu.real), np.ascontiguousarray(self._phase_nu.imag),
                                    np.ascontiguousarray(self.nu, dtype=float))
        pnu_re, pnu_im, nu = self._phase_nu_parts
        k2 = np.ascontiguousarray(self.k2, dtype=float)  # not cached: source_profiles evaluates other weights
        peaks = np.empty((nrow, nbin))
        source = d2c = d2c_lng = d2lng = d_lng = None
        if derivatives:
            shape = (nrow, nsrc, nbin)
            source, d2c = self._work("source", shape), self._work("d2c", shape)
            if not self.fixed_width:
                d2c_lng, d2lng = self._work("d2c_lng", shape), self._work("d2lng", shape)
                d_lng = np.empty((nrow, nbin))
        _peakbag_c.fejer(nu, np.ascontiguousarray(centre, dtype=float), k2, pnu_re, pnu_im,
                         np.ascontiguousarray(phase_c.real), np.ascontiguousarray(phase_c.imag), float(alpha),
                         float(self.length_uhz), float(scale), nrow, nsrc, nbin, bool(derivatives),
                         bool(self.fixed_width), peaks, source, d2c, d2c_lng, d2lng, d_lng)
        if derivatives and self.fixed_width:
            d2c_lng, d2lng, d_lng = self._held_width_zeros()
        return self._profile_result(peaks, bg, derivatives, source, (d2c, d2c_lng, d2lng), d_lng)

    def _model_finite_wide(self, centre, height, gamma, bg, derivatives):
        """:meth:`_model_finite` where exp(-pi Gamma T) is negligible, in real arithmetic (the same
        function, 2-3 times cheaper): with x = 2 (nu - c)/Gamma and eps = 1/(pi Gamma T),

            F = H [1/(1 + x^2) - eps (1 - x^2)/(1 + x^2)^2],

        the Lorentzian less a term of zero integral that lowers the peak by eps and widens it.  In
        blocks of rows m, as :meth:`_model_finite`."""
        eps = 1.0 / (np.pi * gamma * self.length_uhz)
        peaks, source, d2c, d2c_lng, d2lng, d_lng = self._blocked_outputs(derivatives)
        for sl in _row_blocks(self.k2.shape[0], self.k2.shape[1] * self.nu.shape[1]):
            k2 = self.k2[sl]
            x = np.subtract(self.nu[sl, None, :], centre[sl, :, None])
            x *= 2.0 / gamma
            x2 = x * x
            den = 1.0 / (1.0 + x2)
            h = (1.0 - x2) * den * den
            prof = height * (den - eps * h)
            peaks[sl] = np.einsum("msj,ms->mj", prof, k2)
            if not derivatives:
                continue
            den3 = den * den * den
            f1 = -2.0 * x * den * den
            f2 = (6.0 * x2 - 2.0) * den3
            h1 = 2.0 * x * (x2 - 3.0) * den3
            h2 = -6.0 * (x2 * x2 - 6.0 * x2 + 1.0) * den3 * den
            d1 = height * (f1 - eps * h1)  # dF/dx; dx/dcentre = -2/Gamma, dx/dlnGamma = -x, deps/dlnGamma = -eps
            np.multiply(height * (f2 - eps * h2), 4.0 / gamma**2, out=d2c[sl])
            np.multiply(k2[:, :, None] * d1, -2.0 / gamma, out=source[sl])
            if not self.fixed_width:
                d2c_lng[sl] = (-2.0 / gamma) * height * (-f1 - x * f2 + 2.0 * eps * h1 + eps * x * h2)
                d2lng[sl] = height * (x * f1 + x2 * f2 - eps * h - 3.0 * eps * x * h1 - eps * x2 * h2)
                d_lng[sl] = np.einsum("msj,ms->mj", height * (-x * f1 + eps * h + eps * x * h1), k2)
        return self._profile_result(peaks, bg, derivatives, source, (d2c, d2c_lng, d2lng), d_lng)

    def admissible(self, theta) -> bool:
        """Parameters the model can be evaluated at: finite, Gamma within [dnu/10, 10 W], H and B
        within 1e+-30 of the data scale (steps outside are refused, not evaluated)."""
        if not np.all(np.isfinite(theta)):
            return False
        na = self.nfree_a
        ln_h, ln_g, ln_b = theta[1 + na:4 + na]
        return (np.log(self.dnu / 10) <= ln_g <= np.log(10 * self.half)
                and abs(ln_h - self.log_scale) < 69 and abs(ln_b - self.log_scale) < 69)

    def objective(self, theta):
        self.evaluations += 1
        if not self.admissible(theta):
            return np.inf
        with np.errstate(all="ignore"):
            model, _, _ = self.model(theta)
            model = np.where(self.valid, model, 1.0)  # bins without data add ln 1 + 0 = 0
            if not model.min() > 0:
                return np.inf
            value = float(np.sum(np.log(model)) + np.vdot(self.data, self.valid / model))
        return value if np.isfinite(value) else np.inf

    def _sums(self, model, source, rows, observed):
        """The sums over the bins that score_and_fisher is made of, with w = valid/M, resid = w (1 - P w)
        and w2 = w^2 (2 P w - 1) (``observed``) or w^2: per source grad_src = D resid (m, s),
        t = D w2 D' (m, s, s), u = D w2 rows (q, m, s) and, for the observed Hessian, sec = (second
        derivative) resid for d2/dcentre2, d2/dcentre dlnG and d2/dlnG2 (3, m, s; None otherwise); over
        all bins grad_rows = rows resid (q), rows_info = rows w2 rows' (q, q) and sum_w2 = sum w^2.  The C
        kernel ``_peakbag_c.reduce_rows`` forms them all one row at a time, the row's sources in cache
        (numpy's batched products of (15 x 151) matrices run at about 1.6 GFlop/s); the numpy form is the
        reference."""
        second = self._second if observed else (None, None, None)
        held = self.fixed_width  # the width derivatives are zero: nothing to sum
        nrow, nsrc, nbin = source.shape
        nq = rows.shape[0]
        if kernel_path() == "compiled":
            if self._valid_float is None:
                self._valid_float = self.valid.astype(float)
            grad_src, t = np.empty((nrow, nsrc)), np.empty((nrow, nsrc, nsrc))
            u, sec = np.empty((nq, nrow, nsrc)), np.zeros((3, nrow, nsrc))
            grad_rows, rows_info, sum_w2 = np.empty(nq), np.empty((nq, nq)), np.empty(1)
            inputs = [None if a is None or (held and k > 0) else np.ascontiguousarray(a, dtype=float)
                      for k, a in enumerate(second)]
            _peakbag_c.reduce_rows(np.ascontiguousarray(source, dtype=float), np.ascontiguousarray(model, dtype=float),
                                   np.ascontiguousarray(self.data, dtype=float), self._valid_float,
                                   np.ascontiguousarray(rows, dtype=float), *inputs, nrow, nsrc, nbin, nq,
                                   bool(observed), grad_src, t, u, sec, grad_rows, rows_info, sum_w2)
            return grad_src, t, u, sec if observed else None, grad_rows, rows_info, float(sum_w2[0])
        w = self.valid / model
        resid = w * (1.0 - self.data * w)  # (1/M - P/M^2) on valid bins
        w2 = w * w * (2.0 * self.data * w - 1.0) if observed else w * w
        rows_flat = rows.reshape(nq, -1)
        grad_rows = rows_flat @ resid.reshape(-1)
        rows_info = (rows_flat * w2.reshape(-1)) @ rows_flat.T
        # batched matrix products over m (BLAS) rather than einsum
        grad_src = np.matmul(source, resid[:, :, None])[:, :, 0]  # (m, s)
        sw = np.multiply(source, w2[:, None, :], out=self._work("sw", source.shape))
        t = np.matmul(sw, source.transpose(0, 2, 1))  # (m, s, s)
        u = np.matmul(sw, rows.transpose(1, 2, 0)).transpose(2, 0, 1)  # (q, m, s)
        sec = np.array([np.matmul(d2, resid[:, :, None])[:, :, 0] for d2 in second]) if observed else None
        return grad_src, t, u, sec, grad_rows, rows_info, float(np.sum(w * w))

    def score_and_fisher(self, theta, observed=False):
        """Gradient of -ln(likelihood) and the Fisher matrix (``observed``: the Hessian instead).

        The frequency parameters (nu_nl, a_i) act through the source centres only, centre_s =
        nu_nl + sum_i a_i P_i(m_s), so their rows are reduced per source first (T = sum_j D D w^2),
        which keeps the cost independent of the number of a-coefficients.  The observed Hessian is
        sum (2P/M - 1)/M^2 dM dM + sum (1/M - P/M^2) d2M (symmetric profile only)."""
        self.evaluations += 1
        model, source, rows = self.model(theta, derivatives=True)
        grad_src, t, u, sec, grad_rows, rows_info, sum_w2 = self._sums(model, source, rows, observed)
        # the Fisher information of ln B (sum (B/M)^2), whatever ``observed``: _maximise holds B when small
        self.background_information = float(np.square(rows[2, 0, 0])) * sum_w2
        q = self.dcentre.reshape(self.dcentre.shape[0], -1)  # (p, m s)
        nf, ng = q.shape[0], rows.shape[0]
        grad = np.concatenate([q @ grad_src.reshape(-1), grad_rows])
        if observed:
            # d2M/dcentre^2 (diagonal in sources); d2M/dcentre dlnH = D; d2M/dcentre dlnGamma
            t.reshape(t.shape[0], -1)[:, ::t.shape[1] + 1] += self.k2 * sec[0]  # a view: t is C-contiguous
            u[0] += grad_src
            u[1] += self.k2 * sec[1]
        fisher = np.empty((nf + ng, nf + ng))
        # sum_(m,s,s') q[p,m,s] t[m,s,s'] q[p',m,s'], where q depends on the sources' modes only
        modes = self._dcentre_modes
        t_modes = np.bincount(self._pair_index, t.reshape(-1), modes.shape[1] ** 2).reshape(modes.shape[1], -1)
        fisher[:nf, :nf] = modes @ t_modes @ modes.T
        fisher[:nf, nf:] = q @ u.reshape(ng, -1).T
        fisher[nf:, :nf] = fisher[:nf, nf:].T
        fisher[nf:, nf:] = rows_info
        if observed:
            # d2M/dlnH2 = peaks, d2M/dlnH dlnG = dM/dlnG, d2M/dlnB2 = B: their sums with the residual
            # are grad_rows; d2M/dlnG2 per source
            fisher[nf, nf] += grad_rows[0]
            fisher[nf, nf + 1] += grad_rows[1]
            fisher[nf + 1, nf] += grad_rows[1]
            fisher[nf + 1, nf + 1] += np.sum(self.k2 * sec[2])
            fisher[nf + 2, nf + 2] += grad_rows[2]
        return grad, fisher


def fit_multiplet(spec: Spectrum, n: int, guess: dict, table: ModeTable, leak: LeakageBlock,
                  settings: FitSettings = FitSettings()) -> MultipletFit:
    """Fit multiplet (n, l = spec.l) starting from ``guess`` (keys nu, width, amp, bg, asym, a [nHz,
    sidereal a1]); ``table`` supplies the neighbours.  Never raises for a bad fit: returns ok=False."""
    l = spec.l
    fail = lambda reason, **kw: MultipletFit(n, l, False, reason, **kw)  # noqa: E731
    try:
        prob = _Problem(spec, n, guess, table, leak, settings)
    except (ValueError, KeyError) as exc:
        return fail(f"cannot set up the fit: {exc}")
    free = np.ones(prob.nfree_a + 4 + int(settings.asymmetric), dtype=bool)
    free[2 + prob.nfree_a] = not prob.fixed_width  # ln Gamma
    if prob.nbins < 3 * free.sum():
        return fail(f"only {prob.nbins} usable bins in the window for {free.sum()} parameters")
    start = _start(prob, guess, spec)
    theta, value, converged, it, failure = _maximise(prob, start, free, settings)
    if failure:
        return fail(failure, iterations=it)
    if not converged:
        return fail(f"no convergence in {settings.max_iter} iterations", iterations=it)
    end = _end_point(prob, theta, free, settings)
    if isinstance(end, str):
        return fail(end, iterations=it)
    cov, kept, method = end
    sig = np.full(theta.size, np.nan)
    sig[kept] = np.sqrt(np.diag(cov))
    nu_nl, a_syn, height, gamma, bg, asym = prob.unpack(theta)
    na = prob.nfree_a
    if abs(nu_nl - guess["nu"]) > settings.max_shift * prob.half:
        return fail(f"nu moved {nu_nl - guess['nu']:+.3f} uHz from its guess (limit "
                    f"{settings.max_shift * prob.half:.3f})", iterations=it)
    if not prob.fixed_width and not spec.dnu <= gamma <= 2 * prob.half:
        return fail(f"width {gamma:.4g} uHz at or near its bound: outside [{spec.dnu:.4g}, {2 * prob.half:.4g}]",
                    iterations=it)
    if sig[0] > gamma:
        return fail(f"frequency error {sig[0]:.3g} uHz exceeds the width {gamma:.3g}", iterations=it)
    linearity = component_error_ratio(prob, cov[:1 + na, :1 + na], gamma)
    if settings.bootstrap and linearity > settings.bootstrap_above:
        rng = np.random.default_rng([settings.seed, n, l])
        boot, converged_reps, _ = bootstrap_errors(prob, theta, kept, settings.bootstrap, rng,
                                                   lambda first: _maximise(prob, first, kept, settings))
        if converged_reps < 0.9 * 2 * settings.bootstrap:
            return fail(f"errors need the bootstrap (sigma(nu_nlm)/Gamma = {linearity:.2f}) but only "
                        f"{converged_reps} of {2 * settings.bootstrap} replicate fits converged", iterations=it)
        sig[kept] = np.maximum(sig[kept], boot)
        method = f"bootstrap {converged_reps}"
    a = np.zeros(settings.nacoeff)
    a_err = np.zeros(settings.nacoeff)
    a[:na] = a_syn
    a_err[:na] = sig[1:1 + na]
    if na:
        a[0] += settings.orbital_nhz
    width_out = float(guess["width"]) if prob.fixed_width else gamma
    err = np.array([sig[0], height * sig[1 + na], ERROR_FLAG if prob.fixed_width else gamma * sig[2 + na],
                    bg * sig[3 + na] if kept[3 + na] else ERROR_FLAG,
                    sig[4 + na] if settings.asymmetric else ERROR_FLAG])
    return MultipletFit(n, l, True, "", nu_nl, height, width_out, bg, asym, err, a, a_err, it, prob.nbins, -value,
                        prob.evaluations * prob.k2.size * prob.nu.shape[1], linearity, method)


BACKGROUND_UNDETERMINED = 1.0
"""The background is undetermined when the data fix ln B to no better than this (1/sqrt of its Fisher
information): B is then far below the modes' own power everywhere in the windows (the synthetic Sun has
no background at all), -ln(likelihood) is flat in ln B and falls towards B = 0, and the observed Hessian's
ln B entry is rounding noise of either sign.  Such a B is held in the errors (its error is flagged 1000);
it is decoupled from the other parameters, whose errors it does not change."""
MAX_DECREMENT = 0.05
"""Convergence check at the end point: the Newton decrement g' F^-1 g (twice the gain in ln(likelihood)
a full Fisher-scoring step would still make) must be below this, i.e. the end point lies within about
0.2 formal sigma of the optimum in every direction.  A fit stopped further away is not converged."""


def _end_point(prob: _Problem, theta: np.ndarray, free: np.ndarray, settings: FitSettings):
    """The quality test of a converged fit's end point and its covariance.

    Returns (cov, kept, method), ``cov`` over the parameters ``kept`` (``free`` less an undetermined
    background, see BACKGROUND_UNDETERMINED), or the reason for rejecting the fit:

    * the Fisher matrix (the expected information, sum dM dM / M^2) over ``kept`` is not finite or not
      positive definite: some parameter is not determined by the data;
    * the Newton decrement exceeds MAX_DECREMENT: the optimiser stopped short of the optimum;
    * the covariance has a variance that is not finite and positive.

    The covariance is the inverse observed Hessian where that is positive definite (method "hessian";
    the better estimate: docs/peakbagging.md), else the inverse Fisher matrix ("fisher (observed Hessian
    indefinite)"); ``settings.errors`` = "fisher" always takes the Fisher matrix and "sandwich" wraps
    whichever was taken around the score covariance J of :func:`leakage_sandwich` (H^-1 J H^-1).  An
    indefinite observed Hessian at a point where the Fisher matrix is positive definite and the gradient
    vanishes is a property of this realisation's data (the observed Hessian is the Fisher matrix plus a
    zero-mean noise term, sum (1/M - P/M^2) d2M), not of a bad fit."""
    grad, fisher = prob.score_and_fisher(theta)
    kept = free.copy()
    ib = 3 + prob.nfree_a  # ln B
    if kept[ib] and not fisher[ib, ib] > BACKGROUND_UNDETERMINED**-2:
        kept[ib] = False
    idx = np.ix_(kept, kept)
    fisher, grad = fisher[idx], grad[kept]
    if not (np.all(np.isfinite(fisher)) and np.all(np.isfinite(grad))):
        return "Fisher matrix not finite at the end point"
    try:
        np.linalg.cholesky(fisher)
        fisher_inv = np.linalg.inv(fisher)
    except np.linalg.LinAlgError:
        return "Fisher matrix not positive definite at the end point: a parameter is not determined by the data"
    decrement = float(grad @ fisher_inv @ grad)
    if not decrement <= MAX_DECREMENT:
        return f"not converged: the end point is {np.sqrt(decrement):.2f} sigma from the optimum (Newton decrement)"
    bread, method = fisher_inv, "fisher"
    if not settings.asymmetric and settings.errors != "fisher":
        _, hessian = prob.score_and_fisher(theta, observed=True)
        try:
            np.linalg.cholesky(hessian[idx])
            bread, method = np.linalg.inv(hessian[idx]), "hessian"
        except np.linalg.LinAlgError:
            method = "fisher (observed Hessian indefinite)"
    cov = bread
    if settings.errors == "sandwich":
        score_cov = leakage_sandwich(prob, theta)[idx]
        cov = bread @ score_cov @ bread
        method = "sandwich" if method == "hessian" else f"sandwich on the {method}"
    var = np.diag(cov)
    if not (np.all(np.isfinite(var)) and np.all(var > 0)):
        return f"covariance ({method}) has a variance that is not finite and positive at the end point"
    return cov, kept, method


def _maximise(prob: _Problem, theta: np.ndarray, free: np.ndarray, settings: FitSettings):
    """Minimise -ln(likelihood) over the parameters ``free`` from ``theta`` (the others held).

    Newton steps with the observed Hessian where it is positive definite, else Fisher scoring, with
    Levenberg damping and a bounded step (:func:`_limit_step`).  A background the data do not determine
    (BACKGROUND_UNDETERMINED) is held while it is: its Newton step is unbounded along a flat direction,
    and the common step bound would otherwise shrink every other parameter's step with it until the
    gains looked like convergence, far from the optimum (the end points of the synthetic Sun's wide
    modes were 1-12 sigma short of it).  Returns (theta, value, converged, iterations, failure):
    ``failure`` is "" or the reason the iteration could not go on."""
    theta = np.array(theta, dtype=float)
    value = prob.objective(theta)
    if not np.isfinite(value):
        return theta, value, False, 0, "starting model is not positive"
    lam = 1e-3
    converged = False
    it = 0
    small_gain = 0
    newton = not settings.asymmetric
    for it in range(1, settings.max_iter + 1):
        # Newton (observed Hessian) where it is positive definite, else Fisher scoring
        grad, fisher = prob.score_and_fisher(theta, observed=newton)
        active = free.copy()
        if prob.background_information < BACKGROUND_UNDETERMINED**-2:
            active[3 + prob.nfree_a] = False
        grad, fisher = grad[active], fisher[np.ix_(active, active)]
        if newton and not _positive_definite(fisher):
            grad, fisher = prob.score_and_fisher(theta)
            grad, fisher = grad[active], fisher[np.ix_(active, active)]
        if not (np.all(np.isfinite(grad)) and np.all(np.isfinite(fisher))):
            return theta, value, False, it, "non-finite gradient"
        scale = np.sqrt(np.clip(np.diag(fisher), 1e-300, None))
        fs = fisher / np.outer(scale, scale)
        gs = grad / scale
        improved = False
        step = np.zeros(active.sum())
        for _ in range(30):
            _, _, solution, info = lapack.dgesv(fs + lam * np.eye(len(gs)), gs)  # np.linalg.solve, less overhead
            if info != 0:  # singular
                lam *= 10
                continue
            step = -solution / scale
            step = _limit_step(step, theta, prob, active)
            trial = theta.copy()
            trial[active] += step
            trial_value = prob.objective(trial)
            if trial_value <= value:
                improved = True
                break
            lam *= 10
        if not improved:
            # no descent possible: at the optimum to rounding, or stuck
            converged = _small(step, fisher, settings.tolerance) or small_gain > 0
            break
        gain = value - trial_value
        theta, value = trial, trial_value
        lam = max(lam / 10, 1e-9)
        # converged: the step is tiny compared with the formal errors, or -ln(likelihood) has stopped
        # improving (gains below settings.gain for 3 steps: the remaining moves are << 1 sigma)
        small_gain = small_gain + 1 if gain < settings.gain else 0
        if _small(step, fisher, settings.tolerance) or small_gain >= 3:
            converged = True
            break
    return theta, value, converged, it, ""


FEJER_EXP_NEGLIGIBLE = 40.0
"""pi Gamma T above which exp(-pi Gamma T) < 4e-18 is dropped from the finite-span profile (Gamma above
12.7 bins): the profile then has the real closed form of :meth:`_Problem._model_finite_wide`, which the
numpy path uses (2-3 times cheaper than its complex form).  The compiled kernel keeps the general form,
exact there too and faster still (at l = 30 about 1 ms against 8.6 ms per evaluation with derivatives,
an ad-hoc timing)."""
FEJER_BLOCK = 16384
"""Elements (m, s, j) per block of the finite-span profile's evaluation: a block's complex arrays
(256 kB each) stay in the L2 cache (measured on the (61, 15, 151) arrays of l = 30: 22 ns per element
in blocks of 8 rows against 113 ns in one piece)."""
FEJER_SERIES_BELOW = 0.5
"""pi Gamma T below which |aT| can fall under 0.5, where :func:`_fejer_lorentz` switches to its power
series (widths below 0.16 bins, only reached by trial steps near the width bound)."""
MAX_LOG_STEP = 1.0
"""Largest change of ln H, ln Gamma or ln B in one step (a factor e): the quadratic model of
-ln(likelihood) is only trusted that far, so a first step from a poor start cannot jump to e^-40."""
MAX_NU_STEP = 0.25
"""Largest change of nu_nl in one step, in window half-widths."""
WIDTH_BOUNDS = (0.25, 4.0)
"""ln Gamma is kept within [ln(0.25 dnu), ln(4 W)]: beyond these the fit is rejected anyway (Gamma
outside [dnu, 2 W]), and an unbounded walk there only costs iterations and overflows."""


def _limit_step(step: np.ndarray, theta: np.ndarray, prob: _Problem, free: np.ndarray) -> np.ndarray:
    """``step`` (free parameters) scaled down so that no log-parameter changes by more than
    MAX_LOG_STEP and nu_nl by no more than MAX_NU_STEP window half-widths (a trust region in the
    parameters whose scale is known a priori; the direction is kept), then ln Gamma clipped to its
    bounds."""
    full = np.zeros(free.size)
    full[free] = step
    na = prob.nfree_a
    ratio = max(abs(full[0]) / (MAX_NU_STEP * prob.half), np.max(np.abs(full[1 + na:4 + na])) / MAX_LOG_STEP)
    if ratio > 1.0:
        full /= ratio
    if free[2 + na]:
        theta_g = theta[2 + na]
        lo, hi = np.log(WIDTH_BOUNDS[0] * prob.dnu), np.log(WIDTH_BOUNDS[1] * prob.half)
        full[2 + na] = np.clip(theta_g + full[2 + na], lo, hi) - theta_g
    return full[free]


def _positive_definite(a: np.ndarray) -> bool:
    """Whether the symmetric ``a`` has a Cholesky factor (LAPACK dpotrf directly: the optimiser asks at
    every iteration, and np.linalg.cholesky's checks and copies double the cost of these small matrices)."""
    return lapack.dpotrf(a, lower=True)[1] == 0


def _small(step, fisher, tolerance) -> bool:
    try:
        sig = np.sqrt(np.abs(np.diag(np.linalg.inv(fisher))))
    except np.linalg.LinAlgError:
        return False
    return bool(np.all(np.abs(step) <= tolerance * sig))


def _start(prob: _Problem, guess: dict, spec: Spectrum) -> np.ndarray:
    """Parameter vector from the guess; the background and height from the data when not guessed."""
    data = prob.data[prob.valid]
    bg = guess.get("bg")
    if not bg or bg <= 0 or not np.isfinite(bg):
        bg = max(np.percentile(data, 10) / np.log(1 / 0.9), 1e-30)  # 10th percentile of exponential
    height = guess.get("amp")
    if not height or height <= 0 or not np.isfinite(height):
        height = max(np.mean(data) - bg, bg) * 4.0
    width = prob.width
    theta = [guess["nu"]]
    theta.extend(prob._synodic(guess["a"])[: prob.nfree_a])
    theta.extend([np.log(height), np.log(width), np.log(bg)])
    if prob.settings.asymmetric:
        theta.append(float(guess.get("asym", 0.0)))
    return np.array(theta, dtype=float)


def estimate_height(spec: Spectrum, n: int, guess: dict, leak: LeakageBlock,
                    settings: FitSettings = FitSettings()) -> tuple[float, float]:
    """(H, B) of a multiplet estimated from the data in its windows, in the spectra's own units.

    B: median of the bins more than 3 widths from every guessed peak, divided by ln 2 (the median of a
    unit exponential).  H: mean excess power within half a width of the peaks divided by the mean
    diagonal leakage power times pi/4 (the mean of 1/(1+x^2) over |x| < 1).  Rough (other leaked
    peaks add to both) but unit-free, which a guess table from another pipeline is not.
    Returns (nan, nan) when the windows hold too few bins."""
    prob = _Problem(spec, n, guess, ModeTable.empty(0), leak, settings, with_neighbours=False)
    offset = np.abs(prob.nu - prob.centre[:, None])
    far = prob.valid & (offset > 3 * prob.width)
    near = prob.valid & (offset < max(0.5 * prob.width, spec.dnu))
    if far.sum() < 20 or near.sum() < 1:
        return np.nan, np.nan
    bg = float(np.median(prob.data[far]) / np.log(2.0))
    rows = np.arange(2 * prob.l + 1)
    diag = prob.k2[rows, np.argmax(prob.src == rows[:, None], axis=1)]  # |C(l,m; l,m)|^2
    height = (float(np.mean(prob.data[near])) - bg) / (float(np.mean(diag)) * np.pi / 4)
    return max(height, 0.1 * bg), bg


def _fejer_lorentz(a: np.ndarray, t: float):
    """g(a) = 1/a - (1 - exp(-aT))/(a^2 T) and its first two derivatives in a; a power series
    T sum (-aT)^k/(k+2)! where |aT| is small (the closed form cancels there)."""
    u = a * t
    small = np.abs(u) < 0.5
    with np.errstate(all="ignore"):
        inv = 1.0 / a
        inv2 = inv * inv
        inv3 = inv2 * inv
        if np.min(u.real, initial=np.inf) > FEJER_EXP_NEGLIGIBLE:
            # |exp(-aT)| = exp(-pi Gamma T) < 4e-18 everywhere (Gamma above 13 bins): drop it (4x faster)
            g = inv - inv2 / t
            g1 = 2.0 * inv3 / t - inv2
            g2 = 2.0 * inv3 - 6.0 * inv2 * inv2 / t
        else:
            e = np.exp(-u)
            g = inv - (1.0 - e) * inv2 / t
            g1 = 2.0 * (1.0 - e) * inv3 / t - (1.0 + e) * inv2
            g2 = t * e * inv2 + (2.0 + 4.0 * e) * inv3 - 6.0 * (1.0 - e) * inv2 * inv2 / t
    if np.any(small):
        minus_u = -u[small]
        s0, s1, s2 = (np.zeros_like(minus_u) for _ in range(3))
        power, previous, before = np.ones_like(minus_u), np.zeros_like(minus_u), np.zeros_like(minus_u)
        factorial = 1.0
        for k in range(18):  # power = (-u)^k, previous = (-u)^(k-1), before = (-u)^(k-2), factorial = (k+2)!
            factorial *= k + 2
            s0 += power / factorial
            s1 += k * previous / factorial
            s2 += k * (k - 1) * before / factorial
            before, previous, power = previous, power, power * minus_u
        g[small], g1[small], g2[small] = t * s0, -(t**2) * s1, t**3 * s2
    return g, g1, g2


def guess_of(table: ModeTable, row: int) -> dict:
    """Starting values of one table row (for :func:`fit_multiplet`)."""
    return {"nu": float(table.nu[row]), "width": float(table.width[row]), "amp": float(table.amp[row]),
            "bg": float(table.bg[row]), "asym": float(table.asym[row]), "a": table.a[row].copy()}


def fit_degree(spec: Spectrum, guesses: ModeTable, leak: LeakageBlock, settings: FitSettings = FitSettings(),
               neighbours: ModeTable | None = None, ns=None) -> list[MultipletFit]:
    """Fit every multiplet of degree spec.l present in ``guesses`` (or the radial orders ``ns``)."""
    neighbours = guesses if neighbours is None else neighbours
    fits = []
    for row in np.flatnonzero(guesses.l == spec.l):
        n = int(guesses.n[row])
        if ns is not None and n not in ns:
            continue
        fits.append(fit_multiplet(spec, n, guess_of(guesses, row), neighbours, leak, settings))
    return fits


def fits_to_table(fits: list[MultipletFit], nacoeff: int) -> ModeTable:
    """The successful fits as a :class:`ModeTable` ordered by l then n (rejected fits are left out)."""
    good = [f for f in fits if f.ok]
    if not good:
        return ModeTable.empty(nacoeff)
    table = ModeTable([f.l for f in good], [f.n for f in good], [f.nu for f in good], [f.amp for f in good],
                      [f.width for f in good], [f.bg for f in good], [f.asym for f in good],
                      np.array([f.err for f in good]), np.array([_pad(f.a, nacoeff) for f in good]),
                      np.array([_pad(f.a_err, nacoeff) for f in good]))
    return table.sorted()


def update_table(table: ModeTable, fits: list[MultipletFit]) -> ModeTable:
    """``table`` with the rows of successful fits replaced by their results (the next iteration's guesses)."""
    new = table.select(np.arange(len(table)))
    for f in fits:
        row = table.find(f.n, f.l)
        if not f.ok or row is None:
            continue
        new.nu[row], new.amp[row], new.width[row], new.bg[row], new.asym[row] = f.nu, f.amp, f.width, f.bg, f.asym
        new.err[row] = f.err
        new.a[row] = _pad(f.a, table.nacoeff)
        new.a_err[row] = _pad(f.a_err, table.nacoeff)
    return new


def _pad(values: np.ndarray, size: int) -> np.ndarray:
    out = np.zeros(size)
    k = min(size, len(values))
    out[:k] = values[:k]
    return out


def surface_offset(nu: np.ndarray, l: np.ndarray, scale: float = -3.8) -> np.ndarray:
    """Observed minus Model S frequency (uHz), the near-surface offset: scale (nu/3000)^4 (1 + l/100).

    An empirical fit to hmi.6400.36 minus the ADIPLS Model S table (medians: -3.8 uHz at 3 mHz for
    l < 20, -6.1 for l = 20..100, -10.1 for l = 100..200; -12.5 at 4 mHz, l < 20).  Good to a few uHz,
    which is what starting guesses need (the fit windows are >= 12 uHz wide)."""
    nu = np.asarray(nu, dtype=float)
    return scale * (nu / 3000.0) ** 4 * (1.0 + np.asarray(l, dtype=float) / 100.0)


def guesses_from_model(n, l, nu_model, reference: ModeTable, nacoeff: int, a1: float = 440.0,
                       a3: float = 20.0, offset_scale: float = -3.8) -> ModeTable:
    """Starting guesses from model frequencies (e.g. Model S): nu = nu_model + :func:`surface_offset`;
    width, amplitude and background interpolated in frequency from ``reference`` (an earlier table of
    any epoch); a1 (sidereal) and a3 typical solar values, other a-coefficients 0."""
    n, l = np.asarray(n, dtype=int), np.asarray(l, dtype=int)
    nu = np.asarray(nu_model, dtype=float) + surface_offset(nu_model, l, offset_scale)
    order = np.argsort(reference.nu)
    ref_nu = reference.nu[order]

    def interp(values):
        return np.exp(np.interp(nu, ref_nu, np.log(np.clip(values[order], 1e-30, None))))

    rows = nu.size
    a = np.zeros((rows, nacoeff))
    if nacoeff >= 1:
        a[:, 0] = np.where(l > 0, a1, 0.0)
    if nacoeff >= 3:
        a[:, 2] = np.where(l > 1, a3, 0.0)
    return ModeTable(l, n, nu, interp(reference.amp), interp(reference.width), interp(reference.bg),
                     np.zeros(rows), np.full((rows, 5), ERROR_FLAG), a, np.zeros((rows, nacoeff))).sorted()
