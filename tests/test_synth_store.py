"""``globalhs synth`` into the store: records, keywords, gaps, the truth beside them, bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from globalhs.cli import main
from globalhs.drms import DrmsError, open_store
from globalhs.science.modetable import ModeTable, format_modetable
from globalhs.science.synthsun import QUALITY_BAD, ObservationConfig
from globalhs.synthetic.generate import generate
from globalhs.synthetic.truth import TruthError, load_truth
from globalhs.time import parse_time

START = parse_time("2010.07.11_00:00:00_TAI")


def _table(nu=(2500.0, 3000.0), l=(1, 2)) -> ModeTable:
    rows = len(nu)
    a = np.zeros((rows, 6))
    a[:, 0] = 440.0
    return ModeTable(list(l), [10] * rows, list(nu), [2.0] * rows, [1.0] * rows, np.zeros(rows), np.zeros(rows),
                     np.zeros((rows, 5)), a, np.zeros((rows, 6)))


def test_generate_writes_images_keywords_gaps_and_truth():
    config = ObservationConfig(size=32, duty_cycle=0.7, mean_gap=3, seed=4)
    summary = generate(START, 7200.0, lmax=4, modes=_table(), config=config)
    store = open_store()
    recs = store.query("synth.V[2010.07.11_00:00:00_TAI/2h]")
    assert summary.n_images == 120 and len(recs) == summary.n_written == 120 - summary.n_missing
    assert summary.n_missing > 0 and summary.n_flagged > 0
    flagged = [r for r in recs if r.keywords["QUALITY"] & QUALITY_BAD]
    assert len(flagged) == summary.n_flagged
    kw = recs[0].keywords
    assert kw["INSTRUME"] == "SYNTH-MDI" and kw["DATASIGN"] == 1 and kw["CADENCE"] == 60.0
    assert kw["X0"] == kw["Y0"] == 15.5 and kw["RSUN_PIX"] == pytest.approx(0.94 * 16)
    assert 3.0 < kw["B0"] < 4.5 and 29e3 < kw["OBS_VW"] < 30.5e3   # mid-July geometry
    image = recs[0].read("V")
    assert image.shape == (32, 32) and np.isnan(image[0, 0]) and np.isfinite(image[16, 16])
    times = [r.keywords["T_REC"] for r in recs]
    assert np.all(np.diff(times) % 60.0 == 0)
    truth = load_truth(store.root, "synth.V")
    assert format_modetable(truth.modes) == format_modetable(_table())
    assert truth.spans[0]["model"]["duty_cycle"] == 0.7 and truth.spans[0]["lmax"] == 4


def test_generate_refuses_to_overwrite_and_to_mix_mode_sets():
    config = ObservationConfig(size=24, duty_cycle=1.0)
    generate(START, 600.0, lmax=4, modes=_table(), config=config)
    store = open_store()
    before = len(store.query("synth.V[2010.07.11_00:00:00_TAI/1h]"))
    with pytest.raises(DrmsError, match="already has 10 records"):
        generate(START, 600.0, lmax=4, modes=_table(), config=config)
    with pytest.raises(TruthError, match="different mode set"):
        generate(START + 600.0, 600.0, lmax=4, modes=_table(nu=(2600.0, 3000.0)), config=config)
    assert len(store.query("synth.V[2010.07.11_00:00:00_TAI/1h]")) == before
    # A second span of the same Sun extends the truth.
    generate(START + 600.0, 600.0, lmax=4, modes=_table(), config=config)
    assert len(load_truth(store.root, "synth.V").spans) == 2
    with pytest.raises(ValueError, match="whole number"):
        generate(START, 90.0, lmax=4, modes=_table(), config=config)


def test_cli_synth_with_reference_table(refdata, tmp_path):
    table = refdata("hmi_modes", "hmi.6400.36")
    result = CliRunner().invoke(main, ["synth", "--starttime", "6400d", "--totaltime", "10m", "--lmax", "3",
                                       "--size", "32", "--modes", str(table), "--quiet", "--seed", "1"])
    assert result.exit_code == 0, result.output
    assert "synth.V: " in result.output and "truth in" in result.output
    truth = load_truth(open_store().root, "synth.V")
    assert truth.modes.l.max() == 3 and len(truth.modes) > 20
    params = json.loads((truth.directory / "synth.json").read_text())
    assert params["spans"][0]["start"] == "2010.07.11_00:00:00_TAI"


def test_cli_synth_bad_input_names_the_problem():
    runner = CliRunner()
    bad_time = runner.invoke(main, ["synth", "--starttime", "yesterday", "--totaltime", "1d"])
    assert bad_time.exit_code != 0 and "yesterday" in bad_time.output
    bad_span = runner.invoke(main, ["synth", "--starttime", "6400d", "--totaltime", "90s", "--size", "32",
                                    "--lmax", "2", "--quiet"])
    assert bad_span.exit_code != 0
    assert "whole number" in bad_span.output or "mode table" in bad_span.output


def test_rotation_given_is_kept_with_the_truth(refdata):
    from globalhs.synthetic.truth import read_rot2d

    rot = read_rot2d(refdata("rotation", "rot2d.hmiv72d.ave"), refdata("rotation", "rmesh.orig"))
    assert rot.omega.shape == (151, 49) and rot.radius[0] == 0.0 and rot.colatitude[-1] == 90.0
    # Equatorial surface rate of the HMI inversion: about 450-460 nHz (sidereal).
    assert 440 < rot.omega[np.argmin(np.abs(rot.radius - 0.99)), -1] < 470
    generate(START, 600.0, lmax=4, modes=_table(), config=ObservationConfig(size=24), rotation=rot)
    truth = load_truth(open_store().root, "synth.V")
    np.testing.assert_array_equal(truth.rotation.omega, rot.omega)
    assert truth.rotation.label == "rot2d.hmiv72d.ave"


def test_two_workers_write_the_same_records_as_one(tmp_path):
    config = ObservationConfig(size=24, duty_cycle=0.8, mean_gap=3, seed=6)
    one = generate(START, 1800.0, lmax=4, modes=_table(), config=config, store=open_store(tmp_path / "one"))
    two = generate(START, 1800.0, lmax=4, modes=_table(), config=config, store=open_store(tmp_path / "two"),
                   workers=2, commit_every=7)
    assert (one.n_written, one.n_missing, one.n_flagged) == (two.n_written, two.n_missing, two.n_flagged)
    a = open_store(tmp_path / "one").query("synth.V[2010.07.11_00:00:00_TAI/30m]")
    b = open_store(tmp_path / "two").query("synth.V[2010.07.11_00:00:00_TAI/30m]")
    assert [r.keywords for r in a] == [r.keywords for r in b]
    for ra, rb in zip(a, b):
        np.testing.assert_array_equal(ra.read("V"), rb.read("V"))


def test_starting_guesses_come_from_the_earlier_table_with_heights_zeroed():
    from globalhs.synthetic.truth import starting_guesses

    earlier = _table(nu=(2499.0, 3001.0, 4000.0), l=(1, 2, 3))
    earlier.n[2] = 11
    guesses = starting_guesses(earlier, _table())
    np.testing.assert_array_equal(guesses.l, [1, 2])           # only multiplets the truth has
    np.testing.assert_array_equal(guesses.nu, [2499.0, 3001.0])  # the earlier fit's values, not the truth's
    assert np.all(guesses.amp == 0) and np.all(guesses.bg == 0)
    generate(START, 600.0, lmax=4, modes=_table(), config=ObservationConfig(size=24), guess=earlier)
    stored = load_truth(open_store().root, "synth.V").directory / "guess.txt"
    assert stored.exists() and "2499.0000" in stored.read_text()
