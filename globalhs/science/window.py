"""The window of a time series (1 = good sample, 0 = rejected) and its discontinuity sections.

A sample is rejected when its image is missing, when the image's QUALITY has a rejecting bit set,
when an instrument rule says so (MDI: the image stabilisation system, ISS, was off), or when the
total spherical-harmonic power at that time is an outlier against a running median (a bad image the
flags missed). The window is one per time sample, shared by every (l, m) of the data set: all these
causes spoil the whole image.

Discontinuities (instrument changes: focus, calibration, camera) split the series into sections that
are detrended separately; MDI's come from a hand-made list of times, HMI's from changes in keywords.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.ndimage import median_filter

__all__ = [
    "QUALITY_MISSING",
    "missing_samples",
    "quality_window",
    "keyword_window",
    "median_outliers",
    "sample_power",
    "breaks_from_times",
    "breaks_from_changes",
    "sections",
]

#: QUALITY bit of a missing image (SPEC §3; JSOC sets it on records with no image)
QUALITY_MISSING = 0x80000000


def missing_samples(data: np.ndarray) -> np.ndarray:
    """Bool (ndt,): True where every row of a jv2ts-layout array [rows, 2*ndt] is exactly zero
    (jv2ts writes missing images as exact zeros)."""
    data = np.asarray(data)
    if data.ndim != 2 or data.shape[1] % 2:
        raise ValueError(f"expected a jv2ts array [rows, 2*NDT], got shape {data.shape}")
    pairs = data.reshape(data.shape[0], -1, 2)
    return ~np.any(pairs != 0, axis=(0, 2))


def quality_window(quality: Sequence[int], badmask: int = QUALITY_MISSING) -> np.ndarray:
    """Bool window: good where none of the ``badmask`` bits is set in QUALITY."""
    q = np.asarray(quality, dtype=np.int64) & 0xFFFFFFFF
    return (q & badmask) == 0


def keyword_window(values: Sequence[object], good_values: Sequence[object]) -> np.ndarray:
    """Bool window from an instrument keyword: good where the value is one of ``good_values``
    (e.g. MDI's ISS state "closed"; compared as stripped, case-insensitive strings)."""
    allowed = {str(v).strip().lower() for v in good_values}
    return np.array([str(v).strip().lower() in allowed for v in values], dtype=bool)


def sample_power(data: np.ndarray) -> np.ndarray:
    """Total power sum over rows of |a_lm(t)|^2 per time sample of a jv2ts-layout array."""
    pairs = np.asarray(data, dtype=np.float64).reshape(data.shape[0], -1, 2)
    return np.sum(pairs**2, axis=(0, 2))


def _running_median(values: np.ndarray, width: int) -> np.ndarray:
    """Median over ``width`` samples centred on each sample; within half a width of either end, the
    median of the first (last) full window, so the ends are not dominated by padding."""
    width = min(width, len(values))
    half = width // 2
    med = median_filter(values, size=width, mode="nearest")
    if len(values) > width:
        med[:half] = med[half]
        med[len(values) - (width - 1 - half) :] = med[len(values) - (width - 1 - half) - 1]
    else:
        med[:] = np.median(values)
    return med


def median_outliers(power: np.ndarray, good: np.ndarray, width: int = 61, nsigma: float = 6.0) -> np.ndarray:
    """Bool mask of outliers: good samples whose power departs from the running median (over
    ``width`` good samples) by more than ``nsigma`` robust standard deviations (1.4826 x the
    running median absolute deviation). Bad samples are skipped, not counted as zeros."""
    power = np.asarray(power, dtype=np.float64)
    good = np.asarray(good, dtype=bool)
    out = np.zeros(power.shape, dtype=bool)
    idx = np.flatnonzero(good)
    if len(idx) < 3:
        return out
    p = power[idx]
    med = _running_median(p, width)
    dev = np.abs(p - med)
    mad = _running_median(dev, width)
    scale = 1.4826 * np.maximum(mad, 1e-12 * np.maximum(np.abs(med), 1e-300))
    out[idx] = dev > nsigma * scale
    return out


def breaks_from_times(times: Sequence[float], t_start: float, cadence: float, ndt: int) -> list[int]:
    """Sample indices where a new section starts, from discontinuity times (internal TAI seconds);
    times outside (t_start, t_start + ndt*cadence) are ignored."""
    out = set()
    for t in times:
        k = int(np.ceil((t - t_start) / cadence - 1e-9))
        if 0 < k < ndt:
            out.add(k)
    return sorted(out)


def breaks_from_changes(values: Sequence[object], good: np.ndarray) -> list[int]:
    """Sample indices where a keyword (HMI: e.g. CALVER64, the camera, focus) changes value between
    consecutive good samples; the break is put at the first sample with the new value."""
    good = np.asarray(good, dtype=bool)
    idx = np.flatnonzero(good)
    vals = [values[i] for i in idx]
    return [int(idx[j]) for j in range(1, len(idx)) if vals[j] != vals[j - 1]]


def sections(ndt: int, breaks: Sequence[int]) -> list[tuple[int, int]]:
    """(start, stop) sample ranges between the breaks, covering 0..ndt."""
    edges = [0] + sorted({int(b) for b in breaks if 0 < int(b) < ndt}) + [ndt]
    return [(edges[i], edges[i + 1]) for i in range(len(edges) - 1)]
