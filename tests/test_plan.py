"""Planning: job counts, l and time cuts, file and job names for the seed's examples."""

from __future__ import annotations

import getpass
import os
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from globalhs.cli import main
from globalhs.pipeline.params import parse_params
from globalhs.pipeline.plan import format_duration, make_plan
from globalhs.pipeline.steps import DESCS, STEP_NAMES, STEPS_BY_NAME
from globalhs.pipeline.templates import find_template

USER = os.environ.get("USER") or getpass.getuser()


@pytest.fixture
def full_label(tmp_path, monkeypatch):
    """A label 'full' with a template for every desc, echoing the variables each job gets."""
    site = tmp_path / "templates"
    site.mkdir()
    for desc in DESCS:
        (site / f"{desc}.parms.full").write_text(
            "in=P[XXXX] LMIN=NNNN LMAX=MMMM LCHUNK=CCCC TTOTAL=TTTT TSTART=SSSS\n"
            "step={{step}} lmin={{lmin}} lmax={{lmax}} lchunk={{lchunk}} index={{index}} njobs={{njobs}}\n"
            "tstart={{tstart}} day={{tstart_day}} ttotal={{ttotal}} secs={{ttotal_s}} total={{totaltime}}\n"
            "{% if step == 'retilen' %}lchunkin={{lchunkin}} lchunkout={{lchunkout}} tc={{timechunk}}{% endif %}\n"
            "{% if step == 'retile1' %}lchunkin={{lchunkin}} lchunkout={{lchunkout}}{% endif %}\n"
            "{% if step in ('pow', 'slice') %}tin={{totaltimein}} tout={{totaltimeout}} "
            "off={{startoffset}} ss={{slicestep}}{% endif %}\n"
            "{% if step == 'pkbgn' %}writeflag={{writeflag}}{% endif %}\n")
    monkeypatch.setenv("GLOBALHS_TEMPLATES", str(site))
    return site


def _args(plan_step, job):
    return dict(a.split("=", 1) for a in job.rendered.arguments)


def test_seed_example_72_sht_jobs(tmp_path):
    p = parse_params(["starttime=6400d", "totaltime=72d", "label=mdivw72d"])
    plan = make_plan(p)
    top = Path(os.environ["GLOBALHS_TOPDIR"])
    assert plan.workdir == top / USER / "globalhs_work" / "mdivw72d" / "6400d_72d" / "0-300"
    assert [sp.step.name for sp in plan.steps] == list(STEP_NAMES[:STEP_NAMES.index("pkbgn") + 1])
    sht = plan.steps[0]
    assert len(sht.jobs) == 72 and sht.queue == "j.q" and sht.threshold == 70
    first, second, last = sht.jobs[0], sht.jobs[1], sht.jobs[-1]
    assert (first.index, last.index) == ("6400", "6471")
    assert first.parms == plan.workdir / "sht" / "v2t.parms.6400"
    assert first.log.name == "v2t.log.6400" and first.exitstatus.name == "jv2ts.exitstatus.6400"
    assert second.name == "subt.6400.6401.0-300mdivw72d"
    assert second.script == plan.workdir / "sht" / "subt.6400.6401.0-300mdivw72d"
    args = dict(a.split("=", 1) for a in second.rendered.arguments)
    assert args["in"] == "mdi.vw_V[2010.07.12_00:00:00_TAI/1d]"
    assert (args["TSTART"], args["TTOTAL"], args["LMIN"], args["LMAX"], args["LCHUNK"]) == \
        ("2010.07.12_00:00:00_TAI", "1d", "0", "300", "40")
    assert second.command() == [sys.executable, "-m", "globalhs", "module", "jv2ts", "@v2t.parms.6401"]
    script = second.script_text({})
    assert "GLOBALHS_STAGE=" in script and "> v2t.log.6401 2>&1" in script
    assert "jv2ts.exitstatus.6401" in script
    for sp in plan.steps:          # a step runs exactly when its template exists for the label
        assert sp.skipped == (find_template(sp.step.desc, "mdivw72d") is None)


def test_dry_run_prints_the_plan():
    result = CliRunner().invoke(main, ["run", "starttime=6400d", "totaltime=72d", "label=mdivw72d",
                                       "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "sht       72 job(s) of module jv2ts" in result.output
    assert "queue j.q, threshold 70 (subt* jobs)" in result.output
    assert "v2t.parms.{6400..6471}" in result.output
    assert "@v2t.parms.6400" in result.output
    for step in STEP_NAMES[:STEP_NAMES.index("pkbgn") + 1]:
        if find_template(STEPS_BY_NAME[step].desc, "mdivw72d") is None:
            assert f"{step:<9} skipped: no template {STEPS_BY_NAME[step].desc}.parms.mdivw72d" in result.output
        else:
            assert f"{step:<9} " in result.output and f"{step:<9} skipped" not in result.output
    assert not Path(os.environ["GLOBALHS_TOPDIR"]).exists()   # a dry run writes nothing


def test_second_run_example_lmin_301_lmax_1000(full_label):
    p = parse_params(["starttime=6400d", "totaltime=72d", "label=full", "lmin=301", "lmax=1000",
                      "laststep=pow"])
    plan = make_plan(p)
    assert plan.workdir.name == "301-1000"
    steps = {sp.step.name: sp for sp in plan.steps}
    assert list(steps) == list(STEP_NAMES[:STEP_NAMES.index("pow") + 1])
    counts = {name: len(sp.jobs) for name, sp in steps.items()}
    assert counts == {"sht": 72, "shtcheck": 72, "retilen": 6, "dscopyn": 6, "retile1": 10,
                      "dscopy1": 10, "mkgaps": 1, "gapfill": 10, "gfgaps": 10, "pow": 10}
    # l groups tile the range without gaps or overlaps, on block boundaries of the step's l chunk
    for name in ("retile1", "gapfill", "pow"):
        jobs = steps[name].jobs
        assert jobs[0].lmin == 301 and jobs[-1].lmax == 1000
        assert all(a.lmax + 1 == b.lmin for a, b in zip(jobs, jobs[1:]))
    pow_jobs = steps["pow"].jobs
    assert (pow_jobs[0].lmin, pow_jobs[0].lmax) == (301, 370)          # 7 blocks of lchunk4=10
    assert pow_jobs[0].parms.name == "pow.parms.301" and pow_jobs[1].name == "subp.301.371.301-1000full"
    a = _args(steps["pow"], pow_jobs[0])
    assert (a["tin"], a["tout"], a["off"], a["ss"], a["lchunk"]) == ("72d", "72d", "0d", "3d", "10")
    r = _args(steps["retilen"], steps["retilen"].jobs[1])
    assert (r["lchunkin"], r["lchunkout"], r["tc"], r["ttotal"], r["day"]) == ("40", "40", "12d", "12d", "6412")
    assert r["in"] == "P[2010.07.23_00:00:00_TAI/12d]"
    r1 = steps["retile1"].jobs[0]
    a1 = _args(steps["retile1"], r1)
    assert (a1["lchunkin"], a1["lchunkout"], a1["ttotal"], a1["secs"]) == ("40", "1", "72d", "6220800.0")
    # retile1 cuts on lchunk2=40 blocks: 301..1000 is 18 blocks -> 10 jobs of 1 or 2 blocks
    assert (r1.lmin, r1.lmax) == (301, 340)
    mk = steps["mkgaps"].jobs[0]
    assert (mk.lmin, mk.lmax, mk.index) == (301, 1000, "301")
    assert steps["gfgaps"].jobs[0].module == "mkgaps" and steps["gapfill"].jobs[0].module == "gapfill"


def test_pkbgn_and_invert_variables(full_label):
    p = parse_params(["starttime=6400d", "totaltime=72d", "label=full", "firststep=slice",
                      "laststep=invert", "pkbwriteflag=0", "pkbnjobs=3", "lmax=20"])
    steps = {sp.step.name: sp for sp in make_plan(p).steps}
    assert list(steps) == ["slice", "leakage", "pkbgn", "invert"]
    pkb = steps["pkbgn"].jobs
    assert [(j.lmin, j.lmax) for j in pkb] == [(0, 6), (7, 13), (14, 20)]
    assert _args(None, pkb[0])["writeflag"] == "0"
    assert len(steps["invert"].jobs) == 1 and steps["invert"].jobs[0].name.startswith("subki.0.0.0-20")


def test_totaltime_not_divisible_by_timechunk(full_label):
    p = parse_params(["starttime=6400d", "totaltime=72d", "label=full", "timechunk=5d", "timechunk2=10d",
                      "laststep=retilen"])
    steps = {sp.step.name: sp for sp in make_plan(p).steps}
    sht = steps["sht"].jobs
    assert len(sht) == 15                          # 14 whole chunks plus one for the remainder
    assert [j.index for j in sht][-2:] == ["6465", "6470"]
    last = _args(None, sht[-1])
    assert (last["TTOTAL"], last["ttotal"], last["in"], last["secs"]) == \
        ("2d", "2d", "P[2010.09.19_00:00:00_TAI/2d]", "172800.0")
    assert _args(None, sht[0])["TTOTAL"] == "5d"
    retilen = steps["retilen"].jobs
    assert len(retilen) == 8 and retilen[-1].ttotal == "2d"


def test_sub_day_chunks_are_named_by_fractional_day(full_label):
    p = parse_params(["starttime=6400d", "totaltime=1d", "label=full", "timechunk=6h", "laststep=sht"])
    jobs = make_plan(p).steps[0].jobs
    assert [j.index for j in jobs] == ["6400", "6400.25", "6400.5", "6400.75"]
    assert _args(None, jobs[1])["in"] == "P[2010.07.11_06:00:00_TAI/6h]"


@pytest.mark.parametrize("seconds, text", [(86400, "1d"), (43200, "12h"), (90, "90s"), (120, "2m"),
                                           (6220800, "72d"), (0.5, "0.5s")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_unknown_label_exits_2_naming_the_known_ones():
    result = CliRunner().invoke(main, ["run", "starttime=6400d", "totaltime=72d", "label=mdivw27d", "--dry-run"])
    assert result.exit_code == 2
    assert "label 'mdivw27d' has no templates" in result.output and "mdivw72d" in result.output


def test_job_environment_one_thread_per_job_unless_the_user_says(monkeypatch):
    from globalhs.pipeline.plan import JOB_THREAD_VARIABLES, job_environment

    for name in JOB_THREAD_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("GLOBALHS_REFDATA", "/data/ref")
    env = job_environment()
    assert all(env[name] == "1" for name in JOB_THREAD_VARIABLES)
    assert env["GLOBALHS_REFDATA"] == "/data/ref" and env["GLOBALHS_STORE"] == os.environ["GLOBALHS_STORE"]
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    assert job_environment()["OPENBLAS_NUM_THREADS"] == "4"
