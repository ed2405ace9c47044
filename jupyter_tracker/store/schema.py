"""The store's schema: DDL, the version stamp and migrations.

The version lives in SQLite's ``PRAGMA user_version``. A fresh file gets every migration in
order; an older file gets the missing ones inside one transaction; a newer or foreign file
is refused before anything is written to it. The schema is documented in docs/schema.md.
"""

from __future__ import annotations

import sqlite3
from typing import Callable

from .search import catch_up

# Each entry migrates from version i to i + 1 (index 0 creates version 1).
MIGRATIONS: list[str] = [
    # 1: runs and everything recorded with them.
    """
    CREATE TABLE runs (
        run_id TEXT PRIMARY KEY,
        experiment TEXT NOT NULL,
        name TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('running', 'finished', 'failed', 'interrupted')),
        source TEXT NOT NULL,
        start_time REAL NOT NULL,
        end_time REAL,
        duration REAL,
        code_hash TEXT REFERENCES blobs(hash),
        history_hash TEXT REFERENCES blobs(hash),
        environment_hash TEXT REFERENCES blobs(hash),
        error TEXT,
        warnings TEXT NOT NULL DEFAULT '[]',
        host TEXT,
        pid INTEGER,
        pid_started TEXT
    );
    CREATE INDEX runs_by_experiment ON runs (experiment, start_time);
    CREATE INDEX runs_by_name ON runs (name, start_time);
    CREATE INDEX runs_running ON runs (status) WHERE status = 'running';
    CREATE TABLE params (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE tags (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    CREATE TABLE seeds (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        seq INTEGER NOT NULL,
        source TEXT NOT NULL,
        value TEXT NOT NULL,
        PRIMARY KEY (run_id, seq)
    ) WITHOUT ROWID;
    CREATE TABLE metrics (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        seq INTEGER NOT NULL,
        step INTEGER,
        value REAL,
        timestamp REAL NOT NULL,
        PRIMARY KEY (run_id, key, seq)
    ) WITHOUT ROWID;
    CREATE TABLE fingerprints (
        hash TEXT PRIMARY KEY,
        kind TEXT NOT NULL,
        shape TEXT NOT NULL,
        nbytes INTEGER NOT NULL,
        columns TEXT NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE data (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        role TEXT NOT NULL CHECK (role IN ('input', 'output')),
        name TEXT NOT NULL,
        source TEXT NOT NULL,
        fingerprint_hash TEXT REFERENCES fingerprints(hash),
        note TEXT,
        PRIMARY KEY (run_id, role, name)
    ) WITHOUT ROWID;
    CREATE TABLE blobs (
        hash TEXT PRIMARY KEY,
        content TEXT NOT NULL
    ) WITHOUT ROWID;
    """,
    # 2: final metric values in their own table, so listing runs never scans step series.
    """
    CREATE TABLE latest_metrics (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        key TEXT NOT NULL,
        value REAL,
        step INTEGER,
        points INTEGER NOT NULL,
        PRIMARY KEY (run_id, key)
    ) WITHOUT ROWID;
    INSERT INTO latest_metrics (run_id, key, value, step, points)
        SELECT m.run_id, m.key, m.value, m.step, counts.points
        FROM metrics AS m
        JOIN (SELECT run_id, key, max(seq) AS last_seq, count(*) AS points
              FROM metrics GROUP BY run_id, key) AS counts
          ON counts.run_id = m.run_id AND counts.key = m.key AND counts.last_seq = m.seq;
    CREATE INDEX latest_metrics_by_key ON latest_metrics (key, value);
    """,
    # 3: reruns, the session (kernel or process) a run belongs to, and its hidden-state verdict.
    """
    ALTER TABLE runs ADD COLUMN rerun_of TEXT REFERENCES runs(run_id);
    ALTER TABLE runs ADD COLUMN session_id TEXT;
    ALTER TABLE runs ADD COLUMN session_seq INTEGER;
    ALTER TABLE runs ADD COLUMN hidden_state TEXT;
    CREATE INDEX runs_by_rerun ON runs (rerun_of) WHERE rerun_of IS NOT NULL;
    CREATE INDEX runs_by_session ON runs (session_id, session_seq);
    """,
    # 4: artifacts (models, figures, files) of runs, and the model registry's history (issue 6).
    # registry.seq is SQLite's rowid, given inside the BEGIN IMMEDIATE write that also reads the stage's
    # history: concurrent promotions are numbered in the order they really happened.
    """
    CREATE TABLE artifacts (
        run_id TEXT NOT NULL REFERENCES runs(run_id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('model', 'figure', 'file')),
        name TEXT NOT NULL,
        hash TEXT NOT NULL,
        size INTEGER NOT NULL,
        format TEXT NOT NULL,
        origin TEXT NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (run_id, kind, name)
    ) WITHOUT ROWID;
    CREATE INDEX artifacts_by_hash ON artifacts (hash);
    CREATE TABLE registry (
        seq INTEGER PRIMARY KEY,
        time REAL NOT NULL,
        name TEXT NOT NULL,
        stage TEXT NOT NULL,
        action TEXT NOT NULL CHECK (action IN ('promote', 'rollback')),
        run_id TEXT NOT NULL REFERENCES runs(run_id),
        model_hash TEXT NOT NULL,
        previous_run_id TEXT REFERENCES runs(run_id),
        user TEXT NOT NULL,
        host TEXT NOT NULL,
        forced INTEGER NOT NULL DEFAULT 0,
        validation TEXT
    );
    CREATE INDEX registry_by_stage ON registry (name, stage, seq);
    """,
    # 5: which earlier cell read an input file, and which global generator a seed set ("python", "numpy",
    # "torch"; NULL for a local one such as default_rng(3)) and where it was set when that was before the
    # run (the cell, "In [3]"), issue 10. Also (no DDL): a long history may be stored as the blob
    # {"continues": <previous history blob>, "added": [...]} (issue 12), which older versions cannot read:
    # the version stamp makes them refuse the file instead.
    """
    ALTER TABLE seeds ADD COLUMN generator TEXT;
    ALTER TABLE seeds ADD COLUMN location TEXT;
    ALTER TABLE data ADD COLUMN location TEXT;
    """,
    # 6: the runs table of 100,000 runs and search by code (issue 14). Params and tags by key and value, for
    # filters and groups over the whole store; runs by start time, the table's first page of every run; run_search, an FTS5 table with one document per run under its
    # rowid (its cell code and the history new since its session's previous run), which searches bring up to
    # date (search.py). The documents of the runs already stored are built right after this SQL, in the same
    # transaction (AFTER_MIGRATION).
    """
    CREATE INDEX params_by_key ON params (key, value);
    CREATE INDEX tags_by_key ON tags (key, value);
    CREATE INDEX runs_by_start ON runs (start_time DESC, run_id);
    CREATE VIRTUAL TABLE run_search USING fts5(run_id UNINDEXED, code, history, columnsize=0);
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)
OUR_TABLES = {"runs", "params", "tags", "seeds", "metrics", "fingerprints", "data", "blobs", "latest_metrics",
              "artifacts", "registry", "run_search", "run_search_data", "run_search_idx", "run_search_content",
              "run_search_config"}


def user_tables(conn: sqlite3.Connection) -> set[str]:
    rows = conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return {name for (name,) in rows}


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations up to ``target`` in one transaction; return the new version.

    The caller has already checked that the file is ours and not newer than ``SCHEMA_VERSION``.
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Re-read inside the write lock: another process may have migrated meanwhile.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for index in range(version, target):
            for statement in _statements(MIGRATIONS[index]):
                conn.execute(statement)
            after = AFTER_MIGRATION.get(index + 1)
            if after is not None:
                after(conn)
        if version < target:
            conn.execute(f"PRAGMA user_version = {int(target)}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return max(version, target)


def build_index(conn: sqlite3.Connection) -> None:
    """Index every run of the store for search by code: the v5 -> v6 migration."""
    catch_up(conn)


# Work in Python after a migration's SQL, in its transaction: version -> function of the connection.
AFTER_MIGRATION: dict[int, Callable[[sqlite3.Connection], None]] = {6: build_index}


def _statements(script: str) -> list[str]:
    # executescript() would COMMIT our transaction; split on complete statements instead.
    statements, current = [], ""
    for line in script.splitlines(keepends=True):
        current += line
        if sqlite3.complete_statement(current):
            statements.append(current.strip())
            current = ""
    return [s for s in statements if s]
