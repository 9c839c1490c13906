"""The local catalog: one SQLite file in WAL mode, safe for several processes at once.

Every write runs in a `BEGIN IMMEDIATE` transaction (one writer at a time, readers never blocked),
so version numbers are assigned atomically. Tables:

    versions(name, version, fingerprint, relpath, created_at, registered_at, origin, verified_at)
        PRIMARY KEY (name, version), UNIQUE (name, fingerprint)
    remotes(repo_id, revision, commit_sha, name, version, kind, recorded_at)
        which Hub (repo, revision) holds which local version: written by push and pull
    verified(folder, signature, verified_at)
        dataset folders (versions and path ids) whose shards hashed clean, with the stat signature
        (size, mtime, ctime, inode of each file) they had then: see registry/integrity.py

Inspect by hand with `sqlite3 <root>/catalog.sqlite 'select * from versions'`.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from registry.store import store_root

_SCHEMA = """
CREATE TABLE IF NOT EXISTS versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    fingerprint TEXT NOT NULL,
    relpath TEXT NOT NULL,
    created_at TEXT,
    registered_at TEXT NOT NULL,
    origin TEXT NOT NULL DEFAULT 'local',
    verified_at TEXT,
    PRIMARY KEY (name, version),
    UNIQUE (name, fingerprint)
);
CREATE TABLE IF NOT EXISTS remotes (
    repo_id TEXT NOT NULL,
    revision TEXT NOT NULL,
    commit_sha TEXT,
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    kind TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    PRIMARY KEY (repo_id, revision)
);
CREATE TABLE IF NOT EXISTS verified (
    folder TEXT PRIMARY KEY,
    signature TEXT NOT NULL,
    verified_at TEXT NOT NULL
);
"""
_COLUMNS = "name, version, fingerprint, relpath, created_at, registered_at, origin, verified_at"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class DatasetVersion:
    """One immutable, registered dataset version (`name@vN`)."""

    name: str
    version: int
    fingerprint: str
    path: Path  # the version's folder in the store
    created_at: str | None
    registered_at: str
    origin: str  # "local" or "hub:<repo_id>@<revision>"
    verified_at: str | None

    @property
    def ref(self) -> str:
        return f"{self.name}@v{self.version}"


@dataclass(frozen=True)
class Remote:
    repo_id: str
    revision: str
    commit_sha: str | None
    name: str
    version: int
    kind: str  # "push" | "pull"
    recorded_at: str


class Catalog:
    """The catalog under a store root. Opens a fresh connection per call: cheap, and fork/thread safe."""

    def __init__(self, root: Path | str | None = None):
        self.root = store_root(root)
        self.db = self.root / "catalog.sqlite"
        self.root.mkdir(parents=True, exist_ok=True)
        self._init_schema()

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: we issue BEGIN/COMMIT ourselves;
        # timeout: how long to wait for the write lock.
        conn = sqlite3.connect(self.db, timeout=60, isolation_level=None)
        conn.execute("PRAGMA busy_timeout = 60000")
        return conn

    def _init_schema(self) -> None:
        # Switching to WAL needs a moment of exclusive access; a racing process may hold it briefly.
        for attempt in range(50):
            try:
                with closing(self._connect()) as conn:
                    conn.execute("PRAGMA journal_mode = WAL")
                    conn.executescript(_SCHEMA)
                return
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or attempt == 49:
                    raise
                time.sleep(0.05 * (attempt + 1))

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding the database's write lock from its first statement."""
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        with closing(self._connect()) as conn:
            yield conn

    # --- versions -------------------------------------------------------------------------------

    def _row(self, row: tuple | None) -> DatasetVersion | None:
        if row is None:
            return None
        name, version, fingerprint, relpath, created, registered, origin, verified = row
        return DatasetVersion(
            name, version, fingerprint, self.root / relpath, created, registered, origin, verified
        )

    def get(self, name: str, version: int, conn: sqlite3.Connection | None = None) -> DatasetVersion | None:
        sql = f"SELECT {_COLUMNS} FROM versions WHERE name = ? AND version = ?"
        return self._one(sql, (name, version), conn)

    def find(
        self, name: str, fingerprint: str, conn: sqlite3.Connection | None = None
    ) -> DatasetVersion | None:
        sql = f"SELECT {_COLUMNS} FROM versions WHERE name = ? AND fingerprint = ?"
        return self._one(sql, (name, fingerprint), conn)

    def latest(self, name: str) -> DatasetVersion | None:
        sql = f"SELECT {_COLUMNS} FROM versions WHERE name = ? ORDER BY version DESC LIMIT 1"
        return self._one(sql, (name,), None)

    def _one(self, sql: str, args: tuple, conn: sqlite3.Connection | None) -> DatasetVersion | None:
        if conn is not None:
            return self._row(conn.execute(sql, args).fetchone())
        with self.read() as c:
            return self._row(c.execute(sql, args).fetchone())

    def versions(self, name: str | None = None) -> list[DatasetVersion]:
        where, args = ("WHERE name = ?", (name,)) if name else ("", ())
        with self.read() as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM versions {where} ORDER BY name, version", args)
            return [v for v in map(self._row, rows.fetchall()) if v is not None]

    def names(self) -> list[str]:
        with self.read() as conn:
            return [r[0] for r in conn.execute("SELECT DISTINCT name FROM versions ORDER BY name")]

    def next_version(self, conn: sqlite3.Connection, name: str, preferred: int | None = None) -> int:
        """Inside a write transaction: `preferred` when free, else one past the highest."""
        if preferred is not None and self.get(name, preferred, conn) is None:
            return preferred
        (top,) = conn.execute(
            "SELECT COALESCE(MAX(version), 0) FROM versions WHERE name = ?", (name,)
        ).fetchone()
        return int(top) + 1

    def insert(
        self,
        conn: sqlite3.Connection,
        name: str,
        version: int,
        fingerprint: str,
        path: Path,
        created_at: str | None,
        origin: str,
    ) -> DatasetVersion:
        relpath = path.relative_to(self.root).as_posix()
        registered = now()
        conn.execute(
            f"INSERT INTO versions ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, NULL)",
            (name, version, fingerprint, relpath, created_at, registered, origin),
        )
        return DatasetVersion(name, version, fingerprint, path, created_at, registered, origin, None)

    def mark_verified(self, name: str, version: int, verified: bool = True) -> str | None:
        """Stamp the version as hashed clean now, or (`verified=False`) clear the stamp."""
        stamp = now() if verified else None
        with self.write() as conn:
            conn.execute(
                "UPDATE versions SET verified_at = ? WHERE name = ? AND version = ?", (stamp, name, version)
            )
        return stamp

    # --- verified folders (the hash cache of registry/integrity.py) -----------------------------

    def verified_signature(self, folder: Path) -> str | None:
        with self.read() as conn:
            row = conn.execute("SELECT signature FROM verified WHERE folder = ?", (str(folder),)).fetchone()
        return row[0] if row else None

    def record_verified(self, folder: Path, signature: str | None) -> None:
        """Remember that `folder` hashed clean with this stat signature; `None` forgets it."""
        with self.write() as conn:
            if signature is None:
                conn.execute("DELETE FROM verified WHERE folder = ?", (str(folder),))
            else:
                conn.execute(
                    "INSERT OR REPLACE INTO verified VALUES (?, ?, ?)", (str(folder), signature, now())
                )

    # --- remotes --------------------------------------------------------------------------------

    def record_remote(
        self, repo_id: str, revision: str, commit_sha: str | None, name: str, version: int, kind: str
    ) -> None:
        with self.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO remotes VALUES (?, ?, ?, ?, ?, ?, ?)",
                (repo_id, revision, commit_sha, name, version, kind, now()),
            )

    def remote(self, repo_id: str, revision: str) -> Remote | None:
        with self.read() as conn:
            row = conn.execute(
                "SELECT * FROM remotes WHERE repo_id = ? AND (revision = ? OR commit_sha = ?) LIMIT 1",
                (repo_id, revision, revision),
            ).fetchone()
        return Remote(*row) if row else None

    def remotes_of(self, name: str, version: int) -> list[Remote]:
        with self.read() as conn:
            rows = conn.execute(
                "SELECT * FROM remotes WHERE name = ? AND version = ? ORDER BY recorded_at", (name, version)
            ).fetchall()
        return [Remote(*r) for r in rows]
