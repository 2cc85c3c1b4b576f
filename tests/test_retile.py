"""retile (retilen + retile1) and dscopy: bit-for-bit round trip, and clear errors on bad input."""

from __future__ import annotations

import numpy as np
import pytest

from globalhs.drms import DrmsError, open_store
from globalhs.modules.base import ModuleError
from globalhs.modules.dscopy import MODULE as DSCOPY
from globalhs.modules.retile import MODULE as RETILE
from globalhs.time import format_time
from tsdata import DT, T0, nrows, write_sht

LMAX = 6


def _truth(ndt, rng):
    return rng.normal(size=(nrows(0, LMAX), 2 * ndt)).astype(np.float32)


def _records(series):
    try:
        return open_store().query(f"{series}[]")
    except DrmsError:
        return []


def test_two_stage_retile_round_trip_bit_for_bit():
    rng = np.random.default_rng(0)
    truth = _truth(1440, rng)  # one day at 60 s, l <= 6
    truth[:, 2 * 100 : 2 * 130] = 0  # missing images stay exact zeros
    write_sht("synth.V_sht", truth, lchunk=3, tchunk=360)  # 6 h chunks, l 0-2, 3-5, 6
    for piece in range(2):  # retilen: two 12 h pieces, lchunkout 4
        t = format_time(T0 + piece * 43200, "TAI")
        RETILE.call(in_=f"synth.V_sht[{t}/12h]", out="synth.V_sht_12h", TSTART=t, TTOTAL="12h",
                    LMIN=0, LMAX=LMAX, LCHUNK=4)
    pieces = open_store().query("synth.V_sht_12h[6400d/1d]")
    assert [(r.keywords["LMIN"], r.keywords["LMAX"], r.keywords["NDT"]) for r in pieces] == \
        [(0, 3, 720), (4, 6, 720), (0, 3, 720), (4, 6, 720)]
    RETILE.call(in_="synth.V_sht_12h[6400d/1d]", out="synth.V_sht_1d", TSTART="6400d", TTOTAL="1d",
                LMIN=0, LMAX=LMAX, LCHUNK=1)
    series = open_store().query("synth.V_sht_1d[6400d]")
    assert [r.keywords["LMIN"] for r in series] == list(range(LMAX + 1))
    for rec in series:
        l = rec.keywords["LMIN"]
        assert rec.keywords["LMAX"] == l and rec.keywords["NDT"] == 1440
        assert rec.keywords["T_STEP"] == DT and rec.keywords["MAPMMAX"] == 600
        assert rec.keywords["T_STOP"] == T0 + 86400
        got = rec.read("data")
        assert got.dtype == np.float32
        assert np.array_equal(got, truth[nrows(0, l - 1) if l else 0 : nrows(0, l)])  # bit for bit
    # dscopy: an archive copy, keywords and data identical
    DSCOPY.call(in_="synth.V_sht_1d[6400d]", out="synth.V_sht_1d_arch")
    copies = open_store().query("synth.V_sht_1d_arch[6400d]")
    assert len(copies) == LMAX + 1
    for a, b in zip(series, copies):
        assert np.array_equal(a.read("data"), b.read("data"))
        assert a.keywords == b.keywords


def test_missing_input_record_is_an_error_and_nothing_is_written():
    rng = np.random.default_rng(1)
    write_sht("synth.V_sht", _truth(720, rng), lchunk=3, tchunk=360, skip={(3, 1)})
    with pytest.raises(ModuleError, match=r"does not tile l=3: samples 360\.\.719 are missing"):
        RETILE.call(in_="synth.V_sht[6400d/12h]", out="synth.V_sht_12h", TSTART="6400d", TTOTAL="12h",
                    LMIN=0, LMAX=LMAX, LCHUNK=4)
    assert _records("synth.V_sht_12h") == []
    # the l range that is complete retiles fine
    RETILE.call(in_="synth.V_sht[6400d/12h]", out="synth.V_sht_12h", TSTART="6400d", TTOTAL="12h",
                LMIN=0, LMAX=2, LCHUNK=4)
    assert len(_records("synth.V_sht_12h")) == 1


def test_corrupt_segment_is_an_error_naming_the_record_and_nothing_is_written():
    rng = np.random.default_rng(2)
    write_sht("synth.V_sht", _truth(720, rng), lchunk=3, tchunk=360)
    victim = open_store().query("synth.V_sht[6400d/12h]")[4]
    victim.segment_path("data").write_bytes(b"not a FITS file" * 100)
    with pytest.raises(ModuleError, match=r"record synth\.V_sht\[.*cannot read segment data"):
        RETILE.call(in_="synth.V_sht[6400d/12h]", out="synth.V_sht_12h", TSTART="6400d", TTOTAL="12h",
                    LMIN=0, LMAX=LMAX, LCHUNK=4)
    assert _records("synth.V_sht_12h") == []


def test_empty_input_and_bad_span_are_clear_errors():
    rng = np.random.default_rng(3)
    write_sht("synth.V_sht", _truth(720, rng), lchunk=3, tchunk=360)
    with pytest.raises(ModuleError, match="no records"):
        RETILE.call(in_="synth.V_sht[6500d/12h]", out="x.y", TSTART="6500d", TTOTAL="12h")
    with pytest.raises(ModuleError, match="TTOTAL='1x'"):
        RETILE.call(in_="synth.V_sht[6400d/12h]", out="x.y", TSTART="6400d", TTOTAL="1x")
    with pytest.raises(ModuleError, match="unknown series|no series|not.*exist|unknown"):
        RETILE.call(in_="nosuch.series[6400d]", out="x.y", TSTART="6400d", TTOTAL="12h")
    # as a program: exit status 1 and the error on stderr, no success line
    assert RETILE(["in=synth.V_sht[6500d/12h]", "out=x.y", "TSTART=6500d", "TTOTAL=12h"]) == 1


def test_inputs_made_differently_are_an_error_but_a_calibration_change_is_not():
    rng = np.random.default_rng(4)
    truth = _truth(720, rng)
    write_sht("synth.V_sht", truth, lchunk=7, tchunk=360)
    write_sht("synth.V_sht", truth[:, :720], lchunk=7, tchunk=360, extra={"CALVER64": 2})  # first 6 h: new calibration
    RETILE.call(in_="synth.V_sht[6400d/12h]", out="synth.V_sht_12h", TSTART="6400d", TTOTAL="12h", LMAX=LMAX, LCHUNK=7)
    (rec,) = open_store().query("synth.V_sht_12h[6400d]")
    assert rec.keywords["CALVER64"] == 2 and np.array_equal(rec.read("data"), truth)
    write_sht("synth.V_sht", truth[:, :720], lchunk=7, tchunk=360, extra={"MAPMMAX": 300})
    with pytest.raises(ModuleError, match="disagree on MAPMMAX"):
        RETILE.call(in_="synth.V_sht[6400d/12h]", out="synth.V_sht_12h", TSTART="6400d", TTOTAL="12h", LMAX=LMAX)
