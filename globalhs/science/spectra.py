"""Fourier transforms and power spectra of the a_lm(t) series, and the slices of a series.

Normalisation (one convention everywhere, so that spectra of different lengths compare directly):

    X_k = (1/N) sum_t x_t exp(-2 pi i k t / N),    P_k = |X_k|^2,    nu_k = k / (N dt)

so a complex exponential A exp(2 pi i nu_k t) gives P_k = |A|^2, a real sinusoid A cos(...) gives
|A|^2/4 at +nu_k and at -nu_k, and Parseval reads sum_k P_k = mean |x_t|^2 (gaps count as zeros; the
duty cycle is recorded beside the spectra so a user can divide by it).

Frequencies are stored in increasing order from -nu_Nyquist (``numpy.fft.fftshift`` order). With
jv2ts' sign convention (MFLIPPED=0, c_m = sum f exp(+i m phi)), a mode (l, m >= 0) of positive
frequency nu appears in row (l, m) at +nu and the mode (l, -m) at -nu, so one row holds both signs
of m.
"""

from __future__ import annotations

import numpy as np
import scipy.fft

__all__ = ["fourier", "power", "frequencies", "slice_starts", "spectrum_keywords"]


def fourier(x: np.ndarray, workers: int | None = None) -> np.ndarray:
    """X_k = (1/N) FFT(x) along the last axis, in increasing-frequency (fftshift) order, complex64
    for single-precision input."""
    x = np.asarray(x)
    n = x.shape[-1]
    spec = scipy.fft.fft(x, axis=-1, workers=workers, norm="forward")
    return np.fft.fftshift(spec, axes=-1)


def power(x: np.ndarray, workers: int | None = None) -> np.ndarray:
    """P_k = |X_k|^2 with :func:`fourier`'s normalisation and order."""
    spec = fourier(x, workers)
    return spec.real**2 + spec.imag**2


def frequencies(n: int, dt: float) -> np.ndarray:
    """Frequencies (Hz) of :func:`fourier`'s columns: (k - n//2) / (n dt), k = 0..n-1."""
    return (np.arange(n) - n // 2) / (n * dt)


def slice_starts(ntotal: int, nslice: int, nstep: int, offset: int = 0) -> np.ndarray:
    """Sample starts of the slices of ``nslice`` samples stepped by ``nstep`` from ``offset`` that fit
    in ``ntotal`` samples; ValueError when not even one fits."""
    if nslice <= 0 or nstep <= 0 or offset < 0:
        raise ValueError(f"slice length {nslice} and step {nstep} must be positive, offset {offset} >= 0")
    if offset + nslice > ntotal:
        raise ValueError(f"a slice of {nslice} samples from sample {offset} does not fit in {ntotal} samples")
    return np.arange(offset, ntotal - nslice + 1, nstep)


def spectrum_keywords(n: int, dt: float) -> dict[str, float | int]:
    """Keywords that describe a stored spectrum's frequency axis: first frequency and spacing (Hz)."""
    return {"NFREQ": int(n), "FREQ0": float(-(n // 2) / (n * dt)), "DELTA_NU": float(1.0 / (n * dt))}
