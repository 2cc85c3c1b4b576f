"""Batch systems behind one small protocol (:class:`globalhs.executors.base.Executor`).

``EXECUTORS`` is the one table of executor names; the local process pool is the default.
"""

from __future__ import annotations

import importlib

EXECUTORS: dict[str, str] = {
    "local": "globalhs.executors.local:LocalExecutor",
    "slurm": "globalhs.executors.slurm:SlurmExecutor",
    "sge": "globalhs.executors.sge:SgeExecutor",
    "drmaa": "globalhs.executors.drmaa:DrmaaExecutor",
}


def executor_class(name: str):
    """The executor class called ``name`` (imported on first use)."""
    try:
        path, attr = EXECUTORS[name].split(":")
    except KeyError:
        raise KeyError(f"unknown executor {name!r}; expected one of {', '.join(EXECUTORS)}") from None
    return getattr(importlib.import_module(path), attr)
