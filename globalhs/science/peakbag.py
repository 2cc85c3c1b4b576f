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
observed Hessian of -ln(likelihood) at the optimum (for asymmetric profiles, the Fisher matrix
sum (dM/dp_i dM/dp_j)/M^2, its expectation).

Units: frequencies and widths in uHz, a-coefficients in nHz (a_1 reported sidereal: the fit's
synodic a_1 plus ``orbital_nhz``, 31.7 nHz by default), H and B in the units of the power spectra.
The mode table's "amplitude" column holds H and "background" holds B (what these columns mean in the
JSOC tables is [unverified]; see docs/peakbagging.md).

A fit is rejected (reported, never written with invented values) when it does not converge in
``max_iter`` steps, when the Fisher matrix is singular or not finite, when nu_nl moves by more than
``max_shift`` window half-widths from its guess, when Gamma leaves [dnu, 2 W], or when the formal
error of nu_nl exceeds Gamma.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from globalhs.science.apols import apols
from globalhs.science.leakage import LeakageBlock
from globalhs.science.modetable import ERROR_FLAG, ModeTable
from globalhs.science.observe import horizontal_ratio

__all__ = ["FitSettings", "MultipletFit", "Spectrum", "fit_multiplet", "fit_degree", "fits_to_table",
           "update_table", "guess_of", "lorentzian", "spectra_from_rows", "LeakageBlock", "ORBITAL_NHZ"]

ORBITAL_NHZ = 31.7
"""Mean orbital frequency of SOHO/SDO (nHz): a1 sidereal = a1 synodic + this (SCIENCE.md conventions)."""


@dataclass(frozen=True)
class FitSettings:
    """How a multiplet is fitted (the pkbgn arguments of the same names in upper case)."""

    nacoeff: int = 36
    window_gammas: float = 6.0
    window_min: float = 12.0
    asymmetric: bool = False
    neighbours: str = "include"  # or "mask"
    neighbour_gammas: float = 60.0  # neighbours whose peaks come within this many widths are modelled
    leak_threshold: float = 1e-4  # sources with |C|^2 below this fraction of the largest are dropped
    max_iter: int = 60
    tolerance: float = 1e-2  # convergence: every step below this fraction of its formal error,
    gain: float = 1e-3  # or -ln(likelihood) improving by less than this for 3 steps
    max_shift: float = 0.5  # reject when nu_nl moves more than this many window half-widths
    orbital_nhz: float = ORBITAL_NHZ
    errors: str = "hessian"  # formal errors from the observed Hessian, or "fisher" (its expectation)

    def __post_init__(self) -> None:
        if self.neighbours not in ("include", "mask"):
            raise ValueError(f"neighbours must be 'include' or 'mask', got {self.neighbours!r}")
        if self.errors not in ("hessian", "fisher"):
            raise ValueError(f"errors must be 'hessian' or 'fisher', got {self.errors!r}")
        if self.nacoeff < 0:
            raise ValueError(f"nacoeff must be >= 0, got {self.nacoeff}")


@dataclass
class Spectrum:
    """Power spectra of one target degree l: ``power`` (2l+1, nfreq) for m = -l..l at nu0 + k dnu (uHz)."""

    l: int
    power: np.ndarray
    nu0: float
    dnu: float

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


def lorentzian(nu, centre, width, height, asym=0.0):
    """H [(1 + b x)^2 + b^2] / (1 + x^2), x = 2 (nu - centre)/width (Nigam & Kosovichev form)."""
    x = 2.0 * (np.asarray(nu) - centre) / width
    return height * ((1.0 + asym * x) ** 2 + asym**2) / (1.0 + x * x)


def spectra_from_rows(l: int, rows: np.ndarray, freq0: float, dnu: float, mflipped: bool = False) -> Spectrum:
    """Spectra of m = -l..l at nu >= 0 from the pow layout: rows m = 0..l over fftshift frequencies
    freq0 + k dnu (freq0 < 0).  Mode (l, m >= 0) sits at +nu of row m, (l, -m) at -nu of row m
    (MFLIPPED = 0; MFLIPPED = 1 swaps the sign of m).  Frequencies in uHz."""
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[0] != l + 1:
        raise ValueError(f"pow rows of l={l} must have l+1 = {l + 1} rows (m = 0..l), got shape {rows.shape}")
    k0 = int(round(-freq0 / dnu))
    if not (0 <= k0 < rows.shape[1]) or abs(freq0 + k0 * dnu) > 1e-6 * dnu:
        raise ValueError(f"frequency axis starting at {freq0} with step {dnu} has no zero-frequency column")
    npos = min(rows.shape[1] - k0, k0 + 1)
    positive = rows[:, k0:k0 + npos]
    negative = rows[:, k0 - np.arange(npos)]  # -nu_k for k = 0..npos-1
    power = np.empty((2 * l + 1, npos))
    power[l:] = positive  # m = 0..l
    power[:l] = negative[1:][::-1]  # m = -l..-1 from rows l..1
    power[l] = positive[0]
    if mflipped:
        power = power[::-1]
    return Spectrum(l, power, 0.0, dnu)


class _Problem:
    """Everything fixed during one multiplet fit: data windows, leakage weights, neighbours."""

    def __init__(self, spec: Spectrum, n: int, guess: dict, table: ModeTable, leak: LeakageBlock,
                 settings: FitSettings):
        l = spec.l
        self.l, self.n, self.settings = l, n, settings
        self.nfree_a = min(settings.nacoeff, 2 * l)
        self.m = np.arange(-l, l + 1)
        self.poly = apols(l, max(self.nfree_a, 1))[1:self.nfree_a + 1] * 1e-3  # nHz -> uHz, (i, m)
        width = max(guess["width"], 2 * spec.dnu)
        self.half = max(settings.window_gammas * width, settings.window_min)
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
        self.src = np.clip(mp[:, keep], -l, l) + l  # index into m = -l..l
        self.neighbour = np.zeros_like(self.nu)
        self._neighbours(spec, n, table, leak, settings)
        self.nbins = int(self.valid.sum())
        self.evaluations = 0

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
            split = (a @ apols(lp, nac, m=np.clip(mps, -lp, lp).ravel().astype(float))[1:]).reshape(mps.shape) * 1e-3 \
                if nac else np.zeros(mps.shape)
            centres = table.nu[row] + split  # (m, s)
            prof = lorentzian(self.nu[:, None, :], centres[:, :, None], gamma, table.amp[row], 0.0)
            contrib = np.einsum("ms,msj->mj", k2[:, keep], prof)
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
        dM/d(ln H, ln Gamma, ln B[, b]) (q, m, j)."""
        nu_nl, a, height, gamma, bg, asym = self.unpack(theta)
        split = self.poly.T @ a if self.nfree_a else np.zeros(2 * self.l + 1)
        centre = (nu_nl + split)[self.src]  # (m, s)
        x = 2.0 * (self.nu[:, None, :] - centre[:, :, None]) / gamma  # (m, s, j)
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
        self._last = (x, den, prof, height, gamma)
        # dL/dx = H [2 b (1 + b x)(1 + x^2) - 2 x num] / (1 + x^2)^2
        if self.settings.asymmetric:
            dl_dx = height * (2.0 * asym * (1.0 + asym * x) - 2.0 * x * num * den) * den
        else:
            dl_dx = -2.0 * x * prof * den
        source = self.k2[:, :, None] * dl_dx * (-2.0 / gamma)  # dM/dcentre_s (m, s, j)
        rows = [peaks,  # d/d ln H
                np.einsum("msj,ms->mj", dl_dx * (-x), self.k2),  # d/d ln Gamma (dx/dlnG = -x)
                np.full_like(model, bg)]  # d/d ln B
        if self.settings.asymmetric:
            dl_db = height * (2.0 * x * (1.0 + asym * x) + 2.0 * asym) * den
            rows.append(np.einsum("msj,ms->mj", dl_db, self.k2))
        return model, source, np.array(rows)

    def objective(self, theta):
        self.evaluations += 1
        model, _, _ = self.model(theta)
        if not np.all(model[self.valid] > 0):
            return np.inf
        return float(np.sum((np.log(model) + self.data / model)[self.valid]))

    def score_and_fisher(self, theta, observed=False):
        """Gradient of -ln(likelihood) and the Fisher matrix (``observed``: the Hessian instead).

        The frequency parameters (nu_nl, a_i) act through the source centres only, centre_s =
        nu_nl + sum_i a_i P_i(m_s), so their rows are reduced per source first (T = sum_j D D w^2),
        which keeps the cost independent of the number of a-coefficients.  The observed Hessian is
        sum (2P/M - 1)/M^2 dM dM + sum (1/M - P/M^2) d2M (symmetric profile only)."""
        self.evaluations += 1
        model, source, rows = self.model(theta, derivatives=True)
        w = self.valid / model
        resid = w * (1.0 - self.data * w)  # (1/M - P/M^2) on valid bins
        w2 = w * w * (2.0 * self.data * w - 1.0) if observed else w * w
        q = np.concatenate([np.ones((1,) + self.src.shape), self.poly[:, self.src]]) \
            if self.nfree_a else np.ones((1,) + self.src.shape)  # dcentre/dp (p, m, s)
        grad_src = np.einsum("msj,mj->ms", source, resid)
        t = np.einsum("msj,mtj,mj->mst", source, source, w2)
        u = np.einsum("msj,qmj,mj->qms", source, rows, w2)
        nf, ng = q.shape[0], rows.shape[0]
        grad = np.concatenate([np.einsum("pms,ms->p", q, grad_src), np.einsum("qmj,mj->q", rows, resid)])
        if observed:
            x, den, prof, height, gamma = self._last
            d2l_dx2 = height * (6.0 * x * x - 2.0) * den**3
            dl_dx = -2.0 * x * prof * den
            k = self.k2[:, :, None]
            # d2M/dcentre^2 (diagonal in sources)
            t[:, np.arange(t.shape[1]), np.arange(t.shape[1])] += np.einsum(
                "msj,mj->ms", k * d2l_dx2 * (4.0 / gamma**2), resid)
            # d2M/dcentre dlnH = D; d2M/dcentre dlnGamma = K (-2/Gamma)(-x d2L/dx2 - dL/dx)
            u[0] += grad_src
            u[1] += np.einsum("msj,mj->ms", k * (-2.0 / gamma) * (-x * d2l_dx2 - dl_dx), resid)
        fisher = np.empty((nf + ng, nf + ng))
        fisher[:nf, :nf] = np.einsum("pms,mst,rmt->pr", q, t, q, optimize=True)
        fisher[:nf, nf:] = np.einsum("pms,qms->pq", q, u)
        fisher[nf:, :nf] = fisher[:nf, nf:].T
        fisher[nf:, nf:] = np.einsum("qmj,rmj,mj->qr", rows, rows, w2)
        if observed:
            x, den, prof, height, gamma = self._last
            k = self.k2[:, :, None]
            d2l_dx2 = height * (6.0 * x * x - 2.0) * den**3
            dl_dx = -2.0 * x * prof * den
            second = np.zeros((ng, ng))
            second[0, 0] = np.sum(rows[0] * resid)  # d2M/dlnH2 = peaks
            second[0, 1] = second[1, 0] = np.sum(rows[1] * resid)  # d2M/dlnH dlnG = dM/dlnG
            second[1, 1] = np.sum(np.einsum("msj,ms->mj", (d2l_dx2 * x * x + dl_dx * x), self.k2) * resid)
            second[2, 2] = np.sum(rows[2] * resid)  # d2M/dlnB2 = B
            fisher[nf:, nf:] += second[:ng, :ng] if ng == 3 else np.pad(second, (0, ng - 3))
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
    if prob.nbins < 10 * (prob.nfree_a + 4):
        return fail(f"only {prob.nbins} usable bins in the window")
    theta = _start(prob, guess, spec)
    value = prob.objective(theta)
    if not np.isfinite(value):
        return fail("starting model is not positive")
    lam = 1e-3
    converged = False
    it = 0
    small_gain = 0
    newton = not settings.asymmetric
    for it in range(1, settings.max_iter + 1):
        # Newton (observed Hessian) where it is positive definite, else Fisher scoring
        grad, fisher = prob.score_and_fisher(theta, observed=newton)
        if newton:
            try:
                np.linalg.cholesky(fisher)
            except np.linalg.LinAlgError:
                grad, fisher = prob.score_and_fisher(theta)
        if not (np.all(np.isfinite(grad)) and np.all(np.isfinite(fisher))):
            return fail("non-finite gradient", iterations=it)
        scale = np.sqrt(np.clip(np.diag(fisher), 1e-300, None))
        fs = fisher / np.outer(scale, scale)
        gs = grad / scale
        improved = False
        for _ in range(30):
            try:
                step = -np.linalg.solve(fs + lam * np.eye(len(gs)), gs) / scale
            except np.linalg.LinAlgError:
                lam *= 10
                continue
            trial = theta + step
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
    if not converged:
        return fail(f"no convergence in {settings.max_iter} iterations", iterations=it)
    grad, hessian = prob.score_and_fisher(theta, observed=newton and settings.errors == "hessian")
    try:
        np.linalg.cholesky(hessian)
        cov = np.linalg.inv(hessian)
    except np.linalg.LinAlgError:
        return fail("Hessian of -ln(likelihood) not positive definite at the end point", iterations=it)
    var = np.diag(cov)
    if not (np.all(np.isfinite(var)) and np.all(var > 0)):
        return fail("Hessian of -ln(likelihood) not positive definite at the end point", iterations=it)
    sig = np.sqrt(var)
    nu_nl, a_syn, height, gamma, bg, asym = prob.unpack(theta)
    na = prob.nfree_a
    if abs(nu_nl - guess["nu"]) > settings.max_shift * prob.half:
        return fail(f"nu moved {nu_nl - guess['nu']:+.3f} uHz from its guess (limit "
                    f"{settings.max_shift * prob.half:.3f})", iterations=it)
    if not spec.dnu <= gamma <= 2 * prob.half:
        return fail(f"width {gamma:.4g} uHz outside [{spec.dnu:.4g}, {2 * prob.half:.4g}]", iterations=it)
    if sig[0] > gamma:
        return fail(f"frequency error {sig[0]:.3g} uHz exceeds the width {gamma:.3g}", iterations=it)
    a = np.zeros(settings.nacoeff)
    a_err = np.zeros(settings.nacoeff)
    a[:na] = a_syn
    a_err[:na] = sig[1:1 + na]
    if na:
        a[0] += settings.orbital_nhz
    err = np.array([sig[0], height * sig[1 + na], gamma * sig[2 + na], bg * sig[3 + na],
                    sig[4 + na] if settings.asymmetric else ERROR_FLAG])
    return MultipletFit(n, l, True, "", nu_nl, height, gamma, bg, asym, err, a, a_err, it, prob.nbins, -value,
                        prob.evaluations * prob.k2.size * prob.nu.shape[1])


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
    width = max(guess["width"], 2 * spec.dnu)
    theta = [guess["nu"]]
    theta.extend(prob._synodic(guess["a"])[: prob.nfree_a])
    theta.extend([np.log(height), np.log(width), np.log(bg)])
    if prob.settings.asymmetric:
        theta.append(float(guess.get("asym", 0.0)))
    return np.array(theta, dtype=float)


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
