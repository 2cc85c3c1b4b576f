"""Finding the local batch systems for the ``cluster`` tests (started by scripts/slurm-up, sge-up).

A system that does not answer makes its tests skip with the reason; ``.ci/run`` starts both.
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


def _skip(reason: str) -> None:
    """Skip, or fail where the batch systems must be there (.ci/run sets GLOBALHS_REQUIRE_CLUSTER=1)."""
    if os.environ.get("GLOBALHS_REQUIRE_CLUSTER") == "1":
        pytest.fail(f"GLOBALHS_REQUIRE_CLUSTER=1 but {reason}")
    pytest.skip(reason)


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
    """Point SLURM_CONF at the local cluster (unless set) and skip if Slurm does not answer."""
    conf = CLUSTER_BASE / "slurm" / "slurm.conf"
    if "SLURM_CONF" not in os.environ and conf.exists():
        os.environ["SLURM_CONF"] = str(conf)
    why = answers(["sinfo", "-h", "-o", "%T"])
    if why:
        _skip(f"no Slurm reachable ({why}); start one with scripts/slurm-up")


def sge_or_skip() -> None:
    os.environ.setdefault("SGE_ROOT", "/var/lib/gridengine")
    os.environ.setdefault("SGE_CELL", "default")
    why = answers(["qstat", "-u", "*"])
    if why:
        _skip(f"no Grid Engine reachable ({why}); start one with scripts/sge-up")


def drmaa_or_skip() -> None:
    sge_or_skip()
    os.environ.setdefault("DRMAA_LIBRARY_PATH", DRMAA_LIB)
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
