"""The report's pieces: comparison statistics, figures, the page."""

from __future__ import annotations

import numpy as np
import pytest

from globalhs.report import figures
from globalhs.report.compare import compare_tables
from globalhs.report.html import Section, write_html
from globalhs.science.modetable import ModeTable

PNG = b"\x89PNG\r\n\x1a\n"


def _truth(rows: int = 200, seed: int = 0) -> ModeTable:
    rng = np.random.default_rng(seed)
    l = rng.integers(1, 60, rows)
    n = np.arange(rows)  # unique (n, l)
    nu = rng.uniform(1500, 4500, rows)
    a = np.zeros((rows, 6))
    a[:, 0], a[:, 2] = 440.0, 20.0
    z = np.zeros(rows)
    return ModeTable(l, n, nu, np.ones(rows), np.ones(rows), z, z, np.zeros((rows, 5)), a, np.zeros((rows, 6)))


def _fitted(truth: ModeTable, sigma_nu=0.05, sigma_a=2.0, bias=0.0, seed=1) -> ModeTable:
    rng = np.random.default_rng(seed)
    rows = len(truth)
    err = np.zeros((rows, 5))
    err[:, 0] = sigma_nu
    a_err = np.full((rows, 6), sigma_a)
    a = truth.a + sigma_a * rng.standard_normal(truth.a.shape)
    nu = truth.nu + sigma_nu * (rng.standard_normal(rows) + bias)
    return ModeTable(truth.l, truth.n, nu, truth.amp, truth.width, truth.bg, truth.asym, err, a, a_err)


def test_unbiased_fits_have_unit_normal_residuals():
    truth = _truth(2000)
    comp = compare_tables(_fitted(truth), truth)
    assert comp.l.size == 2000
    assert np.std(comp.nu_residual) == pytest.approx(1.0, abs=0.05)
    assert comp.fraction_within(2.0) == pytest.approx(0.954, abs=0.015)
    assert comp.fraction_within(2.0, a=(1,)) == pytest.approx(0.954**2, abs=0.02)
    assert "2000 of 2000 true multiplets" in comp.summary()


def test_biased_fits_fail_and_unusable_errors_do_not_pass():
    truth = _truth(500)
    biased = compare_tables(_fitted(truth, bias=3.0), truth)
    assert biased.fraction_within(2.0) < 0.2
    fitted = _fitted(truth)
    fitted.err[:10, 0] = 1000.0      # the table's "no error" flag
    comp = compare_tables(fitted, truth)
    assert np.isnan(comp.nu_residual[:10]).all()
    assert comp.fraction_within(2.0) <= 0.98


def test_matching_by_n_and_l_ignores_extra_and_missing_multiplets():
    truth = _truth(50)
    fitted = _fitted(truth).select(np.arange(50) % 2 == 0)
    comp = compare_tables(fitted, truth)
    assert comp.l.size == 25 and comp.n_truth == 50
    np.testing.assert_array_equal(comp.nu_true, truth.nu[::2])


def test_figures_and_page_are_written(tmp_path):
    truth = _truth(100)
    comp = compare_tables(_fitted(truth), truth)
    ls = np.arange(0, 30)
    freq = np.linspace(0, 8000, 400)
    power = np.exp(-((freq[None, :] - 3000 - 10 * ls[:, None]) / 50) ** 2) + 0.01
    paths = [
        figures.lnu_diagram(power, ls, freq, tmp_path / "lnu.png", truth=(truth.l, truth.nu), numax=6000),
        figures.frequency_residuals(comp, tmp_path / "res.png"),
        figures.acoeff_panels(comp, tmp_path / "a.png"),
        figures.rotation_maps(np.linspace(0.5, 1, 20), np.linspace(0, 90, 10), 400 + np.zeros((20, 10)),
                              tmp_path / "rot.png", reference=(np.linspace(0.5, 1, 20), np.linspace(0, 90, 10),
                                                              430 + np.zeros((20, 10)))),
        figures.window_figure(6400 + np.arange(2880) / 1440, (np.arange(2880) % 10 > 0).astype(float),
                              tmp_path / "win.png"),
        figures.timeline_figure([figures.JobRecord("sht", "0", 0, 1, 5), figures.JobRecord("pow", "0", 5, 7, 9, 2)],
                                tmp_path / "jobs.png", ("sht", "pow")),
    ]
    for path in paths:
        assert path.read_bytes()[:8] == PNG
    page = write_html(tmp_path / "report.html", "t <x>", "summary & more", [("a", "b")],
                      [Section("one", "lnu.png", "text"), Section("two", missing="absent <here>")])
    html = page.read_text()
    assert 'src="lnu.png"' in html and "absent &lt;here&gt;" in html and "t &lt;x&gt;" in html


def test_build_report_of_a_run_with_synthetic_products(tmp_path, monkeypatch):
    """A run directory, a ledger, synthetic input with truth and a fitted table: every panel that has
    its product is drawn, the comparison is right, missing products are named."""
    from globalhs.drms import Segment, open_store
    from globalhs.drms.builtin import timeseries_series
    from globalhs.pipeline.ledger import Ledger
    from globalhs.report.build import build_report, find_products
    from globalhs.science.synthsun import ObservationConfig
    from globalhs.synthetic.generate import generate
    from globalhs.synthetic.truth import load_truth
    from globalhs.time import parse_time

    templates = tmp_path / "templates"
    templates.mkdir()
    (templates / "v2t.parms.rtest").write_text("in=synth.V[XXXX]\ntsout=synth.V_sht\nLMIN=NNNN LMAX=MMMM\n")
    (templates / "pkb.parms.rtest").write_text("in=synth.V_sht_gf_{{totaltime}}\nout=synth.V_sht_modes\n")
    monkeypatch.setenv("GLOBALHS_TEMPLATES", str(templates))
    args = ["starttime=6400d", "totaltime=2h", "label=rtest", "lmax=10"]
    run = find_products(args)
    assert run.input_series == "synth.V" and run.outputs["pkbgn"] == "synth.V_sht_modes"

    truth = _truth(40)
    truth.l[:] = np.arange(40) % 10 + 1
    generate(parse_time("2010.07.11_00:00:00_TAI"), 7200.0, lmax=10, modes=truth,
             config=ObservationConfig(size=24, duty_cycle=0.8, mean_gap=4, seed=2))
    store = open_store()
    truth_stored = load_truth(store.root, "synth.V")
    fitted = _fitted(truth_stored.modes)
    store.ensure_series(timeseries_series("synth.V_sht_modes", segments=[Segment("modes", "float64")]))
    with store.writer(replace=True) as w:
        w.add("synth.V_sht_modes", {"T_START": parse_time("2010.07.11_00:00:00_TAI"), "LMIN": 0, "LMAX": 10,
                                    "NDT": 120}, {"modes": fitted.to_array()})
    ledger = Ledger(run.workdir)
    ledger.submitted("sht", "6400", "h", "local", "1", "subt.6400")
    ledger.finished("sht", "6400", "done", 0)
    ledger.close()

    path, summary = build_report(args)
    html = path.read_text()
    assert "40 of 40 true multiplets fitted" in summary
    for png in ("nu_residuals.png", "acoeffs.png", "window.png", "timeline.png"):
        assert (path.parent / png).read_bytes()[:8] == PNG and png in html
    assert "no power spectra found" in html and "no inversion found" in html
    window = [r for r in store.query("synth.V[2010.07.11_00:00:00_TAI/2h]") if not r.keywords["QUALITY"]]
    assert f"{len(window)} good images of 120" in html

    # Real data have no truth: the same run reported without it keeps the data panels only.
    import shutil

    shutil.rmtree(truth_stored.directory)
    path, summary = build_report(args, out=tmp_path / "real")
    assert "40 multiplets fitted" in summary and "no truth" in summary
    assert not (path.parent / "nu_residuals.png").exists() and (path.parent / "window.png").exists()


def test_lnu_loader_reads_the_pow_module_output():
    """Tones put into a gap-filled series come out of the real pow module where the l-nu loader says:
    mode (2, +1) at +nu in row (2, 1), mode (3, -2) at -nu in row (3, 2), both folded to +nu."""
    from globalhs.drms import open_store
    from globalhs.drms.builtin import timeseries_series
    from globalhs.modules import get_module
    from globalhs.report.build import _power
    from globalhs.time import parse_time

    start, ndt, dt = parse_time("2010.07.11_00:00:00_TAI"), 1440, 60.0
    t = np.arange(ndt) * dt
    # Frequencies on the grid k / (N dt), near 3000 and 2500 uHz.
    nu_a, nu_b = (round(nu * ndt * dt) / (ndt * dt) for nu in (3.0e-3, 2.5e-3))
    rows = np.zeros((10, ndt), dtype=complex)               # l 0..3: rows l(l+1)/2 + m
    rows[2 * 3 // 2 + 1] = np.exp(2j * np.pi * nu_a * t)
    rows[3 * 4 // 2 + 2] = 2 * np.exp(-2j * np.pi * nu_b * t)
    data = np.empty((10, 2 * ndt), dtype=np.float32)
    data[:, 0::2], data[:, 1::2] = rows.real, rows.imag
    store = open_store()
    store.ensure_series(timeseries_series("synth.V_sht_gf_1d"))
    with store.writer() as w:
        w.add("synth.V_sht_gf_1d", {"T_START": start, "LMIN": 0, "LMAX": 3, "NDT": ndt, "T_STEP": dt}, {"data": data})
    get_module("pow")(["in=synth.V_sht_gf_1d[2010.07.11_00:00:00_TAI]", "out=synth.V_sht_pow_1d", "LMIN=0", "LMAX=3"])
    ls, freq, power = _power(store, "synth.V_sht_pow_1d[2010.07.11_00:00:00_TAI]")
    np.testing.assert_array_equal(ls, [0, 1, 2, 3])
    assert freq[np.argmax(power[2])] == pytest.approx(nu_a * 1e6)
    assert freq[np.argmax(power[3])] == pytest.approx(nu_b * 1e6)
    assert power[2].max() == pytest.approx(1.0, rel=1e-5) and power[3].max() == pytest.approx(4.0, rel=1e-5)
    assert power[0].max() == 0 and power[1].max() == 0


def test_cli_report_errors_name_the_problem(tmp_path):
    from click.testing import CliRunner

    from globalhs.cli import main

    runner = CliRunner()
    missing = runner.invoke(main, ["report", "starttime=6400d", "totaltime=1d", "label=synth"])
    assert missing.exit_code != 0 and "no work directory" in missing.output
    bad = runner.invoke(main, ["report", "starttime=6400d", "label=synth"])
    assert bad.exit_code != 0 and "totaltime" in bad.output


def test_rotation_loader_reads_the_rot2d_layout():
    from globalhs.drms import PrimeKey, Segment, SeriesDef, open_store
    from globalhs.report.build import _rotation
    from globalhs.time import MDI_EPOCH, parse_time

    store = open_store()
    store.ensure_series(SeriesDef(
        "synth.V_rot2d", (PrimeKey("T_START", "time", MDI_EPOCH, 86400.0, 0.0, "TAI", "start"),), (),
        (Segment("omega", "float32"), Segment("err", "float32"), Segment("radius", "float64"),
         Segment("colat", "float64")), "rot2d"))
    r, colat = np.linspace(0.5, 1.0, 11), np.arange(49) * 1.875
    omega = (430 + 20 * np.cos(np.deg2rad(colat))[None, :] ** 2 * r[:, None]).astype(np.float32)
    with store.writer() as w:
        w.add("synth.V_rot2d", {"T_START": parse_time("2010.07.11_00:00:00_TAI")},
              {"omega": omega, "err": np.ones_like(omega), "radius": r, "colat": colat})
    got = _rotation(store, "synth.V_rot2d[2010.07.11_00:00:00_TAI]")
    np.testing.assert_allclose(got[0], r)
    np.testing.assert_allclose(got[1], colat)
    np.testing.assert_allclose(got[2], omega)


def test_spectral_recovery_finds_peaks_at_true_frequencies():
    from globalhs.report.compare import spectral_recovery

    truth = _truth(60)
    truth.l[:] = np.arange(60) % 6
    truth.nu[:] = np.linspace(2100, 3900, 60)
    freq = np.arange(0, 8000, 11.574)
    ls = np.arange(6)
    power = np.full((6, freq.size), 1.0)
    for l, nu in zip(truth.l, truth.nu):
        power[l] += 50 * np.exp(-0.5 * ((freq - nu - 3.0) / 6.0) ** 2)   # peaks 3 uHz above the truth
    rec = spectral_recovery(ls, freq, power, truth, lmax=5)
    assert rec.l.size == 60
    np.testing.assert_allclose(rec.offset * rec.resolution_uhz, 3.0, atol=1.5)
    assert np.median(rec.contrast) > 20 and "60 true multiplets" in rec.summary()
