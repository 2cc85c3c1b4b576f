"""The step table: the one source of truth for the order of the steps and how each is run.

Each step has a template desc (``parmtemplates/{desc}.parms.{label}``), the module its jobs run
(a ``##module=`` line in the template overrides it), the job kind (which queue, job threshold and
job-name prefix apply, as the original's GLOBALHS_{V2T,RET,TSF,POW,PKB}* variables) and the cut:
how the run's time span and l range are divided into jobs.

Cuts
----
``time1``
    one job per ``timechunk1`` of the total time (plus one for a remainder), the whole l range per
    job with ``lchunk1`` passed to the module (dosht).
``time2``
    one job per ``timechunk2`` (plus a remainder), the whole l range (doretilen, dodscopyn).
``lgroups``
    the l range cut into blocks of the step's l chunk, the blocks shared out among at most
    ``njobs`` jobs of contiguous l (doretile1, dogapfill, dopow, dopowslice, dopkbgn).
``single``
    one job for the whole run (domkgaps, doinvert).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Kind:
    """A family of jobs sharing a queue and a job threshold (the original's v2t/ret/tsf/pow/pkb)."""

    name: str
    queue_param: str
    threshold_param: str
    prefix: str        # job-name prefix counted by the threshold throttle (dosht: ``subt``); every
                       # step's job names start with its kind's prefix


KINDS: dict[str, Kind] = {
    "v2t": Kind("v2t", "v2tqueue", "v2tjobsthreshold", "subt"),
    "ret": Kind("ret", "retqueue", "retjobsthreshold", "subr"),
    "tsf": Kind("tsf", "tsfqueue", "tsfjobsthreshold", "subg"),
    "pow": Kind("pow", "powqueue", "powjobsthreshold", "subp"),
    "pkb": Kind("pkb", "pkbqueue", "pkbjobsthreshold", "subk"),
}


@dataclass(frozen=True)
class Step:
    """One processing step of the pipeline (the original's ``do<step>`` script)."""

    name: str
    desc: str           # template desc: parmtemplates/{desc}.parms.{label}
    module: str         # module run by each job (``##module=`` in the template overrides)
    kind: str           # key of KINDS
    cut: str            # time1 | time2 | lgroups | single
    lchunk: str         # parameter giving the l chunk this step uses (the ``lchunk`` variable)
    njobs: str | None   # parameter bounding the job count of an ``lgroups`` cut
    writes: bool        # whether a successful job must leave staged records to commit
    summary: str
    tag: str            # job-name prefix: the kind's prefix plus a step letter, unique per step

    def __post_init__(self) -> None:
        if not self.tag.startswith(KINDS[self.kind].prefix):
            raise ValueError(f"step {self.name}: job-name tag {self.tag!r} must start with "
                             f"{KINDS[self.kind].prefix!r} so the threshold counts it")

    @property
    def queue_param(self) -> str:
        return KINDS[self.kind].queue_param

    @property
    def threshold_param(self) -> str:
        return KINDS[self.kind].threshold_param

    @property
    def prefix(self) -> str:
        return KINDS[self.kind].prefix


# DO NOT REORDER: the order is the pipeline's; firststep/laststep select a slice of it.
STEPS: tuple[Step, ...] = (
    Step("sht", "v2t", "jv2ts", "v2t", "time1", "lchunk1", None, True,
         "remap and spherical harmonic transform, one job per time chunk", "subt"),
    Step("shtcheck", "v2t", "shtcheck", "v2t", "time1", "lchunk1", None, False,
         "check the transforms of each time chunk", "subtc"),
    Step("retilen", "retn", "retile", "ret", "time2", "lchunk1", None, True,
         "retile short time series into timechunk2 pieces", "subr"),
    Step("dscopyn", "ret", "dscopy", "ret", "time2", "lchunk2", None, True,
         "optional copy of the retiled pieces", "subrd"),
    Step("retile1", "ret1", "retile", "ret", "lgroups", "lchunk2", "retnjobs", True,
         "retile into one time series of the total time", "subr1"),
    Step("dscopy1", "ret", "dscopy", "ret", "lgroups", "lchunk3", "retnjobs", True,
         "optional copy of the total-time series", "subrd1"),
    Step("mkgaps", "tsf", "mkgaps", "tsf", "single", "lchunk4", None, True,
         "determine the window (gaps) of the time series", "subgm"),
    Step("gapfill", "tsf", "gapfill", "tsf", "lgroups", "lchunk4", "tsfnjobs", True,
         "detrend and gap-fill", "subg"),
    Step("gfgaps", "tsf", "mkgaps", "tsf", "lgroups", "lchunk4", "tsfnjobs", True,
         "determine the window of the gap-filled series", "subgf"),
    Step("pow", "pow", "pow", "pow", "lgroups", "lchunk4", "pownjobs", True,
         "power spectra", "subp"),
    Step("slice", "slc", "slice", "pow", "lgroups", "lchunk5", "pownjobs", True,
         "power spectra of slices of the time series", "subps"),
    Step("leakage", "lkg", "leakage", "pkb", "lgroups", "lchunk4", "pkbnjobs", True,
         "leakage matrix (our extension: the leakage branch)", "subkl"),
    Step("pkbgn", "pkb", "pkbgn", "pkb", "lgroups", "lchunk3", "pkbnjobs", True,
         "peakbagging", "subk"),
    Step("invert", "inv", "invert", "pkb", "single", "lchunk3", None, True,
         "two-dimensional RLS rotation inversion", "subki"),
)

STEP_NAMES: tuple[str, ...] = tuple(s.name for s in STEPS)
STEPS_BY_NAME: dict[str, Step] = {s.name: s for s in STEPS}
DESCS: tuple[str, ...] = tuple(dict.fromkeys(s.desc for s in STEPS))


def step_range(first: str, last: str) -> tuple[Step, ...]:
    """The steps from ``first`` to ``last`` inclusive, in pipeline order."""
    i, j = STEP_NAMES.index(first), STEP_NAMES.index(last)
    return STEPS[i:j + 1]


_CUT_WORDS = {
    "time1": "one per `timechunk1` (+1 for a remainder), the whole l range",
    "time2": "one per `timechunk2` (+1 for a remainder), the whole l range",
    "lgroups": "blocks of `{lchunk}` shared among at most `{njobs}` jobs",
    "single": "one job",
}


def markdown_table() -> str:
    """The step table in Markdown (docs/run.md embeds exactly this text)."""
    lines = ["| step | desc | module | jobs | `lchunk` variable | kind (queue, threshold) | job names |",
             "|---|---|---|---|---|---|---|"]
    for s in STEPS:
        jobs = _CUT_WORDS[s.cut].format(lchunk=s.lchunk, njobs=s.njobs)
        lines.append(f"| {s.name} | {s.desc} | {s.module} | {jobs} | {s.lchunk} | {s.kind} "
                     f"(`{s.queue_param}`, `{s.threshold_param}`) | `{s.tag}.*` |")
    return "\n".join(lines) + "\n"
