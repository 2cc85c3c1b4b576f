"""The lkg and pkb templates render to argument lists their modules accept."""

from pathlib import Path

import jinja2
import pytest

from globalhs.modules.base import _tokens_from_file
from globalhs.modules.leakage import MODULE as LEAKAGE
from globalhs.modules.pkbgn import MODULE as PKBGN

TEMPLATES = Path(__file__).resolve().parents[1] / "parmtemplates"
VARIABLES = {"label": "x", "lmin": 0, "lmax": 50, "lchunk": 51, "tstart": "2010.07.11_00:00:00_TAI",
             "tstart_day": 6400, "ttotal": "72d", "ttotal_s": 6220800.0, "totaltime": "72d", "starttime": "6400d",
             "index": 0, "njobs": 1, "writeflag": 1}


@pytest.mark.parametrize("label", ["mdivw72d", "mdifd72d", "hmi72d", "synth"])
@pytest.mark.parametrize("desc,module", [("lkg", LEAKAGE), ("pkb", PKBGN)])
def test_template_renders_to_valid_arguments(label, desc, module, tmp_path):
    text = jinja2.Template((TEMPLATES / f"{desc}.parms.{label}").read_text(),
                           undefined=jinja2.StrictUndefined).render(**VARIABLES)
    path = tmp_path / "parms"
    path.write_text(text)
    args = module.parse(_tokens_from_file(path))
    assert args["LMIN"] == 0 and args["LMAX"] == 50
    if desc == "pkb":
        assert args["in"].endswith("_sht_pow_72d[2010.07.11_00:00:00_TAI]")
        assert args["NACOEFF"] in (6, 18, 36)
        if args["NACOEFF"] >= 18:  # low l is nonlinear with that many coefficients: bootstrap errors there
            assert args["BOOTSTRAP"] >= 20


@pytest.mark.parametrize("label", ["mdivw72d", "mdifd72d", "hmi72d"])
def test_real_labels_use_the_sandwich_up_to_l_100(label, tmp_path):
    """Jobs whose degrees are all <= 100 count the leakage's correlation (ERRORS=sandwich); above, where it
    costs 3-12x, the Hessian (docs/peakbagging.md, "Errors for the real labels")."""
    for lmin, lmax, expected in ((0, 50, "sandwich"), (51, 100, "sandwich"), (91, 120, "hessian"), (201, 300, "hessian")):
        text = jinja2.Template((TEMPLATES / f"pkb.parms.{label}").read_text(),
                               undefined=jinja2.StrictUndefined).render(**dict(VARIABLES, lmin=lmin, lmax=lmax))
        path = tmp_path / "parms"
        path.write_text(text)
        assert PKBGN.parse(_tokens_from_file(path))["ERRORS"] == expected
