"""Parameter-file templates: lookup, legacy placeholders, jinja2, ## lines, the no-spaces rule."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from globalhs.cli import main
from globalhs.pipeline.templates import (
    SHIPPED,
    Template,
    TemplateError,
    find_template,
    labels,
    steps_of_label,
)

LEGACY = {"XXXX": "2010.07.11_00:00:00_TAI/1d", "NNNN": "0", "MMMM": "300", "CCCC": "40", "TTTT": "1d",
          "SSSS": "2010.07.11_00:00:00_TAI"}
VARS = {"lmin": 10, "lmax": 19, "label": "t", "step": "gapfill", "totaltime": "72d"}

# The seed's v2t template for label mdivw72d, token by token.
SEED_MDIVW72D = (
    "in=mdi.vw_V[XXXX] tsout=mdi.vw_V_sht_6h MAPMMAX=600 SINBDIVS=200 VCORLEV=1 LGSHIFT=1 DATASIGN=-1 "
    "MAPLGMIN=-89.0 MAPLGMAX=89.0 MAPBMAX=89.0 MAPRMAX=0.95 APODIZE=1 APINNER=0.83 APWIDTH=0.04 "
    "PERR=-0.2 IERR=-0.1 DISTORT=2 LMIN=NNNN LMAX=MMMM LCHUNK=CCCC TCHUNK=6h TTOTAL=TTTT TSTART=SSSS "
    "VERSION=version0 ##lzeroref=mdi.vw_V_lzero_72d ##sourcetype=mdi ##scratch=mdi.globalhs_scratch"
)


def _write(tmp_path, text, name="tsf.parms.t"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_shipped_mdivw72d_is_the_seeds():
    assert (SHIPPED / "v2t.parms.mdivw72d").read_text().split() == SEED_MDIVW72D.split()


def test_legacy_placeholders_and_driver_lines():
    rendered = Template(SHIPPED / "v2t.parms.mdivw72d").render(LEGACY, VARS)
    assert rendered.arguments[0] == "in=mdi.vw_V[2010.07.11_00:00:00_TAI/1d]"
    assert {"LMIN=0", "LMAX=300", "LCHUNK=40", "TTOTAL=1d", "TSTART=2010.07.11_00:00:00_TAI",
            "TCHUNK=6h"} <= set(rendered.arguments)
    assert rendered.driver == {"lzeroref": "mdi.vw_V_lzero_72d", "sourcetype": "mdi",
                               "scratch": "mdi.globalhs_scratch"}
    assert not any(a.startswith("#") for a in rendered.arguments)
    assert rendered.parms_text().splitlines()[-1] == "##scratch=mdi.globalhs_scratch"


def test_jinja_variables_comments_and_several_per_line(tmp_path):
    path = _write(tmp_path, (
        "# a comment with spaces = and XXXX is still a placeholder but ignored\n"
        "   # indented comment\n"
        "in=x_sht_{{ totaltime }}[NNNN-MMMM] LMIN={{lmin}} LMAX={{ lmax }}\n"
        "{% if step == 'gfgaps' %}gaps=1{% endif %}\n"
        "##module={{ 'gapfill' if step == 'gapfill' else 'mkgaps' }}\n"))
    rendered = Template(path).render(LEGACY, VARS)
    assert rendered.arguments == ["in=x_sht_72d[0-300]", "LMIN=10", "LMAX=19"]
    assert rendered.driver == {"module": "gapfill"}
    gf = Template(path).render(LEGACY, {**VARS, "step": "gfgaps"})
    assert "gaps=1" in gf.arguments and gf.driver == {"module": "mkgaps"}


@pytest.mark.parametrize("line, fragment", [
    ("LMAX= 300", "line 2: 'LMAX=' is not name=value"),
    ("LMAX =300", "line 2: 'LMAX' is not name=value"),
    ("LMIN=0 LMAX", "'LMAX' is not name=value"),
    ("##module= gapfill", "'module=' is not name=value"),
])
def test_no_spaces_rule(tmp_path, line, fragment):
    path = _write(tmp_path, f"LMIN=1\n{line}\n")
    with pytest.raises(TemplateError) as info:
        Template(path).render(LEGACY, VARS)
    assert fragment in str(info.value) and str(path) in str(info.value)
    assert "no spaces around '='" in str(info.value)


def test_unknown_placeholder_and_undefined_variable(tmp_path):
    with pytest.raises(TemplateError, match="unknown placeholder 'QQQQ'"):
        Template(_write(tmp_path, "a=QQQQ\n"))
    with pytest.raises(TemplateError, match="'nope' is undefined"):
        Template(_write(tmp_path, "a={{ nope }}\n")).render(LEGACY, VARS)
    with pytest.raises(TemplateError, match="jinja2 syntax error"):
        Template(_write(tmp_path, "a={{ lmin \n"))


def test_site_directory_adds_and_overrides(tmp_path, monkeypatch):
    site = tmp_path / "site"
    site.mkdir()
    (site / "pow.parms.mysite").write_text("a=1\n")
    (site / "v2t.parms.mdivw72d").write_text("a=2\n")
    (site / "README").write_text("not a template\n")
    (site / "zzz.parms.mysite").write_text("unknown desc\n")
    monkeypatch.setenv("GLOBALHS_TEMPLATES", str(site))
    assert find_template("pow", "mysite") == site / "pow.parms.mysite"
    assert find_template("v2t", "mdivw72d") == site / "v2t.parms.mdivw72d"
    assert find_template("inv", "mysite") is None
    found = labels()
    assert set(found["mysite"]) == {"pow"}
    assert steps_of_label("mysite") == ["pow"]
    result = CliRunner().invoke(main, ["labels"])
    assert result.exit_code == 0 and "mysite: steps pow" in result.output
    assert "mdivw72d: steps sht, shtcheck" in result.output      # v2t: the shipped seed template
