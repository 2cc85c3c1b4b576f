"""Synthetic p modes: stochastically excited, damped oscillators streamed in the time domain.

Each mode (n, l, m) is a complex Ornstein-Uhlenbeck process sampled exactly: a complex AR(1)

    z_k = c z_{k-1} + e_k,   c = exp((-pi Gamma + 2 pi i nu) dt),   E|e|^2 = s^2 (1 - |c|^2)

(SCIENCE.md section 8), whose stationary variance is exactly s^2 and whose spectrum is one Lorentzian
of full width Gamma at +nu. Time runs as exp(-2 pi i nu t) on the field ``Re(z Y_lm)`` (the
propagation convention of SPEC section 3: a mode with m > 0 moves prograde), so the recursion uses
``conj(c)``. The state is one complex number per mode, so any length is made in bounded memory, and
the excitation is drawn from one seeded generator in whole time steps, so the output does not depend
on how the caller blocks the stream. Starting from the stationary distribution needs no burn-in.

Frequencies are sidereal: nu_nlm = nu_nl + sum_i a_i P_i^(l)(m) (SCIENCE.md section 4, with a1 in
the sidereal frame as in the HMI tables). The observer moves prograde about the solar axis by the
angle eta(t) (``globalhs.science.ephemeris``); in the frame of the central meridian a mode's
coefficient is ``z exp(i m eta(t))``, which lowers its frequency by m eta'/2pi (about 31.7 nHz per m):
the synodic frequencies come out exactly, with the small annual variation of the orbital rate.

The real AR(2) form of the same oscillator (``ar2_coefficients``) is here for real series (a
Sun-as-a-star signal); the pipeline's m-resolved fields use the complex form.

Also here: the gap pattern of an instrument (missing images and bad-quality images at a chosen duty
cycle, in runs like real telemetry gaps) and a granulation-like background.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import scipy.sparse

from globalhs.science.apols import splittings
from globalhs.science.modetable import ModeTable
from globalhs.science.observe import horizontal_ratio

__all__ = [
    "ModeSet",
    "ar1_coefficients",
    "ar2_coefficients",
    "ar2_variance",
    "mode_set",
    "ModeOscillators",
    "alm_index",
    "field_coefficients",
    "SphericalFieldStream",
    "gap_pattern",
]

def ar1_coefficients(nu: np.ndarray, width: np.ndarray, variance: np.ndarray, dt: float):
    """Complex AR(1) step and excitation rms for modes of frequency ``nu`` and FWHM ``width`` (Hz).

    Returns ``(c, sigma_e)`` with ``c = exp((-pi width + 2 pi i nu) dt)`` and
    ``sigma_e**2 = variance (1 - |c|^2)`` so that the stationary ``E|z|^2`` equals ``variance``.
    """
    nu, width, variance = np.broadcast_arrays(*(np.asarray(a, dtype=float) for a in (nu, width, variance)))
    if np.any(width <= 0):
        raise ValueError("mode widths must be positive (an undamped mode has no stationary variance)")
    decay = np.exp(-np.pi * width * dt)
    c = decay * np.exp(2j * np.pi * nu * dt)
    sigma_e = np.sqrt(variance * (1.0 - decay**2))
    return c, sigma_e


def ar2_coefficients(nu: float, width: float, variance: float, dt: float) -> tuple[float, float, float]:
    """Real AR(2) ``(phi1, phi2, sigma_e)`` of one damped oscillator with stationary variance ``variance``.

    phi1 = 2 exp(-pi Gamma dt) cos(2 pi nu dt), phi2 = -exp(-2 pi Gamma dt) (exact pole mapping), and
    sigma_e^2 = variance (1 + phi2)((1 - phi2)^2 - phi1^2)/(1 - phi2) (SCIENCE.md section 8).
    """
    phi1 = 2.0 * np.exp(-np.pi * width * dt) * np.cos(2.0 * np.pi * nu * dt)
    phi2 = -np.exp(-2.0 * np.pi * width * dt)
    sigma_e2 = variance * (1 + phi2) * ((1 - phi2) ** 2 - phi1**2) / (1 - phi2)
    return float(phi1), float(phi2), float(np.sqrt(sigma_e2))


def ar2_variance(phi1: float, phi2: float, sigma_e: float) -> float:
    """Stationary variance of x_n = phi1 x_{n-1} + phi2 x_{n-2} + e_n."""
    return sigma_e**2 * (1 - phi2) / ((1 + phi2) * ((1 - phi2) ** 2 - phi1**2))


@dataclass(frozen=True)
class ModeSet:
    """Every (n, l, m) to synthesise, flattened; frequencies in Hz (sidereal), variances in (m/s)^2."""

    l: np.ndarray
    n: np.ndarray
    m: np.ndarray
    nu: np.ndarray
    width: np.ndarray
    variance: np.ndarray
    beta: np.ndarray

    def __len__(self) -> int:
        return int(self.l.size)

    @property
    def lmax(self) -> int:
        return int(self.l.max()) if len(self) else 0

    def select(self, keep: np.ndarray) -> "ModeSet":
        """The modes where ``keep`` is true."""
        return ModeSet(**{f.name: getattr(self, f.name)[keep] for f in fields(self)})


def mode_set(table: ModeTable, *, lmin: int = 0, lmax: int, amplitude_scale: float = 1.0) -> ModeSet:
    """Expand the multiplets of a mode table into modes (n, l, m), m = -l..l, with lmin <= l <= lmax.

    The table's amplitude column is taken as the mode variance in (m/s)^2 (times
    ``amplitude_scale``), the same for every m of a multiplet; frequencies are nu_nl + sum_i a_i
    P_i(m) (a in nHz, sidereal). Multiplets with a non-positive width, frequency or amplitude are
    left out (tables flag failed fits so).
    """
    keep = (table.l >= lmin) & (table.l <= lmax) & (table.width > 0) & (table.nu > 0) & (table.amp > 0)
    parts: dict[str, list[np.ndarray]] = {k: [] for k in ("l", "n", "m", "nu", "width", "variance", "beta")}
    for j in np.flatnonzero(keep):
        ell = int(table.l[j])
        ms = np.arange(-ell, ell + 1)
        nu = table.nu[j] * 1e-6 + splittings(table.a[j], ell) * 1e-9
        parts["l"].append(np.full(ms.size, ell))
        parts["n"].append(np.full(ms.size, int(table.n[j])))
        parts["m"].append(ms)
        parts["nu"].append(nu)
        parts["width"].append(np.full(ms.size, table.width[j] * 1e-6))
        parts["variance"].append(np.full(ms.size, table.amp[j] * amplitude_scale))
        parts["beta"].append(np.full(ms.size, float(horizontal_ratio(table.nu[j]))))
    if not parts["l"]:
        raise ValueError(f"no usable multiplet with {lmin} <= l <= {lmax} in the mode table")
    return ModeSet(**{k: np.concatenate(v) for k, v in parts.items()})


class ModeOscillators:
    """The streaming state of many complex AR(1) modes; ``advance(k)`` returns the next k samples.

    Deterministic for a seed, and independent of how the stream is cut into ``advance`` calls: the
    excitation of step k is always the k-th row of one generator's normal stream.
    """

    def __init__(self, nu, width, variance, dt: float, rng: np.random.Generator, *, block: int = 64):
        self.c, self.sigma_e = ar1_coefficients(nu, width, variance, dt)
        self.c = np.conj(self.c)  # time runs as exp(-2 pi i nu t)
        self._rng = rng
        self._block = block
        self._excitation_scale = (self.sigma_e / np.sqrt(2.0)).astype(np.float32)
        # The same scale for the real and imaginary float32 draws, interleaved as a complex64 is.
        self._pair_scale = np.repeat(self._excitation_scale, 2)
        self._draws: np.ndarray | None = None
        std = np.sqrt(np.asarray(variance, dtype=float) / 2.0)
        self.state = std * (rng.standard_normal(self.c.size) + 1j * rng.standard_normal(self.c.size))

    def _excitation(self, k: int) -> np.ndarray:
        """The next k steps' excitation, complex64 (k, nmodes), in a buffer reused between calls.

        float32 draws: twice as fast, and the excitation needs no more precision than that. Drawn
        in place (``out=``) and scaled in place: no fresh pages per block (first-touch page faults
        of a new 50 MB buffer cost as much as the draws at lmax 60)."""
        if self._draws is None or self._draws.shape[0] < k:
            self._draws = np.empty((k, 2 * self.c.size), dtype=np.float32)
        draws = self._draws[:k]
        self._rng.standard_normal(out=draws, dtype=np.float32)
        draws *= self._pair_scale
        return draws.view(np.complex64)

    def advance(self, k: int, out: np.ndarray | None = None) -> np.ndarray:
        """The next ``k`` samples of every mode, shape (k, nmodes) (into ``out`` if given)."""
        if out is None:
            out = np.empty((k, self.c.size), dtype=complex)
        done = 0
        previous = self.state
        while done < k:
            size = min(self._block, k - done)
            eps = self._excitation(size)
            for i in range(size):
                row = out[done + i]
                np.multiply(previous, self.c, out=row)
                row += eps[i]
                previous = row
            done += size
        self.state = previous.copy()
        return out


def alm_index(l: np.ndarray, m: np.ndarray, lmax: int) -> np.ndarray:
    """Position of (l, m >= 0) in a healpy/ducc0 ``alm`` vector (m-major)."""
    return m * (2 * lmax + 1 - m) // 2 + l


class SphericalFieldStream:
    """Spherical-harmonic coefficients of the synthetic velocity field, one time step at a time.

    The field is ``Re sum_{n,l,m} z_nlm(t) [e_r Y_lm + beta_nl grad_h Y_lm]`` (displacement velocity,
    radial and horizontal parts) in the central-meridian frame. ``next(k)`` returns two real-field
    coefficient sets in the ducc0/healpy layout (real map = sum a_l0 Y_l0 + 2 Re sum_{m>0} a_lm Y_lm):
    ``radial`` and ``horizontal`` (the latter to be synthesised as a gradient), shape (k, nalm) each.
    A background (granulation-like: a complex AR(1) at zero frequency per (l, m) with e-folding time
    ``1/(pi background_width)``) is added to the radial part when ``background_variance`` > 0.
    """

    def __init__(
        self,
        modes: ModeSet,
        *,
        lmax: int,
        dt: float,
        seed: int,
        background_variance: float = 0.0,
        background_width: float = 3e-4,
    ):
        self.modes, self.lmax, self.dt = modes, int(lmax), float(dt)
        if modes.lmax > self.lmax:
            raise ValueError(f"modes reach l={modes.lmax} beyond lmax={lmax}")
        mode_rng, background_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
        self._modes = ModeOscillators(modes.nu, modes.width, modes.variance, dt, mode_rng)
        self.nalm = (self.lmax + 1) * (self.lmax + 2) // 2
        self._multiplets = _MultipletFold.of(modes, self.lmax)
        if self._multiplets is None:  # modes not in whole multiplets grouped by l: the general sparse fold
            self._radial = _folding_matrices(modes.l, modes.m, self.lmax)
            self._horizontal = _folding_matrices(modes.l, modes.m, self.lmax, weight=modes.beta)
        self._z = np.empty((0, len(modes)), dtype=complex)
        self._alm_m = np.concatenate([np.full(self.lmax + 1 - m, m) for m in range(self.lmax + 1)])
        self._background = None
        if background_variance > 0:
            bl = np.concatenate([np.full(2 * ell + 1, ell) for ell in range(1, self.lmax + 1)])
            bm = np.concatenate([np.arange(-ell, ell + 1) for ell in range(1, self.lmax + 1)])
            self._background_fold = _folding_matrices(bl, bm, self.lmax)
            self._background = ModeOscillators(
                np.zeros(bl.size), np.full(bl.size, background_width), np.full(bl.size, background_variance),
                dt, background_rng,
            )
        self.step = 0

    def next(self, k: int, eta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Coefficients of the next ``k`` steps, given the observer angle ``eta`` (rad) at each step."""
        eta = np.asarray(eta, dtype=float).reshape(k, 1)
        if self._z.shape[0] < k:  # one buffer for the mode series, reused (no fresh pages per call)
            self._z = np.empty((k, len(self.modes)), dtype=complex)
        z = self._modes.advance(k, out=self._z[:k])
        if self._multiplets is not None:
            radial, horizontal = self._multiplets.fold(z)
        else:
            radial = _fold(self._radial, z)
            horizontal = _fold(self._horizontal, z)
        # The frame rotation exp(i m eta) multiplies every mode of azimuthal order m; a mode of order
        # -|m| enters the |m| coefficient conjugated, so its factor is exp(i |m| eta) as well: the
        # rotation acts on the folded coefficients, one factor per (l, m >= 0).
        phase = np.exp(1j * eta * self._alm_m[None, :])
        radial *= phase
        horizontal *= phase
        if self._background is not None:
            # The background is defined in the rotating frame of the observer: no frame rotation.
            radial += _fold(self._background_fold, self._background.advance(k))
        self.step += k
        return radial, horizontal


class _MultipletFold:
    """The fold of ``_folding_matrices`` for modes laid out as a mode table gives them: whole
    multiplets (m = -l..l in order), all multiplets of one l next to each other (``mode_set`` of a
    table sorted by l, then n). Each l is then a (k, N_l, 2l+1) view of the series; summing it over
    the N_l radial orders (weighted by beta for the horizontal part) and pairing m with -m gives the
    coefficients in a few array operations per l, at memory speed, where a sparse product with the
    series costs as much as drawing its excitation (docs/performance.md, synth)."""

    def __init__(self, lmax: int, blocks: list[tuple[int, int, int, np.ndarray]]):
        self.lmax = lmax
        # Per l: the weights (1, beta) of its multiplets as a complex (2, count) matrix for matmul.
        self.blocks = [(ell, first, count, np.stack([np.ones(count), beta]).astype(complex))
                       for ell, first, count, beta in blocks]
        present = np.zeros((lmax + 1) ** 2, dtype=bool)
        for ell, *_ in blocks:
            present[ell * ell: (ell + 1) ** 2] = True
        self.missing = np.flatnonzero(~present)  # degrees without modes: zero sums
        ells = np.concatenate([np.full(ell, ell) for ell in range(1, lmax + 1)]) if lmax else np.zeros(0, int)
        ms = np.concatenate([np.arange(1, ell + 1) for ell in range(1, lmax + 1)]) if lmax else np.zeros(0, int)
        # In the summed array S (k, (lmax+1)^2), (l, m) sits at l^2 + l + m.
        self.zero_src = np.arange(lmax + 1) ** 2 + np.arange(lmax + 1)
        self.zero_dst = alm_index(np.arange(lmax + 1), np.zeros(lmax + 1, int), lmax)
        self.plus_src, self.minus_src = ells**2 + ells + ms, ells**2 + ells - ms
        self.pos_dst = alm_index(ells, ms, lmax)
        self.sign = np.where(ms % 2 == 1, -1.0, 1.0)

    @classmethod
    def of(cls, modes: "ModeSet", lmax: int) -> "_MultipletFold | None":
        """The layout of ``modes`` as (l, first mode, number of multiplets, beta per multiplet), or None."""
        l, m = np.asarray(modes.l), np.asarray(modes.m)
        if l.size == 0 or np.any(np.diff(l) < 0):
            return None
        starts = np.flatnonzero(m == -l)
        sizes = 2 * l[starts] + 1
        if starts.size == 0 or starts[0] != 0 or np.any(np.diff(np.append(starts, l.size)) != sizes):
            return None
        offset = np.arange(l.size) - np.repeat(starts, sizes)
        beta = np.asarray(modes.beta, dtype=float)
        if np.any(m != offset - l) or np.any(beta != np.repeat(beta[starts], sizes)):
            return None  # not whole multiplets, or beta varying within one
        blocks = []
        for ell in np.unique(l[starts]):
            first = starts[l[starts] == ell]
            blocks.append((int(ell), int(first[0]), first.size, beta[first]))
        return cls(lmax, blocks)

    def fold(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(radial, horizontal) coefficients (k, nalm) of the series z (k, nmodes)."""
        k = z.shape[0]
        nalm = (self.lmax + 1) * (self.lmax + 2) // 2
        summed = np.empty((k, 2, (self.lmax + 1) ** 2), dtype=complex)
        for ell, first, count, weights in self.blocks:
            width = 2 * ell + 1
            block = z[:, first:first + count * width].reshape(k, count, width)
            # (2, count) @ (k, count, width): the plain and the beta-weighted sums over n in one pass.
            summed[:, :, ell * ell: ell * ell + width] = np.matmul(weights, block)
        summed[:, :, self.missing] = 0
        summed = summed.transpose(1, 0, 2)
        out = np.empty((2, k, nalm), dtype=complex)
        # a_l0 = Re S_l0; a_lm = (S_lm + (-1)^m conj(S_l,-m)) / 2 for m > 0 (see _folding_matrices).
        out[:, :, self.zero_dst] = summed[:, :, self.zero_src].real
        out[:, :, self.pos_dst] = 0.5 * (summed[:, :, self.plus_src] + self.sign * np.conj(summed[:, :, self.minus_src]))
        return out[0], out[1]


def _folding_matrices(l: np.ndarray, m: np.ndarray, lmax: int, weight: np.ndarray | None = None):
    """Sparse maps from mode series z to real-field coefficients a = P z + N conj(z), returned as the
    real pair (P + N, P - N), so that a = (P + N) Re z + i (P - N) Im z.

    Re(z Y_lm) = 2 Re((z/2) Y_lm) for m > 0, Re(z) Y_l0 for m = 0, and for m < 0
    Re(z Y_l,-|m|) = 2 Re(((-1)^m conj(z)/2) Y_l|m|), since Y_l,-m = (-1)^m conj(Y_lm).
    For m = 0 both P and N carry 1/2 so that a_l0 = Re(z).
    """
    nalm = (lmax + 1) * (lmax + 2) // 2
    weight = np.ones(l.size) if weight is None else np.asarray(weight, dtype=float)
    index = alm_index(l, np.abs(m), lmax)
    cols = np.arange(l.size)
    pos = np.where(m >= 0, 0.5, 0.0) * weight
    neg = np.where(m <= 0, 0.5 * np.where(np.abs(m) % 2 == 1, -1.0, 1.0), 0.0) * weight
    shape = (nalm, l.size)
    # Stored transposed (modes x alm), so that the time-major series z (k, modes) multiply from the left.
    return (
        scipy.sparse.csr_array(((pos + neg), (cols, index)), shape=shape[::-1]),
        scipy.sparse.csr_array(((pos - neg), (cols, index)), shape=shape[::-1]),
    )


def field_coefficients(l, m, z, lmax: int, weight=None) -> np.ndarray:
    """Real-field coefficients (ducc0 layout) of ``Re sum_j weight_j z_j Y_{l_j m_j}``.

    ``z`` may have a leading time axis (k, nmodes); the result then has shape (k, nalm).
    """
    z = np.asarray(z, dtype=complex)
    out = _fold(_folding_matrices(np.asarray(l), np.asarray(m), lmax, weight), np.atleast_2d(z))
    return out if z.ndim == 2 else out[0]


def _fold(matrices, z: np.ndarray) -> np.ndarray:
    """Coefficients (k, nalm) of mode series z (k, nmodes) through a pair of folding matrices."""
    plus_t, minus_t = matrices
    out = (z.real @ plus_t).astype(complex)
    out.imag = z.imag @ minus_t
    return out


def gap_pattern(
    n: int, duty_cycle: float, rng: np.random.Generator, *, mean_gap: float = 10.0, flagged_fraction: float = 0.5
) -> np.ndarray:
    """Status of ``n`` consecutive images: 0 good, 1 missing, 2 present but flagged bad (QUALITY).

    Gaps come in runs, as telemetry gaps do: a two-state Markov chain with mean run length
    ``mean_gap`` images and stationary fraction of good images ``duty_cycle``; each run is either
    missing or flagged (probability ``flagged_fraction``). ``duty_cycle=1`` gives no gaps.
    """
    if not 0 < duty_cycle <= 1:
        raise ValueError(f"duty cycle {duty_cycle} must be in (0, 1]")
    status = np.zeros(n, dtype=np.int8)
    if duty_cycle == 1 or n == 0:
        return status
    q = 1.0 / max(mean_gap, 1.0)                      # bad -> good
    p = q * (1 - duty_cycle) / duty_cycle             # good -> bad, so that p/(p+q) = 1 - duty
    if p > 1:
        raise ValueError(f"duty cycle {duty_cycle} too low for mean gap {mean_gap} images")
    u = rng.random(n)
    flagged = rng.random(n) < flagged_fraction
    bad = rng.random() < (1 - duty_cycle)
    run_kind = 2 if flagged[0] else 1
    for i in range(n):
        if bad:
            status[i] = run_kind
            bad = u[i] >= q
        else:
            bad = u[i] < p
            run_kind = 2 if flagged[i] else 1
    return status
