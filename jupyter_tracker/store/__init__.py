"""The store: the only module that speaks SQL.

One SQLite file in WAL mode. Every write is one ``BEGIN IMMEDIATE`` transaction with a
busy timeout, so many processes (parallel kernels, reruns, batch workers) can write at
once without "database is locked". Public methods return records or DataFrames.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import os
import socket
import sqlite3
import sys
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, TypeVar

import xxhash

from ..errors import AmbiguousRunId, RunNotFound, StoreError, UsageProblem
from ..records import Artifact, DataRef, Fingerprint, MetricPoint, RegistryEvent, Run, Seed
from ..records import ExperimentSummary, RunsPage, RunSummary, StoreActivity
from .artifacts import ArtifactFiles
from .schema import OUR_TABLES, SCHEMA_VERSION, migrate, user_tables

SQLITE_HEADER = b"SQLite format 3\x00"
BUSY_TIMEOUT_SECONDS = 60.0
HEX_DIGITS = set("0123456789abcdef")
INTERRUPTED_MESSAGE = "the process recording this run ended before the run finished (kernel killed or restarted)"
# A reader marks killed runs on its way; it does not wait a minute behind a writer to do so (issue 10).
REAP_TIMEOUT_SECONDS = 2.0
# doctor reads every artifact file back to check its hash, up to this many bytes; beyond, sizes only.
HASH_CHECK_BYTES = 1 << 30


def content_hash(text: str) -> str:
    return xxhash.xxh3_128_hexdigest(text.encode("utf-8", "surrogatepass"))


@functools.lru_cache(maxsize=1 << 14)
def _source_hash(text: str) -> str:
    # Each tracked cell stores the kernel's whole history by hash: every source is hashed once per
    # process, not once per tracked cell (O(history) per cell otherwise, issue 7).
    return content_hash(text)


def to_json(value: Any) -> str:
    return _ENCODER.encode(value)


def _jsonable(value: Any) -> Any:
    # numpy scalars and arrays: their Python equivalents; anything else: its repr.
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return value.item()
    if hasattr(value, "tolist"):
        return value.tolist()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return repr(value)


def _many(conn: sqlite3.Connection, sql: str, rows: list[Any]) -> None:
    # A tracked cell has no seeds, data or artifacts more often than not: skip their statements (issue 7).
    if rows:
        conn.executemany(sql, rows)


# json.dumps with options builds an encoder per call; a run writes a dozen values (issue 7).
_ENCODER = json.JSONEncoder(default=_jsonable, ensure_ascii=False)
_POINTS = json.JSONEncoder(check_circular=False)  # lists of numbers only: [seq, step, value, timestamp]


def metric_to_sql(value: float) -> float | None:
    # SQLite turns NaN into NULL by itself; saying so here keeps it explicit. ±Inf round-trip as REAL.
    value = float(value)
    return None if math.isnan(value) else value


def metric_from_sql(value: float | None) -> float:
    return math.nan if value is None else value


Method = TypeVar("Method", bound=Callable[..., Any])


def _reading(method: Method) -> Method:
    """A file damaged after it was opened fails only on the pages a query touches: say so as a StoreError."""

    @functools.wraps(method)
    def wrapper(self: "Store", *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as error:
            raise StoreError(f"cannot read store {self.path}: {str(error)[:200]}") from None

    return wrapper  # type: ignore[return-value]


# A history of at least this many entries that continues this store's last one is stored as the entries
# added to it (issue 12: writing the whole list again was 1.2 ms of a tracked cell after 5,000 cells);
# every HISTORY_CHAIN_MAX continuations a whole list again, so a reader follows a bounded chain.
HISTORY_DELTA_FROM = 256
HISTORY_CHAIN_MAX = 64


@dataclass(frozen=True)
class _HistoryRecord:
    """A kernel's history as this store last wrote it: its sources, the JSON list of all their hashes,
    the hash of the blob stored for it (that list, or a continuation of an earlier one), how many
    continuations lead to a whole list, and the blobs a write still has to insert."""

    sources: list[str]
    json: str
    json_hash: str
    depth: int
    new_blobs: list[tuple[str, str]]


@dataclass(frozen=True)
class DoctorCheck:
    name: str
    ok: bool
    detail: str


class Store:
    """A tracker store in one SQLite file.

    >>> store = Store("/tmp/example/tracker.db")  # created if missing
    >>> store.runs_frame().shape[0]
    0
    """

    def __init__(self, path: str | os.PathLike, create: bool = True, artifacts_dir: str | os.PathLike | None = None):
        self.path = Path(path)
        # Models and figures live beside the file (config.resolve_settings decides where; this is its default).
        self.artifacts = ArtifactFiles(Path(artifacts_dir) if artifacts_dir else self.path.parent / "artifacts")
        self._lock = threading.RLock()
        self._known_blobs: set[str] = set()
        self._known_fingerprints: set[str] = set()
        self._reap_warnings: set[str] = set()  # each reason reaping failed is told once per process
        self._last_history = _HistoryRecord([], "[]", content_hash("[]"), 0, [])  # of this store's last run
        self._refuse_foreign_file()
        if not self.path.exists():
            if not create:
                raise StoreError(f"no store at {self.path}: run a tracked cell first, or set JUPYTER_TRACKER_DB")
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
            )
        except sqlite3.DatabaseError as error:
            raise StoreError(f"cannot open store {self.path}: {error}") from None
        try:
            self._open()
        except BaseException as error:
            # A refused file keeps no connection: an open one would leave -wal/-shm files beside it.
            self._conn.close()
            if isinstance(error, sqlite3.DatabaseError):
                raise StoreError(f"cannot open store {self.path}: {error}") from None
            raise

    # ----------------------------------------------------------------- opening
    def _refuse_foreign_file(self) -> None:
        try:
            with open(self.path, "rb") as handle:
                header = handle.read(len(SQLITE_HEADER))
        except FileNotFoundError:
            return
        except OSError as error:
            raise StoreError(f"cannot read store {self.path}: {error.strerror}") from None
        if header and header != SQLITE_HEADER:
            raise StoreError(f"{self.path} is not an SQLite file (corrupt store?); it was left untouched")

    def _open(self) -> None:
        conn = self._conn
        # Read-only checks first: nothing may touch a newer or foreign file, not even WAL mode.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"{self.path} has schema version {version}, newer than this jupyter_tracker supports "
                f"({SCHEMA_VERSION}); upgrade jupyter_tracker. The file was left untouched"
            )
        tables = user_tables(conn)
        if version == 0 and tables and not tables <= OUR_TABLES:
            raise StoreError(f"{self.path} is an SQLite file but not a jupyter_tracker store; it was left untouched")
        conn.execute("PRAGMA foreign_keys = ON")
        if version < SCHEMA_VERSION:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
            migrate(conn)
        # WAL makes a commit an append; NORMAL sync is durable across application crashes.
        conn.execute("PRAGMA synchronous = NORMAL")

    @property
    def schema_version(self) -> int:
        return self._conn.execute("PRAGMA user_version").fetchone()[0]

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    # ------------------------------------------------------------------ writes
    def begin_run(
        self, run_id: str, experiment: str, name: str, source: str, start: float, tags: dict[str, str] | None = None,
        session_id: str | None = None, session_seq: int | None = None, *, params: dict[str, Any] | None = None,
        seeds: Iterable[Seed] = (), inputs: Iterable[DataRef] = (), code: str | None = None,
        history: list[str] | None = None,
    ) -> None:
        """Insert a run as ``running``, owned by this process (so a killed owner can be detected), with what
        is known at its start: tags, params, seeds, inputs, code and history, all in one transaction (issue 12:
        a reader, or a kernel killed mid-cell, sees them from the start)."""
        history_record = self._history_record([code] if history is None else history) if code is not None else None
        blobs: list[tuple[str, str]] = []
        code_hash = history_hash = None
        if history_record is not None:
            code_hash = content_hash(code)
            history_hash = history_record.json_hash
            blobs = [(code_hash, code), *history_record.new_blobs]
            blobs = [(h, text) for h, text in dict(blobs).items() if h not in self._known_blobs]
        refs = list(inputs)
        new_fingerprints = self._new_fingerprints(refs)
        with self._write() as conn:
            _many(conn, "INSERT OR IGNORE INTO blobs (hash, content) VALUES (?, ?)", blobs)
            self._insert_fingerprints(conn, new_fingerprints)
            conn.execute(
                "INSERT INTO runs (run_id, experiment, name, status, source, start_time, host, pid, pid_started,"
                " session_id, session_seq, code_hash, history_hash) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?, ?, ?,"
                " ?, ?)",
                (run_id, experiment, name, source, start, socket.gethostname(), os.getpid(),
                 _own_start(os.getpid()), session_id, session_seq, code_hash, history_hash),
            )
            if tags:
                conn.executemany(
                    "INSERT INTO tags (run_id, key, value) VALUES (?, ?, ?)",
                    [(run_id, k, str(v)) for k, v in tags.items()],
                )
            self._insert_records(conn, run_id, params or {}, {}, list(seeds), refs)
        self._remember(blobs, new_fingerprints, history_record)

    def append_metrics(self, run_id: str, points: list[MetricPoint]) -> None:
        """Add a batch of a running run's metric points, in one transaction: a reader sees all of them or none.

        The live writer calls this about twice a second while a run logs (issue 12); points continue each
        key's ``seq`` after those already stored, so the run's final write adds only the rest.
        """
        if not points:
            return
        with self._write() as conn:
            self._insert_metrics(conn, run_id, points)

    def finish_run(self, run: Run, metric_points: Iterable[MetricPoint] = ()) -> None:
        """Write everything recorded about a run, and its final status, in one transaction."""
        self._write_run(run, list(metric_points), imported=False)

    def import_run(self, run: Run, metric_points: Iterable[MetricPoint] = ()) -> None:
        """Write a whole run recorded elsewhere (a Dask worker's own store), keeping its id, times and status."""
        self._write_run(run, list(metric_points), imported=True)

    def _write_run(self, run: Run, points: list[MetricPoint], imported: bool) -> None:
        code_hash = content_hash(run.code)
        history_record = self._history_record(run.history)
        environment_json = to_json(run.environment)
        environment_hash = content_hash(environment_json)
        blobs = {code_hash: run.code, environment_hash: environment_json}
        blobs.update(history_record.new_blobs)
        new_blobs = [(h, text) for h, text in blobs.items() if h not in self._known_blobs]
        refs = [*run.inputs, *run.outputs]
        new_fingerprints = self._new_fingerprints(refs)
        with self._write() as conn:
            if imported:
                conn.execute(
                    "INSERT INTO runs (run_id, experiment, name, status, source, start_time, host, session_id,"
                    " session_seq) VALUES (?, ?, ?, 'running', ?, ?, ?, ?, ?)",
                    (run.run_id, run.experiment, run.name, run.source, run.start, run.environment.get("host"),
                     run.session_id, run.session_seq),
                )
            _many(conn, "INSERT OR IGNORE INTO blobs (hash, content) VALUES (?, ?)", new_blobs)
            self._insert_fingerprints(conn, new_fingerprints)
            updated = conn.execute(
                "UPDATE runs SET status = ?, end_time = ?, duration = ?, code_hash = ?, history_hash = ?,"
                " environment_hash = ?, error = ?, warnings = ?, hidden_state = ?, rerun_of = ? WHERE run_id = ?",
                (run.status, run.end, run.duration, code_hash, history_record.json_hash, environment_hash, run.error,
                 to_json(run.warnings), None if run.hidden_state is None else to_json(run.hidden_state),
                 run.rerun_of, run.run_id),
            ).rowcount
            if not updated:
                raise RunNotFound(run.run_id)
            self._insert_records(conn, run.run_id, run.params, run.tags, run.seeds, refs)
            self._insert_metrics(conn, run.run_id, points)
            self._insert_artifacts(conn, run.artifacts)
        self._remember(new_blobs, new_fingerprints, history_record)

    def _new_fingerprints(self, refs: list[DataRef]) -> list[Fingerprint]:
        fingerprints = {r.fingerprint.hash: r.fingerprint for r in refs if r.fingerprint is not None}
        return [fp for h, fp in fingerprints.items() if h not in self._known_fingerprints]

    @staticmethod
    def _insert_fingerprints(conn: sqlite3.Connection, fingerprints: list[Fingerprint]) -> None:
        _many(
            conn, "INSERT OR IGNORE INTO fingerprints (hash, kind, shape, nbytes, columns) VALUES (?, ?, ?, ?, ?)",
            [(fp.hash, fp.kind, json.dumps(fp.shape), fp.nbytes, to_json([c.__dict__ for c in fp.columns]))
             for fp in fingerprints],
        )

    @staticmethod
    def _insert_records(conn: sqlite3.Connection, run_id: str, params: dict[str, Any], tags: dict[str, str],
                        seeds: list[Seed], refs: list[DataRef]) -> None:
        # OR REPLACE throughout: a run's start writes what it knows, its end writes all of it again (issue 12).
        _many(
            conn, "INSERT OR REPLACE INTO params (run_id, key, value) VALUES (?, ?, ?)",
            [(run_id, k, to_json(v)) for k, v in params.items()],
        )
        _many(
            conn, "INSERT OR REPLACE INTO tags (run_id, key, value) VALUES (?, ?, ?)",
            [(run_id, k, str(v)) for k, v in tags.items()],
        )
        _many(
            conn, "INSERT OR REPLACE INTO seeds (run_id, seq, source, value, generator, location)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [(run_id, i, s.source, to_json(s.value), s.generator, s.location) for i, s in enumerate(seeds)],
        )
        _many(
            conn, "INSERT OR REPLACE INTO data (run_id, role, name, source, fingerprint_hash, note, location)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            [(run_id, r.role, r.name, r.source, r.fingerprint.hash if r.fingerprint else None, r.note,
              r.location) for r in refs],
        )

    def _remember(self, blobs: list[tuple[str, str]], fingerprints: list[Fingerprint],
                  history: "_HistoryRecord | None") -> None:
        # Only after the commit: a write that rolled back leaves its blobs to be written by the next one.
        self._known_blobs.update(h for h, _ in blobs)
        self._known_fingerprints.update(fp.hash for fp in fingerprints)
        if history is not None:
            self._last_history = history

    def _history_record(self, history: list[str]) -> "_HistoryRecord":
        """The blob of a history and the blobs not yet stored: the JSON list of its sources' hashes, or, for a
        long history that continues this store's last one, ``{"continues": <that one's blob>, "added": [...]}``.

        A kernel's history only grows: only the entries added since this store's last run are hashed,
        encoded, looked up and written (issue 12: a tracked cell's cost no longer grows with the kernel's
        history; it was 11 ms after 5,000 cells).
        """
        last = self._last_history
        known = len(last.sources)
        if known and len(history) >= known and history[:known] == last.sources:
            added = history[known:]
            if not added:
                return dataclasses.replace(last, new_blobs=[])
            hashes = [_source_hash(source) for source in added]
            encoded = json.dumps(hashes)
            full = f"{last.json[:-1]}, {encoded[1:]}"
            sources = [*last.sources, *added]
            if known >= HISTORY_DELTA_FROM and last.depth < HISTORY_CHAIN_MAX:
                text, depth = json.dumps({"continues": last.json_hash, "added": hashes}), last.depth + 1
            else:
                text, depth = full, 0
        else:
            added = sources = list(history)
            hashes = [_source_hash(source) for source in added]
            text = full = json.dumps(hashes)
            depth = 0
        json_hash = content_hash(text)
        new_blobs = [(h, source) for h, source in zip(hashes, added) if h not in self._known_blobs]
        if json_hash not in self._known_blobs:
            new_blobs.append((json_hash, text))
        return _HistoryRecord(sources, full, json_hash, depth, new_blobs)

    def _history_hashes(self, history_hash: str) -> list[str]:
        """The source hashes of a stored history, following its continuations back to a whole list."""
        parts = []
        for _ in range(10 * HISTORY_CHAIN_MAX):  # a bound, against a damaged file's loop
            stored = json.loads(self._blob(history_hash) or "[]")
            if not isinstance(stored, dict):
                parts.append(stored)
                break
            parts.append(stored["added"])
            history_hash = stored["continues"]
        return [h for part in reversed(parts) for h in part]

    def link_rerun(self, run_id: str, original_id: str) -> None:
        """Record that ``run_id`` re-executed ``original_id``."""
        with self._write() as conn:
            conn.execute("UPDATE runs SET rerun_of = ? WHERE run_id = ?", (original_id, run_id))

    def _insert_metrics(self, conn: sqlite3.Connection, run_id: str, points: list[MetricPoint]) -> None:
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
                (run_id, name, _POINTS.encode(rows).replace("Infinity", "1e999")),
            )
        conn.executemany(
            "INSERT OR REPLACE INTO latest_metrics (run_id, key, value, step, points) VALUES (?, ?, ?, ?, ?)",
            [(run_id, key, rows[-1][2], rows[-1][1], next_seq[key]) for key, rows in by_key.items()],
        )

    def mark_interrupted(self, timeout: float | None = None) -> list[str]:
        """Mark ``running`` runs whose owning process on this host is gone as ``interrupted``.

        Runs of other hosts are left alone: whether their process lives cannot be known from here
        (``mark_runs_interrupted`` marks them when the user knows). ``timeout`` bounds the wait for
        the write lock (default: the store's busy timeout); sqlite3 errors propagate.
        """
        host = socket.gethostname()
        with self._lock:
            candidates = self._conn.execute(
                "SELECT run_id, pid, pid_started FROM runs WHERE status = 'running' AND host = ?", (host,)
            ).fetchall()
        dead = [run_id for run_id, pid, started in candidates if not _process_alive(pid, started)]
        if dead:
            now = time.time()
            with self._lock, self._busy_timeout(timeout), self._write() as conn:
                conn.executemany(
                    "UPDATE runs SET status = 'interrupted', end_time = coalesce(end_time, ?),"
                    " duration = coalesce(duration, ? - start_time), error = coalesce(error, ?)"
                    " WHERE run_id = ? AND status = 'running'",
                    [(now, now, INTERRUPTED_MESSAGE, run_id) for run_id in dead],
                )
        return dead

    def mark_runs_interrupted(self, run_ids: Iterable[str] = (), hosts: Iterable[str] = ()) -> list[str]:
        """Mark running runs interrupted that this host cannot check by itself: the runs ``run_ids``
        (any unique prefixes) and every running run recorded on one of ``hosts`` (a machine that crashed).

        Refuses (UsageProblem, nothing marked) a run that is not running, a run whose process is alive
        on this host, and this host itself, whose runs ``mark_interrupted`` checks by their process.

        >>> store.mark_runs_interrupted(["3f2a"], hosts=["gpu-box-2"])
        ['3f2a1b0c...', ...]
        """
        here = socket.gethostname()
        chosen: dict[str, str | None] = {}  # run id -> the host it ran on
        with self._write() as conn:
            for prefix in run_ids:
                run_id = self.resolve(prefix)
                status, host, pid, started = conn.execute(
                    "SELECT status, host, pid, pid_started FROM runs WHERE run_id = ?", (run_id,)).fetchone()
                if status != "running":
                    raise UsageProblem(f"run {run_id[:8]} is {status}, not running: there is nothing to mark")
                if host == here and _process_alive(pid, started):
                    raise UsageProblem(f"run {run_id[:8]} is still running: its process {pid} on this host is alive")
                chosen[run_id] = host
            for host in hosts:
                if host == here:
                    raise UsageProblem(f"'{host}' is this host: the processes of its runs are checked here, and "
                                       "the runs of those that are gone are marked interrupted without being named")
                found = [r for (r,) in conn.execute(
                    "SELECT run_id FROM runs WHERE status = 'running' AND host = ? ORDER BY start_time", (host,))]
                if not found:
                    others = [f"{h} ({n})" for h, n in conn.execute(
                        "SELECT host, count(*) FROM runs WHERE status = 'running' AND host IS NOT ? GROUP BY host"
                        " ORDER BY host", (here,)) if h is not None]
                    raise UsageProblem(f"no running run was recorded on host '{host}'"
                                       + (f" (running runs of other hosts: {', '.join(others)})" if others else ""))
                chosen.update(dict.fromkeys(found, host))
            now = time.time()
            conn.executemany(
                "UPDATE runs SET status = 'interrupted', end_time = coalesce(end_time, ?),"
                " duration = coalesce(duration, ? - start_time), error = coalesce(error, ?)"
                " WHERE run_id = ? AND status = 'running'",
                [(now, now, f"marked interrupted from {here}: the process recording it on {host or 'its host'}"
                  " was reported gone", run_id) for run_id, host in chosen.items()],
            )
        return list(chosen)

    @contextmanager
    def _busy_timeout(self, seconds: float | None) -> Iterator[None]:
        if seconds is None:
            yield
            return
        self._conn.execute(f"PRAGMA busy_timeout = {int(seconds * 1000)}")
        try:
            yield
        finally:
            self._conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")

    def _reap_quietly(self) -> None:
        # Readers mark killed runs on the way. When the store cannot be written (a read-only file, a lock
        # held past the timeout) the runs keep showing as running, and one warning line says why, once
        # per reason and process: the sidebar reads every second (issue 10: never swallowed).
        try:
            self.mark_interrupted(timeout=REAP_TIMEOUT_SECONDS)
        except sqlite3.OperationalError as error:
            message = f"cannot mark runs of killed processes interrupted in {self.path}: {error}"
            if message not in self._reap_warnings:
                self._reap_warnings.add(message)
                print(f"jupyter_tracker warning: {message}", file=sys.stderr)

    # ------------------------------------------------------------------- reads
    @_reading
    def resolve(self, prefix: str) -> str:
        """The one run id starting with ``prefix``; RunNotFound or AmbiguousRunId otherwise."""
        prefix = prefix.strip().lower()
        if not prefix or not set(prefix) <= HEX_DIGITS:
            raise RunNotFound(prefix)
        with self._lock:
            rows = self._conn.execute(
                "SELECT run_id FROM runs WHERE run_id >= ? AND run_id < ? ORDER BY run_id",
                (prefix, prefix + "g"),
            ).fetchall()
        if not rows:
            raise RunNotFound(prefix)
        if len(rows) > 1:
            raise AmbiguousRunId(prefix, [r[0] for r in rows])
        return rows[0][0]

    @_reading
    def get_run(self, run_id: str) -> Run:
        self._reap_quietly()
        with self._lock:
            return self._read_run(self.resolve(run_id))

    def _read_run(self, run_id: str, with_code: bool = True) -> Run:
        conn = self._conn
        row = conn.execute(
            "SELECT run_id, experiment, name, status, start_time, end_time, duration, source, code_hash,"
            " history_hash, environment_hash, error, warnings, rerun_of, session_id, session_seq, hidden_state"
            " FROM runs WHERE run_id = ?",
            (run_id,),
        ).fetchone()
        if row is None:
            raise RunNotFound(run_id)
        code_hash, history_hash, environment_hash = row[8], row[9], row[10]
        history = []
        if history_hash and with_code:
            hashes = self._history_hashes(history_hash)
            contents = self._blobs(hashes)
            history = [contents[h] for h in hashes]
        metrics, metric_steps = {}, {}
        for key, value, points in conn.execute(
            "SELECT key, value, points FROM latest_metrics WHERE run_id = ? ORDER BY key", (run_id,)
        ):
            metrics[key] = metric_from_sql(value)
            metric_steps[key] = points
        inputs, outputs = [], []
        for role, name, source, fp_hash, note, location, kind, shape, nbytes, columns in conn.execute(
            "SELECT d.role, d.name, d.source, d.fingerprint_hash, d.note, d.location,"
            " f.kind, f.shape, f.nbytes, f.columns"
            " FROM data AS d LEFT JOIN fingerprints AS f ON f.hash = d.fingerprint_hash WHERE d.run_id = ?",
            (run_id,),
        ):
            fingerprint = None
            if fp_hash is not None:
                fingerprint = Fingerprint.from_dict(
                    {"kind": kind, "hash": fp_hash, "shape": json.loads(shape), "nbytes": nbytes,
                     "columns": json.loads(columns)}
                )
            ref = DataRef(role=role, name=name, source=source, fingerprint=fingerprint, note=note, location=location)
            (inputs if role == "input" else outputs).append(ref)
        return Run(
            run_id=row[0], experiment=row[1], name=row[2], status=row[3], start=row[4], end=row[5],
            duration=row[6], source=row[7],
            params={k: json.loads(v) for k, v in conn.execute(
                "SELECT key, value FROM params WHERE run_id = ? ORDER BY key", (run_id,))},
            tags=dict(conn.execute("SELECT key, value FROM tags WHERE run_id = ? ORDER BY key", (run_id,))),
            seeds=[Seed(source=s, value=json.loads(v), generator=g, location=w) for s, v, g, w in conn.execute(
                "SELECT source, value, generator, location FROM seeds WHERE run_id = ? ORDER BY seq", (run_id,))],
            metrics=metrics, metric_steps=metric_steps, inputs=inputs, outputs=outputs,
            code=self._blob(code_hash) if code_hash and with_code else "",
            history=history,
            environment=json.loads(self._blob(environment_hash)) if environment_hash and with_code else {},
            error=row[11], warnings=json.loads(row[12]),
            rerun_of=row[13], session_id=row[14], session_seq=row[15],
            hidden_state=json.loads(row[16]) if row[16] else None,
            artifacts=self._read_artifacts(run_id),
        )

    def _blob(self, blob_hash: str) -> str:
        row = self._conn.execute("SELECT content FROM blobs WHERE hash = ?", (blob_hash,)).fetchone()
        return row[0] if row else ""

    def _blobs(self, hashes: list[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        unique = list(dict.fromkeys(hashes))
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            marks = ",".join("?" * len(chunk))
            found.update(self._conn.execute(f"SELECT hash, content FROM blobs WHERE hash IN ({marks})", chunk))
        return found

    @_reading
    def previous_run(self, experiment: str, name: str, before: float, exclude: str,
                     known: Run | None = None) -> Run | None:
        """The latest ended run of the same experiment and name that started before ``before``,
        without its code, history and environment (what a cell summary compares against).

        ``known`` is a run the caller recorded itself: when it is that run, it is returned as it is
        instead of being read back (six queries a tracked cell, a quarter of a millisecond, issue 7).
        """
        with self._lock:
            row = self._conn.execute(
                "SELECT run_id FROM runs WHERE experiment = ? AND name = ? AND start_time <= ? AND run_id != ?"
                " AND status != 'running' ORDER BY start_time DESC LIMIT 1",
                (experiment, name, before, exclude),
            ).fetchone()
            if row and known is not None and known.run_id == row[0]:
                return known
            return self._read_run(row[0], with_code=False) if row else None

    @_reading
    def metric_series(self, run_id: str, name: str):
        """A metric's points as a DataFrame with columns step, value, timestamp."""
        import pandas as pd  # only when asked for: pandas costs ~0.3 s to import

        run_id = self.resolve(run_id)
        with self._lock:
            rows = self._conn.execute(
                "SELECT step, value, timestamp FROM metrics WHERE run_id = ? AND key = ? ORDER BY seq",
                (run_id, name),
            ).fetchall()
        frame = pd.DataFrame(rows, columns=["step", "value", "timestamp"])
        frame["value"] = frame["value"].astype("float64")  # NULL is NaN
        return frame

    @_reading
    def metric_points(self, run_id: str) -> list[MetricPoint]:
        """Every logged point of every metric of a run, in the order logged."""
        with self._lock:
            return [MetricPoint(key, metric_from_sql(value), step, timestamp) for key, step, value, timestamp in
                    self._conn.execute("SELECT key, step, value, timestamp FROM metrics WHERE run_id = ?"
                                       " ORDER BY key, seq", (self.resolve(run_id),))]

    @_reading
    def session_runs(self, session_id: str) -> list[str]:
        """Ids of the runs one kernel or process recorded, in the order its tracked cells ran."""
        with self._lock:
            return [r for (r,) in self._conn.execute(
                "SELECT run_id FROM runs WHERE session_id = ? ORDER BY session_seq, start_time", (session_id,))]

    @_reading
    def tagged_runs(self, key: str, value: str) -> list[str]:
        """Ids of the runs carrying tag ``key=value``, oldest first."""
        with self._lock:
            return [r for (r,) in self._conn.execute(
                "SELECT r.run_id FROM tags AS t JOIN runs AS r ON r.run_id = t.run_id"
                " WHERE t.key = ? AND t.value = ? ORDER BY r.start_time, r.session_seq", (key, value))]

    @_reading
    def count_runs(self) -> int:
        with self._lock:
            return self._conn.execute("SELECT count(*) FROM runs").fetchone()[0]

    # ------------------------------------------------------------ paged reads
    # The sidebar lists runs a page at a time, filtered, sorted and counted here in SQL, so the first
    # page stays fast with 10,000 runs (issue 4: at most 50 ms server time).
    SORT_COLUMNS = {
        "start": "r.start_time", "end": "r.end_time", "duration": "r.duration", "name": "r.name",
        "experiment": "r.experiment", "status": "r.status", "run_id": "r.run_id",
    }
    _NOT_NULL = {"r.start_time", "r.name", "r.experiment", "r.status", "r.run_id"}

    @_reading
    def runs_page(
        self, experiment: str | None = None, q: str | None = None, sort: str = "start", descending: bool = True,
        limit: int = 50, offset: int = 0,
    ) -> RunsPage:
        """Runs of ``experiment`` matching the search text ``q``, sorted by ``sort`` (a column of
        ``SORT_COLUMNS`` or ``metrics.<m>``, ``params.<p>``, ``tags.<t>``; runs without a value come
        last either way), ``limit`` of them from ``offset``, with the number matching in all.

        >>> store.runs_page(q="rf", sort="metrics.acc", limit=20).total
        """
        self._reap_quietly()
        where, args = _run_filter(experiment, q)
        join, key, join_args = self._sort_join(sort)
        # Runs without a value sort last both ways. Without that term, ordering by start within an
        # experiment walks the runs_by_experiment index and stops after one page (0.1 ms at 10,000 runs).
        nulls_last = "" if key in self._NOT_NULL else f"({key}) IS NULL, "
        order = f"{nulls_last}{key} {'DESC' if descending else 'ASC'}, r.start_time DESC, r.run_id"
        # A search over the whole store is evaluated once, counting in the same pass. Within an experiment
        # the page stops after its last row (0.4 ms) and the count is a second query.
        count_in_page = experiment is None and bool(q and q.split())
        with self._lock:
            conn = self._conn
            rows = conn.execute(
                "SELECT r.run_id, r.experiment, r.name, r.status, r.start_time, r.duration, r.rerun_of,"
                f" r.hidden_state{', count(*) OVER ()' if count_in_page else ''} FROM runs AS r {join} {where}"
                f" ORDER BY {order} LIMIT ? OFFSET ?",
                [*join_args, *args, limit, offset],
            ).fetchall()
            if count_in_page and rows:
                total = rows[0][8]
            else:
                total = conn.execute(f"SELECT count(*) FROM runs AS r {where}", args).fetchone()[0]
            ids = [row[0] for row in rows]
            found: dict[str, dict[str, dict[str, Any]]] = {"params": {}, "latest_metrics": {}, "tags": {}}
            if ids:
                marks = ",".join("?" * len(ids))
                for table, values in found.items():
                    for run_id, name, value in conn.execute(
                        f"SELECT run_id, key, value FROM {table} WHERE run_id IN ({marks})", ids
                    ):
                        values.setdefault(run_id, {})[name] = value
        runs = [
            RunSummary(
                run_id=run_id, experiment=experiment_, name=name, status=status, start=start, duration=duration,
                params={k: json.loads(v) for k, v in found["params"].get(run_id, {}).items()},
                metrics={k: metric_from_sql(v) for k, v in found["latest_metrics"].get(run_id, {}).items()},
                tags=found["tags"].get(run_id, {}),
                rerun_of=rerun_of, hidden_state=json.loads(hidden) if hidden else None,
            )
            for run_id, experiment_, name, status, start, duration, rerun_of, hidden, *_ in rows
        ]
        return RunsPage(total=total, offset=offset, limit=limit, runs=runs)

    def _sort_join(self, sort: str) -> tuple[str, str, list[str]]:
        """The join and the expression that order runs by ``sort``."""
        family, _, key = sort.partition(".")
        if key and family == "metrics":
            return "LEFT JOIN latest_metrics AS s ON s.run_id = r.run_id AND s.key = ?", "s.value", [key]
        if key and family == "params":
            # Params are JSON: numbers sort as numbers (8 before 10), then strings as text.
            return ("LEFT JOIN params AS s ON s.run_id = r.run_id AND s.key = ?",
                    "CASE WHEN json_valid(s.value) THEN json_extract(s.value, '$') ELSE s.value END", [key])
        if key and family == "tags":
            return "LEFT JOIN tags AS s ON s.run_id = r.run_id AND s.key = ?", "s.value", [key]
        if sort in self.SORT_COLUMNS:
            return "", self.SORT_COLUMNS[sort], []
        raise UsageProblem(
            f"cannot sort by '{sort}': use one of {', '.join(self.SORT_COLUMNS)}, metrics.<name>, params.<name>"
            " or tags.<name>"
        )

    @_reading
    def experiment_summaries(self, q: str | None = None) -> list[ExperimentSummary]:
        """Experiments with the number of their runs matching ``q``, most recently active first."""
        where, args = _run_filter(None, q)
        with self._lock:
            rows = self._conn.execute(
                f"SELECT r.experiment, count(*), max(r.start_time) FROM runs AS r {where}"
                " GROUP BY r.experiment ORDER BY max(r.start_time) DESC, r.experiment", args
            ).fetchall()
        return [ExperimentSummary(name=name, runs=count, last_start=last) for name, count, last in rows]

    @_reading
    def run_columns(self) -> dict[str, list[str]]:
        """Names of the metrics, params and tags that any run has (what a listing can be sorted by)."""
        with self._lock:
            return {
                family: [k for (k,) in self._conn.execute(f"SELECT DISTINCT key FROM {table} ORDER BY key")]
                for family, table in (("metrics", "latest_metrics"), ("params", "params"), ("tags", "tags"))
            }

    @_reading
    def activity(self) -> StoreActivity:
        """Counts and times that change whenever a run starts or ends: cheap enough to poll."""
        with self._lock:
            runs, running, last_start, last_end = self._conn.execute(
                "SELECT count(*), coalesce(sum(status = 'running'), 0), max(start_time), max(end_time) FROM runs"
            ).fetchone()
        return StoreActivity(runs=runs, running=running, last_start=last_start, last_end=last_end)

    @_reading
    def experiments(self) -> list[str]:
        with self._lock:
            return [e for (e,) in self._conn.execute("SELECT DISTINCT experiment FROM runs ORDER BY experiment")]

    @_reading
    def runs_frame(self, experiment: str | None = None, name: str | None = None, last: int | None = None):
        """One row per run: run_id, experiment, name, status, start, duration, params.*, metrics.*, tags.*"""
        import pandas as pd  # only when asked for: pandas costs ~0.3 s to import

        self._reap_quietly()
        where, args = [], []
        if experiment is not None:
            where.append("experiment = ?")
            args.append(experiment)
        if name is not None:
            where.append("name = ?")
            args.append(name)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        limit = f"LIMIT {int(last)}" if last else ""
        selected = f"SELECT run_id FROM runs {clause} ORDER BY start_time DESC {limit}"
        # Every run: no need to look each row's run up in the list of selected ones.
        of_selected = f"WHERE run_id IN ({selected})" if where or last else ""
        columns = ["run_id", "experiment", "name", "status", "start_time", "duration"]
        with self._lock:
            conn = self._conn
            # Metrics (a few names, most often) come as columns of the runs query, in run order.
            metric_keys = [k for (k,) in conn.execute(
                f"SELECT DISTINCT key FROM latest_metrics {of_selected} ORDER BY key", args if of_selected else [])]
            by_column = len(metric_keys) <= 64
            metric_columns = "".join(
                ", (SELECT m.value FROM latest_metrics AS m WHERE m.run_id = r.run_id AND m.key = ?)"
                for _ in metric_keys) if by_column else ""
            try:
                # Each run's params come as one JSON object, built by SQLite and decoded by one json.loads
                # for all runs: 100,000 rows of (run, key, value) took half of runs() at 10,000 runs (issue 7).
                rows = conn.execute(
                    f"SELECT {', '.join('r.' + c for c in columns)}, (SELECT json_group_object(p.key, json(p.value))"
                    f" FROM params AS p WHERE p.run_id = r.run_id){metric_columns} FROM runs AS r"
                    f" WHERE r.run_id IN ({selected}) ORDER BY r.start_time, r.run_id",
                    [*(metric_keys if by_column else []), *args],
                ).fetchall()
                params = None
            except sqlite3.OperationalError as error:
                if "JSON" not in str(error):
                    raise
                # SQLite's JSON has no NaN or Infinity, which a param may hold: read those stores row by row.
                rows = conn.execute(
                    f"SELECT {', '.join(columns)} FROM runs WHERE run_id IN ({selected}) ORDER BY start_time, run_id",
                    args,
                ).fetchall()
                params = conn.execute(
                    f"SELECT run_id, key, value FROM params {of_selected}", args if of_selected else []).fetchall()
                by_column = False
            metrics = [] if by_column else conn.execute(
                f"SELECT run_id, key, value FROM latest_metrics {of_selected}", args if of_selected else []).fetchall()
            tags = conn.execute(
                f"SELECT run_id, key, value FROM tags {of_selected}", args if of_selected else []).fetchall()
        ids = [row[0] for row in rows]
        frame = pd.DataFrame([row[:6] for row in rows] if params is None else rows,
                             columns=["run_id", "experiment", "name", "status", "start", "duration"])
        frame["start"] = pd.to_datetime(frame["start"].astype("float64"), unit="s", utc=True)
        frame["duration"] = frame["duration"].astype("float64")
        # Columns are built from plain lists and decoded a column at a time, not a value at a time: 10,000
        # runs of 10 params and 5 metrics took 0.7 s value by value (issue 7: at most 0.3 s).
        built: dict[str, Any] = {}
        if params is None:
            objects = json.loads("[" + ",".join(row[6] or "{}" for row in rows) + "]")
            for key in sorted(set().union(*objects)):
                built["params." + key] = _param_column([values.get(key) for values in objects])
        if by_column:
            for position, key in enumerate(metric_keys, start=7):
                built["metrics." + key] = _float_column([row[position] for row in rows])  # NULL, none: NaN
        for prefix, items in (("params.", params or []), ("metrics.", metrics), ("tags.", tags)):
            by_key: dict[str, dict[str, Any]] = {}
            for run_id, key, value in items:
                by_key.setdefault(key, {})[run_id] = value
            for key in sorted(by_key):
                get = by_key[key].get
                column: Any = [get(run_id) for run_id in ids]
                if prefix == "metrics.":
                    column = _float_column(column)  # NULL (a NaN) and runs without the metric: NaN
                elif prefix == "params.":
                    column = _param_column(_json_column(column))
                built[prefix + key] = column
        if built:
            frame = pd.concat([frame, pd.DataFrame(built, index=frame.index)], axis=1)
        return frame

    # -------------------------------------------------- artifacts and the model registry (issue 6)
    def _insert_artifacts(self, conn: sqlite3.Connection, artifacts: Iterable[Artifact]) -> None:
        # Logging a name again in the same run replaces the row; the stored file of the old one stays.
        _many(
            conn, "INSERT OR REPLACE INTO artifacts (run_id, kind, name, hash, size, format, origin, created)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [(a.run_id, a.kind, a.name, a.hash, a.size, a.format, a.origin, a.created) for a in artifacts],
        )

    def add_artifacts(self, run_id: str, artifacts: list[Artifact]) -> None:
        """Attach artifacts to a run that is already recorded (``log_model(clf, run="3f2a")``)."""
        with self._write() as conn:
            if conn.execute("SELECT 1 FROM runs WHERE run_id = ?", (run_id,)).fetchone() is None:
                raise RunNotFound(run_id)
            self._insert_artifacts(conn, artifacts)

    def _read_artifacts(self, run_id: str) -> list[Artifact]:
        rows = self._conn.execute(
            "SELECT run_id, name, kind, hash, size, format, origin, created FROM artifacts WHERE run_id = ?"
            " ORDER BY kind, name", (run_id,),
        ).fetchall()
        return [Artifact(*row, path=self.artifacts.path(row[3])) for row in rows]

    @_reading
    def registry_events(self, name: str | None = None, stage: str | None = None) -> list[RegistryEvent]:
        """The registry's history, oldest first, optionally of one model name and stage."""
        with self._lock:
            return self._registry_events(self._conn, name, stage)

    def _registry_events(self, conn: sqlite3.Connection, name: str | None, stage: str | None) -> list[RegistryEvent]:
        where, args = [], []
        for column, value in (("name", name), ("stage", stage)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        rows = conn.execute(
            "SELECT seq, time, name, stage, action, run_id, model_hash, previous_run_id, user, host, forced,"
            f" validation FROM registry {clause} ORDER BY seq", args,
        ).fetchall()
        return [RegistryEvent(*row[:10], forced=bool(row[10]), validation=json.loads(row[11]) if row[11] else None)
                for row in rows]

    def append_registry_event(
        self, name: str, stage: str, decide: Callable[[list[RegistryEvent]], RegistryEvent]
    ) -> RegistryEvent:
        """Append the event ``decide`` makes from the stage's history, read in the same write transaction.

        Two processes promoting at once are serialised here: the second one decides on a history
        that already holds the first one's change, so every event names its real predecessor.
        """
        with self._write() as conn:
            event = decide(self._registry_events(conn, name, stage))
            cursor = conn.execute(
                "INSERT INTO registry (time, name, stage, action, run_id, model_hash, previous_run_id, user, host,"
                " forced, validation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (event.time, event.name, event.stage, event.action, event.run_id, event.model_hash,
                 event.previous_run_id, event.user, event.host, int(event.forced),
                 None if event.validation is None else to_json(event.validation)),
            )
            return dataclasses.replace(event, seq=cursor.lastrowid)

    # ---------------------------------------------------------------- checking
    def doctor(self, interrupted: Iterable[str] = (), hosts_down: Iterable[str] = ()) -> list[DoctorCheck]:
        """Integrity checks of the file, the records and the artifact files, with the repairs that are safe:
        runs of killed processes of this host are marked interrupted, and temporary files that killed
        processes left half-written are removed. ``interrupted`` (run id prefixes) and ``hosts_down`` (host
        names) mark running runs of other hosts interrupted too (see ``mark_runs_interrupted``).

        >>> [check.name for check in store.doctor() if not check.ok]
        []
        """
        interrupted, hosts_down = list(interrupted), list(hosts_down)
        checks = []
        with self._lock:
            conn = self._conn
            try:
                integrity = [r[0] for r in conn.execute("PRAGMA integrity_check")]
            except sqlite3.DatabaseError as error:
                # Too damaged to even list the damage: that is the whole report.
                return [DoctorCheck("integrity", False, str(error))]
            checks.append(DoctorCheck("integrity", integrity == ["ok"], "; ".join(integrity[:5])))
            if integrity != ["ok"]:
                if interrupted or hosts_down:
                    checks.append(DoctorCheck("runs", False, "no run was marked interrupted: the file is damaged"))
                return checks  # the rest would read damaged pages, and marking runs would write to them
            broken_refs = conn.execute("PRAGMA foreign_key_check").fetchall()
            checks.append(DoctorCheck(
                "references", not broken_refs,
                "all references resolve" if not broken_refs else f"{len(broken_refs)} dangling references",
            ))
            mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
            checks.append(DoctorCheck("journal", mode == "wal", f"journal_mode={mode}"))
            checks.append(DoctorCheck("schema", True, f"schema version {self.schema_version} (current {SCHEMA_VERSION})"))
        checks.append(self._check_runs(interrupted, hosts_down))
        checks.append(self._check_artifacts())
        checks.append(self._clean_leftovers())
        return checks

    def _check_runs(self, interrupted: list[str], hosts_down: list[str]) -> DoctorCheck:
        try:
            marked = self.mark_runs_interrupted(interrupted, hosts_down) if interrupted or hosts_down else []
            reaped = self.mark_interrupted()
        except sqlite3.DatabaseError as error:  # a read-only file, or a lock held past the timeout
            return DoctorCheck("runs", False, f"cannot mark runs of killed processes interrupted: {error}")
        here = socket.gethostname()
        with self._lock:
            total, running = self._conn.execute(
                "SELECT count(*), coalesce(sum(status = 'running'), 0) FROM runs").fetchone()
            elsewhere = self._conn.execute(
                "SELECT run_id, host FROM runs WHERE status = 'running' AND host IS NOT ? ORDER BY host, start_time",
                (here,)).fetchall()
        detail = f"{total} runs, {running} running"
        if reaped:
            detail += f"; marked {len(reaped)} killed run(s) interrupted: {_short_ids(reaped)}"
        if marked:
            detail += f"; marked {len(marked)} run(s) interrupted as asked: {_short_ids(marked)}"
        if elsewhere:
            by_host: dict[str, list[str]] = {}
            for run_id, host in elsewhere:
                by_host.setdefault(host or "an unknown host", []).append(run_id)
            hosts = "; ".join(f"{host}: {_short_ids(ids)}" for host, ids in by_host.items())
            detail += (f"; {len(elsewhere)} running on other hosts, whose processes cannot be checked from here"
                       f" ({hosts}): mark those known to be gone with --interrupted RUN or --host-down HOST")
        return DoctorCheck("runs", True, detail)

    def _check_artifacts(self) -> DoctorCheck:
        """Every artifact row's file is there, of its size, and (within HASH_CHECK_BYTES) of its hash."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT hash, size, kind, name, run_id FROM artifacts ORDER BY hash, run_id, kind, name").fetchall()
        files: dict[tuple[str, int], list[str]] = {}
        for digest, size, kind, name, run_id in rows:
            files.setdefault((digest, size), []).append(f"{kind} '{name}' of run {run_id[:8]}")
        hashed, damaged = 0, []
        for (digest, size), owners in files.items():
            by_content = hashed + size <= HASH_CHECK_BYTES
            hashed += size if by_content else 0
            problem = self.artifacts.check(digest, size, by_content=by_content)
            if problem is not None:
                damaged.append(f"{owners[0]}{f' (and {len(owners) - 1} more)' if len(owners) > 1 else ''}: "
                               f"{self.artifacts.path(digest)} {problem}")
        if damaged:
            shown = "; ".join(damaged[:5]) + (f"; and {len(damaged) - 5} more" if len(damaged) > 5 else "")
            return DoctorCheck("artifacts", False, f"{len(damaged)} of {len(files)} files missing or damaged: {shown}")
        if not files:
            return DoctorCheck("artifacts", True, "no artifact files")
        checked = "sizes and hashes" if hashed == sum(size for _, size in files) else (
            f"sizes, and hashes of the first {hashed >> 20} MiB")
        return DoctorCheck("artifacts", True, f"{len(files)} files of {len(rows)} artifacts present ({checked} match)")

    def _clean_leftovers(self) -> DoctorCheck:
        found = self.artifacts.clean_incoming()
        parts = []
        if found.removed:
            parts.append(f"removed {len(found.removed)} file(s) that killed processes left half-written in "
                         f"{self.artifacts.root}: {', '.join(found.removed[:5])}")
        if found.kept:
            parts.append(f"{len(found.kept)} being written now, kept")
        if found.failed:
            parts.append(f"cannot remove {len(found.failed)} half-written file(s): {', '.join(found.failed[:5])}")
        return DoctorCheck("leftovers", not found.failed, "; ".join(parts) or "no half-written files")


def _short_ids(run_ids: list[str]) -> str:
    return ", ".join(r[:8] for r in run_ids[:10]) + (f" and {len(run_ids) - 10} more" if len(run_ids) > 10 else "")


def _proc_stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            stat = handle.read().decode("ascii", "replace")
    except OSError:
        return None
    # Fields after the parenthesised command name, which may itself contain spaces.
    return stat.rsplit(")", 1)[1].split()


@functools.lru_cache(maxsize=4)
def _own_start(pid: int) -> str | None:
    # This process's start tick never changes (a forked child asks with its own pid): read /proc once.
    return _process_started(pid)


def _process_started(pid: int) -> str | None:
    """The kernel's start tick of a process, so a reused pid is not mistaken for the run's owner."""
    fields = _proc_stat(pid)
    return fields[19] if fields else None


def _process_alive(pid: int | None, started: str | None) -> bool:
    if pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    fields = _proc_stat(pid)
    if fields is None:
        return started is None  # no /proc: the signal test is all we have
    # A killed kernel whose parent has not reaped it yet is a zombie: dead for our purpose.
    return fields[0] != "Z" and (started is None or fields[19] == started)



def _run_filter(experiment: str | None, q: str | None) -> tuple[str, list[Any]]:
    """WHERE clause over ``runs AS r``: the experiment, and every word of ``q`` found (case-insensitive)
    in the run's name, experiment, status, id (as a prefix), or a param's or tag's name or value."""
    where, args = [], []
    if experiment is not None:
        where.append("r.experiment = ?")
        args.append(experiment)
    for word in (q or "").split():
        # Over the whole store, each word scans params and tags once (a set of matching runs: 10 ms, not 40,
        # at 10,000 runs); within one experiment, only that experiment's runs are looked into (and a page
        # stops at its last row). ESCAPE only when needed: it slows LIKE by a third.
        escape = ""
        if any(c in word for c in "%_\\"):
            word = word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            escape = " ESCAPE '\\'"
        like = f"LIKE ?{escape}"
        if experiment is None:
            params = f"r.run_id IN (SELECT run_id FROM params WHERE key {like} OR value {like})"
            tags = f"r.run_id IN (SELECT run_id FROM tags WHERE key {like} OR value {like})"
        else:
            params = ("EXISTS (SELECT 1 FROM params AS p WHERE p.run_id = r.run_id"
                      f" AND (p.key {like} OR p.value {like}))")
            tags = f"EXISTS (SELECT 1 FROM tags AS t WHERE t.run_id = r.run_id AND (t.key {like} OR t.value {like}))"
        where.append(
            f"(r.name {like} OR r.experiment {like} OR r.status {like} OR r.run_id {like} OR {params} OR {tags})"
        )
        contains = f"%{word}%"
        args.extend([contains, contains, contains, f"{word.lower()}%", contains, contains, contains, contains])
    return (f"WHERE {' AND '.join(where)}" if where else ""), args


def _json_column(texts: list[str | None]) -> list[Any]:
    """Decode a column of JSON texts (None where a run has no value) with one parse instead of one each."""
    try:
        return json.loads("[" + ",".join("null" if text is None else text for text in texts) + "]")
    except ValueError:  # a value that is not JSON on its own: decode one by one, to fail as before on it
        return [None if text is None else json.loads(text) for text in texts]


def _float_column(values: list[float | None]) -> Any:
    """A metric column as float64, None (SQL NULL, or a run without the metric) as NaN."""
    import numpy as np  # pandas' own dependency: loaded with it

    return np.array(values, dtype=np.float64)


_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1


def _param_column(values: list[Any]) -> Any:
    """Integer params missing from some runs stay integers (nullable Int64), not floats like 8.0."""
    import pandas as pd

    present = [v for v in values if v is not None]
    if present and len(present) < len(values) and all(type(v) is int and _INT64_MIN <= v <= _INT64_MAX
                                                      for v in present):
        return pd.array(values, dtype="Int64")
    return values
