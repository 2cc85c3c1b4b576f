"""Calibration of the peakbagging errors on synthetic spectra whose truth is known.

Spectra of chosen degrees are built from a truth table (e.g. hmi.6400.36: frequencies, widths, peak
heights, a-coefficients) through the leakage matrix with exponential noise of given seeds
(:func:`globalhs.science.synthspec.synthetic_degree`), every multiplet of those degrees is fitted from
guesses offset from the truth, and the pulls (fit - truth) / sigma of nu, a1 and a3 are collected.
For a calibrated estimator the pulls are standard normal: 95.45 % within 2 sigma, spread 1.  The
sampled fraction of n pulls scatters by sqrt(0.0455 * 0.9545 / n) about that, which decides how
many seeds a test needs (:attr:`CalibrationSet.binomial_sd`).

Used by the acceptance test (tests/test_peakbag_synthetic_set.py) and ``bench/pkbcalib.py``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace

import numpy as np

from globalhs.science import peakbag as pb
from globalhs.science.leakage import LeakageBlock, MapGeometry, leakage_block
from globalhs.science.modetable import ModeTable
from globalhs.science.synthspec import series_degree, synthetic_degree

__all__ = ["DNU_72D", "QUANTITIES", "CalibrationSet", "calibration_set"]

DNU_72D = 1e6 / (72 * 86400)
"""Frequency resolution of a 72-day series (uHz)."""
QUANTITIES = ("nu", "a1", "a3")
COVERED = 0.9545
"""Fraction of a standard normal within 2 sigma."""
BOOTSTRAP_SEED_STRIDE = 1_000_003
"""FitSettings.seed of noise seed s is settings.seed + this * (s + 1) (see :func:`calibration_set`)."""


@dataclass
class CalibrationSet:
    """Pulls (fit - truth)/sigma of nu, a1, a3 (k, 3) with the degree, order, linearity and error method
    (``MultipletFit.error_method``) of each fit, and the multiplets that were rejected (n, l, seed,
    reason) out of ``total``."""

    pulls: np.ndarray
    l: np.ndarray
    n: np.ndarray
    linearity: np.ndarray
    rejected: list = field(default_factory=list)
    total: int = 0
    methods: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=object))

    @property
    def bootstrapped(self) -> int:
        """Fits whose errors came from the bootstrap (BOOTSTRAP=K and linearity above its threshold)."""
        return int(sum(str(m).startswith("bootstrap") for m in self.methods))

    def within(self, k: float = 2.0, select=None) -> np.ndarray:
        """Fraction of pulls with |pull| < k per quantity (nu, a1, a3)."""
        p = self.pulls if select is None else self.pulls[select]
        return np.mean(np.abs(p) < k, axis=0)

    def pooled(self, k: float = 2.0, select=None) -> float:
        p = self.pulls if select is None else self.pulls[select]
        return float(np.mean(np.abs(p) < k))

    def spread(self, select=None) -> np.ndarray:
        """Standard deviation of the pulls per quantity."""
        p = self.pulls if select is None else self.pulls[select]
        return p.std(axis=0)

    @property
    def binomial_sd(self) -> float:
        """Standard deviation of the pooled within-2-sigma fraction of a calibrated estimator."""
        return float(np.sqrt(COVERED * (1 - COVERED) / max(self.pulls.size, 1)))

    def summary(self) -> str:
        def joined(values, fmt):
            return " / ".join(format(v, fmt) for v in values)

        lines = [(f"{len(self.pulls)} multiplets fitted of {self.total}, {len(self.rejected)} rejected, "
                  f"{self.bootstrapped} with bootstrap errors; "
                  f"{self.pulls.size} pulls, binomial sd {100 * self.binomial_sd:.2f} %"),
                 (f"pooled within 2 sigma {100 * self.pooled():.2f} %; per quantity (nu, a1, a3) "
                  f"{joined(100 * self.within(), '.1f')} %; spread {joined(self.spread(), '.3f')}; "
                  f"mean {joined(self.pulls.mean(axis=0), '+.2f')}")]
        booted = np.array([str(m).startswith("bootstrap") for m in self.methods], dtype=bool)
        for name, sel in (("bootstrap", booted), ("other", ~booted)):
            if booted.any() and sel.any():
                lines.append(f"  {name} errors: {sel.sum():4d} fits, within 2 sigma "
                             f"{joined(100 * self.within(select=sel), '5.1f')} %, spread "
                             f"{joined(self.spread(select=sel), '.2f')}")
        for l in np.unique(self.l):
            sel = self.l == l
            lines.append(f"  l={l:4d}: {sel.sum():4d} fits, within 2 sigma "
                         f"{joined(100 * self.within(select=sel), '5.1f')} %, spread "
                         f"{joined(self.spread(select=sel), '.2f')}, linearity median "
                         f"{np.median(self.linearity[sel]):.3f}")
        for reason in self.rejected:
            lines.append(f"  rejected {reason}")
        return "\n".join(lines)


MDIVW72D = MapGeometry(MAPMMAX=600, SINBDIVS=200, MAPRMAX=0.95, MAPLGMAX=89.0, MAPBMAX=89.0, APODIZE=1,
                       APINNER=0.83, APWIDTH=0.04)
"""The map of lkg.parms.mdivw72d: the leakage the calibration spectra are built and fitted with."""


@functools.lru_cache(maxsize=16)
def calibration_leakage(l: int, dl: int = 6, dm: int = 15) -> LeakageBlock:
    """The leakage block of degree l (|l' - l| <= dl, |m' - m| <= dm) on the MDIVW72D map: what the
    calibration spectra, the peakbagging benches and tests are built and fitted with."""
    return leakage_block(MDIVW72D, max(l - dl, 0), l + dl, dl, dm)


def calibration_set(truth: ModeTable, degrees, seeds, settings: pb.FitSettings | None = None,
                    background: float = 0.002, dnu: float = DNU_72D, nu_offset: float = 0.3,
                    a1_offset: float = 10.0, correlated: bool = False) -> CalibrationSet:
    """Fit synthetic spectra of ``degrees`` built from ``truth`` (its a-coefficients as many as it has)
    with noise seeds ``seeds``; the guesses are the truth with nu moved by N(0, nu_offset) widths and a1
    by N(0, a1_offset) nHz, and the background set to ``background``.  Neighbours are the truth.

    The spectra of (seed, l) come from ``np.random.default_rng([seed, l])`` and the guess offsets from
    ``np.random.default_rng([seed, l, 1])``, so any subset of seeds or degrees reproduces its part.  The
    bootstrap (``settings.bootstrap``) of noise seed ``seed`` uses FitSettings.seed = settings.seed +
    BOOTSTRAP_SEED_STRIDE * (seed + 1): pkbgn seeds it by (SEED, n, l), and one seed for every noise
    seed would reuse the same replicate noise for a multiplet in every seed, so that the bootstrap's own
    sampling error (1/sqrt(2K) in sigma) would be common to all its pulls instead of averaging out.

    ``correlated``: the spectra are periodograms of time series of length 1/``dnu`` whose m-spectra
    share their modes' realisations through the leakage, as real spectra do
    (:func:`globalhs.science.synthspec.series_degree`, one multiplet per call, in order of n from the
    same generator), instead of independent exponentials about the limit spectrum.  series_degree
    simulates no other degree, so the neighbours are the truth's multiplets of the same degree only.
    Such data want ``settings.errors`` = "sandwich" (the bootstrap then draws correlated replicates too,
    :func:`globalhs.science.peakbag_errors.replicate_spectra`)."""
    settings = pb.FitSettings() if settings is None else settings
    pulls, ls, ns, lin, methods, rejected, total = [], [], [], [], [], [], 0
    for l in degrees:
        leak = calibration_leakage(int(l))
        rows = np.flatnonzero(truth.l == l)
        if rows.size == 0:
            raise ValueError(f"the truth table has no multiplet of l={l}")
        for seed in seeds:
            guesses = truth.select(np.arange(len(truth)))
            offsets = np.random.default_rng([seed, l, 1])
            guesses.nu[rows] += offsets.normal(0, nu_offset, rows.size) * guesses.width[rows]
            guesses.a[rows, 0] += offsets.normal(0, a1_offset, rows.size)
            guesses.bg[:] = background
            seeded = replace(settings, seed=settings.seed + BOOTSTRAP_SEED_STRIDE * (seed + 1))
            if correlated:
                fits = _fit_series(truth, int(l), rows, guesses, leak, seeded, background, dnu,
                                   np.random.default_rng([seed, l]))
            else:
                power, nu0, _ = synthetic_degree(
                    truth, l, leak, dnu, background, np.random.default_rng([seed, l]),
                    lambda r: max(settings.window_gammas * truth.width[r], settings.window_min) + 10,
                    orbital_nhz=settings.orbital_nhz)
                fits = pb.fit_degree(pb.Spectrum(l, power, nu0, dnu), guesses, leak, seeded, neighbours=truth)
            total += rows.size
            for f in fits:
                r = truth.find(f.n, f.l)
                if not f.ok:
                    rejected.append((f.n, f.l, seed, f.reason))
                    continue
                pulls.append([(f.nu - truth.nu[r]) / f.err[0], (f.a[0] - truth.a[r, 0]) / f.a_err[0],
                              (f.a[2] - truth.a[r, 2]) / f.a_err[2]])
                ls.append(f.l)
                ns.append(f.n)
                lin.append(f.linearity)
                methods.append(f.error_method)
    return CalibrationSet(np.array(pulls).reshape(-1, 3), np.array(ls, dtype=int), np.array(ns, dtype=int),
                          np.array(lin), rejected, total, np.array(methods, dtype=object))


def _fit_series(truth: ModeTable, l: int, rows: np.ndarray, guesses: ModeTable, leak: LeakageBlock,
                settings: pb.FitSettings, background: float, dnu: float, rng: np.random.Generator) -> list:
    """Fits of the multiplets ``rows`` of degree ``l``, each on periodograms of its own leakage-correlated
    time series (:func:`calibration_set` with ``correlated``)."""
    length = 1e6 / dnu  # seconds
    own = truth.select(rows)
    fits = []
    for r in rows:
        n = int(truth.n[r])
        power, nu0, step = series_degree(truth, l, leak, length, background, rng, ns=[n],
                                         orbital_nhz=settings.orbital_nhz)
        spec = pb.Spectrum(l, power, nu0, step, length)
        fits.append(pb.fit_multiplet(spec, n, pb.guess_of(guesses, int(r)), own, leak, settings))
    return fits
