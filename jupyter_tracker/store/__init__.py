"""The store: the only package that speaks SQL.

One SQLite file in WAL mode. Every write is one ``BEGIN IMMEDIATE`` transaction with a busy
timeout, so many processes (parallel kernels, reruns, batch workers) can write at once without
"database is locked". Public methods return records or DataFrames.

``Store`` holds the connection, its lock and what this process already wrote, and opens the
transactions; the work is done by the modules, each taking the connection:

- open.py: refusing foreign and newer files, connecting, migrating (schema.py), the transaction
- write.py: a run's start, live metric batches, its end or import, artifact rows, registry events
- live.py: runs whose process is gone, marked interrupted (on request, and by readers on their way)
- query.py: id prefixes, whole runs, the previous run, metric points, paging and search, summaries
- table.py: the runs table (every column, filtered, sorted, paged) and groups of runs by params
- filter.py: filter expressions (``metrics.acc > 0.9 and params.model == "rf"``) parsed into bound SQL
- search.py: the FTS5 index of each run's code and history, kept in sync by the writes
- frames.py: DataFrames of runs and metric series
- doctor.py: integrity checks of the file, its runs and its artifact files
- artifacts.py: the content-addressed artifact files beside the store
- codec.py: content hashes, JSON and metric values as stored
"""

from __future__ import annotations

import functools
import os
import sqlite3
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator, TypeVar

from ..config import resolve_settings
from ..errors import StoreDamaged, StoreError
from ..records import Artifact, DataRef, ExperimentSummary, MetricPoint, RegistryEvent, Run, RunsPage, Seed
from ..records import GroupsPage, RunsTable, StoreActivity
from . import doctor as checks
from . import frames, live, query, search, table, write
from . import open as opening  # the module: not the builtin, which this one never needs
from .artifacts import ArtifactFiles
from .codec import HISTORY_CHAIN_MAX, HISTORY_DELTA_FROM, content_hash, metric_from_sql, metric_to_sql, to_json
from .doctor import HASH_CHECK_BYTES, DoctorCheck
from .live import INTERRUPTED_MESSAGE, REAP_TIMEOUT_SECONDS
from .open import BUSY_TIMEOUT_SECONDS, SQLITE_HEADER
from .query import HEX_DIGITS

if TYPE_CHECKING:
    import pandas

__all__ = [
    "BUSY_TIMEOUT_SECONDS", "HASH_CHECK_BYTES", "HEX_DIGITS", "HISTORY_CHAIN_MAX", "HISTORY_DELTA_FROM",
    "INTERRUPTED_MESSAGE", "REAP_TIMEOUT_SECONDS", "SQLITE_HEADER", "DoctorCheck", "Store", "content_hash",
    "metric_from_sql", "metric_to_sql", "open_store", "to_json",
]

Method = TypeVar("Method", bound=Callable[..., Any])


SEARCH_CHUNK = 250  # runs indexed for search a transaction (about 40 ms)


def _reading(method: Method) -> Method:
    """A file damaged after it was opened fails only on the pages a query touches: the first such read
    marks the store damaged (StoreDamaged), and every later call is refused the same way."""

    @functools.wraps(method)
    def wrapper(self: Store, *args: Any, **kwargs: Any) -> Any:
        self._refuse_if_damaged()
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as error:
            self._note_damage(error)
            raise StoreError(f"cannot read store {self.path}: {str(error)[:200]}") from None

    return wrapper  # type: ignore[return-value]


class Store:
    """A tracker store in one SQLite file.

    For example::

        store = Store("/tmp/example/tracker.db")  # created if missing
        store.runs_frame().shape[0]

    For example::

        0
    """

    # What runs_page sorts by, besides metrics.<m>, params.<p> and tags.<t>.
    SORT_COLUMNS = query.SORT_COLUMNS

    def __init__(
        self, path: str | os.PathLike, create: bool = True, artifacts_dir: str | os.PathLike | None = None
    ) -> None:
        self.path = Path(path)
        # Models and figures live beside the file (config.resolve_settings decides where; this is its default).
        self.artifacts = ArtifactFiles(Path(artifacts_dir) if artifacts_dir else self.path.parent / "artifacts")
        self._lock = threading.RLock()
        self._written = write.WriteCache()
        self._warned: set[str] = set()  # each reason reaping or indexing failed is told once per process
        self.damage: str | None = None  # what SQLite said when it found the file damaged
        self._conn = opening.connect(self.path, create)

    @property
    def schema_version(self) -> int:
        return opening.schema_version(self._conn)

    def close(self) -> None:
        self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        self._refuse_if_damaged()
        try:
            with opening.transaction(self._conn, self._lock) as conn:
                yield conn
        except sqlite3.DatabaseError as error:
            self._note_damage(error)
            raise

    # ------------------------------------------------------------------ damage
    def check_integrity(self) -> None:
        """SQLite's quick check of the whole file; StoreDamaged if it fails. Long writers (rerun, batch) call
        it before they start, so that no execution writes into a damaged file (issue 13)."""
        self._refuse_if_damaged()
        with self._lock:
            try:
                found = [row[0] for row in self._conn.execute("PRAGMA quick_check")]
            except sqlite3.DatabaseError as error:
                found = [str(error)]
        if found != ["ok"]:
            self.damage = "; ".join(found[:3])[:300]
            raise StoreDamaged(self.path, self.damage)

    def _refuse_if_damaged(self) -> None:
        if self.damage is not None:
            raise StoreDamaged(self.path, self.damage)

    def _note_damage(self, error: sqlite3.DatabaseError) -> None:
        """Mark the store damaged when SQLite says so (not for a lock or a full disk), and raise it."""
        if opening.is_damage(error):
            self.damage = str(error)[:300]
            raise StoreDamaged(self.path, self.damage) from None

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
        refs = list(inputs)
        if history is None and code is not None:
            history = [code]
        pending = self._written.pending(refs, code=code, history=history)
        with self._write() as conn:
            write.begin_run(conn, pending, run_id, experiment, name, source, start, tags, session_id, session_seq,
                            params or {}, list(seeds), refs)
        self._written.remember(pending)

    def append_metrics(self, run_id: str, points: list[MetricPoint]) -> None:
        """Add a batch of a running run's metric points, in one transaction: a reader sees all of them or none.

        The live writer calls this about twice a second while a run logs (issue 12); points continue each
        key's ``seq`` after those already stored, so the run's final write adds only the rest.
        """
        if not points:
            return
        with self._write() as conn:
            write.insert_metrics(conn, run_id, points)

    def finish_run(self, run: Run, metric_points: Iterable[MetricPoint] = ()) -> None:
        """Write everything recorded about a run, and its final status, in one transaction."""
        self._write_run(run, list(metric_points), imported=False)

    def import_run(self, run: Run, metric_points: Iterable[MetricPoint] = ()) -> None:
        """Write a whole run recorded elsewhere (a Dask worker's own store), keeping its id, times and status."""
        self._write_run(run, list(metric_points), imported=True)

    def _write_run(self, run: Run, points: list[MetricPoint], imported: bool) -> None:
        pending = self._written.pending([*run.inputs, *run.outputs], code=run.code, history=run.history,
                                        environment_json=to_json(run.environment))
        with self._write() as conn:
            write.write_run(conn, pending, run, points, imported)
        self._written.remember(pending)

    def link_rerun(self, run_id: str, original_id: str) -> None:
        """Record that ``run_id`` re-executed ``original_id``."""
        with self._write() as conn:
            write.link_rerun(conn, run_id, original_id)

    # -------------------------------------------------- artifacts and the model registry (issue 6)
    def add_artifacts(self, run_id: str, artifacts: list[Artifact]) -> None:
        """Attach artifacts to a run that is already recorded (``log_model(clf, run="3f2a")``)."""
        with self._write() as conn:
            write.add_artifacts(conn, run_id, artifacts)

    @_reading
    def registry_events(self, name: str | None = None, stage: str | None = None) -> list[RegistryEvent]:
        """The registry's history, oldest first, optionally of one model name and stage."""
        with self._lock:
            return query.registry_events(self._conn, name, stage)

    def append_registry_event(
        self, name: str, stage: str, decide: Callable[[list[RegistryEvent]], RegistryEvent]
    ) -> RegistryEvent:
        """Append the event ``decide`` makes from the stage's history, read in the same write transaction.

        Two processes promoting at once are serialised here: the second one decides on a history
        that already holds the first one's change, so every event names its real predecessor.
        """
        with self._write() as conn:
            return write.append_registry_event(conn, name, stage, decide)

    # ---------------------------------------------------------------- liveness
    def mark_interrupted(self, timeout: float | None = None) -> list[str]:
        """Mark ``running`` runs whose owning process on this host is gone as ``interrupted``.

        Runs of other hosts are left alone: whether their process lives cannot be known from here
        (``mark_runs_interrupted`` marks them when the user knows). ``timeout`` bounds the wait for
        the write lock (default: the store's busy timeout); sqlite3 errors propagate.
        """
        self._refuse_if_damaged()
        with self._lock:
            dead = live.dead_runs(self._conn)
        if dead:
            now = time.time()
            with self._lock, opening.busy_timeout(self._conn, timeout), self._write() as conn:
                live.mark_dead(conn, dead, now)
        return dead

    def mark_runs_interrupted(self, run_ids: Iterable[str] = (), hosts: Iterable[str] = ()) -> list[str]:
        """Mark running runs interrupted that this host cannot check by itself: the runs ``run_ids``
        (any unique prefixes) and every running run recorded on one of ``hosts`` (a machine that crashed).

        Refuses (UsageProblem, nothing marked) a run that is not running, a run whose process is alive
        on this host, and this host itself, whose runs ``mark_interrupted`` checks by their process.

        For example::

            store.mark_runs_interrupted(["3f2a"], hosts=["gpu-box-2"])
            ['3f2a1b0c...', ...]
        """
        with self._write() as conn:
            return live.mark_runs_interrupted(conn, self.resolve, run_ids, hosts)

    def _reap_quietly(self) -> None:
        # Readers mark killed runs on the way (see live.reap_quietly).
        live.reap_quietly(self.mark_interrupted, self.path, self._warned)

    def _search_ready(self, q: str | None) -> None:
        """Before a search by code: index the runs added since the last search (search.py), waiting at most
        REAP_TIMEOUT_SECONDS for the write lock. A store that cannot be written (a read-only file) is
        searched as far as it is indexed, and a warning line says so once."""
        if not (q and any(search.code_match(word) for word in q.split())):
            return
        with self._lock:
            if not search.pending(self._conn):
                return
        try:
            indexed = SEARCH_CHUNK
            while indexed == SEARCH_CHUNK:  # a chunk a transaction: other readers and writers get their turn
                with self._lock, opening.busy_timeout(self._conn, REAP_TIMEOUT_SECONDS), self._write() as conn:
                    indexed = search.catch_up(conn, SEARCH_CHUNK)
        except sqlite3.OperationalError as error:
            message = f"cannot index the newest runs' code for search in {self.path}: {error}"
            if message not in self._warned:
                self._warned.add(message)
                print(f"jupyter_tracker warning: {message}", file=sys.stderr)

    # ------------------------------------------------------------------- reads
    @_reading
    def resolve(self, prefix: str) -> str:
        """The one run id starting with ``prefix``; RunNotFound or AmbiguousRunId otherwise."""
        with self._lock:
            return query.resolve(self._conn, prefix)

    @_reading
    def get_run(self, run_id: str) -> Run:
        self._reap_quietly()
        with self._lock:
            return query.read_run(self._conn, self.artifacts, self.resolve(run_id))

    @_reading
    def previous_run(self, experiment: str, name: str, before: float, exclude: str,
                     known: Run | None = None) -> Run | None:
        """The latest ended run of the same experiment and name that started before ``before``,
        without its code, history and environment (what a cell summary compares against).

        ``known`` is a run the caller recorded itself: when it is that run, it is returned as it is
        instead of being read back (six queries a tracked cell, a quarter of a millisecond, issue 7).
        """
        with self._lock:
            return query.previous_run(self._conn, self.artifacts, experiment, name, before, exclude, known)

    @_reading
    def metric_series(self, run_id: str, name: str) -> pandas.DataFrame:
        """A metric's points as a DataFrame with columns step, value, timestamp."""
        run_id = self.resolve(run_id)
        with self._lock:
            rows = query.metric_series(self._conn, run_id, name)
        return frames.series_frame(rows)

    @_reading
    def metric_points(self, run_id: str) -> list[MetricPoint]:
        """Every logged point of every metric of a run, in the order logged."""
        with self._lock:
            return query.metric_points(self._conn, self.resolve(run_id))

    @_reading
    def session_runs(self, session_id: str) -> list[str]:
        """Ids of the runs one kernel or process recorded, in the order its tracked cells ran."""
        with self._lock:
            return query.session_runs(self._conn, session_id)

    @_reading
    def tagged_runs(self, key: str, value: str) -> list[str]:
        """Ids of the runs carrying tag ``key=value``, oldest first."""
        with self._lock:
            return query.tagged_runs(self._conn, key, value)

    @_reading
    def count_runs(self) -> int:
        with self._lock:
            return query.count_runs(self._conn)

    # ------------------------------------------------------------ paged reads
    @_reading
    def runs_page(
        self, experiment: str | None = None, q: str | None = None, sort: str = "start", descending: bool = True,
        limit: int = 50, offset: int = 0,
    ) -> RunsPage:
        """Runs of ``experiment`` matching the search text ``q``, sorted by ``sort`` (a column of
        ``SORT_COLUMNS`` or ``metrics.<m>``, ``params.<p>``, ``tags.<t>``; runs without a value come
        last either way), ``limit`` of them from ``offset``, with the number matching in all.

        For example::

            store.runs_page(q="rf", sort="metrics.acc", limit=20).total
        """
        self._reap_quietly()
        self._search_ready(q)
        with self._lock:
            return query.runs_page(self._conn, experiment, q, sort, descending, limit, offset)

    @_reading
    def runs_table(
        self, experiment: str | None = None, filter: str | None = None, q: str | None = None, sort: str = "start",
        descending: bool = True, limit: int = 100, offset: int = 0, columns: list[str] | None = None,
    ) -> RunsTable:
        """A page of the runs table (issue 14): runs of ``experiment`` matching the filter expression and the
        search text ``q``, sorted by ``sort`` (a field, ``metrics.<m>``, ``params.<p>`` or ``tags.<t>``; runs
        without a value last either way), with the values of ``columns`` (all when None), every column of
        the matching runs (and whether it is constant) and the number matching.

        For example::

            store.runs_table(filter='params.model == "rf"', sort="metrics.acc", limit=20).total
        """
        self._reap_quietly()
        self._search_ready(q)
        with self._lock:
            return table.runs_table(self._conn, experiment, filter, q, sort, descending, limit, offset, columns)

    @_reading
    def groups(
        self, by: list[str], experiment: str | None = None, filter: str | None = None, q: str | None = None,
        metrics: list[str] | None = None, sort: str | None = None, descending: bool = False,
        limit: int | None = None, offset: int = 0,
    ) -> GroupsPage:
        """Groups of the matching runs by the params ``by`` with each metric's mean, std, min, max and count
        (see ``table.groups``).

        For example::

            store.groups(["model", "max_depth"], experiment="churn").groups[0].metrics["acc"]["mean"]
        """
        self._search_ready(q)
        with self._lock:
            return table.groups(self._conn, by, experiment, filter, q, metrics, sort, descending, limit, offset)

    @_reading
    def groups_frame(self, by: list[str], experiment: str | None = None, filter: str | None = None,
                     q: str | None = None, runs: list[str] | None = None) -> pandas.DataFrame:
        """Every group of ``groups`` (of ``runs`` only, ids, when given) as a DataFrame: the by-params, runs,
        and <m>.mean/std/min/max/count."""
        self._search_ready(q)
        with self._lock:
            found = table.groups(self._conn, by, experiment, filter, q, None, None, False, None, 0, runs)
        return frames.groups_frame(found)

    @_reading
    def experiment_summaries(self, q: str | None = None) -> list[ExperimentSummary]:
        """Experiments with the number of their runs matching ``q``, most recently active first."""
        self._search_ready(q)
        with self._lock:
            return query.experiment_summaries(self._conn, q)

    @_reading
    def run_columns(self) -> dict[str, list[str]]:
        """Names of the metrics, params and tags that any run has (what a listing can be sorted by)."""
        with self._lock:
            return query.run_columns(self._conn)

    @_reading
    def activity(self) -> StoreActivity:
        """Counts and times that change whenever a run starts or ends: cheap enough to poll."""
        with self._lock:
            return query.activity(self._conn)

    @_reading
    def experiments(self) -> list[str]:
        with self._lock:
            return query.experiments(self._conn)

    @_reading
    def runs_frame(self, experiment: str | None = None, name: str | None = None,
                   last: int | None = None) -> pandas.DataFrame:
        """One row per run: run_id, experiment, name, status, start, duration, params.*, metrics.*, tags.*"""
        self._reap_quietly()
        with self._lock:
            rows = frames.frame_rows(self._conn, experiment, name, last)
        return frames.runs_frame(rows)  # built after the lock is released: the live writer shares it

    # ---------------------------------------------------------------- checking
    def doctor(self, interrupted: Iterable[str] = (), hosts_down: Iterable[str] = ()) -> list[DoctorCheck]:
        """Integrity checks of the file, the records and the artifact files, with the repairs that are safe:
        runs of killed processes of this host are marked interrupted, and temporary files that killed
        processes left half-written are removed. ``interrupted`` (run id prefixes) and ``hosts_down`` (host
        names) mark running runs of other hosts interrupted too (see ``mark_runs_interrupted``).

        For example::

            [check.name for check in store.doctor() if not check.ok]
            []
        """
        interrupted, hosts_down = list(interrupted), list(hosts_down)
        with self._lock:
            found, sound = checks.file_checks(self._conn, marking=bool(interrupted or hosts_down))
        if not found[0].ok:  # the integrity check: the file is damaged
            self.damage = found[0].detail[:300] or "integrity check failed"
            found.append(checks.recovery_check(self.path))
        if not sound:
            return found
        found.append(self._check_runs(interrupted, hosts_down))
        with self._lock:
            rows = checks.artifact_rows(self._conn)
        found.append(checks.artifacts_check(rows, self.artifacts))  # files are read outside the lock
        found.append(checks.leftovers_check(self.artifacts))
        return found

    def _check_runs(self, interrupted: list[str], hosts_down: list[str]) -> DoctorCheck:
        try:
            marked = self.mark_runs_interrupted(interrupted, hosts_down) if interrupted or hosts_down else []
            reaped = self.mark_interrupted()
        except sqlite3.DatabaseError as error:  # a read-only file, or a lock held past the timeout
            return DoctorCheck("runs", False, f"cannot mark runs of killed processes interrupted: {error}")
        with self._lock:
            return checks.runs_check(self._conn, reaped, marked)


_stores: dict[Path, Store] = {}


def open_store(db: str | os.PathLike | None = None, create: bool = True) -> Store:
    """The store at ``db`` (or the resolved default, see ``config.resolve_settings``), opened once per
    process and path (again if its file was removed meanwhile).

    >>> open_store("/tmp/example/tracker.db") is open_store("/tmp/example/tracker.db")
    True
    """
    settings = resolve_settings(db)
    path = settings.db_path
    store = _stores.get(path)
    if store is None or (not path.exists()):
        store = Store(path, create=create, artifacts_dir=settings.artifacts_dir)
        _stores[path] = store
    return store
