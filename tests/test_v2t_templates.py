"""The shipped v2t templates (sht, shtcheck) render, parse with jv2ts's argument table, pass its
argument checks, and name the series as TEAM.md says (input P, output P_sht)."""

from pathlib import Path

import pytest

from globalhs.modules.jv2ts import MODULE, Setup
from globalhs.pipeline.templates import Template

TEMPLATES = Path(__file__).resolve().parents[1] / "parmtemplates"
PREFIX = {"mdivw72d": ("mdi.vw_V", "mdi.vw_V"), "mdifd72d": ("mdi.fd_V", "mdi.fd_V"),
          "hmi72d": ("hmi.V_45s", "hmi.V"), "synth": ("synth.V", "synth.V")}


@pytest.mark.parametrize("label", sorted(PREFIX))
def test_v2t_template(label):
    tstart = "2010.07.11_00:00:00_TAI"
    legacy = {"XXXX": f"{tstart}/1d", "NNNN": "0", "MMMM": "300", "CCCC": "40", "TTTT": "1d", "SSSS": tstart}
    rendered = Template(TEMPLATES / f"v2t.parms.{label}").render(legacy, {"lmin": 0, "lmax": 300, "lchunk": 40})
    args = MODULE.parse(rendered.arguments)
    setup = Setup(args)
    assert setup.ntchunks == 4 and len(setup.lchunks) == 8
    source, product = PREFIX[label]
    assert args["in"] == f"{source}[{tstart}/1d]"
    if label != "mdivw72d":  # the seed's template names its output mdi.vw_V_sht_6h
        assert args["tsout"] == f"{product}_sht"
