"""Job names on a batch system: the driver's names, made legal, and one name for an array.

The driver names jobs as the original did (``subt.6400.6400.0-300mdivw72d``: kind, indices, l range,
GLOBALHS_LABEL suffix). A batch system gives all tasks of an array one name, so an array is named by
what its members share: their common prefix and common suffix joined by ``~``
(``subt.6400.640~.0-300mdivw72d``). The kind prefix that the threshold throttle counts and the label
suffix survive, and :func:`name_matches` tells whether a job belongs to a name seen on the queue, which
is how a restarted driver checks that a job id in its ledger still is its job.
"""

from __future__ import annotations

import os
import re

WILDCARD = "~"
# Grid Engine refuses these in -N (and a leading digit); Slurm accepts anything but we keep one rule.
_ILLEGAL = re.compile(r"[\s/:@\\*?~\"'`$]")


def legal_name(name: str) -> str:
    """``name`` with characters a batch system refuses replaced by ``_`` (never empty)."""
    name = _ILLEGAL.sub("_", name) or "job"
    return "j" + name if name[0].isdigit() else name


def array_name(names: list[str]) -> str:
    """One legal name for an array of jobs: common prefix + ``~`` + common suffix (the name itself if one)."""
    legal = [legal_name(n) for n in names]
    if len(set(legal)) == 1:
        return legal[0]
    prefix = os.path.commonprefix(legal)
    rests = [n[len(prefix):] for n in legal]
    suffix = os.path.commonprefix([r[::-1] for r in rests])[::-1]
    return prefix + WILDCARD + suffix


def name_matches(batch_name: str, job_name: str) -> bool:
    """Whether the job called ``job_name`` may be the one the queue lists as ``batch_name``."""
    job = legal_name(job_name)
    if WILDCARD not in batch_name:
        return batch_name == job
    prefix, suffix = batch_name.split(WILDCARD, 1)
    return len(job) >= len(prefix) + len(suffix) and job.startswith(prefix) and job.endswith(suffix)
