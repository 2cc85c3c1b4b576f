"""The record store: series definitions, writer transactions, replace, segments, staging."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from globalhs.drms import DrmsError, Keyword, load_series_file, open_store
from globalhs.drms.builtin import INPUT_SERIES, hmi_V_45s, mdi_fd_V, synth_V, timeseries_series
from globalhs.time import MDI_EPOCH, day_to_time


def _files(root):
    return sorted(p.relative_to(root) for p in root.rglob("*") if p.is_file())


@pytest.fixture
def store():
    s = open_store()
    s.create_series(mdi_fd_V())
    s.create_series(timeseries_series("mdi.vw_V_sht", "6h"))
    return s


def test_open_store_uses_environment(tmp_path):
    s = open_store()
    assert s.root == tmp_path / "store"
    assert (tmp_path / "store" / "catalog.sqlite").exists()


def test_create_series_identical_is_noop_different_is_error(store):
    store.create_series(mdi_fd_V())
    store.ensure_series(mdi_fd_V())
    other = timeseries_series("mdi.vw_V_sht", "1d")
    with pytest.raises(DrmsError, match=r"mdi.vw_V_sht already exists with a different definition.*prime"):
        store.create_series(other)
    assert store.series("mdi.vw_V_sht").prime[0].step == 6 * 3600


def test_unknown_series_named(store):
    with pytest.raises(DrmsError, match=r"unknown series 'no.such'.*mdi.fd_V"):
        store.query("no.such[6400d]")


def test_definition_round_trip_through_store(tmp_path):
    defn = timeseries_series("x.ts", "1d", keywords=[Keyword("APODIZE", "int", 1)])
    open_store().create_series(defn)
    again = open_store().series("x.ts")  # a fresh Store reads the catalog
    assert again == defn
    assert again.keyword("APODIZE").default == 1


def test_series_file_toml_and_json(tmp_path):
    toml = tmp_path / "s.toml"
    toml.write_text('name = "my.series"\n[[prime]]\nname = "T_REC"\ntype = "time"\n'
                    'epoch = "1993.01.01_00:00:00_TAI"\nstep = "45s"\nround = "45s"\n'
                    '[[prime]]\nname = "CAMERA"\ntype = "int"\n'
                    '[[keywords]]\nname = "QUALITY"\ntype = "int"\ndefault = 0\n'
                    '[[segments]]\nname = "V"\ndtype = "int16"\n')
    defn = load_series_file(toml)
    assert defn.prime[0].step == 45.0 and defn.prime[0].epoch == MDI_EPOCH
    assert defn.segment("V").blank == -32768
    js = tmp_path / "s.json"
    js.write_text(json.dumps(defn.to_dict()))
    assert load_series_file(js) == defn
    bad = tmp_path / "bad.json"
    bad.write_text('{"name": "a.b", "prime": [{"name": "T", "type": "time"}]}')
    with pytest.raises(DrmsError, match=r"bad.json.*slot step > 0"):
        load_series_file(bad)
    bad.write_text("{not json")
    with pytest.raises(DrmsError, match=r"bad.json: not valid JSON"):
        load_series_file(bad)


def test_writer_commits_and_record_reads(store):
    image = np.arange(12, dtype=float).reshape(3, 4) - 5
    image[1, 1] = np.nan
    with store.writer() as w:
        w.add("mdi.fd_V", {"T_REC": "2010.07.11_00:00:00_TAI", "QUALITY": 512, "B0": 3.5}, {"V": image})
    (rec,) = store.query("mdi.fd_V[6400d]")
    assert rec.keywords["T_REC"] == day_to_time(6400)
    assert rec.prime == {"T_REC": day_to_time(6400)}
    assert rec.keywords["QUALITY"] == 512 and rec.keywords["B0"] == 3.5
    assert math.isnan(rec.keywords["X0"])  # default of an unset float keyword
    data = rec.read("V")
    assert data.dtype == np.float32
    np.testing.assert_array_equal(np.isnan(data), np.isnan(image))
    np.testing.assert_array_equal(data[~np.isnan(data)], image[~np.isnan(image)])
    assert rec.segment_path("V").is_file()
    assert rec.spec() == "mdi.fd_V[2010.07.11_00:00:00_TAI]"


def test_t_rec_rounds_to_nearest_slot(store):
    with store.writer() as w:
        w.add("mdi.fd_V", {"T_REC": "2010.07.11_00:00:29_TAI"}, {})
    assert len(store.query("mdi.fd_V[2010.07.11_00:00:00_TAI]")) == 1
    with pytest.raises(DrmsError, match="already exists"):
        with store.writer() as w:
            w.add("mdi.fd_V", {"T_REC": "2010.07.10_23:59:31_TAI"}, {})


def test_writer_rolls_back_on_exception(store):
    root = store.root
    before = _files(root / "data")
    with pytest.raises(RuntimeError):
        with store.writer() as w:
            w.add("mdi.fd_V", {"T_REC": "6400d"}, {"V": np.zeros((2, 2))})
            raise RuntimeError("boom")
    assert store.query("mdi.fd_V") == []
    assert _files(root / "data") == before
    assert _files(root / "tmp") == []


def test_existing_record_error_leaves_catalog_unchanged(store):
    with store.writer() as w:
        w.add("mdi.fd_V", {"T_REC": "6400d", "QUALITY": 1}, {"V": np.ones((2, 2))})
    files = _files(store.root)
    with pytest.raises(DrmsError, match=r"record mdi.fd_V\[2010.07.11_00:00:00_TAI\] already exists"):
        with store.writer() as w:
            w.add("mdi.fd_V", {"T_REC": "6400.001d"}, {"V": np.zeros((2, 2))})
            w.add("mdi.fd_V", {"T_REC": "6400d"}, {"V": np.zeros((2, 2))})
    (rec,) = store.query("mdi.fd_V")
    assert rec.keywords["QUALITY"] == 1
    assert _files(store.root) == files


def test_replace_supersedes_and_removes_old_files(store):
    with store.writer() as w:
        w.add("mdi.fd_V", {"T_REC": "6400d", "QUALITY": 1}, {"V": np.ones((2, 2))})
    old_dir = store.query("mdi.fd_V")[0].dir
    with store.writer(replace=True) as w:
        w.add("mdi.fd_V", {"T_REC": "6400d", "QUALITY": 2}, {"V": np.full((2, 2), 7.0)})
    (rec,) = store.query("mdi.fd_V")
    assert rec.keywords["QUALITY"] == 2 and rec.read().max() == 7
    assert not old_dir.exists()


def test_bad_keyword_and_segment_are_named(store):
    with store.writer() as w:
        with pytest.raises(DrmsError, match=r"mdi.fd_V has no keyword\(s\) QUALTY"):
            w.add("mdi.fd_V", {"T_REC": "6400d", "QUALTY": 1})
        with pytest.raises(DrmsError, match=r"prime key\(s\) T_REC missing"):
            w.add("mdi.fd_V", {"QUALITY": 1})
        with pytest.raises(DrmsError, match=r"keyword QUALITY='x': expected a value of type int"):
            w.add("mdi.fd_V", {"T_REC": "6400d", "QUALITY": "x"})
        with pytest.raises(DrmsError, match=r"has no segment 'W'"):
            w.add("mdi.fd_V", {"T_REC": "6400d"}, {"W": np.zeros(2)})
        with pytest.raises(DrmsError, match=r"values from 1e\+06 to 1e\+06 do not fit int16"):
            w.add("mdi.fd_V", {"T_REC": "6400d"}, {"V": np.array([1e6])})
    assert store.query("mdi.fd_V") == []
    assert _files(store.root / "tmp") == []


def test_timeseries_prime_keys_and_slots(store):
    data = np.random.default_rng(1).standard_normal((3, 8)).astype(np.float32)
    with store.writer() as w:
        for chunk in range(4):  # four 6-hour chunks of day 6400 must be four records
            t = day_to_time(6400) + chunk * 6 * 3600
            w.add("mdi.vw_V_sht", {"T_START": t, "LMIN": 0, "LMAX": 1, "NDT": 360, "T_STEP": 60.0},
                  {"data": data + chunk})
        w.add("mdi.vw_V_sht", {"T_START": "6400d", "LMIN": 2, "LMAX": 3, "NDT": 360}, {"data": data})
    recs = store.query("mdi.vw_V_sht[6400d/1d][0][1]")
    assert [r.keywords["T_START"] for r in recs] == [day_to_time(6400) + k * 21600 for k in range(4)]
    np.testing.assert_array_equal(recs[2].read("data"), data + 2)
    assert len(store.query("mdi.vw_V_sht[][2]")) == 1
    assert len(store.query("mdi.vw_V_sht[6400d]")) == 2  # the first slot only, both l chunks
    assert [r.prime["LMIN"] for r in store.query("mdi.vw_V_sht[6400d]")] == [0, 2]


def test_builtin_input_series_shapes():
    assert set(INPUT_SERIES) == {"mdi.vw_V", "mdi.fd_V", "hmi.V_45s", "synth.V"}
    assert mdi_fd_V().prime[0].step == 60.0 and mdi_fd_V().prime[0].round == 60.0
    assert hmi_V_45s().prime[0].step == 45.0
    assert synth_V().segment("V").dtype == "float32"
    s = open_store()
    for factory in INPUT_SERIES.values():
        s.create_series(factory())
    assert s.list_series() == sorted(INPUT_SERIES)


def test_hmi_compressed_segment_round_trip():
    s = open_store()
    s.create_series(hmi_V_45s())
    image = np.random.default_rng(0).uniform(-3000, 3000, (32, 32))
    image[0, :3] = np.nan
    with s.writer() as w:
        w.add("hmi.V_45s", {"T_REC": "2010.07.11_00:00:45_TAI"}, {"V": image})
    (rec,) = s.query("hmi.V_45s[2010.07.11_00:00:45_TAI]")
    data = rec.read()
    assert np.isnan(data[0, :3]).all()
    np.testing.assert_allclose(data[1:], image[1:], atol=0.005 + 1e-9)
    from astropy.io import fits
    with fits.open(rec.segment_path()) as hdus:  # outside tools read the same physical values
        np.testing.assert_allclose(hdus[1].data[1:], image[1:], atol=0.006)


def test_staging_writes_stage_then_commit_is_idempotent(store, tmp_path, monkeypatch):
    stage = tmp_path / "stage.3"
    monkeypatch.setenv("GLOBALHS_STAGE", str(stage))
    with store.writer(replace=True) as w:
        w.add("mdi.fd_V", {"T_REC": "6400d", "QUALITY": 5}, {"V": np.ones((2, 2))})
    with store.writer(replace=True) as w:
        w.add("mdi.fd_V", {"T_REC": "6401d"}, {"V": np.ones((2, 2))})
    assert store.query("mdi.fd_V") == []  # nothing in the catalog until the driver commits
    manifest = json.loads((stage / "manifest.json").read_text())
    assert len(manifest["records"]) == 2
    monkeypatch.delenv("GLOBALHS_STAGE")
    assert store.commit_stage(stage) == 2
    assert [r.keywords["QUALITY"] for r in store.query("mdi.fd_V")] == [5, 0]
    assert store.commit_stage(stage) == 2  # second commit: no-op
    assert len(store.query("mdi.fd_V")) == 2
    np.testing.assert_array_equal(store.query("mdi.fd_V[6400d]")[0].read(), np.ones((2, 2)))


def test_commit_stage_survives_crash_before_manifest_rename(store, tmp_path):
    stage = tmp_path / "stage.0"
    with store.writer(replace=True, stage=stage) as w:
        w.add("mdi.fd_V", {"T_REC": "6400d"}, {"V": np.ones((2, 2))})
    saved = (stage / "manifest.json").read_text()
    assert store.commit_stage(stage) == 1
    # Simulate a driver killed after the catalog commit, before the manifest was renamed.
    (stage / "manifest.json").write_text(saved)
    assert store.commit_stage(stage) == 1
    assert len(store.query("mdi.fd_V")) == 1


def test_commit_stage_of_new_series_and_empty_stage(tmp_path):
    s = open_store()
    s.create_series(timeseries_series("synth.V_sht", "1d"))
    stage = tmp_path / "stage"
    with s.writer(replace=True, stage=stage) as w:
        w.add("synth.V_sht", {"T_START": "6400d", "LMIN": 0, "LMAX": 0, "NDT": 2}, {"data": np.zeros((1, 4))})
    other = open_store(tmp_path / "other")  # a store without the series: the manifest carries it
    assert other.commit_stage(stage) == 1
    assert other.series("synth.V_sht") == s.series("synth.V_sht")
    assert s.commit_stage(tmp_path / "nothing-here") == 0


def test_commit_stage_conflict_leaves_stage_intact(store, tmp_path):
    with store.writer() as w:
        w.add("mdi.fd_V", {"T_REC": "6400d"}, {"V": np.ones((2, 2))})
    stage = tmp_path / "stage"
    with store.writer(replace=False, stage=stage) as w:
        w.add("mdi.fd_V", {"T_REC": "6401d"}, {"V": np.ones((2, 2))})
        w.add("mdi.fd_V", {"T_REC": "6399d"}, {"V": np.ones((2, 2))})
    with store.writer(replace=True) as w:  # someone stores 6399 after the stage was written
        w.add("mdi.fd_V", {"T_REC": "6399d"}, {"V": np.ones((2, 2))})
    files = _files(store.root / "data")
    with pytest.raises(DrmsError, match=r"stage .*record mdi.fd_V\[2010.07.10_00:00:00_TAI\] already exists"):
        store.commit_stage(stage)
    assert len(store.query("mdi.fd_V")) == 2
    assert _files(store.root / "data") == files
    assert len([p for p in stage.iterdir() if p.name.startswith("rec-")]) == 2


def test_process_killed_inside_commit_leaves_catalog_unchanged(store, tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    code = f"""
import os, numpy as np
import globalhs.drms.store as st
from globalhs.drms import open_store
real = os.rename
def rename_then_die(a, b):
    real(a, b)
    os._exit(9)           # killed after moving the first record's directory, before COMMIT
st.os.rename = rename_then_die
s = open_store({str(store.root)!r})
with s.writer() as w:
    w.add("mdi.fd_V", {{"T_REC": "6400d"}}, {{"V": np.ones((2, 2))}})
    w.add("mdi.fd_V", {{"T_REC": "6401d"}}, {{"V": np.ones((2, 2))}})
"""
    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 9, result.stderr
    fresh = open_store(store.root)
    assert fresh.query("mdi.fd_V") == []                      # the transaction never happened
    orphans = fresh.check(min_age=0)
    assert len(orphans) == 2 and {p.parent.name for p in orphans} == {"tmp", "mdi.fd_V"}
    with fresh.writer() as w:                                 # the next writer reuses the record number
        w.add("mdi.fd_V", {"T_REC": "6402d"}, {"V": np.full((2, 2), 3.0)})
    (rec,) = fresh.query("mdi.fd_V")
    np.testing.assert_array_equal(rec.read(), np.full((2, 2), 3.0))
    assert len(fresh.check(fix=True, min_age=0)) == 1 and fresh.check(min_age=0) == []


def test_records_pickle_and_compare_by_number(store):
    import pickle

    with store.writer() as w:
        w.add("mdi.fd_V", {"T_REC": "6400d"}, {"V": np.ones((2, 2))})
    (rec,) = store.query("mdi.fd_V")
    again = pickle.loads(pickle.dumps(rec))  # modules may hand records to worker processes
    assert again == rec and again.defn == rec.defn and math.isnan(again.keywords["B0"])
    np.testing.assert_array_equal(again.read(), np.ones((2, 2)))


def test_store_of_another_catalog_format_is_refused(tmp_path):
    import sqlite3

    root = tmp_path / "old"
    open_store(root).close()
    con = sqlite3.connect(root / "catalog.sqlite")
    con.execute("PRAGMA user_version=1")
    con.close()
    with pytest.raises(DrmsError, match=r"catalog .*catalog.sqlite has format 1, this globalhs reads format 2"):
        open_store(root)


def test_gzip_float_segment_is_lossless_and_rice_float_refused():
    from globalhs.drms import Segment

    with pytest.raises(DrmsError, match="rice compression is lossless only for integer dtypes"):
        Segment("data", "float32", compress="rice")
    s = open_store()
    s.create_series(timeseries_series("x.gz", "1d", segments=[Segment("data", "float32", compress="gzip")]))
    data = np.random.default_rng(3).standard_normal((5, 64)).astype(np.float32)
    data[2, 7] = np.nan
    with s.writer() as w:
        w.add("x.gz", {"T_START": "6400d", "LMIN": 0, "LMAX": 1, "NDT": 32}, {"data": data})
    np.testing.assert_array_equal(s.query("x.gz")[0].read(), data)


@pytest.mark.parametrize("staged", [False, True])
def test_batch_sync_makes_files_durable_before_anything_is_catalogued(store, tmp_path, monkeypatch, staged):
    """sync="batch": no fsync per file; one filesystem sync while every record is still in its
    temporary directory, the catalog (or the stage manifest) untouched: a crash before it loses the
    batch, a crash after it finds every listed record complete."""
    import globalhs.drms.store as store_module
    from globalhs.drms import segments

    with store.writer(replace=True) as w:  # astropy probes mmap with an fsync once per process
        w.add("mdi.fd_V", {"T_REC": "6399d"}, {"V": np.zeros((2, 3))})
    store.query("mdi.fd_V[6399d]")[0].read("V")
    stage = tmp_path / "stage.1"
    if staged:
        monkeypatch.setenv("GLOBALHS_STAGE", str(stage))
    fsynced, synced = [], []
    real_fsync = os.fsync
    monkeypatch.setattr(segments.os, "fsync", lambda fd: (fsynced.append(fd), real_fsync(fd))[1])

    def spy(path, files):
        files = list(files)
        synced.append(files)
        assert all(f.is_file() and f.parent.name.startswith(".tmp-") for f in files)
        assert len(store.query("mdi.fd_V")) == 1 and not (stage / "manifest.json").exists()
        assert fsynced == []  # nothing fsynced file by file while the records were written
        segments.sync_filesystem(path, files)

    monkeypatch.setattr(store_module, "sync_filesystem", spy)
    images = {f"640{i}d": np.full((2, 3), float(i)) for i in range(3)}
    with store.writer(replace=True, sync="batch") as w:
        for t, image in images.items():
            w.add("mdi.fd_V", {"T_REC": t}, {"V": image})
    assert len(synced) == 1 and len(synced[0]) == 3
    if staged:
        monkeypatch.delenv("GLOBALHS_STAGE")
        assert store.commit_stage(stage) == 3
    recs = store.query("mdi.fd_V[6400d/3d]")
    assert [r.read("V")[0, 0] for r in recs] == [0.0, 1.0, 2.0]


def test_batch_sync_without_syncfs_fsyncs_each_file(store, monkeypatch):
    from globalhs.drms import segments

    monkeypatch.setattr(segments, "_SYNCFS", None)
    fsynced = []
    real_fsync = os.fsync
    monkeypatch.setattr(segments.os, "fsync", lambda fd: (fsynced.append(fd), real_fsync(fd))[1])
    with store.writer(sync="batch") as w:
        w.add("mdi.fd_V", {"T_REC": "6400d"}, {"V": np.ones((2, 2))})
        w.add("mdi.fd_V", {"T_REC": "6401d"}, {"V": np.ones((2, 2))})
    assert len(fsynced) >= 4  # two files and their two directories, before the catalog commit
    assert len(store.query("mdi.fd_V")) == 2
    with pytest.raises(ValueError, match="sync='each'.*'record' or 'batch'"):
        store.writer(sync="each")
