"""What the runner does with a job that did not succeed, and how often it polls: pure decisions.

Failure classes (issue 7, "behaviour an operator expects"):

==========================  ===============================================================  ==========
class                       what happens                                                     budget
==========================  ===============================================================  ==========
application error           resubmitted until ``--retries`` is used up, then the run stops   retries
(FAILED, or a job that
finished without its
success line / outputs)
TIMEOUT, OUT_OF_MEMORY      resubmitted with more time / memory when the site config's        run cap
                            ``[escalate]`` allows it; otherwise an application error
NODE_FAIL, PREEMPTED,       resubmitted as is: not the job's fault                           run cap
LOST, CANCELLED by someone
else
==========================  ===============================================================  ==========

"run cap" is the site config's ``limits.max_resubmits``: the run's total of such resubmissions, so a
broken node that kills every job cannot make the driver resubmit forever.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from globalhs.executors.base import JobSpec, JobState
from globalhs.executors.site import SiteConfig

FREE_STATES = frozenset({JobState.NODE_FAIL, JobState.PREEMPTED, JobState.CANCELLED, JobState.UNKNOWN})
LIMIT_STATES = frozenset({JobState.TIMEOUT, JobState.OUT_OF_MEMORY})


class Action(enum.Enum):
    RETRY = "retry"              # resubmit, using one of the job's retries
    RESUBMIT = "resubmit"        # resubmit without using a retry (counts against the run cap)
    FAIL = "fail"                # give up: the step fails


@dataclass(frozen=True)
class Decision:
    action: Action
    spec: JobSpec | None = None   # the job to resubmit (more time or memory after an escalation)
    why: str = ""


def decide(state: JobState, spec: JobSpec, *, retries_used: int, retries: int, resubmits_used: int,
           site: SiteConfig) -> Decision:
    """What to do with a job whose attempt ended in ``state`` (UNKNOWN = lost) without success.

    ``retries_used``: this job's resubmissions after application errors so far; ``resubmits_used``:
    the run's resubmissions of the "run cap" classes so far.
    """
    cap = site.max_resubmits
    if state in LIMIT_STATES:
        bigger = site.escalate(spec, state)
        if bigger is not None:
            if resubmits_used >= cap:
                return Decision(Action.FAIL, None, f"{state.value}: the run's {cap} resubmissions are used up")
            what = (f"time {spec.time_limit_s} s -> {bigger.time_limit_s} s" if state is JobState.TIMEOUT
                    else f"memory {spec.memory_mb} MB -> {bigger.memory_mb} MB")
            return Decision(Action.RESUBMIT, bigger, f"{state.value}: resubmitted with {what}")
        # no room to grow: the job's own fault as far as we can tell
    elif state in FREE_STATES:
        if resubmits_used >= cap:
            return Decision(Action.FAIL, None, f"{_words(state)}: the run's {cap} resubmissions "
                                               f"(limits.max_resubmits) are used up")
        return Decision(Action.RESUBMIT, spec, f"{_words(state)}: resubmitted (not counted as a retry)")
    if retries_used < retries:
        return Decision(Action.RETRY, spec, f"{state.value}: retry {retries_used + 1} of {retries}")
    return Decision(Action.FAIL, None, f"{state.value}: failed {retries_used + 1} time(s)")


def _words(state: JobState) -> str:
    return "lost" if state is JobState.UNKNOWN else state.value


class AdaptiveInterval:
    """Poll often while jobs change state, less often when nothing happens.

    Starts at ``first`` seconds; each poll that saw no change multiplies the interval by ``factor`` up
    to ``maximum``; a poll that saw a change (a job started or ended, one was submitted) goes back to
    ``first``. The defaults (5 s rising to 60 s) keep a controller's load from a driver negligible
    while a step of short jobs still finishes promptly.
    """

    def __init__(self, first: float = 5.0, maximum: float = 60.0, factor: float = 1.5):
        if not 0 < first <= maximum or factor < 1:
            raise ValueError(f"poll interval: need 0 < first ({first}) <= maximum ({maximum}) and factor >= 1")
        self.first, self.maximum, self.factor = first, maximum, factor
        self.current = first

    def next(self, changed: bool) -> float:
        """The pause before the next poll, given whether the last poll saw any change."""
        self.current = self.first if changed else min(self.current * self.factor, self.maximum)
        return self.current
