"""jv2ts module: chunking into records, layout and keywords, missing images, the original's checks."""

import numpy as np
import pytest

from globalhs.drms import open_store
from globalhs.drms.builtin import synth_V
from globalhs.modules.jv2ts import MODULE
from globalhs.science.legendre import lm_count, lm_index
from globalhs.science.remap import MISSING_QUALITY_BIT, Geometry
from globalhs.science.render import render_function
from globalhs.time import MDI_EPOCH, parse_time_or_day

DAY0 = parse_time_or_day("6400d")
GEOM = Geometry(15.5, 15.5, 14.0, 3.0, 0.0)
SMALL_MAP = ["MAPMMAX=310", "SINBDIVS=16", "MAPLGMIN=-89", "MAPLGMAX=89", "MAPBMAX=89", "MAPRMAX=0.95",
             "LGSHIFT=0", "APODIZE=1", "APINNER=0.8", "APWIDTH=0.1"]


def field(theta, phi):
    return 100 * np.sin(theta) ** 3 * np.cos(3 * phi) + 40 * np.cos(theta)


def ingest(n, *, absent=(), flagged=(), cadence=60.0):
    """n synthetic 32x32 images at 1-minute cadence from day 6400; image i is (i+1) times image 0."""
    store = open_store()
    store.ensure_series(synth_V("1m"))
    base = np.nan_to_num(render_function(field, (32, 32), GEOM)).astype(np.float32)
    with store.writer() as w:
        for i in range(n):
            if i in absent:
                continue
            kw = {"T_REC": DAY0 + i * cadence, "T_OBS": DAY0 + i * cadence, "X0": GEOM.x0, "Y0": GEOM.y0,
                  "RSUN_PIX": GEOM.rsun_pix, "B0": GEOM.b0, "P": 0.0, "L0": 0.0, "DSUN": 1.5e11,
                  "QUALITY": MISSING_QUALITY_BIT if i in flagged else 0}
            w.add("synth.V", kw, {"V": base * (i + 1)})


def test_one_day_6h_chunks_40_degrees():
    # every 6th minute stored (storing 1440 records would dominate the test), plus minute 99;
    # minute 12 flagged bad: the absent ones and the flagged one must all be zero columns
    ingest(1440, absent={i for i in range(1440) if i % 6 and i != 99}, flagged={12})
    argv = ["in=synth.V[6400d/1d]", "tsout=synth.V_sht", "LMIN=0", "LMAX=300", "LCHUNK=40", "TCHUNK=6h",
            "TTOTAL=1d", "TSTART=6400d", "FORCEOUTPUT=1", "VERSION=test"] + SMALL_MAP
    assert MODULE(argv) == 0
    recs = open_store().query("synth.V_sht[6400d/1d]")
    assert len(recs) == 4 * 8
    starts = sorted({r.keywords["T_START"] for r in recs})
    np.testing.assert_allclose(starts, DAY0 + 21600.0 * np.arange(4))
    chunks = sorted({(r.keywords["LMIN"], r.keywords["LMAX"]) for r in recs})
    assert chunks == [(lo, min(lo + 39, 300)) for lo in range(0, 301, 40)]
    for r in recs:
        kw = r.keywords
        assert kw["NDT"] == 360 and kw["T_STEP"] == 60.0 and kw["MAPMMAX"] == 310 and kw["SINBDIVS"] == 16
        assert kw["T_STOP"] == kw["T_START"] + 21600.0 and kw["VERSION"] == "test" and kw["MFLIPPED"] == 0
        assert r.read().shape == (lm_count(kw["LMIN"], kw["LMAX"]), 720)
    first = {r.keywords["LMIN"]: r for r in recs if r.keywords["T_START"] == DAY0}
    assert first[0].keywords["NMISSING"] == 300 and first[0].keywords["NDATA"] == 60
    assert all(r.keywords["NMISSING"] == 300 for r in recs if r.keywords["T_START"] > DAY0)
    data = first[0].read()
    # missing and flagged images: exact zeros in their (re, im) columns; others scale with the image
    assert not data[:, 10:12].any() and not data[:, 24:26].any()
    assert data[:, 36:38].any()
    a0 = data[:, 0] + 1j * data[:, 1]
    assert np.abs(a0).max() > 1.0
    np.testing.assert_allclose(data[:, 2 * 99] + 1j * data[:, 2 * 99 + 1], 100 * a0, rtol=1e-4, atol=1e-3 * np.abs(a0).max())
    # the l chunk at 280..300 has rows l(l+1)/2 + m - 280*281/2
    last = {r.keywords["LMIN"]: r for r in recs if r.keywords["T_START"] == DAY0}[280].read()
    row = lm_index(290, 3) - lm_index(280, 0)
    assert last[row, 0] == data_full_row(recs, 290, 3)


def data_full_row(recs, l, m):
    rec = next(r for r in recs if r.keywords["T_START"] == DAY0 and r.keywords["LMIN"] <= l <= r.keywords["LMAX"])
    return rec.read()[lm_index(l, m, rec.keywords["LMIN"]), 0]


@pytest.mark.parametrize("change, message", [
    (["TSTART=2010.07.11_00:00:30_TAI"], "slot boundary"),
    (["TCHUNK=7h"], "not a multiple of TCHUNK"),
    (["LMAX=400"], "below MAPMMAX"),
    (["FORCEOUTPUT=0"], "expected TTOTAL/cadence = 60"),
    (["in=synth.V[6401d/1h]"], "no input records"),
    (["APODIZE=5"], "APODIZE='5'"),
])
def test_sanity_checks_are_clear_errors(change, message, capsys):
    ingest(60, absent={3})
    argv = ["in=synth.V[6400d/1h]", "tsout=synth.V_sht", "LMAX=20", "TCHUNK=1h", "TTOTAL=1h", "TSTART=6400d",
            "FORCEOUTPUT=1"] + SMALL_MAP + change
    assert MODULE(argv) == 1
    err = capsys.readouterr().err
    assert message in err
    assert not open_store().has_series("synth.V_sht") or not open_store().query("synth.V_sht[6400d/1d]")


def test_shtcheck_accepts_a_good_job_and_names_gaps_and_absent_records(capsys):
    from globalhs.modules.shtcheck import MODULE as SHTCHECK

    ingest(60, absent={3}, flagged={10})
    argv = ["in=synth.V[6400d/1h]", "tsout=synth.V_sht", "LMAX=20", "LCHUNK=10", "TCHUNK=30m", "TTOTAL=1h",
            "TSTART=6400d", "FORCEOUTPUT=1"] + SMALL_MAP
    assert MODULE(argv) == 0
    assert SHTCHECK(argv) == 0
    assert "6 records of synth.V_sht verified" in capsys.readouterr().out
    store = open_store()
    rec = store.query("synth.V_sht[6400d][10][19][30]")[0]
    data = rec.read("data")
    data[:, 40:42] = 0.0  # an image lost without a trace
    with store.writer(replace=True) as w:
        w.add("synth.V_sht", dict(rec.keywords), {"data": data})
    assert SHTCHECK(argv) == 1
    err = capsys.readouterr().err
    assert "unexpected gaps at samples [20]" in err and "[10][19][30]" in err
    assert SHTCHECK([a if not a.startswith("LCHUNK") else "LCHUNK=7" for a in argv]) == 1
    assert "record absent (expected one with NDT=30)" in capsys.readouterr().err


def test_table_memory_budget_splits_the_l_range_into_passes_with_identical_results():
    from globalhs.modules.jv2ts import l_groups

    chunks = [(0, 9), (10, 19), (20, 20)]
    assert l_groups(chunks, 16, 1e9) == [chunks]
    assert l_groups(chunks, 16, lm_count(0, 9) * 16 * 4) == [[(0, 9)], [(10, 19)], [(20, 20)]]
    ingest(30)
    base = ["in=synth.V[6400d/30m]", "LMAX=20", "LCHUNK=10", "TCHUNK=30m", "TTOTAL=30m", "TSTART=6400d"] + SMALL_MAP
    assert MODULE(base + ["tsout=synth.V_sht"]) == 0  # ducc0, one pass
    assert MODULE(base + ["tsout=synth.V_sht2", "SHTLIB=gemm", "TABLEMEM=0"]) == 0  # one pass per l chunk
    store = open_store()
    for lo, hi in chunks:
        a = store.query(f"synth.V_sht[6400d][{lo}][{hi}]")[0].read()
        b = store.query(f"synth.V_sht2[6400d][{lo}][{hi}]")[0].read()
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5 * np.abs(a).max())  # float32 GEMM blocking
