"""The pipeline's programs, one per step, in the JSOC style (see :mod:`globalhs.modules.base`).

``MODULES`` is the one table of module names; each entry names the module object to import.
"""

from __future__ import annotations

import importlib

from globalhs.modules.base import Module

# name -> "python.module:ATTRIBUTE" of a :class:`Module`.
MODULES: dict[str, str] = {
    "jv2ts": "globalhs.modules.jv2ts:MODULE",
    "shtcheck": "globalhs.modules.shtcheck:MODULE",
    "retile": "globalhs.modules.retile:MODULE",
    "dscopy": "globalhs.modules.dscopy:MODULE",
    "mkgaps": "globalhs.modules.mkgaps:MODULE",
    "gapfill": "globalhs.modules.gapfill:MODULE",
    "pow": "globalhs.modules.pow:MODULE",
    "slice": "globalhs.modules.slice:MODULE",
    "leakage": "globalhs.modules.leakage:MODULE",
    "pkbgn": "globalhs.modules.pkbgn:MODULE",
    "invert": "globalhs.modules.invert:MODULE",
    # fault injector for the runner's own tests (not a science module)
    "testjob": "globalhs.modules.testjob:MODULE",
}


def get_module(name: str) -> Module:
    """The :class:`Module` called ``name``; ``KeyError`` naming the known modules otherwise."""
    try:
        target = MODULES[name]
    except KeyError:
        raise KeyError(f"unknown module {name!r}; known modules: {', '.join(sorted(MODULES))}") from None
    path, attr = target.split(":")
    return getattr(importlib.import_module(path), attr)
