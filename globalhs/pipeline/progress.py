"""How the runner shows progress: a rich live table on a terminal, plain log lines otherwise.

Every message also goes to the run's log file (``globalhs.log`` in the work directory).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass
class StepCounts:
    """What the table shows for one step."""

    state: str = "waiting"
    total: int = 0
    skipped: int = 0          # chunks verified by an earlier run
    queued: int = 0
    running: int = 0
    done: int = 0
    failed: int = 0           # failed attempts (resubmitted or not)
    started: float | None = None
    finished: float | None = None

    def rate(self) -> float | None:
        """Jobs per second since the step started."""
        if not self.started or self.done == 0:
            return None
        return self.done / max((self.finished or time.time()) - self.started, 1e-9)

    def eta(self) -> float | None:
        rate = self.rate()
        remaining = self.total - self.skipped - self.done
        if rate is None or self.state != "running":
            return None
        return remaining / rate


def _seconds(s: float | None) -> str:
    if s is None:
        return ""
    s = int(round(s))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"


class Reporter:
    """Plain reporter: one line per event (quiet mode and non-terminals)."""

    def __init__(self, logfile: Path | None = None, stream=None):
        self.stream = stream or sys.stdout
        self.logfile = logfile
        self.steps: dict[str, StepCounts] = {}

    def _log(self, text: str) -> None:
        if self.logfile is not None:
            self.logfile.parent.mkdir(parents=True, exist_ok=True)
            with open(self.logfile, "a") as fh:
                fh.write(f"{time.strftime('%Y-%m-%d %H:%M:%S')} {text}\n")

    def message(self, text: str) -> None:
        self._log(text)
        print(text, file=self.stream, flush=True)

    def start(self, step_names: list[str]) -> None:
        self.steps = {name: StepCounts() for name in step_names}

    def update(self) -> None:
        """Counts changed (the live table redraws; plain mode prints nothing)."""

    def stop(self) -> None:
        pass


class LiveReporter(Reporter):
    """Rich live table: steps, jobs queued/running/done/failed, throughput and ETA."""

    def __init__(self, logfile: Path | None = None):
        super().__init__(logfile)
        from rich.console import Console
        from rich.live import Live

        self.console = Console()
        self.live = Live(console=self.console, refresh_per_second=4, transient=False)

    def _table(self):
        from rich.table import Table

        table = Table(title="globalhs run", expand=False)
        for column in ("step", "state", "jobs", "skipped", "queued", "running", "done", "failed",
                       "jobs/min", "ETA"):
            table.add_column(column, justify="left" if column in ("step", "state") else "right")
        for name, c in self.steps.items():
            rate = c.rate()
            table.add_row(name, c.state, str(c.total or ""), str(c.skipped or ""), str(c.queued or ""),
                          str(c.running or ""), str(c.done or ""), str(c.failed or ""),
                          f"{rate * 60:.1f}" if rate else "", _seconds(c.eta()))
        return table

    def message(self, text: str) -> None:
        self._log(text)
        self.live.console.print(text, markup=False, highlight=False)

    def start(self, step_names: list[str]) -> None:
        super().start(step_names)
        self.live.start()
        self.live.update(self._table())

    def update(self) -> None:
        self.live.update(self._table())

    def stop(self) -> None:
        self.live.update(self._table())
        self.live.stop()


def make_reporter(logfile: Path | None, quiet: bool) -> Reporter:
    if quiet or not sys.stdout.isatty():
        return Reporter(logfile)
    return LiveReporter(logfile)
