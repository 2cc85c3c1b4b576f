"""Short spans: bounded optimiser steps, and multiplets that cannot be fitted are rejections, not job failures."""

import numpy as np
import pytest

from globalhs.drms import Keyword, Segment, open_store
from globalhs.drms.builtin import timeseries_series
from globalhs.modules.leakage import MODULE as LEAKAGE
from globalhs.modules.pkbgn import MODULE as PKBGN
from globalhs.science import peakbag as pb
from globalhs.science.leakage import MapGeometry, leakage_block
from globalhs.science.modetable import ModeTable, read_modetable, write_modetable
from globalhs.science.synthspec import synthetic_degree
from globalhs.time import parse_time_or_day

COARSE = MapGeometry(MAPMMAX=180, SINBDIVS=60)
DT = 120.0


def _table(l_values, width=1.2, nac=6):
    rows = [(l, n) for l in l_values for n in (10, 14)]
    t = ModeTable([r[0] for r in rows], [r[1] for r in rows], [1000.0 + 135.0 * r[1] + 4.0 * r[0] for r in rows],
                  [1.0] * len(rows), [width] * len(rows), [0.0] * len(rows), [0.0] * len(rows),
                  np.zeros((len(rows), 5)), np.zeros((len(rows), nac)), np.zeros((len(rows), nac)))
    t.a[:, 0] = np.where(t.l > 0, 440.0, 0.0)
    t.a[:, 2] = np.where(t.l > 1, 20.0, 0.0)
    return t


def test_steps_are_bounded_in_log_width_height_background(monkeypatch):
    """16 days, heights and backgrounds not guessed (taken from the data, as the synth label does): no
    trial point has ln Gamma outside [ln(dnu/4), ln(4 W)], no accepted step changes ln H, ln Gamma or
    ln B by more than 1, and each fit either succeeds or is rejected with a reason."""
    l, days = 12, 16
    dnu = 1e6 / (days * 86400)
    truth = _table(range(l - 2, l + 3))
    leak = leakage_block(COARSE, l - 2, l + 2, 2, 6)
    trials, accepted = [], []
    objective = pb._Problem.objective

    def recording(self, theta):
        value = objective(self, theta)
        trials.append((self.nfree_a, self.half, theta.copy(), value))
        return value

    monkeypatch.setattr(pb._Problem, "objective", recording)
    for seed in range(4):  # seed 2 walked to ln Gamma = -4.8 (Gamma = dnu/90) before the steps were bounded
        power, nu0, _ = synthetic_degree(truth, l, leak, dnu, 0.01, np.random.default_rng(seed), lambda r: 60.0)
        guess = pb.guess_of(truth, truth.find(14, l))
        guess["amp"], guess["bg"], guess["nu"] = 0.0, 0.0, guess["nu"] + 1.0
        trials.clear()
        fit = pb.fit_multiplet(pb.Spectrum(l, power, nu0, dnu, days * 86400.0), 14, guess, truth, leak,
                               pb.FitSettings(nacoeff=2))
        assert fit.ok or fit.reason
        na, half = trials[0][0], trials[0][1]
        ln_g = np.array([t[2][2 + na] for t in trials])
        assert ln_g.min() >= np.log(pb.WIDTH_BOUNDS[0] * dnu) - 1e-12, (seed, ln_g.min())
        assert ln_g.max() <= np.log(pb.WIDTH_BOUNDS[1] * half) + 1e-12
        # every trial is within one bounded step of the last accepted point (the start is accepted)
        current, current_value = trials[0][2], trials[0][3]
        for _, _, theta, value in trials[1:]:
            assert np.max(np.abs(theta[1 + na:4 + na] - current[1 + na:4 + na])) <= pb.MAX_LOG_STEP + 1e-9
            assert abs(theta[0] - current[0]) <= pb.MAX_NU_STEP * half + 1e-9
            if value <= current_value:
                current, current_value = theta, value
        if fit.ok:
            assert dnu <= fit.width <= 3.0


def _store_short_span(power_by_l, nu0, dnu_uhz, lmin, lmax, ndt):
    """pow-layout record (rows m = 0..l from -Nyquist) of a span of ``ndt`` samples at DT; NaN elsewhere."""
    k0 = ndt // 2
    rows = np.full(((lmax + 1) * (lmax + 2) // 2 - lmin * (lmin + 1) // 2, ndt), np.nan, dtype=np.float32)
    first = int(round(nu0 / dnu_uhz))
    for l, power in power_by_l.items():
        base = l * (l + 1) // 2 - lmin * (lmin + 1) // 2
        for m in range(l + 1):
            rows[base + m, k0 + first:k0 + first + power.shape[1]] = power[l + m]
            rows[base + m, k0 - first - np.arange(power.shape[1])] = power[l - m]
    name = "synth.V_sht_pow_2d"
    store = open_store()
    store.create_series(timeseries_series(name, segments=(Segment("data", "float32"),),
                                          keywords=(Keyword("NFREQ", "int", 0), Keyword("FREQ0", "float"),
                                                    Keyword("DELTA_NU", "float"))))
    with store.writer(replace=True) as w:
        w.add(name, {"T_START": parse_time_or_day("6400d"), "LMIN": lmin, "LMAX": lmax, "NDT": ndt, "NFREQ": ndt,
                     "FREQ0": -k0 / (ndt * DT), "DELTA_NU": 1 / (ndt * DT)}, {"data": rows})


@pytest.mark.parametrize("days", [2, 16])
def test_l0_on_a_short_span_is_rejected_or_fitted_and_the_job_succeeds(tmp_path, capsys, monkeypatch, days):
    """l = 0 with too few bins per window to estimate heights (2 and 16 days) used to fail the job
    ("no multiplet ... has enough data"); now every multiplet is fitted or listed as rejected, and a
    multiplet whose window holds too few valid bins is a rejection, even when it is the job's only one."""
    monkeypatch.chdir(tmp_path)
    ndt = int(days * 86400 / DT)
    dnu = 1e6 / (ndt * DT)
    truth = _table(range(0, 3))
    assert LEAKAGE(["out=synth.V_leakage", "TSTART=6400d", "LMIN=0", "LMAX=0", "LKGDL=2", "LKGDM=6",
                    "MAPMMAX=180", "SINBDIVS=60"]) == 0
    block = leakage_block(COARSE, 0, 0, 2, 6)
    power, nu0, _ = synthetic_degree(truth, 0, block, dnu, 0.01, np.random.default_rng(3), lambda r: 30.0)
    # n = 10's window keeps only 4 valid bins (the rest is a gap): it cannot be fitted
    nu = nu0 + dnu * np.arange(power.shape[1])
    gap = np.abs(nu - truth.nu[truth.find(10, 0)]) > 1.6 * dnu
    gap &= np.abs(nu - truth.nu[truth.find(10, 0)]) < 60.0
    power[:, gap] = np.nan
    _store_short_span({0: power}, nu0, dnu, 0, 0, ndt)
    guess = truth.select(np.arange(len(truth)))
    guess.amp[:], guess.bg[:] = 0.0, 0.0
    write_modetable(tmp_path / "guess.txt", guess)
    args = ["in=synth.V_sht_pow_2d[6400d]", "leakage=synth.V_leakage[6400d]", "guess=guess.txt",
            "out=synth.V_sht_modes", "outtable=modes.txt", "LMIN=0", "LMAX=0", "NACOEFF=6", "NITER=2"]
    status = PKBGN(args)
    out = capsys.readouterr().out
    assert status == 0, out
    assert "rejected n=10 l=0: only" in out and "usable bins" in out
    rate = pb.mean_orbital_nhz(parse_time_or_day("6400d"), ndt * DT)
    assert f"a1 made sidereal with {rate:.3f} nHz (ORBITAL=mean)" in out
    rejected = (tmp_path / "modes.txt.rejected").read_text()
    fitted = read_modetable(tmp_path / "modes.txt") if (tmp_path / "modes.txt").stat().st_size else None
    (rec,) = open_store().query("synth.V_sht_modes[6400d]")
    nfit = 0 if fitted is None else len(fitted)
    assert rec.keywords["NMODES"] == nfit and rec.keywords["NREJECT"] == 2 - nfit
    assert "   0  10 " in rejected
    for n in (10, 14):
        assert (fitted is not None and fitted.find(n, 0) is not None) != (f"   0  {n} " in rejected)
    # the job's only multiplet rejected: still a success, with an empty table and record
    only = guess.select(np.flatnonzero(~((guess.l == 0) & (guess.n == 14))))
    write_modetable(tmp_path / "guess.txt", only)
    assert PKBGN(args) == 0, capsys.readouterr().out
    assert "no multiplet with 0 <= l <= 0 could be fitted" in capsys.readouterr().out
    (rec,) = open_store().query("synth.V_sht_modes[6400d]")
    assert rec.keywords["NMODES"] == 0 and rec.keywords["NREJECT"] == 1
    assert rec.read("modes").size == 0


def test_mean_orbital_rate_of_the_span():
    """The synodic-to-sidereal shift of a1: 1/year on average, 30.5 nHz in early July (day 6400 =
    2010.07.11), 32.6 nHz in early January, and what pkbgn's default ORBITAL=mean adds."""
    day = 86400.0
    start = parse_time_or_day("6400d")
    assert pb.mean_orbital_nhz(start, 365.2422 * day) == pytest.approx(1e9 / (365.2422 * day), abs=0.02)
    assert pb.mean_orbital_nhz(start, 2 * day) == pytest.approx(30.56, abs=0.05)
    assert pb.mean_orbital_nhz(start + 182 * day, 2 * day) == pytest.approx(32.66, abs=0.05)
    with pytest.raises(ValueError, match="positive"):
        pb.mean_orbital_nhz(start, 0.0)
