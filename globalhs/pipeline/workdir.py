"""The work directory: its layout (the original's), atomic writes, and the one-driver lock.

``$topdir/$USER/globalhs_work/$label/${starttime}_${totaltime}/$lmin-$lmax/<step>/`` holds, per job,
the parameter file ``{desc}.parms.{index}``, the job script ``{prefix}.{firstindex}.{index}.{lmin}-{lmax}{label}``,
the log ``{desc}.log.{index}``, the exit-status file ``{module}.exitstatus.{index}`` and the staging
directory ``stage.{index}``; per step, ``faillog``. The run directory holds the ledger
``ledger.sqlite``, the lock ``driver.lock`` and the driver's log ``globalhs.log``.
"""

from __future__ import annotations

import errno
import fcntl
import getpass
import json
import os
import time
from pathlib import Path


def user_name() -> str:
    try:
        return os.environ.get("USER") or getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid())


def run_dir(topdir: str | Path, label: str, starttime: str, totaltime: str, lmin: int, lmax: int) -> Path:
    """The run's work directory (the original's ``$workdir``)."""
    return (Path(topdir) / user_name() / "globalhs_work" / label / f"{starttime}_{totaltime}"
            / f"{lmin}-{lmax}")


class LockError(RuntimeError):
    """Another driver holds the work directory."""


class DriverLock:
    """An exclusive lock on a work directory, released when the holder exits (even by kill -9)."""

    def __init__(self, directory: Path):
        self.path = Path(directory) / "driver.lock"
        self._fh = None

    def holder(self) -> dict:
        try:
            return json.loads(self.path.read_text() or "{}")
        except (OSError, ValueError):
            return {}

    def held(self) -> bool:
        """Whether a live driver holds the lock (the kernel drops it when the holder dies)."""
        if not self.path.exists():
            return False
        with open(self.path, "a+") as fh:
            try:
                fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return True
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+")
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            fh.close()
            if exc.errno not in (errno.EAGAIN, errno.EACCES):
                raise
            info = self.holder()
            who = (f"pid {info.get('pid')} on {info.get('host')}, started "
                   f"{time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(info.get('started', 0)))}"
                   if info else "another process")
            raise LockError(
                f"another globalhs run ({who}) is using the work directory {self.path.parent}; "
                f"wait for it to finish, or stop it with `globalhs cancel` and the same parameters"
            ) from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "host": os.uname().nodename, "started": time.time()}))
        fh.flush()
        self._fh = fh

    def release(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __enter__(self) -> "DriverLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
