"""The map-shaping remap arguments: one declaration (jv2ts'), shared by the leakage module and MapGeometry,
and every label's v2t and lkg template sets them all, so the shared (original) defaults change no label."""

import re
from pathlib import Path

import pytest

from globalhs.modules import jv2ts, leakage
from globalhs.science.leakage import MapGeometry
from globalhs.science.remap import MAP_DEFAULTS, RemapParams
from globalhs.science.grid import MapGrid

TEMPLATES = Path(__file__).resolve().parents[1] / "parmtemplates"


def test_leakage_module_uses_jv2ts_declarations_with_the_original_defaults():
    names = [a.name for a in jv2ts.MAP_ARGS]
    assert names == ["MAPMMAX", "SINBDIVS", "MAPRMAX", "MAPLGMIN", "MAPLGMAX", "MAPBMAX", "APODIZE", "APINNER",
                     "APWIDTH"]
    leakage_args = {a.name: a for a in leakage.MODULE.args}
    jv2ts_args = {a.name: a for a in jv2ts.MODULE.args}
    for arg in jv2ts.MAP_ARGS:
        assert leakage_args[arg.name] is arg and jv2ts_args[arg.name] is arg
    # the original jv2ts' values (SPEC section 3)
    assert {a.name: a.default for a in jv2ts.MAP_ARGS} == {
        "MAPMMAX": 5402, "SINBDIVS": 2160, "MAPRMAX": 0.998, "MAPLGMIN": -90.0, "MAPLGMAX": 90.0, "MAPBMAX": 90.0,
        "APODIZE": 0, "APINNER": 0.90, "APWIDTH": 0.05} == MAP_DEFAULTS
    geom = MapGeometry()
    for name in ("MAPMMAX", "SINBDIVS", "MAPRMAX", "MAPLGMAX", "MAPBMAX", "APODIZE", "APINNER", "APWIDTH"):
        assert getattr(geom, name) == MAP_DEFAULTS[name]
    params = RemapParams(MapGrid())
    assert (params.maprmax, params.apodize, params.apinner, params.apwidth) == tuple(
        MAP_DEFAULTS[k] for k in ("MAPRMAX", "APODIZE", "APINNER", "APWIDTH"))


@pytest.mark.parametrize("path", sorted(TEMPLATES.glob("v2t.parms.*")) + sorted(TEMPLATES.glob("lkg.parms.*")),
                         ids=lambda p: p.name)
def test_every_template_sets_every_map_argument(path):
    text = "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())
    missing = [a.name for a in jv2ts.MAP_ARGS if not re.search(rf"(?<![A-Z_]){a.name}=\S", text)]
    assert not missing, f"{path.name} leaves {missing} at the default"


def test_lkg_templates_use_the_v2t_apodisation_and_radius():
    """The leakage must see the apodisation and radius cut the SHT applies (the grid may be coarser)."""
    def values(path):
        text = "\n".join(line.split("#", 1)[0] for line in path.read_text().splitlines())
        return dict(re.findall(r"(?<![A-Z_])(MAPRMAX|APODIZE|APINNER|APWIDTH)=(\S+)", text))
    for lkg in TEMPLATES.glob("lkg.parms.*"):
        v2t = TEMPLATES / ("v2t.parms." + lkg.name.split(".", 2)[2])
        assert {k: float(v) for k, v in values(lkg).items()} == {k: float(v) for k, v in values(v2t).items()}, lkg.name


def test_calibration_map_is_the_mdivw72d_leakage_template():
    """peakbag_calibration.MDIVW72D (also bench/pkbgn.py's map) restates lkg.parms.mdivw72d: kept equal."""
    from globalhs.science.peakbag_calibration import MDIVW72D

    text = "\n".join(line.split("#", 1)[0] for line in (TEMPLATES / "lkg.parms.mdivw72d").read_text().splitlines())
    for arg in jv2ts.MAP_ARGS:
        if arg.name == "MAPLGMIN":  # MapGeometry is symmetric: MAPLGMIN = -MAPLGMAX
            continue
        value = re.search(rf"(?<![A-Z_]){arg.name}=(\S+)", text).group(1)
        assert getattr(MDIVW72D, arg.name) == arg.type(value), arg.name
