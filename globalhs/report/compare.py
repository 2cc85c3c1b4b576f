"""Fitted multiplets against the truth: residuals in units of the formal error.

A synthetic run is right when its fitted frequencies and splittings scatter about the truth as their
formal errors say: the residuals (fit - true)/sigma should look like a unit normal, so about 95 %
within 2 sigma. Multiplets are matched by (n, l); a fit without a usable error (zero, negative,
non-finite or the table's 1000 flag) is left out of that parameter's statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from globalhs.science.modetable import ERROR_FLAG, ModeTable

__all__ = ["Comparison", "compare_tables", "SpectralRecovery", "spectral_recovery"]


@dataclass(frozen=True)
class Comparison:
    """Matched multiplets (arrays over matches) and their normalised residuals (NaN where unusable)."""

    l: np.ndarray
    n: np.ndarray
    nu_true: np.ndarray
    nu_fit: np.ndarray
    nu_sigma: np.ndarray
    a_true: np.ndarray       # (matches, N) nHz
    a_fit: np.ndarray
    a_sigma: np.ndarray
    n_truth: int
    n_fitted: int

    @property
    def nu_residual(self) -> np.ndarray:
        """(fit - true)/sigma of the mean frequencies."""
        return _normalised(self.nu_fit - self.nu_true, self.nu_sigma)

    def a_residual(self, i: int) -> np.ndarray:
        """(fit - true)/sigma of a_i (1-based, a_1 = rotation)."""
        if i > self.a_fit.shape[1]:
            return np.full(self.l.size, np.nan)
        return _normalised(self.a_fit[:, i - 1] - self.a_true[:, i - 1], self.a_sigma[:, i - 1])

    def fraction_within(self, k: float = 2.0, *, a: tuple[int, ...] = ()) -> float:
        """Fraction of matched multiplets whose nu (and each listed a_i) lies within k sigma.

        Multiplets without a usable error for one of these parameters count as failures: a fit that
        cannot say how good it is does not pass.
        """
        if self.l.size == 0:
            return 0.0
        ok = np.abs(self.nu_residual) <= k
        for i in a:
            res = self.a_residual(i)
            ok &= np.abs(res) <= k
        return float(np.mean(ok))

    def summary(self, k: float = 2.0) -> str:
        """One line: how many modes were recovered and how close they are."""
        nu = self.nu_residual
        good = np.isfinite(nu)
        if not good.any():
            return f"{self.l.size} of {self.n_truth} true multiplets fitted; no usable frequency errors"
        a1 = self.a_residual(1)
        a1_text = ""
        if np.isfinite(a1).any():
            a1_text = f", a1 within {k:g} sigma {np.mean(np.abs(a1[np.isfinite(a1)]) <= k):.0%}"
        return (f"{self.l.size} of {self.n_truth} true multiplets fitted (l {self.l.min()}-{self.l.max()}); "
                f"nu within {k:g} sigma {np.mean(np.abs(nu[good]) <= k):.0%}{a1_text}; "
                f"median |nu - true| {np.median(np.abs(self.nu_fit - self.nu_true)[good]) * 1e3:.1f} nHz, "
                f"rms residual {np.sqrt(np.mean(nu[good] ** 2)):.2f} sigma")


def _normalised(diff: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    usable = np.isfinite(sigma) & (sigma > 0) & (sigma < ERROR_FLAG)
    out = np.full(diff.shape, np.nan)
    out[usable] = diff[usable] / sigma[usable]
    return out


def compare_tables(fitted: ModeTable, truth: ModeTable) -> Comparison:
    """Match ``fitted`` to ``truth`` by (n, l) and collect what the report and tests need."""
    rows_fit, rows_true = [], []
    for i, (n, l) in enumerate(zip(fitted.n, fitted.l)):
        j = truth.find(n, l)
        if j is not None:
            rows_fit.append(i)
            rows_true.append(j)
    f, t = np.array(rows_fit, dtype=int), np.array(rows_true, dtype=int)
    k = min(fitted.nacoeff, truth.nacoeff)
    return Comparison(
        l=fitted.l[f], n=fitted.n[f], nu_true=truth.nu[t], nu_fit=fitted.nu[f], nu_sigma=fitted.err[f, 0],
        a_true=truth.a[t, :k], a_fit=fitted.a[f, :k], a_sigma=fitted.a_err[f, :k],
        n_truth=len(truth), n_fitted=len(fitted),
    )


@dataclass(frozen=True)
class SpectralRecovery:
    """Where the power of each true multiplet sits in the l-nu diagram, before any fit.

    ``offset``: (power-weighted centroid within +-2 bins of the true frequency - true frequency) in
    units of the resolution; ``contrast``: the peak in that window over the median power of the
    degree's 1.5-4.5 mHz band. For spans too short to resolve the mode widths (days), this is the
    check of the frequencies that is possible.
    """

    l: np.ndarray
    nu: np.ndarray
    offset: np.ndarray
    contrast: np.ndarray
    resolution_uhz: float

    def summary(self) -> str:
        if self.l.size == 0:
            return "no true multiplet in the analysed band"
        return (f"{self.l.size} true multiplets (l {self.l.min()}-{self.l.max()}, 2-4 mHz) seen in the l-nu power: "
                f"median |centroid - true| {np.median(np.abs(self.offset)):.2f} x resolution "
                f"({self.resolution_uhz:.2f} uHz), peak/median power {np.median(self.contrast):.0f} (median)")


def spectral_recovery(ls: np.ndarray, freq_uhz: np.ndarray, power: np.ndarray, truth: ModeTable,
                      lmax: int, band: tuple[float, float] = (2000.0, 4000.0)) -> SpectralRecovery:
    """Centroid offset and contrast of every true multiplet with l <= lmax in ``band`` (uHz)."""
    dnu = float(freq_uhz[1] - freq_uhz[0])
    noise_band = (freq_uhz > 1500) & (freq_uhz < 4500)
    rows = {int(l): i for i, l in enumerate(ls)}
    out = {"l": [], "nu": [], "offset": [], "contrast": []}
    for l, nu in zip(truth.l, truth.nu):
        if l > lmax or int(l) not in rows or not band[0] < nu < band[1]:
            continue
        row = power[rows[int(l)]]
        k = int(np.argmin(np.abs(freq_uhz - nu)))
        if k < 2 or k + 3 > row.size:
            continue
        window = slice(k - 2, k + 3)
        out["l"].append(int(l))
        out["nu"].append(float(nu))
        out["offset"].append((np.sum(freq_uhz[window] * row[window]) / np.sum(row[window]) - nu) / dnu)
        out["contrast"].append(row[window].max() / np.median(row[noise_band]))
    return SpectralRecovery(*(np.array(out[k]) for k in ("l", "nu", "offset", "contrast")), dnu)
