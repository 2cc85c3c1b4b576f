"""Ingest of FITS Dopplergrams (MDI and HMI style), show-info, bad files, concurrent ingest."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from astropy.io import fits
from click.testing import CliRunner

from globalhs.cli import main as cli
from globalhs.drms import DrmsError, open_store
from globalhs.drms.ingest import AU, ingest_files
from globalhs.time import day_to_time, parse_time

ROOT = Path(__file__).resolve().parents[1]


def mdi_file(path: Path, minute: int, shape=(64, 64), **extra) -> Path:
    """A small MDI-style Dopplergram: int16 with BLANK, X0/Y0/R_SUN/B0/L0/P, QUALITY as a hex string."""
    rng = np.random.default_rng(minute)
    data = rng.integers(-3000, 3000, shape).astype(np.int16)
    data[0, 0] = -32768
    hdu = fits.PrimaryHDU(data)
    h = hdu.header
    h["BLANK"] = -32768
    h["T_REC"] = f"2010.07.11_00:{minute:02d}:00_TAI"
    h["T_OBS"] = f"2010.07.11_00:{minute:02d}:00_TAI"
    h.update(X0=31.25, Y0=30.5, R_SUN=28.0, B0=3.2, L0=120.5, P=0.0, OBS_VR=432.4, OBS_VW=29670.0,
             OBS_VN=1568.3, DSIGN0=-1, QUALITY="0x00000200", OBS_DIST=0.988)
    for key, value in extra.items():
        if value is None:
            h.remove(key, ignore_missing=True)
        else:
            h[key] = value
    hdu.writeto(path)
    return path


def hmi_file(path: Path, t_rec: str, compressed=True, **extra) -> Path:
    """A small HMI-style Dopplergram in a Rice-compressed extension with CRPIX/RSUN_OBS/CRLT_OBS/CROTA2."""
    data = np.linspace(-2000.0, 2000.0, 48 * 40).reshape(48, 40)
    data = np.rint(data / 0.25).astype(np.int32)  # stored as HMI does: scaled integers with BLANK
    data[20, 18] = -2147483648
    header = fits.Header()
    header.update(BLANK=-2147483648)
    header.update(T_REC=t_rec, CRPIX1=20.5, CRPIX2=24.5, CRVAL1=0.0, CRVAL2=0.0, CDELT1=50.0, CDELT2=50.0,
                  RSUN_OBS=950.0, CRLT_OBS=5.1, CRLN_OBS=200.0, CROTA2=179.93, DSUN_OBS=1.52e11,
                  OBS_VR=-1200.0, OBS_VW=30000.0, OBS_VN=-50.0, QUALITY=0, RSUN_REF=696000000.0)
    header.update(extra)
    if compressed:
        image = fits.CompImageHDU(data, header=header, compression_type="RICE_1")
        hdus = fits.HDUList([fits.PrimaryHDU(), image])
    else:
        hdus = fits.HDUList([fits.PrimaryHDU(data, header=header)])
    hdus[-1].header["BSCALE"], hdus[-1].header["BZERO"] = 0.25, 0.0
    hdus.writeto(path)
    return path


def _run(*args):
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


def _data_files(store):
    return sorted(p for p in (store.root).rglob("*.fits"))


@pytest.mark.refdata
def test_real_mdi_file_ingest_and_show_info(refdata):
    path = refdata("mdi", "fd_V_01h.fits")
    code, out = _run("ingest", "mdi.fd_V", str(path))
    assert code == 0, out
    assert "ingested 1 record(s) into mdi.fd_V" in out
    code, out = _run("show-info", "mdi.fd_V[2002.03.31_17:34:00_TAI]", "key=T_REC,QUALITY")
    assert code == 0, out
    assert out.splitlines() == ["T_REC\tQUALITY", "2002.03.31_17:34:00_TAI\t512"]
    code, out = _run("show-info", "-c", "mdi.fd_V[2002.03.31_17:34:00_TAI]")
    assert (code, out) == (0, "1\n")
    (rec,) = open_store().query("mdi.fd_V[2002.03.31_17:34:00_TAI]")
    k = rec.keywords
    # the header's own values, normalised: 0-based centre, radius in pixels, angles in degrees
    assert (k["X0"], k["Y0"], k["RSUN_PIX"]) == (511.2745513916, 511.4600118001, 490.9731400466)
    assert (k["B0"], k["L0"], k["P"]) == (-6.620905024787, 337.5826082853, 0.0)
    assert (k["OBS_VR"], k["OBS_VW"], k["OBS_VN"]) == (432.3991041836, 29669.98454443, 1568.26455137)
    assert k["DATASIGN"] == -1 and k["QUALITY"] == 0x200
    assert k["DSUN"] == pytest.approx(0.9882382870339 * AU, rel=1e-12)
    assert k["T_OBS"] == parse_time("2002.03.31_17:34:00_TAI")
    with fits.open(path) as hdus:
        original = hdus[0].data.astype(np.float32)  # astropy applies BLANK -> NaN
    data = rec.read("V")
    assert data.shape == (1024, 1024)
    np.testing.assert_array_equal(np.isnan(data), np.isnan(original))
    np.testing.assert_array_equal(data[~np.isnan(data)], original[~np.isnan(original)])
    assert np.isnan(data).sum() == 324760


def test_mdi_style_keywords_and_data(tmp_path):
    path = mdi_file(tmp_path / "a.fits", 3)
    store = open_store()
    (rec,) = ingest_files(store, "mdi.vw_V", [path])
    assert rec.spec() == "mdi.vw_V[2010.07.11_00:03:00_TAI]"
    k = rec.keywords
    assert (k["X0"], k["Y0"], k["RSUN_PIX"], k["B0"], k["L0"], k["P"]) == (31.25, 30.5, 28.0, 3.2, 120.5, 0.0)
    assert k["DATASIGN"] == -1 and k["QUALITY"] == 512 and k["DSUN"] == pytest.approx(0.988 * AU)
    assert k["SOURCE"] == str(path)
    with fits.open(path) as hdus:
        raw = hdus[0].data
    data = rec.read()
    assert np.isnan(data[0, 0]) and np.array_equal(data.ravel()[1:], raw.ravel()[1:].astype(np.float32))


@pytest.mark.parametrize("compressed", [True, False])
def test_hmi_style_keywords_compressed_or_not(tmp_path, compressed):
    path = hmi_file(tmp_path / "h.fits", "2010.07.11_00:00:45_TAI", compressed)
    (rec,) = ingest_files(open_store(), "hmi.V_45s", [path])
    k = rec.keywords
    assert (k["X0"], k["Y0"]) == (19.5, 23.5)
    assert k["RSUN_PIX"] == 19.0 and k["CDELT"] == 50.0
    assert (k["B0"], k["L0"], k["P"]) == (5.1, 200.0, -179.93)
    assert k["DSUN"] == 1.52e11 and k["OBS_VR"] == -1200.0 and k["DATASIGN"] == 1
    assert k["MISSVALS"] == 1  # the one NaN lies inside the disk
    data = rec.read()
    assert np.isnan(data[20, 18])
    expected = np.linspace(-2000.0, 2000.0, 48 * 40).reshape(48, 40).astype(np.float32)
    mask = ~np.isnan(data)
    np.testing.assert_allclose(data[mask], expected[mask], atol=0.125 + 0.005)
    assert open_store().query("hmi.V_45s[6400d/90s]") == [rec]


def test_hmi_reference_pixel_off_centre(tmp_path):
    # world (0, 0) is 5 pixels along -x world from CRPIX when CRVAL1 = 10 arcsec at 2 arcsec/pixel;
    # with the image rotated by 180 degrees that is +5 pixels.
    path = hmi_file(tmp_path / "h.fits", "2010.07.11_00:00:00_TAI", False, CRVAL1=10.0, CDELT1=2.0, CDELT2=2.0,
                    CROTA2=180.0, RSUN_OBS=40.0)
    (rec,) = ingest_files(open_store(), "hmi.V_45s", [path])
    assert rec.keywords["X0"] == pytest.approx(20.5 + 5 - 1)
    assert rec.keywords["Y0"] == pytest.approx(23.5)
    assert rec.keywords["P"] == -180.0


def _assert_nothing_stored(store):
    assert store.query("mdi.fd_V") == []
    assert _data_files(store) == []
    assert list((store.root / "tmp").iterdir()) == []


def test_truncated_file_named_and_nothing_stored(tmp_path):
    good = mdi_file(tmp_path / "good.fits", 1)
    bad = tmp_path / "bad.fits"
    bad.write_bytes(mdi_file(tmp_path / "x.fits", 2).read_bytes()[:4000])
    code, out = _run("ingest", "mdi.fd_V", str(good), str(bad))
    assert code == 1
    assert f"{bad}: truncated FITS file" in out and "nothing was ingested" in out
    _assert_nothing_stored(open_store())


def test_corrupt_file_named(tmp_path):
    bad = tmp_path / "junk.fits"
    bad.write_bytes(b"this is not FITS" * 300)
    with pytest.raises(DrmsError, match=rf"{bad}: not a readable FITS file"):
        ingest_files(open_store(), "mdi.fd_V", [mdi_file(tmp_path / "g.fits", 1), bad])
    _assert_nothing_stored(open_store())


@pytest.mark.parametrize("removed, message", [
    (("X0", "Y0"), "disk centre"),
    (("R_SUN",), "solar radius"),
    (("B0",), r"B0 angle \(expected one of B0, OBS_B0, SOLAR_B0, CRLT_OBS\)"),
    (("T_REC", "T_OBS"), "observation time"),
])
def test_missing_required_keyword(tmp_path, removed, message):
    path = mdi_file(tmp_path / "m.fits", 4, **dict.fromkeys(removed))
    with pytest.raises(DrmsError, match=rf"{path}: missing required keyword for the {message}"):
        ingest_files(open_store(), "mdi.fd_V", [mdi_file(tmp_path / "g.fits", 1), path])
    _assert_nothing_stored(open_store())


def test_existing_record_refused_then_replaced(tmp_path):
    store = open_store()
    ingest_files(store, "mdi.fd_V", [mdi_file(tmp_path / "a.fits", 1)])
    files = _data_files(store)
    again = mdi_file(tmp_path / "b.fits", 1, QUALITY=7)
    code, out = _run("ingest", "mdi.fd_V", str(again))
    assert code == 1
    assert f"{again}: record mdi.fd_V[2010.07.11_00:01:00_TAI] already exists" in out
    assert store.query("mdi.fd_V")[0].keywords["QUALITY"] == 512 and _data_files(store) == files
    code, out = _run("ingest", "--replace", "mdi.fd_V", str(again))
    assert code == 0, out
    assert [r.keywords["QUALITY"] for r in store.query("mdi.fd_V")] == [7]
    assert len(_data_files(store)) == 1


def test_unknown_series_and_non_image(tmp_path):
    with pytest.raises(DrmsError, match="unknown series 'my.V'.*series create"):
        ingest_files(open_store(), "my.V", [mdi_file(tmp_path / "a.fits", 1)])
    table = tmp_path / "t.fits"
    fits.HDUList([fits.PrimaryHDU(), fits.BinTableHDU.from_columns([fits.Column("a", "E", array=[1.0])])]).writeto(table)
    with pytest.raises(DrmsError, match=rf"{table}: no 2-D image"):
        ingest_files(open_store(), "mdi.fd_V", [table])


def test_four_processes_ingest_concurrently_lose_nothing(tmp_path):
    files = [mdi_file(tmp_path / f"f{m:02d}.fits", m) for m in range(24)]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    procs = [subprocess.Popen([sys.executable, "-m", "globalhs", "ingest", "mdi.fd_V", *map(str, files[i::4])],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for i in range(4)]
    outputs = [p.communicate(timeout=300)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, outputs
    store = open_store()
    recs = store.query("mdi.fd_V[6400d/1d]")
    assert [r.keywords["T_REC"] for r in recs] == [day_to_time(6400) + 60 * m for m in range(24)]
    for rec in recs:
        with fits.open(rec.keywords["SOURCE"]) as hdus:
            assert np.array_equal(rec.read().ravel()[1:], hdus[0].data.ravel()[1:].astype(np.float32))
    assert len(_data_files(store)) == 24 and list((store.root / "tmp").iterdir()) == []
