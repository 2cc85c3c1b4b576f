"""The run parameter table: every default, every kind of invalid value, the generated help and docs."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from globalhs.cli import main
from globalhs.pipeline.params import (
    DOC_BEGIN,
    DOC_END,
    PARAMS,
    docs_with_table,
    ParamError,
    markdown_table,
    parse_params,
)
from globalhs.pipeline.steps import STEP_NAMES

REQUIRED = ["starttime=6400d", "totaltime=72d", "label=mdivw72d"]

# The seed's defaults (doglobalhs); njobs are ours (the seed gives none), thresholds are dosht's 70.
DEFAULTS = {
    "lmin": 0, "lmax": 300, "lchunk": 40, "firststep": "sht", "laststep": "pkbgn",
    "lchunk1": 40, "lchunk2": 40, "lchunk3": 1, "lchunk4": 10, "lchunk5": 10,
    "timechunk": "1d", "timechunk1": "1d", "timechunk2": "12d", "powtotaltime": "72d",
    "powstartoffset": "0d", "slicestep": "3d", "pkbwriteflag": "1",
    "retnjobs": 10, "tsfnjobs": 10, "pownjobs": 10, "pkbnjobs": 10,
    "v2tjobsthreshold": 70, "retjobsthreshold": 70, "tsfjobsthreshold": 70, "powjobsthreshold": 70,
    "pkbjobsthreshold": 70,
    "v2tqueue": "j.q", "retqueue": "j.q", "tsfqueue": "j.q", "powqueue": "j.q", "pkbqueue": "j.q",
}
ENV_VARS = {"GLOBALHS_RETNJOBS", "GLOBALHS_TSFNJOBS", "GLOBALHS_POWNJOBS", "GLOBALHS_PKBNJOBS",
            *(f"GLOBALHS_{k}JOBTHRESHOLD" for k in ("V2T", "RET", "TSF", "POW", "PKB")),
            *(f"GLOBALHS_{k}QUEUE" for k in ("V2T", "RET", "TSF", "POW", "PKB"))}


def _args(*tokens: str) -> list[str]:
    """The required arguments, with any of them that ``tokens`` names replaced."""
    named = {t.split("=", 1)[0] for t in tokens}
    return [r for r in REQUIRED if r.split("=", 1)[0] not in named] + list(tokens)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    for name in ENV_VARS | {"GLOBALHS_CONFIG"}:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def test_table_covers_the_seeds_parameters():
    names = {p.name for p in PARAMS}
    assert names == set(DEFAULTS) | {"starttime", "totaltime", "label", "topdir"}
    assert {p.env for p in PARAMS if p.env} == ENV_VARS | {"GLOBALHS_TOPDIR"}


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_every_default(name):
    p = parse_params(REQUIRED)
    assert p[name] == DEFAULTS[name]
    assert p.sources[name].startswith("default")


def test_topdir_default_and_sources(monkeypatch, tmp_path):
    monkeypatch.delenv("GLOBALHS_TOPDIR")
    monkeypatch.chdir(tmp_path)
    assert parse_params(REQUIRED)["topdir"] == str(tmp_path / "globalhs_top")
    config = tmp_path / "site.toml"
    config.write_text('[run]\ntopdir = "/scratch/helio"\n')
    monkeypatch.setenv("GLOBALHS_CONFIG", str(config))
    p = parse_params(REQUIRED)
    assert p["topdir"] == "/scratch/helio" and "site config" in p.sources["topdir"]
    monkeypatch.setenv("GLOBALHS_TOPDIR", "/data/top")
    assert parse_params(REQUIRED)["topdir"] == "/data/top"
    assert parse_params([*REQUIRED, "topdir=/x"])["topdir"] == "/x"


def test_broken_site_config_is_named(monkeypatch, tmp_path):
    monkeypatch.delenv("GLOBALHS_TOPDIR")
    config = tmp_path / "site.toml"
    config.write_text("[run\n")
    monkeypatch.setenv("GLOBALHS_CONFIG", str(config))
    with pytest.raises(ParamError, match="site.toml"):
        parse_params(REQUIRED)


def test_dependent_defaults_follow():
    p = parse_params(_args("lchunk=20", "lchunk4=5", "timechunk=6h", "totaltime=36d"))
    assert (p["lchunk1"], p["lchunk2"], p["lchunk5"], p["timechunk1"], p["powtotaltime"]) == \
        (20, 20, 5, "6h", "36d")
    p = parse_params([*REQUIRED, "lchunk=20", "lchunk1=8"])
    assert (p["lchunk1"], p["lchunk2"]) == (8, 20)


def test_environment_then_argument(monkeypatch):
    monkeypatch.setenv("GLOBALHS_V2TQUEUE", "x.q")
    monkeypatch.setenv("GLOBALHS_POWNJOBS", "4")
    p = parse_params(REQUIRED)
    assert (p["v2tqueue"], p["pownjobs"]) == ("x.q", 4)
    assert p.sources["v2tqueue"] == "environment GLOBALHS_V2TQUEUE"
    assert parse_params([*REQUIRED, "pownjobs=7"])["pownjobs"] == 7
    monkeypatch.setenv("GLOBALHS_RETJOBTHRESHOLD", "many")
    with pytest.raises(ParamError, match="GLOBALHS_RETJOBTHRESHOLD"):
        parse_params(REQUIRED)


def test_starttime_as_date_or_day():
    assert parse_params(["starttime=2010.07.11_00:00:00_TAI", "totaltime=72d", "label=x"]).start_string \
        == "2010.07.11_00:00:00_TAI"
    assert parse_params(REQUIRED).start_string == "2010.07.11_00:00:00_TAI"


@pytest.mark.parametrize("tokens, fragment", [
    (["lmax=abc"], "lmax='abc': expected an integer"),
    (["lmin=-1"], "lmin='-1': expected an integer >= 0"),
    (["lchunk=0"], "lchunk='0': expected an integer >= 1"),
    (["lchunk3=1.5"], "lchunk3='1.5'"),
    (["firststep=foo"], "firststep='foo': expected one of sht, shtcheck"),
    (["laststep=powslice"], "laststep='powslice'"),
    (["starttime=yesterday"], "starttime='yesterday': expected a day number"),
    (["totaltime=72x"], "totaltime='72x': expected a duration"),
    (["totaltime=0d"], "totaltime='0d': expected a duration > 0"),
    (["timechunk=abc"], "timechunk='abc'"),
    (["timechunk2=-12d"], "timechunk2='-12d'"),
    (["powstartoffset=-1d"], "powstartoffset='-1d': expected a duration >= 0"),
    (["slicestep=3q"], "slicestep='3q'"),
    (["pkbwriteflag=2"], "pkbwriteflag='2': expected one of 0, 1"),
    (["label=a/b"], "label='a/b'"),
    (["v2tjobsthreshold=0"], "v2tjobsthreshold='0'"),
    (["retnjobs=x"], "retnjobs='x'"),
    (["tsfqueue="], "tsfqueue= has no value"),
    (["foo=1"], "unknown parameter 'foo'"),
    (["lmin=", "3"], "spurious space after '=' (did you mean lmin=3?)"),
    (["lmin", "=3"], "argument 'lmin' is not name=value"),
    (["lmin =3"], "spurious space"),
    (["=3"], "has no name"),
    (["lmin=5", "lmin=6"], "lmin given twice"),
    (["lmin=301", "lmax=300"], "lmin=301 is greater than lmax=300"),
    (["firststep=pow", "laststep=sht"], "firststep=pow comes after laststep=sht"),
    (["powtotaltime=60d", "powstartoffset=20d"], "exceeds totaltime=72d"),
])
def test_invalid_values(tokens, fragment):
    with pytest.raises(ParamError) as info:
        parse_params(_args(*tokens))
    assert any(fragment in problem for problem in info.value.problems), info.value.problems


def test_required_missing_all_reported():
    with pytest.raises(ParamError) as info:
        parse_params([])
    text = " ".join(info.value.problems)
    assert all(f"required parameter {n} is missing" in text for n in ("starttime", "totaltime", "label"))


def test_all_problems_at_once_and_exit_2():
    result = CliRunner().invoke(main, ["run", *REQUIRED, "lmax=abc", "foo=1", "--dry-run"])
    assert result.exit_code == 2
    assert "lmax='abc'" in result.output and "unknown parameter 'foo'" in result.output
    assert "nothing started" in result.output


def test_help_lists_every_parameter():
    result = CliRunner().invoke(main, ["run", "--help"])
    assert result.exit_code == 0
    for p in PARAMS:
        assert f"  {p.name} " in result.output
    assert "GLOBALHS_V2TJOBTHRESHOLD" in result.output


def test_docs_tables_are_the_generated_ones():
    text = (Path(__file__).resolve().parents[1] / "docs" / "run.md").read_text()
    region = text.split(DOC_BEGIN, 1)[1].split(DOC_END, 1)[0]
    assert region == "\n" + markdown_table(), \
        "docs/run.md is stale: run python -m globalhs.pipeline.params --update-docs docs/run.md"
    assert docs_with_table(text) == text, "docs/run.md's step table is stale (same command)"
    assert "| pow | pow | pow | blocks of `lchunk4` shared among at most `pownjobs` jobs |" in text


def test_step_choices_are_the_step_table():
    firststep = next(p for p in PARAMS if p.name == "firststep")
    assert firststep.choices == STEP_NAMES
    assert STEP_NAMES[-3:] == ("leakage", "pkbgn", "invert")
