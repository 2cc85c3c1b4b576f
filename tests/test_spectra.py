"""Power spectra: documented normalisation, frequency axis, slices; the real GOLF p-mode spectrum."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import uniform_filter1d

from globalhs.science.spectra import fourier, frequencies, power, slice_starts, spectrum_keywords


def test_unit_complex_exponential_gives_unit_power_at_its_frequency():
    n, dt = 1000, 60.0
    k = 37
    t = np.arange(n) * dt
    x = 2.0 * np.exp(2j * np.pi * (k / (n * dt)) * t)
    p = power(x)
    nu = frequencies(n, dt)
    assert nu[np.argmax(p)] == pytest.approx(k / (n * dt))
    assert p.max() == pytest.approx(4.0)
    assert p.sum() == pytest.approx(np.mean(np.abs(x) ** 2))  # Parseval
    xr = np.cos(2 * np.pi * (k / (n * dt)) * t)
    pr = power(xr)
    assert pr[np.argmin(np.abs(nu - k / (n * dt)))] == pytest.approx(0.25)
    assert pr[np.argmin(np.abs(nu + k / (n * dt)))] == pytest.approx(0.25)


def test_keywords_describe_the_axis():
    for n in (8, 9):
        kw = spectrum_keywords(n, 45.0)
        np.testing.assert_allclose(kw["FREQ0"] + kw["DELTA_NU"] * np.arange(n), frequencies(n, 45.0))
        assert frequencies(n, 45.0)[n // 2] == 0


def test_fourier_single_precision_stays_single():
    assert fourier(np.ones(16, dtype=np.complex64)).dtype == np.complex64


def test_slices():
    assert list(slice_starts(72, 24, 12)) == [0, 12, 24, 36, 48]
    assert list(slice_starts(72, 24, 12, offset=6)) == [6, 18, 30, 42]
    with pytest.raises(ValueError, match="does not fit"):
        slice_starts(72, 80, 3)


def _hmi_low_degree_modes(path_6400, path_6328):
    """(l, nu) of the l <= 2 modes in the HMI tables (averaged where both have the mode)."""
    table: dict[tuple[int, int], list[float]] = {}
    for path in (path_6400, path_6328):
        for l, n, nu in np.loadtxt(path, usecols=(0, 1, 2)):
            if l <= 2:
                table.setdefault((int(l), int(n)), []).append(nu)
    return {key: float(np.mean(v)) for key, v in table.items()}


@pytest.mark.refdata
def test_golf_spectrum_shows_low_degree_p_modes_at_hmi_frequencies(refdata):
    """A year of GOLF (1996-97, solar minimum) against HMI's 2010 fits. The strongest peak in
    2.9-3.2 mHz must be a tabulated l <= 2 mode within 1 uHz (activity shift 1996 -> 2010 ~0.2 uHz at
    3 mHz; the smoothing covers the m-splitting a Sun-as-a-star instrument sees), and every tabulated
    l <= 2 mode from 2.5 to 3.6 mHz must have the strongest peak of its +-4 uHz neighbourhood within
    1 uHz. hmi.6400.36 has no l <= 2 mode between 2.9 and 3.2 mHz (HMI's fit skips several low-l
    modes), so hmi.6328.36.72d supplies l=1 n=21 and l=2 n=21."""
    from astropy.io import fits

    x = np.asarray(fits.getdata(refdata("golf", "golf_11041996_10041997.fits")), dtype=np.float64)
    modes = _hmi_low_degree_modes(refdata("hmi_modes", "hmi.6400.36"), refdata("hmi_modes", "hmi.6328.36.72d"))
    dt = 20.0
    n = len(x)
    p = power(x)[n // 2 :]  # real series: the positive half suffices
    nu = frequencies(n, dt)[n // 2 :] * 1e6  # uHz
    bins_per_uhz = 1.0 / (nu[1] - nu[0])
    # 2 uHz boxcar: covers an l=2 multiplet's m = +-2 components (+-0.8 uHz) and the linewidth,
    # so the smoothed maximum sits at the multiplet's centre
    smooth = uniform_filter1d(p, int(round(2 * bins_per_uhz)))
    band = (nu > 2900) & (nu < 3200)
    strongest = nu[band][np.argmax(smooth[band])]
    nearest = min(modes.values(), key=lambda f: abs(f - strongest))
    print(f"strongest GOLF peak 2.9-3.2 mHz: {strongest:.2f} uHz; nearest HMI l<=2 mode {nearest:.2f} uHz")
    assert abs(strongest - nearest) < 1.0
    checked = 0
    for (l, order), f in sorted(modes.items()):
        if not 2500 < f < 3600:
            continue
        near = np.abs(nu - f) < 4.0
        peak = nu[near][np.argmax(smooth[near])]
        assert abs(peak - f) < 1.0, f"l={l} n={order}: GOLF peak {peak:.2f} uHz, HMI {f:.2f} uHz"
        checked += 1
    assert checked >= 8
