"""The leakage module: record written, read back, errors named."""

import numpy as np
import pytest

from globalhs.drms import open_store
from globalhs.modules.leakage import MODULE, block_from_record
from globalhs.science.leakage import MapGeometry, leakage_block

COARSE = ["MAPMMAX=90", "SINBDIVS=30"]


def test_writes_a_record_that_reads_back():
    assert MODULE(["out=synth.V_leakage", "TSTART=6400d", "LMIN=3", "LMAX=6", "LKGDL=2", "LKGDM=4", "B0=5",
                   *COARSE]) == 0
    (rec,) = open_store().query("synth.V_leakage[6400d]")
    assert (rec.keywords["LMIN"], rec.keywords["LMAX"], rec.keywords["B0"]) == (3, 6, 5.0)
    block = block_from_record(rec)
    direct = leakage_block(MapGeometry(MAPMMAX=90, SINBDIVS=30, B0=5.0), 3, 6, 2, 4)
    assert np.array_equal(block.radial, direct.radial)
    assert np.allclose(block.matrix(5, 1e-3), direct.matrix(5, 1e-3))


def test_bad_arguments_named(capsys):
    assert MODULE(["out=synth.V_leakage", "TSTART=6400d", "LMIN=5", "LMAX=2"]) == 1
    assert "LMIN=5 LMAX=2" in capsys.readouterr().err
    assert MODULE(["out=synth.V_leakage", "TSTART=6400d", "MAPLGMIN=-60", "MAPLGMAX=89"]) == 1
    assert "MAPLGMIN = -MAPLGMAX" in capsys.readouterr().err
    assert MODULE(["out=synth.V_leakage", "TSTART=6400d", "B0=north"]) == 1
    assert "B0='north'" in capsys.readouterr().err
    assert MODULE(["out=synth.V_leakage", "TSTART=6400d", "B0=mean"]) == 1
    assert "needs in=" in capsys.readouterr().err
    assert not open_store().has_series("synth.V_leakage") or not open_store().query("synth.V_leakage[6400d]")
