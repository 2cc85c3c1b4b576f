"""The time-series steps through the real driver and local executor: retilen .. slice of the synth label
on SHT records written as jv2ts would, checked against the data put in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from globalhs.drms import open_store
from globalhs.drms.builtin import synth_V
from tsdata import DT, T0, nrows, write_sht

ROOT = Path(__file__).resolve().parents[1]
LMAX = 4


@pytest.mark.slow  # ~1 min: nine steps of subprocess jobs through the local executor
def test_retile_to_slice_through_the_driver():
    rng = np.random.default_rng(5)
    ndt = 1440
    truth = rng.normal(size=(nrows(0, LMAX), 2 * ndt)).astype(np.float32)
    missing = np.zeros(ndt, dtype=bool)
    missing[[10, 11, 500, 900]] = True
    missing[1000:1150] = True  # longer than MAXORDER=100 of the template: stays a gap
    truth[:, np.repeat(missing, 2)] = 0
    write_sht("synth.V_sht", truth, lchunk=2, tchunk=360)
    store = open_store()
    store.ensure_series(synth_V())
    with store.writer() as w:  # the input images' keywords (QUALITY) for mkgaps; no image data needed
        for k in np.flatnonzero(~missing):
            w.add("synth.V", {"T_REC": T0 + k * DT, "QUALITY": 0})
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1")
    args = ["starttime=6400d", "totaltime=1d", "label=synth", f"lmax={LMAX}", "firststep=retilen",
            "laststep=slice", "timechunk2=12h", "lchunk=2", "lchunk4=2", "powtotaltime=12h", "slicestep=6h"]
    proc = subprocess.run([sys.executable, "-m", "globalhs", "run", *args, "--quiet"], env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:]
    series = store.query("synth.V_sht_1d[6400d]")
    assert [r.keywords["LMIN"] for r in series] == list(range(LMAX + 1))
    for rec in series:
        l = rec.keywords["LMIN"]
        assert np.array_equal(rec.read("data"), truth[nrows(0, l - 1) if l else 0 : nrows(0, l)])
    (gaps,) = store.query("synth.V_sht_gaps_1d[6400d]")
    assert np.array_equal(gaps.read("window").astype(bool), ~missing)
    gf_windows = store.query("synth.V_sht_gfgaps_1d[6400d]")
    expected = np.ones(ndt, dtype=bool)
    expected[1000:1150] = False
    assert gf_windows and all(np.array_equal(w.read("window").astype(bool), expected) for w in gf_windows)
    assert len(store.query("synth.V_sht_gf_1d[6400d]")) == LMAX + 1
    assert len(store.query("synth.V_sht_pow_1d[6400d]")) == LMAX + 1
    assert len(store.query("synth.V_sht_slice_1d[6400d/1d]")) == 3 * (LMAX + 1)  # 0h, 6h, 12h
