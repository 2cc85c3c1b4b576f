"""The durable job ledger: one SQLite row per job of the run, so a rerun skips verified chunks.

A row records the step, the chunk (job index), the hash of the job's parameter file (a changed
template or parameter means the chunk is redone), the attempt number, the executor and job id, the
state, the exit status, the reason of the last failure and the times (submitted, first seen running,
finished). States:

``submitted``  handed to the executor (job id known); a rerun adopts it if it still runs
``done``       verified and its staged records committed: a rerun skips it
``failed``     failed verification (the reason says why); resubmitted or reported
``cancelled``  cancelled by Ctrl-C or ``globalhs cancel``

Every change is its own transaction (WAL mode), so a driver killed at any point leaves a ledger that
describes the jobs as they were.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

LEDGER_NAME = "ledger.sqlite"
STATES = ("submitted", "done", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    step TEXT NOT NULL,
    chunk TEXT NOT NULL,
    parms_hash TEXT NOT NULL,
    attempt INTEGER NOT NULL DEFAULT 0,
    executor TEXT,
    job_id TEXT,
    name TEXT,
    state TEXT NOT NULL,
    exit_status INTEGER,
    reason TEXT NOT NULL DEFAULT '',
    submitted REAL,
    finished REAL,
    started REAL,
    PRIMARY KEY (step, chunk)
);
CREATE TABLE IF NOT EXISTS steps (
    step TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    njobs INTEGER NOT NULL,
    updated REAL NOT NULL
);
"""


@dataclass(frozen=True)
class Row:
    step: str
    chunk: str
    parms_hash: str
    attempt: int
    executor: str | None
    job_id: str | None
    name: str | None
    state: str
    exit_status: int | None
    reason: str
    submitted: float | None
    finished: float | None
    started: float | None = None      # first poll that saw it running (None: never seen running)


class Ledger:
    """The ledger of one work directory."""

    def __init__(self, workdir: Path):
        self.path = Path(workdir) / LEDGER_NAME
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)
        columns = {r[1] for r in self._db.execute("PRAGMA table_info(jobs)")}
        if "started" not in columns:          # a ledger written before jobs had a start time
            self._db.execute("ALTER TABLE jobs ADD COLUMN started REAL")

    @classmethod
    def open_existing(cls, workdir: Path) -> "Ledger | None":
        return cls(workdir) if (Path(workdir) / LEDGER_NAME).exists() else None

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def _transaction(self):
        """One real transaction (the connection is in autocommit mode, where ``with connection:``
        would commit every statement on its own: one fsync per row, 5 ms each)."""
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def get(self, step: str, chunk: str) -> Row | None:
        cur = self._db.execute("SELECT * FROM jobs WHERE step=? AND chunk=?", (step, chunk))
        row = cur.fetchone()
        return Row(*row) if row else None

    def rows(self, step: str | None = None) -> list[Row]:
        if step is None:
            cur = self._db.execute("SELECT * FROM jobs ORDER BY step, chunk")
        else:
            cur = self._db.execute("SELECT * FROM jobs WHERE step=? ORDER BY chunk", (step,))
        return [Row(*r) for r in cur.fetchall()]

    def submitted(self, step: str, chunk: str, parms_hash: str, executor: str, job_id: str,
                  name: str) -> None:
        """Record a submission (the attempt counter goes up; a new hash restarts it)."""
        with self._transaction():
            old = self.get(step, chunk)
            attempt = old.attempt + 1 if old and old.parms_hash == parms_hash else 1
            self._db.execute(
                "INSERT OR REPLACE INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (step, chunk, parms_hash, attempt, executor, job_id, name, "submitted", None, "",
                 time.time(), None, None))

    def submitted_many(self, rows: Iterable[tuple[str, str, str, str, str, str]]) -> None:
        """Record many submissions (step, chunk, parms_hash, executor, job_id, name) in one transaction:
        what one submit call put on the queue is recorded together (one fsync, not one per job)."""
        now = time.time()
        with self._transaction():
            values = []
            for step, chunk, parms_hash, executor, job_id, name in rows:
                old = self.get(step, chunk)
                attempt = old.attempt + 1 if old and old.parms_hash == parms_hash else 1
                values.append((step, chunk, parms_hash, attempt, executor, job_id, name, "submitted", None, "",
                               now, None, None))
            self._db.executemany("INSERT OR REPLACE INTO jobs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", values)

    def started(self, step_chunks: Iterable[tuple[str, str]], when: float) -> None:
        """Record that these jobs were seen running (kept if already set)."""
        with self._transaction():
            self._db.executemany(
                "UPDATE jobs SET started=? WHERE step=? AND chunk=? AND started IS NULL",
                [(when, step, chunk) for step, chunk in step_chunks])

    def finished(self, step: str, chunk: str, state: str, exit_status: int | None = None,
                 reason: str = "") -> None:
        if state not in STATES:
            raise ValueError(f"unknown ledger state {state!r}")
        with self._transaction():
            self._db.execute(
                "UPDATE jobs SET state=?, exit_status=?, reason=?, finished=? WHERE step=? AND chunk=?",
                (state, exit_status, reason, time.time(), step, chunk))

    def cancel_all(self, step_chunks: Iterable[tuple[str, str]]) -> None:
        with self._transaction():
            for step, chunk in step_chunks:
                self._db.execute(
                    "UPDATE jobs SET state='cancelled', reason='cancelled', finished=? "
                    "WHERE step=? AND chunk=? AND state='submitted'", (time.time(), step, chunk))

    def set_step(self, step: str, state: str, njobs: int) -> None:
        with self._transaction():
            self._db.execute("INSERT OR REPLACE INTO steps VALUES (?,?,?,?)", (step, state, njobs, time.time()))

    def step_states(self) -> dict[str, tuple[str, int, float]]:
        cur = self._db.execute("SELECT step, state, njobs, updated FROM steps")
        return {s: (st, n, u) for s, st, n, u in cur.fetchall()}

    def __enter__(self) -> "Ledger":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
