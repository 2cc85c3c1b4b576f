"""Finding the local batch systems for the ``cluster`` tests (started by scripts/slurm-up, sge-up).

The cluster tests run only when asked: ``GLOBALHS_CLUSTER_TESTS=1`` (``.ci/run`` and
``make test-cluster`` set it). Then a batch system that does not answer is a failure; without it every
cluster test skips, saying so — on a shared machine one engineer's local cluster must not make
everybody's ``make test`` submit jobs to it.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

CLUSTER_BASE = Path(os.environ.get("GLOBALHS_CLUSTER_BASE", "/var/tmp/globalhs-cluster"))
DRMAA_LIB = "/usr/lib/gridengine-drmaa/lib/libdrmaa.so.1.0"


ENABLE = "GLOBALHS_CLUSTER_TESTS"


def _skip(reason: str) -> None:
    """Fail: the cluster tests were asked for (GLOBALHS_CLUSTER_TESTS=1) but a system is missing."""
    pytest.fail(f"{ENABLE}=1 but {reason}")


def _asked_for() -> None:
    if os.environ.get(ENABLE) != "1":
        pytest.skip(f"cluster tests run only with {ENABLE}=1 (.ci/run and `make test-cluster` set it; "
                    "start the local clusters with scripts/slurm-up and scripts/sge-up)")


@functools.lru_cache(maxsize=None)
def _answers_cached(argv: tuple[str, ...], env_key: tuple) -> str | None:
    return _answers(list(argv))


def answers(argv: list[str]) -> str | None:
    """:func:`_answers`, asked once per session for the same command and environment."""
    key = tuple(os.environ.get(k, "") for k in ("SLURM_CONF", "SGE_ROOT", "SGE_CELL", "PATH"))
    return _answers_cached(tuple(argv), key)


def _answers(argv: list[str]) -> str | None:
    """None if ``argv`` succeeds within 10 s, else why not."""
    if shutil.which(argv[0]) is None:
        return f"{argv[0]} is not installed"
    try:
        res = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except subprocess.TimeoutExpired:
        return f"`{' '.join(argv)}` did not answer in 10 s"
    words = "; ".join(line.strip() for line in (res.stderr or res.stdout).splitlines() if line.strip())
    return None if res.returncode == 0 else f"`{' '.join(argv)}` failed: {words[:160]}"


def slurm_or_skip() -> None:
    """Point SLURM_CONF at the local cluster (unless set); skip unless asked, fail if Slurm does not answer."""
    _asked_for()
    conf = CLUSTER_BASE / "slurm" / "slurm.conf"
    if "SLURM_CONF" not in os.environ and conf.exists():
        os.environ["SLURM_CONF"] = str(conf)
    why = answers(["sinfo", "-h", "-o", "%T"])
    if why:
        _skip(f"no Slurm reachable ({why}); start one with scripts/slurm-up")


def sge_or_skip() -> None:
    _asked_for()
    os.environ.setdefault("SGE_ROOT", "/var/lib/gridengine")
    os.environ.setdefault("SGE_CELL", "default")
    why = answers(["qstat", "-u", "*"])
    if why:
        _skip(f"no Grid Engine reachable ({why}); start one with scripts/sge-up")


def drmaa_or_skip() -> None:
    sge_or_skip()
    if not os.environ.get("DRMAA_LIBRARY_PATH"):
        # libdrmaa brings its own allocator (jemalloc): loaded into the whole suite's process it has
        # crashed it at exit ("double free or corruption"), so .ci/run runs these in their own process
        pytest.skip("the DRMAA tests run in their own process with DRMAA_LIBRARY_PATH and GLIBC_TUNABLES "
                    "set (.ci/run does: make test-cluster PYTEST_ARGS='-k drmaa')")
    if not Path(os.environ["DRMAA_LIBRARY_PATH"]).exists():
        _skip(f"no libdrmaa at {os.environ['DRMAA_LIBRARY_PATH']} (apt-get install gridengine-drmaa1.0)")
    try:
        import drmaa  # noqa: F401
    except ImportError as exc:
        _skip(f"the drmaa package is not installed: {exc}")
    except (RuntimeError, OSError) as exc:
        _skip(f"libdrmaa does not load in this process ({exc}); start Python with "
                    "GLIBC_TUNABLES=glibc.rtld.optional_static_tls=4096 as .ci/run does")


AVAILABLE = {"slurm": slurm_or_skip, "sge": sge_or_skip, "drmaa": drmaa_or_skip}


def make_executor(name: str, **kwargs):
    AVAILABLE[name]()
    from globalhs.executors import executor_class

    return executor_class(name)(**kwargs)


def native_cancel(name: str, job_id: str) -> None:
    """Cancel a job behind the executor's back, with the batch system's own command."""
    if name == "slurm":
        subprocess.run(["scancel", job_id], check=True, timeout=30)
    else:
        number, _, task = job_id.partition(".")
        subprocess.run(["qdel", number] + (["-t", task] if task else []), check=True, timeout=30,
                       capture_output=True)


def wait_for(predicate, timeout: float, every: float = 0.3, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def cancel_leftovers(match) -> None:
    """Cancel this user's queued jobs whose name satisfies ``match`` on every reachable system, so a
    failed test leaves nothing behind to fill the one node for the next tests."""
    if os.environ.get(ENABLE) != "1":
        return
    from globalhs.executors.sge import SgeExecutor
    from globalhs.executors.slurm import SlurmExecutor

    for cls, probe in ((SlurmExecutor, ["sinfo", "-h", "-o", "%T"]), (SgeExecutor, ["qstat", "-u", "*"])):
        if answers(probe) is not None:
            continue
        ex = cls()
        try:
            ids = [j for j, s in ex.find("").items() if match(s.name)]
            ex.cancel(ids)
        except Exception:      # noqa: BLE001 - best effort at teardown
            pass
