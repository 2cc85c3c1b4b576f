"""Record-set queries: every JSOC form the pipeline uses, slot arithmetic, and the error messages."""

from __future__ import annotations

import numpy as np
import pytest

from globalhs.drms import DrmsError, open_store
from globalhs.drms.builtin import dopplergram_series, timeseries_series
from globalhs.drms.query import parse_recordset
from globalhs.time import DAY, day_to_time, format_time, parse_time


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    s = open_store(tmp_path_factory.mktemp("q") / "store")
    s.create_series(timeseries_series("hmi.V_sht_modes", "1d"))
    s.create_series(dopplergram_series("aia.lev1", "12s"))
    s.create_series(dopplergram_series("mdi.vw_V", "1m"))
    with s.writer() as w:
        for day in range(6320, 6480, 4):  # every 4 days, two l ranges
            for lmin, lmax in ((0, 300), (301, 1000)):
                w.add("hmi.V_sht_modes", {"T_START": day_to_time(day), "LMIN": lmin, "LMAX": lmax, "NDT": 138240})
        t0 = parse_time("2014.02.05_08:00:00_TAI")
        for k in range(-50, 3000):  # 12 s cadence for ~10 hours
            w.add("aia.lev1", {"T_REC": t0 + 12 * k, "QUALITY": k % 3})
        for k in range(0, 200):
            w.add("mdi.vw_V", {"T_REC": day_to_time(6400) - 100 * 60 + 60 * k})
    return s


def _days(records, key="T_START"):
    return [round((r.keywords[key] - day_to_time(0)) / DAY, 6) for r in records]


def test_day_6328_is_hmi_first_day():
    assert format_time(day_to_time(6328)) == "2010.04.30_00:00:00_TAI"
    assert timeseries_series("x.y").prime[0].index(day_to_time(6328)) == 6328


def test_time_and_duration(store):
    recs = store.query("hmi.V_sht_modes[2010.07.11_00:00:00_TAI/72d]")
    assert _days(recs)[::2] == list(range(6400, 6472, 4))
    assert len(recs) == 2 * 18
    assert recs == store.query("hmi.V_sht_modes[6400d/72d]")


def test_cadence(store):
    recs = store.query("aia.lev1[2014.02.05_08:00/8h@1m]")
    assert len(recs) == 8 * 60
    t0 = parse_time("2014.02.05_08:00:00_TAI")
    np.testing.assert_array_equal([r.keywords["T_REC"] - t0 for r in recs], 60.0 * np.arange(480))
    assert len(store.query("aia.lev1[2014.02.05_08:00/8h]")) == 8 * 300


def test_index_range_and_single_index(store):
    assert _days(store.query("hmi.V_sht_modes[6328-6399]"))[::2] == list(range(6328, 6400, 4))
    assert _days(store.query("hmi.V_sht_modes[6400]")) == [6400, 6400]
    assert _days(store.query("hmi.V_sht_modes[6400,6404]"))[::2] == [6400, 6404]
    assert _days(store.query("hmi.V_sht_modes[2010.07.11_00:00-2010.07.19_00:00]"))[::2] == [6400, 6404, 6408]


def test_later_prime_keys(store):
    (rec,) = store.query("hmi.V_sht_modes[6400d][0][300]")
    assert rec.prime == {"T_START": day_to_time(6400), "LMIN": 0, "LMAX": 300, "NDT": 138240}
    assert store.query("hmi.V_sht_modes[6400d][301]")[0].prime["LMAX"] == 1000
    assert len(store.query("hmi.V_sht_modes[][0]")) == 40
    assert len(store.query("hmi.V_sht_modes[][0-400][1000]")) == 40
    assert len(store.query("hmi.V_sht_modes")) == 80
    assert store.query("hmi.V_sht_modes[6401d]") == []


def test_single_slot_holds_a_time_inside_it(store):
    (rec,) = store.query("mdi.vw_V[2010.07.11_00:00:20_TAI]")  # nearest minute (round = cadence)
    assert format_time(rec.keywords["T_REC"]) == "2010.07.11_00:00:00_TAI"
    assert len(store.query("mdi.vw_V[6400d]")) == 1


def test_filter(store):
    recs = store.query("aia.lev1[2014.02.05_08:00/1h][? QUALITY = 0 ?]")
    assert len(recs) == 100 and all(r.keywords["QUALITY"] == 0 for r in recs)
    recs = store.query("aia.lev1[2014.02.05_08:00/1h][? QUALITY>0 and T_REC < 2014.02.05_08:01:00_TAI ?]")
    assert len(recs) == 3


@pytest.mark.parametrize("text, message", [
    ("", "empty record set"),
    ("[6400d]", "does not start with a series name"),
    ("hmi.V_sht_modes[6400d", "bracket opened at character 16 is not closed"),
    ("hmi.V_sht_modes[6400d/72]x", r"unexpected 'x'"),
    ("hmi.V_sht_modes[? QUALITY=0", r"not closed by '\?\]'"),
    ("hmi.V_sht_modes[? QUALITY ?]", "is not KEY op value"),
])
def test_parse_errors_name_the_problem_and_forms(text, message):
    with pytest.raises(DrmsError, match=message) as info:
        parse_recordset(text)
    assert "expected forms like" in str(info.value) and "6400d/72d" in str(info.value)


@pytest.mark.parametrize("text, message", [
    ("hmi.V_sht_modes[6400d/72x]", r"first bracket \(prime key T_START\): '72x' after '/' is not a duration"),
    ("hmi.V_sht_modes[yesterday]", r"first bracket \(prime key T_START\): 'yesterday' is not a time"),
    ("hmi.V_sht_modes[6400d][zero]", r"second bracket \(prime key LMIN\): 'zero' is not an integer"),
    ("hmi.V_sht_modes[6400d][0/5]", r"LMIN is an integer key"),
    ("hmi.V_sht_modes[1][2][3][4][5]", r"5 prime-key brackets, but series hmi.V_sht_modes has 4"),
    ("aia.lev1[2014.02.05_08:00/8h@17s]", r"cadence 17s is not a whole number of T_REC slots \(12 s\)"),
    ("hmi.V_sht_modes[6400d/-1d]", r"must be positive"),
    ("hmi.V_sht_modes[6399-6328]", r"ends before it starts"),
    ("hmi.V_sht_modes[? NOPE=1 ?]", r"has no keyword 'NOPE'"),
    ("hmi.V_sht_modes[? QUALITY=high ?]", r"QUALITY='high': expected a value of type int"),
])
def test_compile_errors_name_bracket_and_key(store, text, message):
    with pytest.raises(DrmsError, match=message):
        store.query(text)


def test_slot_boundary_times_with_float_noise():
    key = timeseries_series("x.y").prime[0]
    t = parse_time("2010.07.11_00:00:00")  # a UTC string: astropy's result carries ~1e-7 s of noise
    assert key.index(day_to_time(6400)) == 6400
    assert key.index(day_to_time(6400) - 1e-7) == 6400
    assert key.index(day_to_time(6400) - 1e-3) == 6399
    assert key.index(t) == key.index(format_time(t))


@pytest.mark.parametrize("text", ["hmi.V_sht_modes", "hmi.V_sht_modes[6328-6399]", "aia.lev1[2014.02.05_08:00/8h@1m]",
                                  "aia.lev1[2014.02.05_08:00/1h][? QUALITY = 0 ?]", "hmi.V_sht_modes[][301]"])
def test_count_agrees_with_query(store, text):
    assert store.count(text) == len(store.query(text))
