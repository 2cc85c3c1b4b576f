"""The site configuration of the batch executors: the ``[batch]`` tables of the site config file.

The file is the project's one site configuration (TOML), the first found of ``$GLOBALHS_CONFIG``,
``~/.config/globalhs/config.toml`` (``$XDG_CONFIG_HOME``), ``/etc/globalhs/config.toml``; the driver
reads its ``[run]`` table, the executors its ``[batch]`` tables. No file: built-in defaults.
Example (docs/operators.md explains every key)::

    [batch.default]                 # every step
    time = "2h"                     # -> sbatch --time / qsub -l h_rt
    memory = "4G"                   # -> sbatch --mem / qsub -l h_vmem
    extra.slurm = ["--account=helio"]
    extra.sge = ["-P", "helio"]

    [batch.step.sht]                # one step (the driver's step names); overrides [batch.default]
    queue = "j.q"                   # Slurm partition / Grid Engine queue (a run's v2tqueue= wins)
    time = "6h"
    extra.slurm = ["--constraint=ssd"]

    [batch.escalate]                # a job out of time or memory is resubmitted with more
    time_factor = 2.0               # 0 or absent: never
    memory_factor = 2.0
    max_time = "48h"
    max_memory = "64G"

    [batch.limits]
    submit_rate = 20                # submit commands per second at most (0: no limit)
    max_array_size = 1000           # at most this many tasks per array (Slurm: also < MaxArraySize)
    max_resubmits = 200             # a run's resubmissions after NODE_FAIL / PREEMPTED / LOST / CANCELLED
    use_arrays = true
    poll_interval = 5               # seconds between polls while jobs change state ...
    poll_interval_max = 60          # ... rising to this while nothing changes

Values are checked when the file is read; a bad one is an error naming the file, the key and what
was expected.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from globalhs.executors.base import JobSpec, JobState
from globalhs.time import TimeFormatError, parse_duration

CONFIG_ENV = "GLOBALHS_CONFIG"
TABLE = "batch"
_MEMORY_UNITS = {"K": 1 / 1024, "M": 1, "G": 1024, "T": 1024 * 1024}


class SiteConfigError(ValueError):
    """The site configuration file is unreadable or holds a bad value."""


def parse_memory(text: str | int) -> int:
    """``"4G"`` -> 4096 (MB); a bare number is MB. Units K, M, G, T (binary, as Slurm and SGE use)."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*", str(text), re.IGNORECASE)
    if not m:
        raise ValueError(f"memory {text!r}: expected a number with an optional unit K, M, G or T (e.g. '4G')")
    return max(1, math.ceil(float(m.group(1)) * _MEMORY_UNITS[(m.group(2) or "M").upper()]))


@dataclass(frozen=True)
class Resources:
    queue: str = ""
    time_s: int | None = None
    memory_mb: int | None = None
    extra: tuple[str, ...] = ()


@dataclass(frozen=True)
class SiteConfig:
    default: dict[str, Any] = field(default_factory=dict)
    steps: dict[str, dict[str, Any]] = field(default_factory=dict)
    time_factor: float = 0.0
    memory_factor: float = 0.0
    max_time_s: int | None = None
    max_memory_mb: int | None = None
    submit_rate: float | None = None
    max_array_size: int = 1000
    max_resubmits: int = 200
    use_arrays: bool = True
    poll_interval: float = 5.0
    poll_interval_max: float = 60.0
    source: str = "(built-in defaults)"

    # --- reading -------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike | None = None) -> "SiteConfig":
        """The ``[batch]`` tables of ``path``, else of the first site config file found, else defaults."""
        if path is None:
            path = next((p for p in config_files() if p.is_file()), None)
            if path is None:
                return cls()
        path = Path(path)
        try:
            data = tomllib.loads(path.read_text())
        except OSError as exc:
            raise SiteConfigError(f"site config {path}: cannot read: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise SiteConfigError(f"site config {path}: not valid TOML: {exc}") from exc
        table = data.get(TABLE, {})
        if not isinstance(table, dict):
            raise SiteConfigError(f"site config {path}: {TABLE} must be a table ([{TABLE}.default] ...)")
        return cls.from_dict(table, source=str(path))

    @classmethod
    def from_dict(cls, data: dict, source: str = "(dict)") -> "SiteConfig":
        def bad(key, expected, value):
            return SiteConfigError(f"site config {source}: {TABLE}.{key} = {value!r}: expected {expected}")

        known = {"default", "step", "escalate", "limits"}
        for key in data:
            if key not in known:
                raise bad(key, f"one of the tables {', '.join(f'[{TABLE}.{k}]' for k in sorted(known))}",
                          data[key])

        def section(table: dict, where: str) -> dict:
            out = {}
            for key, value in table.items():
                name = f"{where}.{key}"
                if key == "queue":
                    if not isinstance(value, str):
                        raise bad(name, "a queue or partition name (string)", value)
                    out["queue"] = value
                elif key == "time":
                    out["time_s"] = _duration(value, name, bad)
                elif key == "memory":
                    out["memory_mb"] = _memory(value, name, bad)
                elif key == "extra":
                    if not isinstance(value, dict) or not all(
                            isinstance(v, list) and all(isinstance(x, str) for x in v) for v in value.values()):
                        raise bad(name, "a table of executor = [option strings], e.g. extra.slurm = ['--account=x']",
                                  value)
                    out["extra"] = {k: tuple(v) for k, v in value.items()}
                else:
                    raise bad(name, "one of queue, time, memory, extra", value)
            return out

        default = section(data.get("default", {}), "default")
        steps = {step: section(table, f"step.{step}") for step, table in data.get("step", {}).items()}
        esc, lim = data.get("escalate", {}), data.get("limits", {})
        kwargs: dict[str, Any] = {}
        for key in esc:
            name = f"escalate.{key}"
            if key in ("time_factor", "memory_factor"):
                if not isinstance(esc[key], (int, float)) or (esc[key] != 0 and esc[key] <= 1):
                    raise bad(name, "a factor > 1 (0: never escalate)", esc[key])
                kwargs[key] = float(esc[key])
            elif key == "max_time":
                kwargs["max_time_s"] = _duration(esc[key], name, bad)
            elif key == "max_memory":
                kwargs["max_memory_mb"] = _memory(esc[key], name, bad)
            else:
                raise bad(name, "one of time_factor, memory_factor, max_time, max_memory", esc[key])
        for key in lim:
            name, value = f"limits.{key}", lim[key]
            if key == "submit_rate":
                if not isinstance(value, (int, float)) or value < 0:
                    raise bad(name, "submissions per second >= 0 (0: no limit)", value)
                kwargs[key] = float(value) or None
            elif key in ("max_array_size", "max_resubmits"):
                if not isinstance(value, int) or isinstance(value, bool) or value < (1 if key == "max_array_size" else 0):
                    raise bad(name, "a non-negative integer" if key == "max_resubmits" else "an integer >= 1", value)
                kwargs[key] = value
            elif key in ("poll_interval", "poll_interval_max"):
                if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
                    raise bad(name, "seconds > 0", value)
                kwargs[key] = float(value)
            elif key == "use_arrays":
                if not isinstance(value, bool):
                    raise bad(name, "true or false", value)
                kwargs[key] = value
            else:
                raise bad(name, "one of submit_rate, max_array_size, max_resubmits, use_arrays, "
                          "poll_interval, poll_interval_max", value)
        return cls(default=default, steps=steps, source=source, **kwargs)

    # --- using ---------------------------------------------------------------------------------
    def resources(self, step: str, executor: str, queue: str = "") -> Resources:
        """Queue, time, memory and extra options for a job of ``step`` on ``executor``.

        ``queue`` (the run's GLOBALHS_*QUEUE value) wins over the config's queue when given.
        """
        merged = {**self.default, **self.steps.get(step, {})}
        extra = self.default.get("extra", {}).get(executor, ()) + self.steps.get(step, {}).get("extra", {}).get(executor, ())
        return Resources(queue=queue or merged.get("queue", ""), time_s=merged.get("time_s"),
                         memory_mb=merged.get("memory_mb"), extra=tuple(extra))

    def apply(self, job: JobSpec, step: str, executor: str) -> JobSpec:
        """``job`` with this site's resources for ``step`` filled in where the job leaves them open."""
        r = self.resources(step, executor, job.queue)
        return dataclasses.replace(job, queue=r.queue, time_limit_s=job.time_limit_s or r.time_s,
                                   memory_mb=job.memory_mb or r.memory_mb, extra=tuple(job.extra) + r.extra)

    def escalate(self, job: JobSpec, state: JobState) -> JobSpec | None:
        """``job`` with more time (TIMEOUT) or memory (OUT_OF_MEMORY), or None if the site allows none.

        None when the factor is unset, the job had no limit to raise, or the limit is already at the
        site's maximum.
        """
        if state is JobState.TIMEOUT and self.time_factor and job.time_limit_s:
            new = math.ceil(job.time_limit_s * self.time_factor)
            if self.max_time_s is not None:
                new = min(new, self.max_time_s)
            return dataclasses.replace(job, time_limit_s=new) if new > job.time_limit_s else None
        if state is JobState.OUT_OF_MEMORY and self.memory_factor and job.memory_mb:
            new = math.ceil(job.memory_mb * self.memory_factor)
            if self.max_memory_mb is not None:
                new = min(new, self.max_memory_mb)
            return dataclasses.replace(job, memory_mb=new) if new > job.memory_mb else None
        return None


def config_files() -> list[Path]:
    """Site configuration files, in the order searched (the first that exists is read)."""
    files = [Path(os.environ[CONFIG_ENV])] if os.environ.get(CONFIG_ENV) else []
    xdg = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return files + [Path(xdg) / "globalhs" / "config.toml", Path("/etc/globalhs/config.toml")]


def _duration(value, name, bad) -> int:
    try:
        seconds = parse_duration(str(value)) if isinstance(value, str) else float(value)
    except (TimeFormatError, ValueError, TypeError):
        raise bad(name, "a duration such as '90m', '6h' or '2d'", value) from None
    if seconds <= 0:
        raise bad(name, "a positive duration", value)
    return math.ceil(seconds)


def _memory(value, name, bad) -> int:
    try:
        return parse_memory(value)
    except ValueError:
        raise bad(name, "a memory size such as '512M' or '4G'", value) from None
