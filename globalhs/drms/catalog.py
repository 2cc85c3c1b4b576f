"""The SQLite catalog: series definitions, one row per record, committed stages.

WAL mode lets readers go on while one writer commits; writers take the lock up front
(``BEGIN IMMEDIATE``) and wait up to ``BUSY_TIMEOUT`` seconds for each other, so several processes can
ingest into one store at once. Each record row holds its prime keys as catalog integers
(slot indices for time keys) in columns p0..p5, its keywords as a JSON list (in the order of
``SeriesDef.keyword_names``); its directory is ``data/<series>/<recnum>``.
"""

from __future__ import annotations

import sqlite3
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from globalhs.drms.errors import DrmsError
from globalhs.drms.series import MAX_PRIME_KEYS

__all__ = ["connect", "transaction", "BUSY_TIMEOUT", "PCOLS"]

BUSY_TIMEOUT = 600.0
FORMAT = 2
"""Catalog layout version (PRAGMA user_version); a store of another version is refused, not misread."""
PCOLS = tuple(f"p{i}" for i in range(MAX_PRIME_KEYS))

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS series (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS records (
    recnum INTEGER PRIMARY KEY AUTOINCREMENT,
    series TEXT NOT NULL REFERENCES series(name),
    {", ".join(f"{c} INTEGER NOT NULL DEFAULT 0" for c in PCOLS)},
    keywords TEXT NOT NULL,
    created REAL NOT NULL,
    UNIQUE (series, {", ".join(PCOLS)})
);
CREATE TABLE IF NOT EXISTS stages (
    stage_id TEXT PRIMARY KEY,
    path TEXT NOT NULL,
    nrecords INTEGER NOT NULL,
    committed REAL NOT NULL
);
"""


def connect(path: Path) -> sqlite3.Connection:
    """Open (creating if needed) the catalog at ``path`` in WAL mode with a long busy timeout."""
    con = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None)
    con.execute(f"PRAGMA busy_timeout={int(BUSY_TIMEOUT * 1000)}")
    for attempt in range(50):  # switching a new file to WAL needs a moment alone with it
        try:
            mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            break
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or attempt == 49:
                raise
            time.sleep(0.1)
    if mode.lower() != "wal":  # e.g. a filesystem without shared memory: still transactional
        con.execute("PRAGMA journal_mode=DELETE")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA foreign_keys=ON")
    have = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not {"series", "records", "stages"} <= have:  # readers of an existing store take no write lock
        with transaction(con):
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    con.execute(statement)
            if not have:
                con.execute(f"PRAGMA user_version={FORMAT}")
    version = con.execute("PRAGMA user_version").fetchone()[0]
    if version != FORMAT:
        con.close()
        raise DrmsError(f"catalog {path} has format {version}, this globalhs reads format {FORMAT} "
                        f"(written by another version): use a new store directory or re-ingest into one")
    return con


@contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """A write transaction that holds the write lock from the start; rolled back on any exception."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
