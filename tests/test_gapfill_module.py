"""mkgaps, gapfill, gfgaps (mkgaps gapfilled=1), pow and slice on a small synthetic data set."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import lfilter

from globalhs.drms import DrmsError, open_store
from globalhs.drms.builtin import synth_V, timeseries_series
from globalhs.modules.base import ModuleError
from globalhs.modules.gapfill import MODULE as GAPFILL
from globalhs.modules.mkgaps import MODULE as MKGAPS
from globalhs.modules.pow import MODULE as POW
from globalhs.modules.slice import MODULE as SLICE
from globalhs.science import arfill, spectra
from globalhs.science.detrend import polynomial_fit
from globalhs.time import format_time
from tsdata import DT, T0, nrows

LMAX = 3
NDT = 2880  # two days at 60 s
SHORT_GAPS = [(300, 301), (700, 705), (1500, 1508), (2400, 2402)]
LONG_GAP = (1000, 1200)
SPIKE = 2000


def _series_set(rng):
    """Complex AR(2) signals (sharp peaks, like modes) plus a cubic trend, per (l, m)."""
    t = np.linspace(-1, 1, NDT)
    rows = nrows(0, LMAX)
    z = np.empty((rows, NDT), dtype=np.complex128)
    for i in range(rows):
        w = 0.2 + 0.05 * i
        noise = rng.normal(size=NDT) + 1j * rng.normal(size=NDT)
        z[i] = lfilter([1.0], [1, -0.995 * np.exp(1j * w)], noise)  # one complex pole: a mode at +w
        z[i] += (3 + 2j) * t ** 3 - 1.5 * t + 4
    return z


def _write_retiled(series, z, missing):
    store = open_store()
    store.ensure_series(timeseries_series(series))
    data = z.astype(np.complex64)
    data[:, missing] = 0
    with store.writer(replace=True) as w:
        for l in range(LMAX + 1):
            r0, r1 = nrows(0, l - 1) if l else 0, nrows(0, l)
            w.add(series, {"T_START": T0, "LMIN": l, "LMAX": l, "NDT": NDT, "T_STEP": DT, "MAPMMAX": 600},
                  {"data": data[r0:r1].view(np.float32)})
    return data


@pytest.fixture
def dataset():
    rng = np.random.default_rng(42)
    z = _series_set(rng)
    missing = np.zeros(NDT, dtype=bool)
    for a, b in SHORT_GAPS + [LONG_GAP]:
        missing[a:b] = True
    stored = z.copy()
    stored[:, SPIKE] *= 40  # a bad image the flags missed: the median filter must find it
    _write_retiled("synth.V_sht_2d", stored, missing)
    return z, missing


def test_window_gapfill_gfgaps_pow(dataset, tmp_path, capsys):
    truth, missing = dataset
    discon = tmp_path / "discon.txt"
    discon.write_text(f"# MDI-style list\n{format_time(T0 + 1600 * DT, 'TAI')}\n")
    MKGAPS.call(in_="synth.V_sht_2d[6400d]", out="synth.V_sht_gaps_2d", LMIN=0, LMAX=LMAX, POWLMAX=LMAX,
                discon=str(discon))
    (wrec,) = open_store().query("synth.V_sht_gaps_2d[6400d]")
    good = wrec.read("window").astype(bool)
    expected = ~missing
    expected[SPIKE] = False
    assert np.array_equal(good, expected)
    assert wrec.keywords["NOUTLIER"] == 1 and wrec.keywords["NMISSING"] == missing.sum()
    assert wrec.read("sections").tolist() == [[0, 1600], [1600, NDT]]

    GAPFILL.call(in_="synth.V_sht_2d[6400d]", gaps="synth.V_sht_gaps_2d[6400d]", out="synth.V_sht_gf_2d",
                 LMIN=0, LMAX=LMAX, DETRENDORDER=3, MAXORDER=30)
    assert f"gapfill: arfill kernels {arfill.kernel_path()} " in capsys.readouterr().out  # the log says which
    MKGAPS.call(in_="synth.V_sht_gaps_2d[6400d]", out="synth.V_sht_gfgaps_2d", LMIN=0, LMAX=LMAX, gapfilled=1,
                MAXORDER=30)
    (gfrec,) = open_store().query("synth.V_sht_gfgaps_2d[6400d]")
    filled = gfrec.read("window").astype(bool)
    assert np.array_equal(filled, arfill.filled_window(good, 90, 30, 3))
    assert gfrec.keywords["ARORDER"] == 30
    assert not filled[LONG_GAP[0] : LONG_GAP[1]].any()
    assert filled[SPIKE] and all(filled[a:b].all() for a, b in SHORT_GAPS)

    out = np.concatenate([r.read("data") for r in open_store().query("synth.V_sht_gf_2d[6400d]")])
    out = out.view(np.complex64)
    assert np.all(out[:, ~filled] == 0)
    short = filled & ~good
    errors = []
    for sec in [(0, 1600), (1600, NDT)]:  # the trend gapfill removed, fitted per section on good samples
        s = slice(*sec)
        trend = polynomial_fit(truth[:, s], good[s], 3)
        np.testing.assert_allclose(out[:, s][:, good[s]], (truth[:, s] - trend)[:, good[s]], atol=2e-4, rtol=1e-5)
        errors.append((out[:, s] - (truth[:, s] - trend))[:, short[s]])
    err = np.concatenate(errors, axis=1)
    rms = np.sqrt(np.mean(np.abs(truth - truth.mean(axis=1, keepdims=True)) ** 2))
    # measured 0.11 of the rms: about the innovation level (sqrt 2), the floor for any predictor
    assert np.sqrt(np.mean(np.abs(err) ** 2)) < 0.2 * rms

    POW.call(in_="synth.V_sht_gf_2d[6400d]", out="synth.V_sht_pow_2d", LMIN=1, LMAX=2, TTOTALIN="2d",
             TTOTALOUT="1d", STARTOFFSET="12h")
    recs = open_store().query("synth.V_sht_pow_2d[6400d/2d]")
    assert [r.keywords["LMIN"] for r in recs] == [1, 2]
    rec = recs[0]
    assert rec.keywords["T_START"] == T0 + 43200 and rec.keywords["NDT"] == 1440
    assert rec.keywords["DELTA_NU"] == pytest.approx(1 / 86400) and rec.keywords["NFREQ"] == 1440
    p = rec.read("data")
    np.testing.assert_allclose(p, spectra.power(out[1:3, 720:2160]), rtol=1e-5)
    assert rec.keywords["DUTYCYC"] == pytest.approx(np.mean(np.any(out[1:3, 720:2160] != 0, axis=0)))

    SLICE.call(in_="synth.V_sht_gf_2d[6400d]", out="synth.V_sht_slice_2d", LMIN=0, LMAX=0, TTOTALOUT="1d",
               SLICESTEP="6h")
    slices = open_store().query("synth.V_sht_slice_2d[6400d/2d]")
    assert [round((r.keywords["T_START"] - T0) / 3600) for r in slices] == [0, 6, 12, 18, 24]
    np.testing.assert_allclose(slices[2].read("data"), spectra.power(out[0:1, 720:2160]), rtol=1e-5)


def test_power_spectrum_normalisation_through_the_module():
    n = 1440
    t = np.arange(n)
    z = np.zeros((nrows(2, 2), n), dtype=np.complex64)
    z[0] = 2.0 * np.exp(2j * np.pi * 100 * t / n)  # m=0: |A|^2 = 4 at +100 bins
    z[2] = 0.5 * np.exp(-2j * np.pi * 37 * t / n)  # m=2: retrograde partner at -37 bins
    store = open_store()
    store.ensure_series(timeseries_series("synth.V_sht_gf_1d"))
    with store.writer() as w:
        w.add("synth.V_sht_gf_1d", {"T_START": T0, "LMIN": 2, "LMAX": 2, "NDT": n, "T_STEP": DT},
              {"data": z.view(np.float32)})
    POW.call(in_="synth.V_sht_gf_1d[6400d]", out="synth.V_sht_pow_1d", LMIN=2, LMAX=2)
    (rec,) = store.query("synth.V_sht_pow_1d[6400d]")
    p = rec.read("data")
    nu = rec.keywords["FREQ0"] + rec.keywords["DELTA_NU"] * np.arange(rec.keywords["NFREQ"])
    assert nu[np.argmax(p[0])] == pytest.approx(100 / (n * DT))
    assert p[0].max() == pytest.approx(4.0, rel=1e-5)
    assert nu[np.argmax(p[2])] == pytest.approx(-37 / (n * DT))
    assert p[2].max() == pytest.approx(0.25, rel=1e-5)
    assert p[1].max() == 0


def test_quality_and_iss_rules_from_input_images():
    """Window from the input images' keywords (10-minute cadence keeps the image count small)."""
    store = open_store()
    store.ensure_series(synth_V("10m", name="synth.V10"))
    n = 144
    dt = 600.0
    bad_quality, iss_off, absent = {5, 6}, {40}, {90}
    with store.writer() as w:
        for k in range(n):
            if k in absent:
                continue
            w.add("synth.V10", {"T_REC": T0 + k * dt, "QUALITY": 0x80000000 if k in bad_quality else 0,
                                "INSTRUME": "off" if k in iss_off else "closed"},
                  {"V": np.ones((2, 2), dtype=np.float32)})
    z = np.ones((1, n), dtype=np.complex64)
    store.ensure_series(timeseries_series("synth.V10_sht_1d"))
    with store.writer() as w:
        w.add("synth.V10_sht_1d", {"T_START": T0, "LMIN": 0, "LMAX": 0, "NDT": n, "T_STEP": dt},
              {"data": z.view(np.float32)})
    MKGAPS.call(in_="synth.V10_sht_1d[6400d]", out="synth.V10_sht_gaps_1d", LMAX=0, qualin="synth.V10[6400d/1d]",
                isskey="INSTRUME", issgood="closed", NSIGMA=0)
    (rec,) = store.query("synth.V10_sht_gaps_1d[6400d]")
    assert set(np.flatnonzero(rec.read("window") == 0)) == bad_quality | iss_off | absent
    assert rec.keywords["NQUALITY"] == 4


def test_bad_inputs_are_clear_errors_and_write_nothing(dataset):
    with pytest.raises(ModuleError, match="argument gaps=synth.V_sht_gaps_2d.*"):
        GAPFILL.call(in_="synth.V_sht_2d[6400d]", gaps="synth.V_sht_gaps_2d[6400d]", out="synth.V_sht_gf_2d")
    MKGAPS.call(in_="synth.V_sht_2d[6400d]", out="synth.V_sht_gaps_2d", LMAX=LMAX, POWLMAX=LMAX)
    victim = open_store().query("synth.V_sht_2d[6400d][2]")[0]
    victim.segment_path("data").write_bytes(b"\0" * 2880)
    with pytest.raises(ModuleError, match=r"record synth\.V_sht_2d\[.*\]\[2\].*segment data"):
        GAPFILL.call(in_="synth.V_sht_2d[6400d]", gaps="synth.V_sht_gaps_2d[6400d]", out="synth.V_sht_gf_2d")
    with pytest.raises(ModuleError, match=r"record synth\.V_sht_2d\[.*\]\[2\].*segment data"):
        POW.call(in_="synth.V_sht_2d[6400d]", out="synth.V_sht_pow_2d")
    for series in ("synth.V_sht_gf_2d", "synth.V_sht_pow_2d"):
        try:
            assert open_store().query(f"{series}[]") == []
        except DrmsError:
            pass
    with pytest.raises(ModuleError, match="does not fit"):
        POW.call(in_="synth.V_sht_2d[6400d][0-1]", out="synth.V_sht_pow_2d", LMAX=1, STARTOFFSET="1d",
                 TTOTALOUT="2d")
    with pytest.raises(ModuleError, match="discon"):
        MKGAPS.call(in_="synth.V_sht_2d[6400d]", out="synth.V_sht_gaps_2d", LMAX=LMAX, POWLMAX=1,
                    discon="/nonexistent/list")
