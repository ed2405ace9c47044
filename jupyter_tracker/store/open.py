"""Opening a store file: refusing what is not ours, connecting, migrating, and the write transaction.

A foreign file (not SQLite, an empty file, or SQLite with tables of another application) and a file
of a newer schema are refused before anything is written to them, not even WAL mode; an older file
gets the missing migrations of schema.py. A new store is built whole in a temporary file and linked
into place, so processes racing to create it never see a half-made file (SQLite answers "database is
locked" at once, without waiting, to a connection switching a shared file to WAL).

Every write is one ``BEGIN IMMEDIATE`` transaction with a busy
timeout, so many processes (parallel kernels, reruns, batch workers) write at once without
"database is locked".
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ..errors import StoreError
from .schema import OUR_TABLES, SCHEMA_VERSION, migrate, user_tables

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_SECONDS = 60.0


def connect(path: Path, create: bool) -> sqlite3.Connection:
    """A connection to the store at ``path``, migrated to this version's schema; StoreError if refused."""
    refuse_foreign_file(path)
    if not path.exists():
        if not create:
            raise StoreError(f"no store at {path}: run a tracked cell first, or set JUPYTER_TRACKER_DB")
        path.parent.mkdir(parents=True, exist_ok=True)
        create_store_file(path)
    try:
        conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False)
    except sqlite3.DatabaseError as error:
        raise StoreError(f"cannot open store {path}: {error}") from None
    try:
        prepare(conn, path)
    except BaseException as error:
        # A refused file keeps no connection: an open one would leave -wal/-shm files beside it.
        conn.close()
        if isinstance(error, sqlite3.DatabaseError):
            raise StoreError(f"cannot open store {path}: {error}") from None
        raise
    return conn


def refuse_foreign_file(path: Path) -> None:
    try:
        with open(path, "rb") as handle:
            header = handle.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as error:
        raise StoreError(f"cannot read store {path}: {error.strerror}") from None
    if not header:
        raise StoreError(f"{path} is an empty file, not a store; it was left untouched "
                         "(delete it to start a new store)")
    if header != SQLITE_HEADER:
        raise StoreError(f"{path} is not an SQLite file (corrupt store?); it was left untouched")


def create_store_file(path: Path) -> None:
    """Make an empty store at ``path`` unless another process made one first; either way, one store is there."""
    building = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.new")
    try:
        conn = sqlite3.connect(building, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = WAL")  # stored in the file's header: the store is born in WAL
            migrate(conn)
        finally:
            conn.close()  # checkpoints: the file is complete without its -wal
        try:
            os.link(building, path)  # fails if the path exists: the first store made wins, none is replaced
        except FileExistsError:
            pass
        except OSError:
            # A file system without hard links: rename, which the check above makes safe but for a tiny window.
            if not path.exists():
                os.replace(building, path)
    except sqlite3.DatabaseError as error:
        raise StoreError(f"cannot create store {path}: {error}") from None
    except OSError as error:
        raise StoreError(f"cannot create store {path}: {error.strerror}") from None
    finally:
        for suffix in ("", "-wal", "-shm"):
            building.with_name(building.name + suffix).unlink(missing_ok=True)


def prepare(conn: sqlite3.Connection, path: Path) -> None:
    # Read-only checks first: nothing may touch a newer or foreign file, not even WAL mode.
    version = schema_version(conn)
    if version > SCHEMA_VERSION:
        raise StoreError(
            f"{path} has schema version {version}, newer than this jupyter_tracker supports "
            f"({SCHEMA_VERSION}); upgrade jupyter_tracker. The file was left untouched"
        )
    tables = user_tables(conn)
    if version == 0 and tables and not tables <= OUR_TABLES:
        raise StoreError(f"{path} is an SQLite file but not a jupyter_tracker store; it was left untouched")
    conn.execute("PRAGMA foreign_keys = ON")
    if version < SCHEMA_VERSION:
        use_wal(conn)
        migrate(conn)
    # WAL makes a commit an append; NORMAL sync is durable across application crashes.
    conn.execute("PRAGMA synchronous = NORMAL")
    # The runs table's temporary tables (a search's runs, the groups' runs) in memory, not in a file.
    conn.execute("PRAGMA temp_store = MEMORY")


def use_wal(conn: sqlite3.Connection) -> None:
    """Switch a store of an older version to WAL, waiting for other connections as a write would."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    while conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
        try:
            conn.execute("PRAGMA journal_mode = WAL")
        except sqlite3.OperationalError as error:
            # The switch needs the file to itself, and SQLite does not wait for it: retry until the timeout.
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def is_damage(error: sqlite3.DatabaseError) -> bool:
    """Whether SQLite reports a damaged file (SQLITE_CORRUPT, SQLITE_NOTADB), not a lock or a full disk."""
    code = getattr(error, "sqlite_errorcode", None)
    if code is not None:
        return code & 0xFF in (11, 26)
    text = str(error)
    return "malformed" in text or "not a database" in text


def schema_version(conn: sqlite3.Connection) -> int:
    return conn.execute("PRAGMA user_version").fetchone()[0]


@contextmanager
def transaction(conn: sqlite3.Connection, lock: threading.RLock) -> Iterator[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` write: committed whole, or rolled back on any exception."""
    with lock:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")


@contextmanager
def busy_timeout(conn: sqlite3.Connection, seconds: float | None) -> Iterator[None]:
    """Wait at most ``seconds`` for the write lock within the block (None: the store's busy timeout)."""
    if seconds is None:
        yield
        return
    conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
