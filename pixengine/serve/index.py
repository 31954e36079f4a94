"""The studio's index of the outputs folder: one SQLite row per run folder, for a gallery that
lists, filters and sorts thousands of runs without reading them all.

It holds nothing the folders do not: :meth:`RunIndex.refresh` re-reads every folder whose
signature (files' sizes and times, the lock) changed, adds new ones and forgets vanished ones,
so a run made on the CLI shows up, and a deleted (or damaged, or older-schema) database is
simply rebuilt.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from . import folders
from .folders import RunRecord

#: Bump when the table changes: an older database is then rebuilt from the folders.
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE runs (
    id TEXT PRIMARY KEY,
    folder TEXT NOT NULL,
    preset TEXT NOT NULL,
    prompt TEXT NOT NULL,
    status TEXT NOT NULL,
    started TEXT,
    signature TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX runs_started ON runs (started);
"""


class RunIndex:
    """Thread-safe: the web server's threads and the worker-event thread share one connection."""

    def __init__(self, outputs: Path, database: Path):
        self.outputs = outputs
        self.database = database
        self._lock = threading.Lock()
        database.parent.mkdir(parents=True, exist_ok=True)
        self._db = self._open()

    def _open(self) -> sqlite3.Connection:
        try:
            db = self._connect()
            if db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION:
                return db
            db.close()
        except sqlite3.DatabaseError:  # not a database any more: it is only an index
            pass
        self.database.unlink(missing_ok=True)
        db = self._connect()
        db.executescript(_SCHEMA)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        db.commit()
        return db

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.database, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        return db

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- keeping it in step with the folders ------------------------------------------------

    def refresh(self) -> list[str]:
        """Re-read changed folders, add new ones, drop vanished ones; the ids that changed."""
        with self._lock:
            known = dict(self._db.execute("SELECT id, signature FROM runs").fetchall())
        seen, changed = set(), []
        for folder in folders.find_run_folders(self.outputs):
            run_id = folders.run_id(self.outputs, folder)
            seen.add(run_id)
            signature = folders.signature(folder)
            if known.get(run_id) == signature:
                continue
            self._store(folder, signature)
            changed.append(run_id)
        gone = [run_id for run_id in known if run_id not in seen]
        if gone:
            with self._lock:
                self._db.executemany("DELETE FROM runs WHERE id = ?", [(run_id,) for run_id in gone])
                self._db.commit()
        return changed + gone

    def refresh_folder(self, folder: Path) -> RunRecord | None:
        """Re-read one folder now (after the studio changed it)."""
        if not folder.is_dir():
            self.forget(folders.run_id(self.outputs, folder))
            return None
        return self._store(folder, folders.signature(folder))

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            self._db.commit()

    def _store(self, folder: Path, signature: str) -> RunRecord | None:
        record = folders.describe(self.outputs, folder)
        run_id = folders.run_id(self.outputs, folder)
        with self._lock:
            if record is None:
                self._db.execute("DELETE FROM runs WHERE id = ?", (run_id,))
            else:
                self._db.execute(
                    "INSERT OR REPLACE INTO runs (id, folder, preset, prompt, status, started, signature, record) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (record.id, str(folder.relative_to(self.outputs)), record.preset, record.prompt, record.status,
                     record.started, signature, json.dumps(record.as_dict())),
                )
            self._db.commit()
        return record

    # -- reading ------------------------------------------------------------------------------

    def folder_of(self, run_id: str) -> Path | None:
        """The folder of a run the index knows; the only way an id becomes a path."""
        with self._lock:
            row = self._db.execute("SELECT folder FROM runs WHERE id = ?", (run_id,)).fetchone()
        return self.outputs / row[0] if row else None

    def list(self, *, preset: str | None = None, text: str | None = None, status: str | None = None,
             limit: int = 100, offset: int = 0) -> tuple[list[RunRecord], int]:
        """Runs newest first, filtered by preset, status and text (in the prompt, preset or id)."""
        where, args = [], []
        if preset:
            where.append("preset = ?")
            args.append(preset)
        if status:
            where.append("status = ?")
            args.append(status)
        if text:
            pattern = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(prompt LIKE ? ESCAPE '\\' OR preset LIKE ? ESCAPE '\\' OR id LIKE ? ESCAPE '\\')")
            args += [pattern] * 3
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            total = self._db.execute(f"SELECT COUNT(*) FROM runs {clause}", args).fetchone()[0]
            rows = self._db.execute(
                f"SELECT record FROM runs {clause} ORDER BY started DESC, id DESC LIMIT ? OFFSET ?", [*args, limit, offset]
            ).fetchall()
        return [RunRecord(**json.loads(row[0])) for row in rows], total

    def presets(self) -> list[str]:
        with self._lock:
            return [row[0] for row in self._db.execute("SELECT DISTINCT preset FROM runs ORDER BY preset") if row[0]]

    def newest_finished(self, preset: str) -> RunRecord | None:
        """The newest finished run of a preset (a thumbnail for presets without one)."""
        with self._lock:
            row = self._db.execute(
                "SELECT record FROM runs WHERE preset = ? AND status = 'finished' ORDER BY started DESC LIMIT 1", (preset,)
            ).fetchone()
        return RunRecord(**json.loads(row[0])) if row else None
