"""Writing runs: their start, live metric batches, their end or import, artifact rows, registry events.

Each public function here runs inside the one transaction ``Store`` opens for it (lesson 2), taking
its connection. What a write needs to add but this process has already stored (blobs of code and
history, data fingerprints) is known to a ``WriteCache``, which learns it only after a commit.
"""

from __future__ import annotations

import dataclasses
import json
import os
import socket
import sqlite3
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from ..errors import RunNotFound
from ..records import Artifact, DataRef, Fingerprint, MetricPoint, RegistryEvent, Run, Seed
from .codec import HISTORY_CHAIN_MAX, HISTORY_DELTA_FROM, POINTS, content_hash, source_hash, to_json
from .live import own_start
from .query import registry_events
from . import search


@dataclass(frozen=True)
class HistoryRecord:
    """A kernel's history as this store last wrote it: its sources, the JSON list of all their hashes,
    the hash of the blob stored for it (that list, or a continuation of an earlier one), how many
    continuations lead to a whole list, and the blobs a write still has to insert."""

    sources: list[str]
    json: str
    json_hash: str
    depth: int
    new_blobs: list[tuple[str, str]]


@dataclass(frozen=True)
class Pending:
    """What one write adds besides its rows: blobs and fingerprints not stored yet, and the run's hashes."""

    blobs: list[tuple[str, str]]
    fingerprints: list[Fingerprint]
    history: HistoryRecord | None
    code_hash: str | None
    environment_hash: str | None

    @property
    def history_hash(self) -> str | None:
        return None if self.history is None else self.history.json_hash


@dataclass
class WriteCache:
    """Blobs, fingerprints and the last history this process wrote to one store, so none is written twice."""

    known_blobs: set[str] = field(default_factory=set)
    known_fingerprints: set[str] = field(default_factory=set)
    last_history: HistoryRecord = field(
        default_factory=lambda: HistoryRecord([], "[]", content_hash("[]"), 0, []))  # of this store's last run

    def pending(self, refs: list[DataRef], code: str | None = None, history: list[str] | None = None,
                environment_json: str | None = None) -> Pending:
        """The blobs and fingerprints a write of ``code`` (with its ``history``), an environment and data
        references adds; no history without code."""
        history_record = self.history_record(history or []) if code is not None else None
        blobs: dict[str, str] = {}
        code_hash = environment_hash = None
        if code is not None:
            code_hash = content_hash(code)
            blobs[code_hash] = code
        if environment_json is not None:
            environment_hash = content_hash(environment_json)
            blobs[environment_hash] = environment_json
        if history_record is not None:
            blobs.update(history_record.new_blobs)
        fingerprints = {r.fingerprint.hash: r.fingerprint for r in refs if r.fingerprint is not None}
        return Pending(
            blobs=[(h, text) for h, text in blobs.items() if h not in self.known_blobs],
            fingerprints=[fp for h, fp in fingerprints.items() if h not in self.known_fingerprints],
            history=history_record, code_hash=code_hash, environment_hash=environment_hash,
        )

    def remember(self, pending: Pending) -> None:
        # Only after the commit: a write that rolled back leaves its blobs to be written by the next one.
        self.known_blobs.update(h for h, _ in pending.blobs)
        self.known_fingerprints.update(fp.hash for fp in pending.fingerprints)
        if pending.history is not None:
            self.last_history = pending.history

    def history_record(self, history: list[str]) -> HistoryRecord:
        """The blob of a history and the blobs not yet stored: the JSON list of its sources' hashes, or, for a
        long history that continues this store's last one, ``{"continues": <that one's blob>, "added": [...]}``.

        A kernel's history only grows: only the entries added since this store's last run are hashed,
        encoded, looked up and written (issue 12: a tracked cell's cost no longer grows with the kernel's
        history; it was 11 ms after 5,000 cells).
        """
        last = self.last_history
        known = len(last.sources)
        if known and len(history) >= known and history[:known] == last.sources:
            added = history[known:]
            if not added:
                return dataclasses.replace(last, new_blobs=[])
            hashes = [source_hash(source) for source in added]
            encoded = json.dumps(hashes)
            full = f"{last.json[:-1]}, {encoded[1:]}"
            sources = [*last.sources, *added]
            if known >= HISTORY_DELTA_FROM and last.depth < HISTORY_CHAIN_MAX:
                text, depth = json.dumps({"continues": last.json_hash, "added": hashes}), last.depth + 1
            else:
                text, depth = full, 0
        else:
            added = sources = list(history)
            hashes = [source_hash(source) for source in added]
            text = full = json.dumps(hashes)
            depth = 0
        json_hash = content_hash(text)
        new_blobs = [(h, source) for h, source in zip(hashes, added) if h not in self.known_blobs]
        if json_hash not in self.known_blobs:
            new_blobs.append((json_hash, text))
        return HistoryRecord(sources, full, json_hash, depth, new_blobs)


def many(conn: sqlite3.Connection, sql: str, rows: list[Any]) -> None:
    # A tracked cell has no seeds, data or artifacts more often than not: skip their statements (issue 7).
    if rows:
        conn.executemany(sql, rows)


def begin_run(
    conn: sqlite3.Connection, pending: Pending, run_id: str, experiment: str, name: str, source: str, start: float,
    tags: dict[str, str] | None, session_id: str | None, session_seq: int | None, params: dict[str, Any],
    seeds: list[Seed], refs: list[DataRef],
) -> None:
    """Insert a run as ``running``, owned by this process, with what is known at its start."""
    _insert_pending(conn, pending)
    conn.execute(
        "INSERT INTO runs (run_id, experiment, name, status, source, start_time, host, pid, pid_started,"
        " session_id, session_seq, code_hash, history_hash) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?,"
        " ?, ?)",
        (run_id, experiment, name, source, start, socket.gethostname(), os.getpid(),
         own_start(os.getpid()), session_id, session_seq, pending.code_hash, pending.history_hash),
    )
    if tags:
        conn.executemany(
            "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)",
            [(run_id, k, str(v)) for k, v in tags.items()],
        )
    _insert_records(conn, run_id, params, {}, seeds, refs)


def write_run(conn: sqlite3.Connection, pending: Pending, run: Run, points: list[MetricPoint],
              imported: bool) -> None:
    """Write everything recorded about a run and its final status; ``imported``: insert it first."""
    started_with = None if imported else conn.execute(
        "SELECT code_hash, history_hash FROM runs WHERE run_id = ?", (run.run_id,)).fetchone()
    if imported:
        conn.execute(
            "INSERT INTO runs (run_id, experiment, name, status, source, start_time, host, session_id,"
            " session_seq) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
            (run.run_id, run.experiment, run.name, run.source, run.start, run.environment.get("host"),
             run.session_id, run.session_seq),
        )
    _insert_pending(conn, pending)
    updated = conn.execute(
        "UPDATE runs SET status = ?, end_time = ?, duration = ?, code_hash = ?, history_hash = ?,"
        " environment_hash = ?, error = ?, warnings = ?, hidden_state = ?, rerun_of = ? WHERE run_id = ?",
        (run.status, run.end, run.duration, pending.code_hash, pending.history_hash, pending.environment_hash,
         run.error, to_json(run.warnings), None if run.hidden_state is None else to_json(run.hidden_state),
         run.rerun_of, run.run_id),
    ).rowcount
    if not updated:
        raise RunNotFound(run.run_id)
    _insert_records(conn, run.run_id, run.params, run.tags, run.seeds, [*run.inputs, *run.outputs])
    if started_with is not None and tuple(started_with) != (pending.code_hash, pending.history_hash):
        search.refresh(conn, run.run_id)  # (rare: a cell's code and history are known at its start)
    insert_metrics(conn, run.run_id, points)
    insert_artifacts(conn, run.artifacts)


def _insert_pending(conn: sqlite3.Connection, pending: Pending) -> None:
    many(conn, "INSERT OR IGNORE INTO blobs (hash, content) VALUES (?, ?)", pending.blobs)
    many(
        conn, "INSERT OR IGNORE INTO fingerprints (hash, kind, shape, nbytes, columns) VALUES (?, ?, ?, ?, ?)",
        [(fp.hash, fp.kind, json.dumps(fp.shape), fp.nbytes, to_json([c.__dict__ for c in fp.columns]))
         for fp in pending.fingerprints],
    )


def _insert_records(conn: sqlite3.Connection, run_id: str, params: dict[str, Any], tags: dict[str, str],
                    seeds: list[Seed], refs: list[DataRef]) -> None:
    # A run's start writes what it knows, its end writes all of it again (issue 12). Params and tags are
    # indexed by value too (the runs table's filters and groups, issue 14): an unchanged value is not
    # written again, so the end of a run touches neither the table's nor the index's pages for it.
    many(
        conn, "INSERT INTO params (run_id, key, value) VALUES (?, ?, ?) ON CONFLICT (run_id, key)"
        " DO UPDATE SET value = excluded.value WHERE value IS NOT excluded.value",
        [(run_id, k, to_json(v)) for k, v in params.items()],
    )
    many(
        conn, "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?) ON CONFLICT (run_id, key)"
        " DO UPDATE SET value = excluded.value WHERE value IS NOT excluded.value",
        [(run_id, k, str(v)) for k, v in tags.items()],
    )
    # OR REPLACE for the rest.
    many(
        conn, "INSERT OR REPLACE INTO seeds (run_id, seq, source, value, generator, location)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [(run_id, i, s.source, to_json(s.value), s.generator, s.location) for i, s in enumerate(seeds)],
    )
    many(
        conn, "INSERT OR REPLACE INTO data (run_id, role, name, source, fingerprint_hash, note, location)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(run_id, r.role, r.name, r.source, r.fingerprint.hash if r.fingerprint else None, r.note,
          r.location) for r in refs],
    )


def link_rerun(conn: sqlite3.Connection, run_id: str, original_id: str) -> None:
    conn.execute("UPDATE runs SET rerun_of = ? WHERE run_id = ?", (original_id, run_id))


def insert_metrics(conn: sqlite3.Connection, run_id: str, points: list[MetricPoint]) -> None:
    """Add metric points, continuing each key's ``seq`` after those already stored."""
    if not points:
        return
    offsets = dict(conn.execute(
        "SELECT key, points FROM latest_metrics WHERE run_id = ?", (run_id,)
    ).fetchall())
    # A step series is 100,000 points in one run: one pass, no per-point function calls (issue 7).
    next_seq = dict(offsets)
    by_key: dict[str, list[list[Any]]] = {}
    for point in points:
        name = point.name
        seq = next_seq.get(name, 0)
        next_seq[name] = seq + 1
        value = float(point.value)
        rows = by_key.get(name)
        if rows is None:
            rows = by_key[name] = []
        rows.append([seq, point.step, None if value != value else value, point.timestamp])  # NaN: NULL
    for name, rows in by_key.items():
        # One statement per metric, its points as one JSON array: executemany gave up the GIL for every
        # row, and with the user's loop holding it, the live writer got one row per switch interval
        # (5 ms): a burst of logging starved it (issue 12). SQLite 3.40's JSON has no Infinity: 1e999 is.
        conn.execute(
            "INSERT INTO metrics (run_id, key, seq, step, value, timestamp)"
            " SELECT ?, ?, value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?)",
            (run_id, name, POINTS.encode(rows).replace("Infinity", "1e999")),
        )
    conn.executemany(
        "INSERT OR REPLACE INTO latest_metrics (run_id, key, value, step, points) VALUES (?, ?, ?, ?, ?)",
        [(run_id, key, rows[-1][2], rows[-1][1], next_seq[key]) for key, rows in by_key.items()],
    )


def insert_artifacts(conn: sqlite3.Connection, artifacts: Iterable[Artifact]) -> None:
    # Logging a name again in the same run replaces the row; the stored file of the old one stays.
    many(
        conn, "INSERT OR REPLACE INTO artifacts (run_id, kind, name, hash, size, format, origin, created)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [(a.run_id, a.kind, a.name, a.hash, a.size, a.format, a.origin, a.created) for a in artifacts],
    )


def add_artifacts(conn: sqlite3.Connection, run_id: str, artifacts: list[Artifact]) -> None:
    """Attach artifacts to a run that is already recorded; RunNotFound if it is not."""
    if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
        raise RunNotFound(run_id)
    insert_artifacts(conn, artifacts)


def append_registry_event(conn: sqlite3.Connection, name: str, stage: str,
                          decide: Callable[[list[RegistryEvent]], RegistryEvent]) -> RegistryEvent:
    """Append the event ``decide`` makes from the stage's history, read in the same transaction."""
    event = decide(registry_events(conn, name, stage))
    cursor = conn.execute(
        "INSERT INTO registry (time, name, stage, action, run_id, model_hash, previous_run_id, user, host,"
        " forced, validation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (event.time, event.name, event.stage, event.action, event.run_id, event.model_hash,
         event.previous_run_id, event.user, event.host, int(event.forced),
         None if event.validation is None else to_json(event.validation)),
    )
    return dataclasses.replace(event, seq=cursor.lastrowid)
