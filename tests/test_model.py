"""FGONG reader: Model S layout, fixed-width fields, physical consistency, clear errors."""

import numpy as np
import pytest

from globalhs.science.model import G_CGS, FgongError, parse_fgong

pytestmark = pytest.mark.refdata


@pytest.fixture(scope="module")
def model_text():
    from tests.conftest import refdata_path

    return refdata_path("model_s", "fgong.l5bi.d.15c").read_text()


def test_model_s_layout_and_globals(model_text):
    m = parse_fgong(model_text)
    assert m.var.shape == (2482, 25) and m.glob.shape == (15,)
    assert m.M == pytest.approx(1.989e33) and m.R == pytest.approx(6.959894677e10)
    # fixed 16-character fields: the two touching negative numbers on line 8
    assert m.glob[10] == pytest.approx(-136.4769153) and m.glob[11] == pytest.approx(-163.5838805)
    # centre -> surface, top point 80 points above the photosphere at 1.000713 R
    assert m.r[0] < 1e-40 * m.R and m.x[-1] == pytest.approx(1.000713, abs=1e-6)
    assert G_CGS * m.M == pytest.approx(1.3271244e26, rel=1e-7)


def test_hydrostatic_equilibrium_and_sound_speed(model_text):
    m = parse_fgong(model_text)
    dpdr = np.gradient(m.p, m.r)
    g = m.G * m.m / m.r**2
    inner = slice(10, -10)
    assert np.median(np.abs(dpdr[inner] / (-g[inner] * m.rho[inner]) - 1)) < 1e-4
    assert np.sqrt(m.c2[0]) == pytest.approx(5.05e7, rel=0.01)  # 505 km/s at the centre
    d = m.dimensionless()
    assert d["U"][0] == pytest.approx(3.0, abs=1e-3)  # U -> 3 at the centre


def test_bad_input_names_the_problem(model_text):
    lines = model_text.splitlines()
    with pytest.raises(FgongError, match="line 5"):
        parse_fgong("\n".join(lines[:4] + ["not a header"] + lines[5:]))
    with pytest.raises(FgongError, match="end early"):
        parse_fgong("\n".join(lines[:200]))
    bad = lines[:]
    bad[10] = bad[10][:16] + "  x.xxxxxxxxE+00" + bad[10][32:]
    with pytest.raises(FgongError, match="not a number"):
        parse_fgong("\n".join(bad))


def test_wide_format_of_version_1000_and_later(model_text):
    """ivers >= 1000 writes 1p,5(x,e26.18e3): 27 characters per field, read to the same numbers."""
    m = parse_fgong(model_text)
    lines = model_text.splitlines()
    nn, iconst, ivar, _ = (int(v) for v in lines[4].split())
    raw_var = m.var[::-1]  # back to the file's surface -> centre order
    values = list(m.glob) + list(raw_var.ravel())

    def fmt(v):  # x,e26.18e3
        mant, exp = f"{v:.18E}".split("E")
        return " " + f"{mant}E{int(exp):+04d}".rjust(26)

    body = []
    for k in range(0, iconst, 5):
        body.append("".join(fmt(v) for v in values[k : min(k + 5, iconst)]))
    flat = values[iconst:]
    for k in range(0, len(flat), 5):
        body.append("".join(fmt(v) for v in flat[k : k + 5]))
    assert len(fmt(-1.5)) == 27
    text = "\n".join(lines[:4] + [f"{nn:10d}{iconst:10d}{ivar:10d}{1300:10d}"] + body)
    wide = parse_fgong(text)
    assert np.array_equal(wide.var, m.var) and np.array_equal(wide.glob, m.glob)
