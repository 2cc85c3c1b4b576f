"""The shipped templates of the time-series steps render (with the driver's renderer) for every step
that uses them, and every rendered argument is one the step's module declares (names and values parse)."""

from __future__ import annotations

from pathlib import Path

import pytest

from globalhs.modules import get_module
from globalhs.pipeline.templates import Template

TEMPLATES = Path(__file__).resolve().parents[1] / "parmtemplates"
LABELS = ("mdivw72d", "mdifd72d", "hmi72d", "synth")
# step -> (desc, default module) as in TEAM.md's step table
STEPS = {"retilen": ("retn", "retile"), "retile1": ("ret1", "retile"), "dscopyn": ("ret", "dscopy"),
         "dscopy1": ("ret", "dscopy"), "mkgaps": ("tsf", "mkgaps"), "gapfill": ("tsf", "gapfill"),
         "gfgaps": ("tsf", "mkgaps"), "pow": ("pow", "pow"), "slice": ("slc", "slice")}
VARIABLES = {"label": "x", "lmin": 0, "lmax": 300, "lchunk": 10, "tstart": "2010.07.11_00:00:00_TAI",
             "tstart_day": 6400, "ttotal": "72d", "ttotal_s": 6220800.0, "totaltime": "72d", "starttime": "6400d",
             "index": 0, "njobs": 1, "lchunkin": 40, "lchunkout": 1, "timechunk": "12d",
             "totaltimein": "72d", "totaltimeout": "72d", "startoffset": "0d", "slicestep": "3d",
             "params": {"timechunk2": "12d"}}


@pytest.mark.parametrize("label", LABELS)
@pytest.mark.parametrize("step", sorted(STEPS))
def test_template_renders_to_module_arguments(label, step):
    desc, module = STEPS[step]
    path = TEMPLATES / f"{desc}.parms.{label}"
    if not path.exists():
        assert desc == "ret" and label != "synth"  # optional copies: only the synthetic label ships them
        return
    rendered = Template(path).render({}, {"step": step, "module": module, **VARIABLES})
    args = get_module(rendered.driver.get("module", module)).parse(rendered.arguments)
    if step == "gfgaps":
        assert args["gapfilled"] == 1
    prefix = {"mdivw72d": "mdi.vw_V", "mdifd72d": "mdi.fd_V", "hmi72d": "hmi.V", "synth": "synth.V"}[label]
    assert args["out"].startswith(prefix + "_sht")
