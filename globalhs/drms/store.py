"""The record store: a directory holding the SQLite catalog and one directory per record.

Layout::

    <store>/catalog.sqlite        series definitions, records (prime keys, keywords, directory), stages
    <store>/data/<series>/<recnum>/<segment>.fits
    <store>/tmp/                  records being written (moved into data/ inside the commit)

A writer writes each record's segments into a private temporary directory (fsynced), then in one
catalog transaction inserts the rows and renames the directories into ``data/``; if anything fails
the transaction is rolled back and the directories are removed, so the catalog and the disk stay in
step. ``writer(sync="batch")`` writes the segments without an fsync each and makes the whole batch
durable with one ``syncfs`` before any of it is renamed or catalogued: after a crash every catalogued
record is still complete (its files were durable before its row), at a tenth of the cost for many
small records (``docs/performance.md``, synth). With ``GLOBALHS_STAGE`` set the writer stages records instead (see ``globalhs.drms.stage``).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from globalhs.drms import stage as _stage
from globalhs.drms.catalog import PCOLS, connect, transaction
from globalhs.drms.errors import DrmsError
from globalhs.drms.query import compile_recordset, parse_recordset
from globalhs.drms.segments import fsync_dir, header_cards, read_segment, sync_filesystem, write_segment
from globalhs.drms.series import SeriesDef

__all__ = ["Store", "Record", "Writer", "open_store", "default_store_path"]


def default_store_path() -> Path:
    """GLOBALHS_STORE, else ``$XDG_DATA_HOME/globalhs/store`` (``~/.local/share/globalhs/store``)."""
    env = os.environ.get("GLOBALHS_STORE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(base) / "globalhs" / "store"


def open_store(path: str | os.PathLike | None = None) -> "Store":
    """The store at ``path`` (default: ``default_store_path()``), created if absent."""
    return Store(Path(path).expanduser() if path else default_store_path())


@dataclass(frozen=True, eq=False)
class Record:
    """One record: its series, keywords (prime keys included; times as internal seconds), segments."""

    series: str
    recnum: int
    keywords: dict[str, Any]
    root: Path = field(repr=False)
    defn: SeriesDef = field(repr=False, compare=False)

    def __eq__(self, other: object) -> bool:  # a record is its number in its store
        return isinstance(other, Record) and (self.recnum, self.series, self.root) == (other.recnum, other.series, other.root)

    def __hash__(self) -> int:
        return hash((self.recnum, self.series))

    @property
    def dir(self) -> Path:
        """The record's directory: ``<store>/data/<series>/<recnum>``."""
        return self.root / "data" / self.series / str(self.recnum)

    @property
    def prime(self) -> dict[str, Any]:
        return {name: self.keywords[name] for name in self.defn.prime_names}

    def segment_path(self, name: str | None = None) -> Path:
        """Path of segment ``name`` (default: the series' only segment)."""
        return self.dir / f"{self._segment(name).name}.fits"

    def read(self, name: str | None = None) -> np.ndarray:
        """Segment data as a float array with NaN for missing values."""
        seg = self._segment(name)
        path = self.dir / f"{seg.name}.fits"
        if not path.exists():
            raise DrmsError(f"record {self.spec()} has no file for segment {seg.name} ({path})")
        return read_segment(path, seg)

    def spec(self) -> str:
        """The record's record-set string, e.g. ``mdi.fd_V[2002.03.31_17:34:00_TAI]``."""
        return self.series + "".join(f"[{k.format(self.keywords[k.name])}]" for k in self.defn.prime)

    def _segment(self, name: str | None):
        if name is None:
            if len(self.defn.segments) != 1:
                raise DrmsError(f"series {self.series} has {len(self.defn.segments)} segments; name one "
                                f"({', '.join(s.name for s in self.defn.segments)})")
            return self.defn.segments[0]
        return self.defn.segment(name)


@dataclass
class _Pending:
    series: str
    keywords: dict[str, Any]
    pkey: tuple[int, ...]
    src: Path | None


class Store:
    """A record store rooted at ``root`` (see ``open_store``)."""

    def __init__(self, root: Path):
        self.root = Path(root)
        try:
            for sub in ("data", "tmp"):
                (self.root / sub).mkdir(parents=True, exist_ok=True)
            self._con = connect(self.root / "catalog.sqlite")
        except DrmsError:
            raise
        except (OSError, sqlite3.Error) as exc:
            raise DrmsError(f"cannot open the record store at {self.root}: {exc}") from None
        self._defs: dict[str, SeriesDef] = {}

    def __repr__(self) -> str:
        return f"Store({str(self.root)!r})"

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- series -----------------------------------------------------------------------------
    def create_series(self, defn: SeriesDef) -> SeriesDef:
        """Add ``defn`` to the catalog; a no-op if an identical definition exists, an error if a
        different one does (a series' layout never changes under its records)."""
        with transaction(self._con) as con:
            row = con.execute("SELECT definition FROM series WHERE name=?", (defn.name,)).fetchone()
            if row is None:
                con.execute("INSERT INTO series (name, definition, created) VALUES (?, ?, ?)",
                            (defn.name, defn.to_json(), time.time()))
            else:
                existing = SeriesDef.from_dict(json.loads(row[0]))
                if existing.to_json() != defn.to_json():
                    raise DrmsError(f"series {defn.name} already exists with a different definition "
                                    f"({_difference(existing, defn)}); choose another name")
        self._defs[defn.name] = defn
        return defn

    ensure_series = create_series

    def series(self, name: str) -> SeriesDef:
        """The definition of series ``name``; DrmsError naming it if the store does not have it."""
        if name not in self._defs:
            row = self._con.execute("SELECT definition FROM series WHERE name=?", (name,)).fetchone()
            if row is None:
                known = ", ".join(self.list_series()) or "none yet"
                raise DrmsError(f"unknown series {name!r} in store {self.root} (known: {known}); "
                                f"create it with `globalhs series create FILE` or a builtin definition")
            self._defs[name] = SeriesDef.from_dict(json.loads(row[0]))
        return self._defs[name]

    def has_series(self, name: str) -> bool:
        return self._con.execute("SELECT 1 FROM series WHERE name=?", (name,)).fetchone() is not None

    def list_series(self) -> list[str]:
        return [r[0] for r in self._con.execute("SELECT name FROM series ORDER BY name")]

    # --- queries ----------------------------------------------------------------------------
    def query(self, recordset: str) -> list[Record]:
        """Records of a JSOC record-set string, ordered by their prime keys."""
        rs = parse_recordset(recordset)
        defn = self.series(rs.series)
        comp = compile_recordset(rs, defn)
        order = ", ".join(PCOLS[: len(defn.prime)])
        where = " AND ".join(["series = ?"] + comp.where)
        rows = self._con.execute(f"SELECT recnum, keywords FROM records WHERE {where} ORDER BY {order}",
                                 [defn.name] + comp.params)
        names, root, name, loads = defn.keyword_names, self.root, defn.name, json.loads
        records = []
        for recnum, kws in rows:
            keywords = dict(zip(names, loads(kws)))
            if comp.predicate is None or comp.predicate(keywords):
                records.append(Record(name, recnum, keywords, root, defn))
        return records

    def records(self, recnums: Iterable[int]) -> list[Record]:
        """Records by record number (as a writer's ``recnums``), in the order given."""
        out = []
        for recnum in recnums:
            row = self._con.execute("SELECT series, keywords FROM records WHERE recnum=?", (recnum,)).fetchone()
            if row is None:
                raise DrmsError(f"no record number {recnum} in store {self.root} (superseded or never committed)")
            defn = self.series(row[0])
            out.append(Record(row[0], recnum, dict(zip(defn.keyword_names, json.loads(row[1]))), self.root, defn))
        return out

    def count(self, recordset: str) -> int:
        """Number of records in a record set (counted by the catalog unless a filter needs keywords)."""
        rs = parse_recordset(recordset)
        defn = self.series(rs.series)
        comp = compile_recordset(rs, defn)
        if comp.predicate is not None:
            return len(self.query(recordset))
        where = " AND ".join(["series = ?"] + comp.where)
        return self._con.execute(f"SELECT COUNT(*) FROM records WHERE {where}", [defn.name] + comp.params).fetchone()[0]

    def check(self, fix: bool = False, min_age: float = 3600.0) -> list[Path]:
        """Directories left by processes killed while writing: entries of ``tmp/`` and record
        directories that no catalog row owns, older than ``min_age`` seconds (younger ones may belong
        to a writer still running). ``fix=True`` removes them. Returns what was found."""
        cutoff = time.time() - min_age
        owned = {(series, str(recnum)) for series, recnum in self._con.execute("SELECT series, recnum FROM records")}
        found = [p for p in (self.root / "tmp").iterdir() if p.lstat().st_mtime < cutoff]
        for series_dir in (self.root / "data").iterdir():
            for rec_dir in series_dir.iterdir():
                if (series_dir.name, rec_dir.name) not in owned and rec_dir.lstat().st_mtime < cutoff:
                    found.append(rec_dir)
        if fix:
            for path in found:
                shutil.rmtree(path) if path.is_dir() else path.unlink()
        return sorted(found)

    # --- writing ----------------------------------------------------------------------------
    def writer(self, replace: bool = False, stage: str | os.PathLike | bool | None = None,
               sync: str = "record") -> "Writer":
        """A writer (context manager): one transaction, committed on exit, rolled back on exception.

        ``stage`` (default: GLOBALHS_STAGE) makes it stage the records in that directory instead;
        ``stage=False`` commits to the catalog even when GLOBALHS_STAGE is set.
        ``replace=False`` refuses a record whose prime keys are already stored; ``replace=True`` lets
        the new record supersede it. ``sync="record"`` fsyncs each segment file and record directory
        as it is written; ``sync="batch"`` makes them all durable with one ``syncfs`` at the commit,
        before anything is renamed into place (the same guarantee; cheaper for many small records)."""
        if sync not in ("record", "batch"):
            raise ValueError(f"sync={sync!r}: expected 'record' or 'batch'")
        if stage is None:
            stage = os.environ.get("GLOBALHS_STAGE") or None
        elif stage is False:  # explicit: commit to the catalog even inside a job
            stage = None
        return Writer(self, replace, Path(stage) if stage else None, batch_sync=sync == "batch")

    def commit_stage(self, stage_dir: str | os.PathLike) -> int:
        """Commit the records staged in ``stage_dir`` in one transaction; returns how many.

        Committing a stage a second time does nothing and returns the same count, so a driver that
        is restarted after a commit cannot duplicate records. A directory with nothing staged gives 0."""
        return _stage.commit(self, Path(stage_dir))

    def _existing(self, con: sqlite3.Connection, series: str, pkey: tuple[int, ...]) -> int | None:
        cols = " AND ".join(f"{c} = ?" for c in PCOLS)
        padded = tuple(pkey) + (0,) * (len(PCOLS) - len(pkey))
        row = con.execute(f"SELECT recnum FROM records WHERE series = ? AND {cols}", (series,) + padded).fetchone()
        return None if row is None else row[0]

    def _commit(self, pending: list[_Pending], replace: bool | list[bool],
                stage_id: str | None = None, stage_path: str = "") -> list[int]:
        """Insert ``pending`` records and move their directories into data/ in one transaction.

        On failure every moved directory is moved back to where it came from, so nothing is lost
        and nothing is orphaned. Returns the record numbers."""
        replaces = replace if isinstance(replace, list) else [replace] * len(pending)
        moved: list[tuple[Path, Path]] = []
        obsolete: list[Path] = []
        recnums: list[int] = []
        insert = (f"INSERT INTO records (series, {', '.join(PCOLS)}, keywords, created) "
                  f"VALUES (?, {', '.join('?' * len(PCOLS))}, ?, ?)")
        delete = f"DELETE FROM records WHERE series = ? AND {' AND '.join(f'{c} = ?' for c in PCOLS)} RETURNING recnum"
        now = time.time()
        try:
            with transaction(self._con) as con:
                if stage_id is not None:
                    row = con.execute("SELECT nrecords FROM stages WHERE stage_id=?", (stage_id,)).fetchone()
                    if row is not None:
                        return []
                parents = set()
                for p, rep in zip(pending, replaces):
                    defn = self.series(p.series)
                    key = (p.series,) + tuple(p.pkey) + (0,) * (len(PCOLS) - len(p.pkey))
                    if rep:
                        for (old,) in con.execute(delete, key).fetchall():
                            obsolete.append(self.root / "data" / p.series / str(old))
                    values = json.dumps([p.keywords[n] for n in defn.keyword_names])
                    try:
                        recnum = con.execute(insert, key + (values, now)).lastrowid
                    except sqlite3.IntegrityError:
                        spec = Record(p.series, 0, p.keywords, self.root, defn).spec()
                        raise DrmsError(f"record {spec} already exists (record number "
                                        f"{self._existing(con, p.series, p.pkey)}); nothing was written") from None
                    if p.src is not None:  # a record without segment files has no directory
                        final = self.root / "data" / p.series / str(recnum)
                        if final.parent not in parents:
                            final.parent.mkdir(parents=True, exist_ok=True)
                            parents.add(final.parent)
                        if final.exists():  # left by a process killed inside an uncommitted transaction
                            shutil.rmtree(final)
                        os.rename(p.src, final)
                        moved.append((final, p.src))
                    recnums.append(recnum)
                for parent in parents:
                    fsync_dir(parent)
                if stage_id is not None:
                    con.execute("INSERT INTO stages (stage_id, path, nrecords, committed) VALUES (?, ?, ?, ?)",
                                (stage_id, stage_path, len(pending), now))
        except BaseException:
            for final, src in reversed(moved):
                try:
                    os.rename(final, src)
                except OSError:
                    shutil.rmtree(final, ignore_errors=True)
            raise
        for path in obsolete:
            shutil.rmtree(path, ignore_errors=True)
        return recnums


def _difference(a: SeriesDef, b: SeriesDef) -> str:
    da, db = a.to_dict(), b.to_dict()
    fields = [k for k in da if json.dumps(da[k], sort_keys=True) != json.dumps(db.get(k), sort_keys=True)]
    return "differs in " + ", ".join(fields)


class Writer:
    """Adds records to a store (or a stage) atomically; use as ``with store.writer() as w: w.add(...)``."""

    def __init__(self, store: Store, replace: bool, stage: Path | None, batch_sync: bool = False):
        self.store = store
        self.batch_sync = batch_sync
        self.replace = replace
        self.stage = stage
        self._pending: dict[tuple[str, tuple[int, ...]], _Pending] = {}
        self._closed = False
        self.recnums: list[int] = []
        """Record numbers of the committed records (empty when staging)."""

    def __enter__(self) -> "Writer":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()

    def add(self, series: str, keywords: dict[str, Any], segments: dict[str, np.ndarray] | None = None) -> None:
        """Queue one record: its keywords (prime keys required; others default) and segment arrays."""
        if self._closed:
            raise DrmsError("this writer has already been committed or aborted")
        defn = self.store.series(series)
        kws = defn.normalise(keywords)
        pkey = defn.prime_indices(kws)
        segments = segments or {}
        for name in segments:
            defn.segment(name)

        def spec() -> str:
            return Record(series, 0, kws, self.store.root, defn).spec()

        earlier = self._pending.get((series, pkey))
        if earlier is not None:
            if not self.replace:
                raise DrmsError(f"record {spec()} is added twice in one transaction")
            if earlier.src is not None:
                shutil.rmtree(earlier.src, ignore_errors=True)
            del self._pending[(series, pkey)]
        if not self.replace and self.store._existing(self.store._con, series, pkey) is not None:
            raise DrmsError(f"record {spec()} already exists "
                            f"(replace=True, or ingest --replace, lets a new record supersede it)")
        if not segments and self.stage is None:
            self._pending[(series, pkey)] = _Pending(series, kws, pkey, None)
            return
        parent = self.stage if self.stage is not None else self.store.root / "tmp"
        parent.mkdir(parents=True, exist_ok=True)
        src = parent / f".tmp-{uuid.uuid4().hex}"
        src.mkdir()
        try:
            if segments:
                cards = header_cards(kws, {name: defn.keyword(name) for name in kws})
                for name, array in segments.items():
                    write_segment(src / f"{name}.fits", defn.segment(name), array, cards,
                                  fsync=not self.batch_sync)
                if not self.batch_sync:
                    fsync_dir(src)
        except BaseException:
            shutil.rmtree(src, ignore_errors=True)
            raise
        self._pending[(series, pkey)] = _Pending(series, kws, pkey, src)

    def commit(self) -> list[int]:
        """Commit the queued records (or stage them); returns record numbers (empty when staging)."""
        if self._closed:
            return []
        try:
            if self.batch_sync:
                # Every segment file and temporary directory durable before any is renamed into place.
                written = [p.src for p in self._pending.values() if p.src is not None]
                if written:
                    sync_filesystem(written[0], [f for d in written for f in d.iterdir()])
            if self.stage is not None:
                _stage.add_to_manifest(self.store, self.stage, list(self._pending.values()), self.replace)
                return []
            self.recnums = self.store._commit(list(self._pending.values()), self.replace)
            return self.recnums
        except BaseException:
            self.abort()
            raise
        finally:
            self._closed = True

    def abort(self) -> None:
        """Drop the queued records and their files."""
        for p in self._pending.values():
            if p.src is not None:
                shutil.rmtree(p.src, ignore_errors=True)
        self._pending.clear()
        self._closed = True


