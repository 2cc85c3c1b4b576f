"""``globalhs demo`` / ``make demo``: synthesise, run the whole pipeline, report — the first thing to try.

Three calls a user could make by hand, in order:

1. ``globalhs synth --starttime 6400d --totaltime {days}d --lmax {lmax} --replace`` (a Sun whose modes
   are the HMI table of that day, MDI-vw-like 192x192 images at 60 s, 95 % duty cycle);
2. ``globalhs run starttime=6400d totaltime={days}d label=synth lmax={lmax} laststep=invert`` on the
   local executor,
   with the driver's own progress display (a subprocess, exactly as a user runs it);
3. ``globalhs report starttime=6400d totaltime={days}d label=synth lmax={lmax}``.

The synthetic data are written with ``replace``: the same seed gives the same data, so rerunning the
demo is safe and the driver's ledger skips the steps already verified.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from globalhs.drms import DrmsError, open_store
from globalhs.science.modetable import ModeTableError
from globalhs.science.synthsun import ObservationConfig
from globalhs.synthetic.generate import default_modes_path, generate
from globalhs.synthetic.truth import TruthError, read_rot2d

__all__ = ["DEMO_START", "DemoError", "DemoResult", "run_demo", "run_args"]

DEMO_START = "6400d"
"""2010.07.11, the first day of the default mode table hmi.6400.36."""


class DemoError(RuntimeError):
    """A stage of the demo failed; the message says which and where its log is."""


@dataclass(frozen=True)
class DemoResult:
    summary: str
    report: Path
    seconds: dict


PEAKBAG_MIN_DAYS = 2.0
"""Shortest span peakbagged by default.  Below ~20 days the mode widths (~1 uHz) are not resolved and
pkbgn holds them at the spectral window's main lobe; at 2 days (lmax 20) it still fits 281 of 306
multiplets with 86 % of nu and 88 % of a1 within 2 sigma (docs/tutorial.md).  At 1 day every mode's
bin also holds its strongest leaks and the errors are too small (docs/peakbagging.md)."""


def default_laststep(days: float) -> str:
    """``invert`` for spans that can be peakbagged, else ``leakage`` (every step before the fits)."""
    return "invert" if days >= PEAKBAG_MIN_DAYS else "leakage"


def run_args(days: float, lmax: int, laststep: str | None = None) -> list[str]:
    """The ``globalhs run`` parameters of the demo (also what ``globalhs report`` is given)."""
    return [f"starttime={DEMO_START}", f"totaltime={days:g}d", "label=synth", "lmin=0", f"lmax={lmax}",
            f"laststep={laststep or default_laststep(days)}"]


def _say(quiet: bool, text: str) -> None:
    if not quiet:
        print(text, flush=True)


def run_demo(days: float = 2.0, lmax: int = 20, seed: int = 0, quiet: bool = False, size: int = 128,
             executor: str = "local", laststep: str | None = None) -> DemoResult:
    """Synthesise ``days`` days up to ``lmax``, run the pipeline with label synth, write the report.

    ``laststep`` defaults to ``invert`` for spans of ``PEAKBAG_MIN_DAYS`` (2 days) or more, else
    ``leakage``: the report then compares the l-nu power with the true frequencies instead of fitted
    modes.
    """
    from globalhs.report.build import ReportError, build_report
    from globalhs.time import DAY, parse_time_or_day

    seconds = {}
    t0 = time.perf_counter()
    _say(quiet, f"[1/3] synthesising {days:g} days of {size}x{size} Dopplergrams up to l={lmax} (seed {seed})")
    refdir = default_modes_path().parents[1]
    try:
        # The table's splittings are the real Sun's: HMI's own inversion is the rotation they stand for.
        reference = (read_rot2d(refdir / "rotation" / "rot2d.hmiv72d.ave", refdir / "rotation" / "rmesh.orig")
                     if (refdir / "rotation" / "rot2d.hmiv72d.ave").exists() else None)
        summary = generate(parse_time_or_day(DEMO_START), days * DAY, lmax=lmax,
                           config=ObservationConfig(size=size, seed=seed), replace=True, rotation=reference,
                           workers=min(os.cpu_count() or 1, 4))
    except (ValueError, DrmsError, ModeTableError, TruthError, FileNotFoundError) as exc:
        raise DemoError(f"synthesis failed: {exc}") from None
    seconds["synth"] = time.perf_counter() - t0
    _say(quiet, f"      {summary.n_written} images, duty cycle {summary.duty_cycle:.3f}, "
                f"{summary.n_multiplets} multiplets ({seconds['synth']:.0f} s)")

    args = run_args(days, lmax, laststep)
    _say(quiet, f"[2/3] globalhs run {' '.join(args)}")
    t1 = time.perf_counter()
    command = [sys.executable, "-m", "globalhs", "run", *args, f"--executor={executor}"]
    if quiet:
        command.append("--quiet")
    # The synth label's pkbgn template reads its starting table from $GLOBALHS_STORE/truth/...
    env = dict(os.environ, GLOBALHS_STORE=str(open_store().root))
    done = subprocess.run(command, stdout=subprocess.PIPE if quiet else None,
                          stderr=subprocess.STDOUT if quiet else None, text=True, env=env)
    seconds["run"] = time.perf_counter() - t1
    if done.returncode != 0:
        tail = ("\n" + "\n".join(done.stdout.splitlines()[-20:])) if quiet and done.stdout else ""
        raise DemoError(f"`globalhs run {' '.join(args)}` failed with status {done.returncode}; "
                        f"its log is globalhs.log in the work directory{tail}")

    _say(quiet, "[3/3] writing the report")
    t2 = time.perf_counter()
    try:
        path, line = build_report(args)
    except ReportError as exc:
        raise DemoError(f"report failed: {exc}") from None
    seconds["report"] = time.perf_counter() - t2
    seconds["total"] = time.perf_counter() - t0
    return DemoResult(f"{line} (demo took {seconds['total']:.0f} s)", path, seconds)
