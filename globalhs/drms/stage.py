"""Staging: a job writes its records into its own directory; the driver commits them after verifying
the job.

A stage directory holds one sub-directory per record (``rec-<uuid>/<segment>.fits``) and
``manifest.json``::

    {"stage_id": "<uuid>", "series": {name: definition}, "records": [
        {"dir": "rec-...", "series": "...", "keywords": {...}, "replace": true}, ...]}

A record exists in the stage only once the manifest lists it (the manifest is replaced atomically
after the record's files are fsynced), so a job killed mid-write leaves at most unlisted directories,
which the commit ignores. ``commit`` moves the listed records into the store in one catalog
transaction and records the stage id; the manifest is then renamed ``manifest.committed.json``.
A second commit of the same stage finds its id (or the renamed manifest) and does nothing.
"""

from __future__ import annotations

import fcntl
import json
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Iterator

from globalhs.drms.errors import DrmsError
from globalhs.drms.segments import atomic_write_bytes, fsync_dir
from globalhs.drms.series import SeriesDef

if TYPE_CHECKING:
    from globalhs.drms.store import Store, _Pending

__all__ = ["add_to_manifest", "commit", "MANIFEST", "COMMITTED"]

MANIFEST = "manifest.json"
COMMITTED = "manifest.committed.json"


@contextmanager
def _locked(stage: Path) -> Iterator[None]:
    stage.mkdir(parents=True, exist_ok=True)
    with open(stage / ".lock", "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise DrmsError(f"stage manifest {path} is unreadable: {exc}") from None
    if not isinstance(data, dict) or "records" not in data or "stage_id" not in data:
        raise DrmsError(f"stage manifest {path}: expected an object with stage_id and records")
    return data


def add_to_manifest(store: "Store", stage: Path, pending: list["_Pending"], replace: bool) -> None:
    """Make the writer's records part of the stage (rename each into place, then the manifest)."""
    if not pending:
        return
    with _locked(stage):
        if (stage / COMMITTED).exists():
            raise DrmsError(f"stage {stage} has already been committed; a job must write into a fresh "
                            f"stage directory")
        manifest = _read(stage / MANIFEST) if (stage / MANIFEST).exists() else \
            {"stage_id": uuid.uuid4().hex, "series": {}, "records": []}
        for p in pending:
            final = stage / f"rec-{p.src.name.removeprefix('.tmp-')}"
            p.src.rename(final)
            p.src = final
            manifest["series"][p.series] = store.series(p.series).to_dict()
            manifest["records"].append({"dir": final.name, "series": p.series, "keywords": p.keywords,
                                        "replace": bool(replace)})
        fsync_dir(stage)
        atomic_write_bytes(stage / MANIFEST, json.dumps(manifest).encode())


def commit(store: "Store", stage: Path) -> int:
    """Commit a stage's records into ``store``; see the module docstring."""
    from globalhs.drms.store import _Pending

    if (stage / COMMITTED).exists() and not (stage / MANIFEST).exists():
        return len(_read(stage / COMMITTED)["records"])
    if not (stage / MANIFEST).exists():
        return 0
    with _locked(stage):
        manifest = _read(stage / MANIFEST)
        row = store._con.execute("SELECT nrecords FROM stages WHERE stage_id=?", (manifest["stage_id"],)).fetchone()
        if row is not None:  # committed before, the manifest rename did not happen (killed in between)
            (stage / MANIFEST).rename(stage / COMMITTED)
            return int(row[0])
        try:
            for name, definition in manifest.get("series", {}).items():
                store.ensure_series(SeriesDef.from_dict(definition))
        except DrmsError as exc:
            raise DrmsError(f"stage {stage}: {exc}; nothing was committed") from None
        pending, replaces = [], []
        for entry in manifest["records"]:
            src = stage / entry["dir"]
            defn = store.series(entry["series"])
            if not src.is_dir():
                raise DrmsError(f"stage {stage}: record directory {entry['dir']} listed in {MANIFEST} is missing; "
                                f"nothing was committed")
            keywords = defn.normalise(entry["keywords"])
            pending.append(_Pending(entry["series"], keywords, defn.prime_indices(keywords), src))
            replaces.append(bool(entry["replace"]))
        try:
            store._commit(pending, replaces, stage_id=manifest["stage_id"], stage_path=str(stage))
        except DrmsError as exc:
            raise DrmsError(f"stage {stage}: {exc}") from None
        (stage / MANIFEST).rename(stage / COMMITTED)
        fsync_dir(stage)
    return len(pending)
