"""``globalhs series`` / ``show-info`` / ``ingest`` from the shell: output format, options, exit codes."""

from __future__ import annotations

import json

import numpy as np
from click.testing import CliRunner

from globalhs.cli import main as cli
from globalhs.drms import open_store
from globalhs.drms.builtin import timeseries_series
from globalhs.time import day_to_time


def _run(*args, env=None):
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.output


def test_series_create_list_show(tmp_path):
    spec = tmp_path / "ts.json"
    spec.write_text(json.dumps(timeseries_series("mdi.vw_V_sht_72d", "1d").to_dict()))
    assert _run("series", "create", str(spec)) == (0, "series mdi.vw_V_sht_72d created\n")
    assert _run("series", "create", str(spec))[0] == 0  # identical again: fine
    assert _run("series", "create", "mdi.vw_V") == (0, "series mdi.vw_V created\n")
    code, out = _run("series", "list")
    assert (code, out) == (0, "mdi.vw_V\t0\nmdi.vw_V_sht_72d\t0\n")
    code, out = _run("series", "show", "mdi.vw_V_sht_72d")
    assert code == 0
    assert "T_START    time slotted: epoch 1993.01.01_00:00:00_TAI, step 86400 s, round 0 s" in out
    assert "LMIN       int" in out and "data       float32" in out
    code, out = _run("series", "show", "--json", "mdi.vw_V_sht_72d")
    assert json.loads(out)["name"] == "mdi.vw_V_sht_72d"
    code, out = _run("series", "show", "no.such")
    assert code == 1 and "unknown series 'no.such'" in out


def test_series_create_bad_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "a.b"\n[[prime]]\nname = "T"\ntype = "date"\n')
    code, out = _run("series", "create", str(bad))
    assert code == 1 and f"{bad}" in out and "expected 'time' (slotted) or 'int'" in out
    code, out = _run("series", "create", str(tmp_path / "missing.json"))
    assert code == 1 and "cannot read series definition" in out


def _fill():
    store = open_store()
    store.create_series(timeseries_series("hmi.V_sht_modes", "1d"))
    with store.writer() as w:
        for day in (6328, 6400, 6472):
            w.add("hmi.V_sht_modes", {"T_START": day_to_time(day), "LMIN": 0, "LMAX": 300, "NDT": 138240,
                                      "T_STEP": 45.0, "QUALITY": day}, {"data": np.zeros((1, 2))})
    return store


def test_show_info_forms():
    _fill()
    code, out = _run("show-info", "hmi.V_sht_modes[6400d/72d]")
    assert code == 0
    assert out == "T_START\tLMIN\tLMAX\tNDT\n2010.07.11_00:00:00_TAI\t0\t300\t138240\n"
    code, out = _run("show-info", "-q", "hmi.V_sht_modes[][0][300]", "key=T_START,QUALITY,T_STEP")
    assert code == 0
    assert out.splitlines() == ["2010.04.30_00:00:00_TAI\t6328\t45", "2010.07.11_00:00:00_TAI\t6400\t45",
                                "2010.09.21_00:00:00_TAI\t6472\t45"]
    code, out = _run("show-info", "-q", "hmi.V_sht_modes", "key=QUALITY", "n=-1")
    assert out == "6472\n"
    code, out = _run("show-info", "-c", "hmi.V_sht_modes[6328-6400]")
    assert out == "2\n"
    code, out = _run("show-info", "-r", "-p", "hmi.V_sht_modes[6328d]", "key=LMAX")
    recnum, lmax, path = out.splitlines()[1].split("\t")
    assert out.splitlines()[0] == "recnum\tLMAX\tpath" and lmax == "300" and path.endswith(f"/{recnum}")


def test_show_info_errors():
    _fill()
    code, out = _run("show-info", "hmi.V_sht_modes[6400d/72x]")
    assert code == 1 and "'72x' after '/' is not a duration" in out
    code, out = _run("show-info", "hmi.V_sht_modes", "key=NOPE")
    assert code == 1 and "has no keyword 'NOPE'" in out
    code, out = _run("show-info", "hmi.V_sht_modes", "keys=T_START")
    assert code == 2 and "expected key=KEY1,KEY2" in out


def test_store_option_overrides_environment(tmp_path):
    other = tmp_path / "other"
    assert _run("series", "create", "synth.V", "--store", str(other))[0] == 0
    assert open_store(other).list_series() == ["synth.V"]
    assert open_store().list_series() == []


def test_series_check_finds_and_removes_orphans():
    import os
    import time

    store = _fill()
    good = store.query("hmi.V_sht_modes")
    orphan_tmp = store.root / "tmp" / ".tmp-deadbeef"
    orphan_tmp.mkdir()
    (orphan_tmp / "data.fits").write_bytes(b"x")
    orphan_rec = store.root / "data" / "hmi.V_sht_modes" / "999"
    orphan_rec.mkdir()
    young = store.root / "tmp" / ".tmp-young"  # a writer still running: left alone
    young.mkdir()
    old = time.time() - 7200
    for path in (orphan_tmp, orphan_rec):
        os.utime(path, (old, old))
    code, out = _run("series", "check")
    assert code == 0 and out.splitlines() == [f"orphan\t{orphan_rec}", f"orphan\t{orphan_tmp}", "2 orphan(s)"]
    code, out = _run("series", "check", "--fix")
    assert out.splitlines()[-1] == "2 orphan(s) removed"
    assert not orphan_tmp.exists() and not orphan_rec.exists() and young.exists()
    assert all(r.dir.is_dir() for r in good) and len(store.query("hmi.V_sht_modes")) == 3
