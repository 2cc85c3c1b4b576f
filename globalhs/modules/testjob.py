"""testjob: the runner's fault injector (not a science module).

Each run increments the integer in ``counter`` (a file; the attempt number), then:

- sleeps ``sleep`` seconds (after writing its pid to ``pidfile`` if given, for tests that kill it);
- dies by signal ``signal`` on the first ``dies`` attempts (``group=1``: the whole job process group,
  so the job script dies too and writes no exit status, as a node crash or ``kill -9`` of the job);
- fails with an error on the first ``fail`` attempts;
- otherwise succeeds, leaving a small file in its staging directory (GLOBALHS_STAGE) when ``stage=1``.

With ``series=NAME`` it first writes one record through the record store (prime key CHUNK=``chunk``,
keywords ATTEMPT and TAG, a small ``data`` segment) — before any injected failure, so tests can show
that a failed attempt's staged record never reaches the store.
"""

from __future__ import annotations

import os
import signal as signals
import time
from pathlib import Path
from typing import Any

from globalhs.atomic import atomic_write
from globalhs.modules.base import Arg, Module, ModuleError


def _bump(counter: Path) -> int:
    """Increment the attempt counter (atomically replaced) and return the new value."""
    try:
        count = int(counter.read_text().strip() or 0) + 1
    except FileNotFoundError:
        count = 1
    except ValueError:
        raise ModuleError(f"counter file {counter} does not hold an integer") from None
    atomic_write(counter, f"{count}\n", durable=False)
    return count


def series_definition(name: str):
    """The test series testjob writes to: one record per chunk."""
    from globalhs.drms import Keyword, PrimeKey, Segment, SeriesDef

    return SeriesDef(name, prime=(PrimeKey("CHUNK", "int"),),
                     keywords=(Keyword("ATTEMPT", "int", 0), Keyword("TAG", "string", "")),
                     segments=(Segment("data", "float64"),), description="testjob output (driver tests)")


def _write_record(name: str, chunk: int, attempt: int, tag: str) -> None:
    import numpy as np

    from globalhs.drms import open_store

    store = open_store()
    store.create_series(series_definition(name))
    with store.writer(replace=True) as writer:
        writer.add(name, {"CHUNK": chunk, "ATTEMPT": attempt, "TAG": tag},
                   {"data": np.arange(4, dtype=np.float64) + chunk})


def main(args: dict[str, Any]) -> None:
    attempt = _bump(Path(args["counter"]))
    if args["series"]:
        _write_record(args["series"], args["chunk"], attempt, args["tag"])
    if args["pidfile"]:
        Path(args["pidfile"]).write_text(f"{os.getpid()}\n")
    if args["sleep"] > 0:
        time.sleep(args["sleep"])
    if attempt <= args["dies"]:
        if args["group"]:
            os.killpg(os.getpgrp(), args["signal"])
        os.kill(os.getpid(), args["signal"])
        time.sleep(10)      # the signal is delivered before this returns; never reached for SIGKILL
    if attempt <= args["fail"]:
        raise ModuleError(f"injected failure on attempt {attempt} of {args['fail']} (fail={args['fail']})")
    stage = os.environ.get("GLOBALHS_STAGE")
    if args["stage"] and stage:
        Path(stage).mkdir(parents=True, exist_ok=True)
        (Path(stage) / "testjob.out").write_text(f"attempt={attempt} tag={args['tag']}\n")


MODULE = Module(
    name="testjob",
    summary="fault injector for the driver's tests: succeed, fail N times, sleep, or die by signal",
    args=(
        Arg("counter", str, help="file counting the attempts (created if absent)"),
        Arg("fail", int, 0, "fail (module error) on the first N attempts"),
        Arg("dies", int, 0, "die by `signal` on the first N attempts"),
        Arg("signal", int, int(signals.SIGKILL), "signal number used by `dies`"),
        Arg("group", int, 0, "1: signal the whole job process group (the job script dies too)",
            choices=(0, 1)),
        Arg("sleep", float, 0.0, "seconds to sleep before anything else"),
        Arg("pidfile", str, "", "write the module's pid here before sleeping"),
        Arg("stage", int, 1, "1: write a file into GLOBALHS_STAGE on success", choices=(0, 1)),
        Arg("tag", str, "", "free text copied into the staged file and the TAG keyword"),
        Arg("series", str, "", "write one record to this series (created if absent) via the store"),
        Arg("chunk", int, 0, "prime key CHUNK of that record"),
    ),
    main=main,
)
