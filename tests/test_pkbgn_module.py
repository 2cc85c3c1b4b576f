"""pkbgn as a program: pow-layout spectra and a leakage record in, mode table and record out."""

import numpy as np
import pytest

from globalhs.drms import Keyword, Segment, open_store
from globalhs.drms.builtin import timeseries_series
from globalhs.modules.leakage import MODULE as LEAKAGE
from globalhs.modules.pkbgn import MODULE as PKBGN
from globalhs.science.leakage import MapGeometry, leakage_block
from globalhs.science.modetable import read_modetable, write_modetable
from globalhs.science.synthspec import synthetic_degree
from globalhs.time import parse_time_or_day

DT = 120.0  # cadence of the fake series: Nyquist 4167 uHz covers the modes used
NDT = int(72 * 86400 / DT)


def _pow_record(power_by_l, nu0, dnu_uhz, lmin, lmax):
    """Store spectra m = -l..l (from nu0, step dnu) in pow's layout: rows m = 0..l from -Nyquist."""
    nfreq = NDT
    k0 = nfreq // 2
    rows = np.full(((lmax + 1) * (lmax + 2) // 2 - lmin * (lmin + 1) // 2, nfreq), np.nan, dtype=np.float32)
    first = int(round(nu0 / dnu_uhz))
    for l, power in power_by_l.items():
        base = l * (l + 1) // 2 - lmin * (lmin + 1) // 2
        width = power.shape[1]
        for m in range(l + 1):
            rows[base + m, k0 + first:k0 + first + width] = power[l + m]
            rows[base + m, k0 - first - np.arange(width)] = power[l - m]
    defn = timeseries_series("synth.V_sht_pow_72d", segments=(Segment("data", "float32"),),
                             keywords=(Keyword("NFREQ", "int", 0), Keyword("FREQ0", "float"),
                                       Keyword("DELTA_NU", "float")))
    store = open_store()
    store.create_series(defn)
    with store.writer(replace=True) as w:
        w.add("synth.V_sht_pow_72d", {"T_START": parse_time_or_day("6400d"), "LMIN": lmin, "LMAX": lmax,
                                      "NDT": NDT, "NFREQ": nfreq, "FREQ0": -k0 / (NDT * DT),
                                      "DELTA_NU": 1 / (NDT * DT)}, {"data": rows})


@pytest.mark.refdata
def test_pkbgn_fits_stored_spectra(refdata, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    truth = read_modetable(refdata("hmi_modes", "hmi.6400.36")).with_nacoeff(6)
    l, ns = 30, [10, 14, 18]
    near = truth.select((abs(truth.l - l) <= 2))
    dnu = 1e6 / (NDT * DT)
    assert LEAKAGE(["out=synth.V_leakage", "TSTART=6400d", f"LMIN={l}", f"LMAX={l}", "LKGDL=2", "LKGDM=6",
                    "MAPMMAX=180", "SINBDIVS=60"]) == 0
    block = leakage_block(MapGeometry(MAPMMAX=180, SINBDIVS=60), l, l, 2, 6)
    power, nu0, _ = synthetic_degree(near, l, block, dnu, 0.002, np.random.default_rng(5), lambda r: 30.0, ns=ns)
    _pow_record({l: power}, nu0, dnu, l, l)
    guess = near.select(np.arange(len(near)))
    rows = [guess.find(n, l) for n in ns]
    guess.nu[rows] += 0.2 * guess.width[rows]
    guess.amp *= 1000.0  # a guess table in other units (as the HMI tables are): HEIGHTS=data rescales
    guess.bg[:] = 11.0
    # one multiplet far from any peak: must be rejected and reported, not written
    guess.nu[guess.find(12, l)] += 40.0 * guess.width[guess.find(12, l)] + 30
    write_modetable(tmp_path / "guess.txt", guess)
    status = PKBGN(["in=synth.V_sht_pow_72d[6400d]", "leakage=synth.V_leakage[6400d]", "guess=guess.txt",
                    "out=synth.V_sht_modes", "outtable=modes.txt", f"LMIN={l}", f"LMAX={l}", "NACOEFF=6",
                    "NITER=1"])
    out = capsys.readouterr().out
    assert status == 0, out
    fitted = read_modetable(tmp_path / "modes.txt")
    assert fitted.nacoeff == 6 and len(fitted.to_array()[0]) == 24
    for n in ns:
        row, t = fitted.find(n, l), truth.find(n, l)
        assert row is not None, out
        assert abs(fitted.nu[row] - truth.nu[t]) < 4 * fitted.err[row, 0]
        assert abs(fitted.a[row, 0] - truth.a[t, 0]) < 4 * fitted.a_err[row, 0]
    assert fitted.find(12, l) is None
    assert "rejected n=12 l=30" in out
    assert "heights from the data" in out
    assert "pkbgn: errors from hessian (" in out
    assert "  30  12 " in (tmp_path / "modes.txt.rejected").read_text()
    (rec,) = open_store().query("synth.V_sht_modes[6400d]")
    assert rec.keywords["NREJECT"] >= 1 and rec.keywords["NMODES"] == len(fitted)
    assert np.allclose(rec.read("modes"), fitted.to_array(), rtol=1e-5, atol=1e-4)
    # BOOTSTRAP and the sandwich run in the last pass only (the earlier passes' errors are not written)
    from globalhs.science import peakbag as pb

    passes = []
    fit_degree = pb.fit_degree
    monkeypatch.setattr(pb, "fit_degree",
                        lambda *a, **k: passes.append((a[3].bootstrap, a[3].errors)) or fit_degree(*a, **k))
    assert PKBGN(["in=synth.V_sht_pow_72d[6400d]", "leakage=synth.V_leakage[6400d]", "guess=guess.txt",
                  "out=synth.V_sht_modes", "outtable=modes2.txt", f"LMIN={l}", f"LMAX={l}", "NACOEFF=6",
                  "NITER=2", "BOOTSTRAP=20", "ERRORS=sandwich"]) == 0
    assert passes == [(0, "hessian"), (20, "sandwich")]
    assert "pkbgn: errors from sandwich (" in capsys.readouterr().out


def test_pkbgn_errors_are_named(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "bad.txt").write_text("1 2 3\n")
    assert PKBGN(["in=synth.V_sht_pow_72d[6400d]", "leakage=synth.V_leakage[6400d]", "guess=bad.txt",
                  "out=synth.V_sht_modes"]) == 1
    assert "guess='bad.txt'" in capsys.readouterr().err
    assert PKBGN(["in=x", "leakage=y", "guess=g", "out=o", "LMIN=4", "LMAX=3"]) == 1
    assert "LMIN=4 LMAX=3" in capsys.readouterr().err
    assert PKBGN(["in=x", "leakage=y", "guess=g", "out=o", "BOOTSTRAP=5"]) == 1
    assert "bootstrap must be 0 (off) or at least 20 replicates, got 5" in capsys.readouterr().err


@pytest.mark.refdata
def test_pkbgn_model_guesses(refdata, tmp_path, capsys, monkeypatch):
    """guessmodel=: frequencies from a model table plus the surface offset; widths etc. from guess=."""
    from globalhs.science.peakbag import surface_offset

    monkeypatch.chdir(tmp_path)
    truth = read_modetable(refdata("hmi_modes", "hmi.6400.36")).with_nacoeff(6)
    l, n = 40, 12
    near = truth.select((abs(truth.l - l) <= 1))
    dnu = 1e6 / (NDT * DT)
    assert LEAKAGE(["out=synth.V_leakage", "TSTART=6400d", f"LMIN={l}", f"LMAX={l}", "LKGDL=1", "LKGDM=6",
                    "MAPMMAX=180", "SINBDIVS=60"]) == 0
    block = leakage_block(MapGeometry(MAPMMAX=180, SINBDIVS=60), l, l, 1, 6)
    power, nu0, _ = synthetic_degree(near, l, block, dnu, 0.002, np.random.default_rng(6), lambda r: 30.0, ns=[n])
    _pow_record({l: power}, nu0, dnu, l, l)
    row = truth.find(n, l)
    # a "model" whose frequency, once offset, lands 1 uHz from the truth
    model_nu = truth.nu[row] + 1.0 - surface_offset(truth.nu[row], l)
    (tmp_path / "model.txt").write_text(f"{n} {l} {model_nu:.6f}\n")
    write_modetable(tmp_path / "ref.txt", truth)
    status = PKBGN(["in=synth.V_sht_pow_72d[6400d]", "leakage=synth.V_leakage[6400d]", "guess=ref.txt",
                    "guessmodel=model.txt", "out=synth.V_sht_modes", "outtable=m.txt", f"LMIN={l}", f"LMAX={l}",
                    "NACOEFF=6", "NITER=1", "writeflag=0"])
    out = capsys.readouterr().out
    assert status == 0, out
    fitted = read_modetable(tmp_path / "m.txt")
    assert len(fitted) == 1 and fitted.n[0] == n
    assert abs(fitted.nu[0] - truth.nu[row]) < 4 * fitted.err[0, 0]
    assert not open_store().has_series("synth.V_sht_modes")  # writeflag=0: table only
