"""Reading runs: resolving id prefixes, whole runs, the previous run, metric points, paging and search.

Functions take the store's connection; ``Store`` holds its lock around them. The sidebar lists runs a
page at a time, filtered, sorted and counted here in SQL, so the first page stays fast with 10,000
runs (issue 4: at most 50 ms server time).
"""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from ..errors import AmbiguousRunId, RunNotFound, UsageProblem, shortened
from ..records import Artifact, DataRef, ExperimentSummary, Fingerprint, MetricPoint, RegistryEvent, Run, RunsPage
from ..records import RunSummary, Seed, StoreActivity
from .artifacts import ArtifactFiles
from .codec import HISTORY_CHAIN_MAX, metric_from_sql
from .search import code_condition, code_match, history_match

HEX_DIGITS = set("0123456789abcdef")
SORT_COLUMNS = {
    "start": "r.start_time", "end": "r.end_time", "duration": "r.duration", "name": "r.name",
    "experiment": "r.experiment", "status": "r.status", "run_id": "r.run_id",
}
_NOT_NULL = {"r.start_time", "r.name", "r.experiment", "r.status", "r.run_id"}


def resolve(conn: sqlite3.Connection, prefix: str) -> str:
    """The one run id starting with ``prefix``; RunNotFound or AmbiguousRunId otherwise."""
    prefix = prefix.strip().lower()
    if not prefix or not set(prefix) <= HEX_DIGITS:
        raise RunNotFound(prefix)
    rows = conn.execute(
        "SELECT run_id FROM runs WHERE run_id >= ? AND run_id < ? ORDER BY run_id",
        (prefix, prefix + "g"),
    ).fetchall()
    if not rows:
        raise RunNotFound(prefix)
    if len(rows) > 1:
        raise AmbiguousRunId(prefix, [r[0] for r in rows])
    return rows[0][0]


def read_run(conn: sqlite3.Connection, files: ArtifactFiles, run_id: str, with_code: bool = True) -> Run:
    """Everything recorded about the run ``run_id`` (a whole id); without code, history and environment
    unless ``with_code``."""
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
        hashes = _history_hashes(conn, history_hash)
        contents = _blobs(conn, hashes)
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
        code=_blob(conn, code_hash) if code_hash and with_code else "",
        history=history,
        environment=json.loads(_blob(conn, environment_hash)) if environment_hash and with_code else {},
        error=row[11], warnings=json.loads(row[12]),
        rerun_of=row[13], session_id=row[14], session_seq=row[15],
        hidden_state=json.loads(row[16]) if row[16] else None,
        artifacts=read_artifacts(conn, files, run_id),
    )


def _blob(conn: sqlite3.Connection, blob_hash: str) -> str:
    row = conn.execute("SELECT content FROM blobs WHERE hash = ?", (blob_hash,)).fetchone()
    return row[0] if row else ""


def _blobs(conn: sqlite3.Connection, hashes: list[str]) -> dict[str, str]:
    found: dict[str, str] = {}
    unique = list(dict.fromkeys(hashes))
    for start in range(0, len(unique), 500):
        chunk = unique[start:start + 500]
        marks = ",".join("?" * len(chunk))
        found.update(conn.execute(f"SELECT hash, content FROM blobs WHERE hash IN ({marks})", chunk))
    return found


def _history_hashes(conn: sqlite3.Connection, history_hash: str) -> list[str]:
    """The source hashes of a stored history, following its continuations back to a whole list."""
    parts = []
    for _ in range(10 * HISTORY_CHAIN_MAX):  # a bound, against a damaged file's loop
        stored = json.loads(_blob(conn, history_hash) or "[]")
        if not isinstance(stored, dict):
            parts.append(stored)
            break
        parts.append(stored["added"])
        history_hash = stored["continues"]
    return [h for part in reversed(parts) for h in part]


def read_artifacts(conn: sqlite3.Connection, files: ArtifactFiles, run_id: str) -> list[Artifact]:
    rows = conn.execute(
        "SELECT run_id, name, kind, hash, size, format, origin, created FROM artifacts WHERE run_id = ?"
        " ORDER BY kind, name", (run_id,),
    ).fetchall()
    return [Artifact(*row, path=files.path(row[3])) for row in rows]


def previous_run(conn: sqlite3.Connection, files: ArtifactFiles, experiment: str, name: str, before: float,
                 exclude: str, known: Run | None) -> Run | None:
    """The latest ended run of ``experiment`` and ``name`` started before ``before``, without its code
    (``known`` itself when it is that run)."""
    row = conn.execute(
        "SELECT run_id FROM runs WHERE experiment = ? AND name = ? AND start_time <= ? AND run_id != ?"
        " AND status != 'running' ORDER BY start_time DESC LIMIT 1",
        (experiment, name, before, exclude),
    ).fetchone()
    if row and known is not None and known.run_id == row[0]:
        return known
    return read_run(conn, files, row[0], with_code=False) if row else None


def metric_series(conn: sqlite3.Connection, run_id: str, name: str) -> list[tuple[int | None, float | None, float]]:
    """The (step, value, timestamp) rows of one metric of a run (a whole id), in the order logged."""
    return conn.execute(
        "SELECT step, value, timestamp FROM metrics WHERE run_id = ? AND key = ? ORDER BY seq",
        (run_id, name),
    ).fetchall()


def metric_points(conn: sqlite3.Connection, run_id: str) -> list[MetricPoint]:
    return [MetricPoint(key, metric_from_sql(value), step, timestamp) for key, step, value, timestamp in
            conn.execute("SELECT key, step, value, timestamp FROM metrics WHERE run_id = ?"
                         " ORDER BY key, seq", (run_id,))]


def session_runs(conn: sqlite3.Connection, session_id: str) -> list[str]:
    return [r for (r,) in conn.execute(
        "SELECT run_id FROM runs WHERE session_id = ? ORDER BY session_seq, start_time", (session_id,))]


def tagged_runs(conn: sqlite3.Connection, key: str, value: str) -> list[str]:
    return [r for (r,) in conn.execute(
        "SELECT r.run_id FROM tags AS t JOIN runs AS r ON r.run_id = t.run_id"
        " WHERE t.key = ? AND t.value = ? ORDER BY r.start_time, r.session_seq", (key, value))]


def count_runs(conn: sqlite3.Connection) -> int:
    return conn.execute("SELECT count(*) FROM runs").fetchone()[0]


def runs_page(conn: sqlite3.Connection, experiment: str | None, q: str | None, sort: str, descending: bool,
              limit: int, offset: int) -> RunsPage:
    """One page of runs, filtered by ``experiment`` and the search text ``q``, sorted by ``sort``
    (see ``Store.runs_page``), with the number matching in all."""
    where, args = run_filter(experiment, q)
    join, key, join_args = _sort_join(sort)
    # Runs without a value sort last both ways. Without that term, ordering by start within an
    # experiment walks the runs_by_experiment index and stops after one page (0.1 ms at 10,000 runs).
    nulls_last = "" if key in _NOT_NULL else f"({key}) IS NULL, "
    order = f"{nulls_last}{key} {'DESC' if descending else 'ASC'}, r.start_time DESC, r.run_id"
    # A search over the whole store is evaluated once, counting in the same pass. Within an experiment
    # the page stops after its last row (0.4 ms) and the count is a second query.
    count_in_page = experiment is None and bool(q and q.split())
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


def _sort_join(sort: str) -> tuple[str, str, list[str]]:
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
    if sort in SORT_COLUMNS:
        return "", SORT_COLUMNS[sort], []
    raise UsageProblem(
        f"cannot sort by '{shortened(sort)}': use one of {', '.join(SORT_COLUMNS)}, metrics.<name>, params.<name>"
        " or tags.<name>"
    )


def run_filter(experiment: str | None, q: str | None) -> tuple[str, list[Any]]:
    """WHERE clause over ``runs AS r``: the experiment, and every word of ``q`` found (case-insensitive)
    in the run's name, experiment, status, id (as a prefix), or a param's or tag's name or value, or (as a
    word prefix, through the FTS5 index of search.py) in its cell code or execution history."""
    where, args = run_conditions(experiment, q)
    return (f"WHERE {' AND '.join(where)}" if where else ""), args


def run_conditions(experiment: str | None, q: str | None) -> tuple[list[str], list[Any]]:
    """The conditions of ``run_filter``, to be joined with AND (with others, such as a table's filter)."""
    where, args = [], []
    if experiment is not None:
        where.append("r.experiment = ?")
        args.append(experiment)
    for word in (q or "").split():
        # Over the whole store, each word scans params and tags once (a set of matching runs: 10 ms, not 40,
        # at 10,000 runs); within one experiment, only that experiment's runs are looked into (and a page
        # stops at its last row). ESCAPE only when needed: it slows LIKE by a third.
        code = code_match(word)
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
        # Code and history (issue 14): the word as a phrase prefix of the FTS5 index ("max_depth=8" is the
        # phrase max depth 8); the index answers for the whole store at once.
        in_code = f" OR {code_condition()}" if code else ""
        where.append(
            f"(r.name {like} OR r.experiment {like} OR r.status {like} OR r.run_id {like} OR {params} OR {tags}"
            f"{in_code})"
        )
        contains = f"%{word}%"
        args.extend([contains, contains, contains, f"{word.lower()}%", contains, contains, contains, contains])
        if code:
            args.extend([code, history_match(code)])
    return where, args


def experiment_summaries(conn: sqlite3.Connection, q: str | None) -> list[ExperimentSummary]:
    where, args = run_filter(None, q)
    rows = conn.execute(
        f"SELECT r.experiment, count(*), max(r.start_time) FROM runs AS r {where}"
        " GROUP BY r.experiment ORDER BY max(r.start_time) DESC, r.experiment", args
    ).fetchall()
    return [ExperimentSummary(name=name, runs=count, last_start=last) for name, count, last in rows]


def run_columns(conn: sqlite3.Connection) -> dict[str, list[str]]:
    return {
        family: [k for (k,) in conn.execute(f"SELECT DISTINCT key FROM {table} ORDER BY key")]
        for family, table in (("metrics", "latest_metrics"), ("params", "params"), ("tags", "tags"))
    }


def activity(conn: sqlite3.Connection) -> StoreActivity:
    runs, running, last_start, last_end = conn.execute(
        "SELECT count(*), coalesce(sum(status = 'running'), 0), max(start_time), max(end_time) FROM runs"
    ).fetchone()
    return StoreActivity(runs=runs, running=running, last_start=last_start, last_end=last_end)


def experiments(conn: sqlite3.Connection) -> list[str]:
    return [e for (e,) in conn.execute("SELECT DISTINCT experiment FROM runs ORDER BY experiment")]


def registry_events(conn: sqlite3.Connection, name: str | None, stage: str | None) -> list[RegistryEvent]:
    """The registry's history, oldest first, optionally of one model name and stage."""
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
