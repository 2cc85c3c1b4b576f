"""Planning: every job of every step, with its rendered parameters and the original's file names.

Job indices: a time-cut job is named by the MDI day number of its start (``v2t.parms.6400``; the
T_START index of the series the pipeline writes; a start inside a day gives ``6400.25``), an
l-cut job by its first l (``pow.parms.40``), a single job by the run's lmin.
"""

from __future__ import annotations

import functools
import math
import os
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import globalhs
from globalhs.modules import MODULES
from globalhs.pipeline.params import RunParams
from globalhs.pipeline.steps import Step, step_range
from globalhs.pipeline.templates import Rendered, Template, TemplateError, find_template, labels, template_dirs
from globalhs.pipeline.workdir import run_dir
from globalhs.time import DAY, format_time, time_to_day

LABEL_ENV = "GLOBALHS_LABEL"
_EPS = 1e-6


def format_duration(seconds: float) -> str:
    """Shortest exact duration string: 86400 -> ``1d``, 43200 -> ``12h``, 90 -> ``90s``."""
    for unit, size in (("d", DAY), ("h", 3600.0), ("m", 60.0)):
        count = seconds / size
        if abs(count - round(count)) < 1e-9 and round(count) > 0:
            return f"{round(count)}{unit}"
    return f"{seconds:g}s"


@functools.lru_cache(maxsize=4096)
def _tai(t: float) -> str:
    """JSOC TAI string of ``t``, memoised: steps of a run share their chunk starts (astropy is slow)."""
    return format_time(t, "TAI")


def _day_index(t: float) -> str:
    day = time_to_day(t)
    if abs(day - round(day)) < 1e-9:
        return str(int(round(day)))
    return f"{day:.6f}".rstrip("0")


@dataclass
class Job:
    """One job of a step: what it runs and where its files go."""

    step: Step
    index: str
    lmin: int
    lmax: int
    tstart: float
    ttotal: str
    module: str
    rendered: Rendered
    stepdir: Path
    name: str
    desc: str

    @property
    def parms(self) -> Path:
        return self.stepdir / f"{self.desc}.parms.{self.index}"

    @property
    def log(self) -> Path:
        return self.stepdir / f"{self.desc}.log.{self.index}"

    @property
    def exitstatus(self) -> Path:
        return self.stepdir / f"{self.module}.exitstatus.{self.index}"

    @property
    def stage(self) -> Path:
        return self.stepdir / f"stage.{self.index}"

    @property
    def script(self) -> Path:
        return self.stepdir / self.name

    def command(self) -> list[str]:
        """The module command line the job runs (the driver's own Python)."""
        return [sys.executable, "-m", "globalhs", "module", self.module, f"@{self.parms.name}"]

    def script_text(self, environment: dict[str, str]) -> str:
        """The job script: run the module, then write its exit status atomically."""
        q = shlex.quote
        exports = "".join(f"export {k}={q(v)}\n" for k, v in environment.items())
        status_tmp = f".{self.exitstatus.name}.tmp"
        return (
            "#!/bin/sh\n"
            f"# globalhs job {self.name}: step {self.step.name}, l {self.lmin}-{self.lmax}, "
            f"start {format_time(self.tstart)}, span {self.ttotal}\n"
            f"cd {q(str(self.stepdir))} || exit 1\n"
            f"{exports}"
            f"GLOBALHS_STAGE={q(str(self.stage))} {' '.join(q(c) for c in self.command())} "
            f"> {q(self.log.name)} 2>&1\n"
            f"echo $? > {q(status_tmp)} && mv -f {q(status_tmp)} {q(self.exitstatus.name)}\n"
        )


@dataclass
class StepPlan:
    """A step of the run: its template (None: skipped) and its jobs."""

    step: Step
    template: Path | None
    stepdir: Path
    queue: str
    threshold: int
    jobs: list[Job] = field(default_factory=list)

    @property
    def skipped(self) -> bool:
        return self.template is None


@dataclass
class RunPlan:
    params: RunParams
    workdir: Path
    steps: list[StepPlan]

    def resume_command(self, step: str) -> str:
        return " ".join(shlex.quote(a) for a in ["globalhs", "run", *self.params.argv(firststep=step)])


def _time_chunks(start: float, total: float, chunk: float) -> list[tuple[float, float]]:
    n = int(math.floor(total / chunk + _EPS))
    chunks = [(start + i * chunk, chunk) for i in range(n)]
    remainder = total - n * chunk
    if remainder > _EPS:
        chunks.append((start + n * chunk, remainder))
    return chunks


def _l_groups(lmin: int, lmax: int, chunk: int, njobs: int) -> list[tuple[int, int]]:
    starts = list(range(lmin, lmax + 1, chunk))
    blocks = [(s, min(s + chunk - 1, lmax)) for s in starts]
    count = min(njobs, len(blocks))
    groups = []
    for g in range(count):
        first, last = g * len(blocks) // count, (g + 1) * len(blocks) // count - 1
        groups.append((blocks[first][0], blocks[last][1]))
    return groups


def _step_variables(step: Step, p: RunParams) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if step.name == "retilen":
        extra = {"lchunkin": p["lchunk1"], "lchunkout": p["lchunk2"], "timechunk": p["timechunk2"]}
    elif step.name == "retile1":
        extra = {"lchunkin": p["lchunk2"], "lchunkout": p["lchunk3"]}
    elif step.name in ("pow", "slice"):
        extra = {"totaltimein": p["totaltime"], "totaltimeout": p["powtotaltime"],
                 "startoffset": p["powstartoffset"], "slicestep": p["slicestep"]}
    elif step.name == "pkbgn":
        extra = {"writeflag": int(p["pkbwriteflag"])}
    return extra


def _cut(step: Step, p: RunParams) -> list[tuple[str, int, int, float, float]]:
    """(index, lmin, lmax, start, span seconds) of each job of ``step``."""
    start, total = p.start, p.seconds("totaltime")
    lmin, lmax = p["lmin"], p["lmax"]
    if step.cut in ("time1", "time2"):
        chunk = p.seconds("timechunk1" if step.cut == "time1" else "timechunk2")
        return [(_day_index(t), lmin, lmax, t, span) for t, span in _time_chunks(start, total, chunk)]
    if step.cut == "lgroups":
        groups = _l_groups(lmin, lmax, p[step.lchunk], p[step.njobs])
        return [(str(lo), lo, hi, start, total) for lo, hi in groups]
    return [(str(lmin), lmin, lmax, start, total)]


def plan_step(step: Step, p: RunParams, workdir: Path) -> StepPlan:
    template_path = find_template(step.desc, p["label"])
    stepdir = workdir / step.name
    sp = StepPlan(step, template_path, stepdir, p[step.queue_param], p[step.threshold_param])
    if template_path is None:
        return sp
    template = Template(template_path)
    cuts = _cut(step, p)
    first_index = cuts[0][0]
    extra = _step_variables(step, p)
    for n, (index, lo, hi, t, span) in enumerate(cuts):
        ttotal = p["totaltime"] if (step.cut not in ("time1", "time2")) else format_duration(span)
        if step.cut == "time1" and abs(span - p.seconds("timechunk1")) < _EPS:
            ttotal = p["timechunk1"]
        if step.cut == "time2" and abs(span - p.seconds("timechunk2")) < _EPS:
            ttotal = p["timechunk2"]
        tstart = _tai(t)
        variables = {
            "label": p["label"], "lmin": lo, "lmax": hi, "lchunk": p[step.lchunk],
            "tstart": tstart, "tstart_day": int(math.floor(time_to_day(t) + _EPS)),
            "ttotal": ttotal, "ttotal_s": span, "totaltime": p["totaltime"], "starttime": p["starttime"],
            "index": index, "njobs": len(cuts), "step": step.name, "module": step.module,
            "params": dict(p.values), **extra,
        }
        legacy = {"XXXX": f"{tstart}/{ttotal}", "NNNN": str(lo), "MMMM": str(hi),
                  "CCCC": str(p[step.lchunk]), "TTTT": ttotal, "SSSS": tstart}
        rendered = template.render(legacy, variables)
        module = rendered.driver.get("module", step.module)
        if module not in MODULES:
            raise TemplateError(f"{template_path}: ##module={module} is not a module "
                                f"(known: {', '.join(sorted(MODULES))})")
        name = f"{step.tag}.{first_index}.{index}.{p['lmin']}-{p['lmax']}{p['label']}"
        sp.jobs.append(Job(step, index, lo, hi, t, ttotal, module, rendered, stepdir, name, step.desc))
    return sp


def make_plan(p: RunParams) -> RunPlan:
    """The plan of a run: every step from firststep to laststep, skipped ones included."""
    known = labels()
    if p["label"] not in known:
        raise TemplateError(
            f"label {p['label']!r} has no templates in {', '.join(str(d) for d in template_dirs())} "
            f"(known labels: {', '.join(known) or 'none'}; a site adds labels with GLOBALHS_TEMPLATES)")
    workdir = run_dir(p["topdir"], p["label"], p["starttime"], p["totaltime"], p["lmin"], p["lmax"])
    steps = [plan_step(s, p, workdir) for s in step_range(p["firststep"], p["laststep"])]
    return RunPlan(p, workdir, steps)


def check_arguments(plan: RunPlan) -> list[str]:
    """Every job's rendered arguments checked against its module's argument table, before anything
    runs: a template typo is one clear error now rather than a failed job per chunk later."""
    from globalhs.modules import get_module
    from globalhs.modules.base import ModuleError

    problems: list[str] = []
    for sp in plan.steps:
        seen: set[str] = set()
        for job in sp.jobs:
            try:
                module = get_module(job.module)
            except ImportError as exc:
                problems.append(f"step {sp.step.name}: module {job.module} is not available ({exc})")
                break
            try:
                module.parse(job.rendered.arguments)
            except ModuleError as exc:
                if str(exc) not in seen:
                    seen.add(str(exc))
                    problems.append(f"step {sp.step.name}, {job.parms.name} (from {sp.template}): {exc}")
    return problems


def job_environment() -> dict[str, str]:
    """Variables a job script exports so that batch jobs see what the driver sees."""
    package_root = str(Path(globalhs.__file__).resolve().parents[1])
    path = os.environ.get("PYTHONPATH", "")
    env = {"PYTHONPATH": package_root + (os.pathsep + path if path else "")}
    for name in ("GLOBALHS_STORE", "GLOBALHS_CONFIG", "GLOBALHS_REFDATA", "GLOBALHS_CACHE", LABEL_ENV):
        if os.environ.get(name):
            env[name] = os.environ[name]
    # A job is one slot: BLAS and OpenMP threads default to 1 so that concurrent jobs do not fight
    # over the cores (measured: a small banded solve went from 2 ms to 0.24 s with OpenBLAS threads
    # on a busy machine). A value the user set is passed on unchanged.
    for name in JOB_THREAD_VARIABLES:
        env[name] = os.environ.get(name) or "1"
    return env


JOB_THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def describe(plan: RunPlan) -> str:
    """The plan as text (``--dry-run``): each step, its jobs, files, queue, threshold, first command."""
    p = plan.params
    lines = [f"globalhs run plan: label {p['label']}, start {p['starttime']} ({p.start_string}), "
             f"total {p['totaltime']}, l {p['lmin']}-{p['lmax']}",
             f"work directory: {plan.workdir}  (topdir from {p.sources['topdir']})", ""]
    for sp in plan.steps:
        s = sp.step
        if sp.skipped:
            lines.append(f"{s.name:<9} skipped: no template {s.desc}.parms.{p['label']}")
            continue
        first = sp.jobs[0]
        lines.append(f"{s.name:<9} {len(sp.jobs)} job(s) of module {first.module}, template {sp.template}")
        lines.append(f"{'':<9} files {sp.stepdir}/{s.desc}.parms.{{{first.index}..{sp.jobs[-1].index}}}"
                     f"; job names {first.name} ...")
        lines.append(f"{'':<9} queue {sp.queue}, threshold {sp.threshold} ({s.prefix}* jobs)")
        lines.append(f"{'':<9} first job: cd {sp.stepdir} && "
                     f"{' '.join(shlex.quote(c) for c in first.command())}")
    return "\n".join(lines)


__all__ = ["Job", "StepPlan", "RunPlan", "make_plan", "describe", "check_arguments", "format_duration",
           "job_environment"]
