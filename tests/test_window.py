"""Window rules and discontinuity sections."""

from __future__ import annotations

import numpy as np

from globalhs.science import window as W


def _jv2ts(rows, ndt, rng):
    data = rng.normal(size=(rows, 2 * ndt)).astype(np.float32)
    return data


def test_missing_images_are_all_zero_columns():
    rng = np.random.default_rng(0)
    data = _jv2ts(5, 100, rng)
    data[:, 2 * 10 : 2 * 13] = 0  # samples 10..12 missing
    data[0, 2 * 50] = 0  # one zero value is not a missing image
    missing = W.missing_samples(data)
    assert list(np.flatnonzero(missing)) == [10, 11, 12]


def test_quality_and_keyword_rules():
    q = [0, 0x80000000, 0x4, -0x80000000, 0x200]
    assert list(W.quality_window(q)) == [True, False, True, False, True]
    assert list(W.quality_window(q, badmask=0x80000200)) == [True, False, True, False, False]
    assert list(W.keyword_window(["CLOSED", "open", " closed "], ["closed"])) == [True, False, True]


def test_median_filter_finds_spikes_not_trends():
    rng = np.random.default_rng(1)
    n = 2000
    power = 100 + 0.02 * np.arange(n) + rng.normal(scale=1.0, size=n)  # slow drift + noise
    power[[300, 1500]] *= 3
    good = np.ones(n, dtype=bool)
    good[800:820] = False
    power[800:820] = 0  # missing samples are not outliers and do not disturb the median
    out = W.median_outliers(power, good, width=61, nsigma=6)
    assert list(np.flatnonzero(out)) == [300, 1500]


def test_power_per_sample():
    data = np.zeros((2, 6), dtype=np.float32)
    data[0, 0:2] = [3, 4]
    data[1, 0] = 1
    assert list(W.sample_power(data)) == [26, 0, 0]


def test_breaks_and_sections():
    assert W.breaks_from_times([100.0, 160.0, 1e9, -5], t_start=0.0, cadence=60.0, ndt=10) == [2, 3]
    good = np.array([1, 1, 0, 1, 1, 1], dtype=bool)
    assert W.breaks_from_changes(["a", "a", "x", "b", "b", "c"], good) == [3, 5]
    assert W.sections(10, [3, 7, 7, 0, 12]) == [(0, 3), (3, 7), (7, 10)]
