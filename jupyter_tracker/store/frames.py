"""DataFrames of runs and metric series, and the column helpers that build them fast.

``frame_rows`` reads under the store's lock; ``runs_frame`` builds the DataFrame after it is released
(pandas is imported only here, only when a frame is asked for: it costs ~0.3 s to import).
"""

from __future__ import annotations

import json
import math
import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas

    from ..records import GroupsPage

FRAME_COLUMNS = ["run_id", "experiment", "name", "status", "start", "duration"]
_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1


@dataclass(frozen=True)
class FrameRows:
    """What a runs frame is built from. ``params`` is None when each row carries its params as one JSON
    object (column 6); ``metric_keys`` are the metrics carried as columns 7, 8, ... of each row (empty
    when ``metrics`` holds them as (run, key, value) rows instead)."""

    rows: list[tuple[Any, ...]]
    params: list[tuple[str, str, str]] | None
    metric_keys: list[str]
    metrics: list[tuple[str, str, float | None]]
    tags: list[tuple[str, str, str]]


def frame_rows(conn: sqlite3.Connection, experiment: str | None, name: str | None, last: int | None) -> FrameRows:
    """The rows of the runs of ``experiment`` and ``name`` (the ``last`` latest of them), oldest first."""
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
    return FrameRows(rows, params, metric_keys if by_column else [], metrics, tags)


def runs_frame(found: FrameRows) -> pandas.DataFrame:
    """One row per run: run_id, experiment, name, status, start, duration, params.*, metrics.*, tags.*"""
    import pandas as pd  # only when asked for: pandas costs ~0.3 s to import

    rows, params = found.rows, found.params
    ids = [row[0] for row in rows]
    frame = pd.DataFrame([row[:6] for row in rows] if params is None else rows, columns=FRAME_COLUMNS)
    frame["start"] = pd.to_datetime(frame["start"].astype("float64"), unit="s", utc=True)
    frame["duration"] = frame["duration"].astype("float64")
    # Columns are built from plain lists and decoded a column at a time, not a value at a time: 10,000
    # runs of 10 params and 5 metrics took 0.7 s value by value (issue 7: at most 0.3 s).
    built: dict[str, Any] = {}
    if params is None:
        objects = json.loads("[" + ",".join(row[6] or "{}" for row in rows) + "]")
        for key in sorted(set().union(*objects)):
            built["params." + key] = _param_column([values.get(key) for values in objects])
    for position, key in enumerate(found.metric_keys, start=7):
        built["metrics." + key] = _float_column([row[position] for row in rows])  # NULL, none: NaN
    items: tuple[tuple[str, list[tuple[str, str, Any]]], ...] = (
        ("params.", list(params or [])), ("metrics.", list(found.metrics)), ("tags.", list(found.tags)))
    for prefix, family in items:
        by_key: dict[str, dict[str, Any]] = {}
        for run_id, key, value in family:
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


def series_frame(rows: list[tuple[int | None, float | None, float]]) -> pandas.DataFrame:
    """A metric's (step, value, timestamp) rows as a DataFrame, NULL values as NaN."""
    import pandas as pd  # only when asked for: pandas costs ~0.3 s to import

    frame = pd.DataFrame(rows, columns=["step", "value", "timestamp"])
    frame["value"] = frame["value"].astype("float64")  # NULL is NaN
    return frame


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


def _param_column(values: list[Any]) -> Any:
    """Integer params missing from some runs stay integers (nullable Int64), not floats like 8.0."""
    import pandas as pd

    present = [v for v in values if v is not None]
    if present and len(present) < len(values) and all(type(v) is int and _INT64_MIN <= v <= _INT64_MAX
                                                      for v in present):
        return pd.array(values, dtype="Int64")
    return values


GROUP_STATISTICS = ("mean", "std", "min", "max", "count")


def groups_frame(found: GroupsPage) -> pandas.DataFrame:
    """One row per group: the by-params (bare names), ``runs``, and ``<m>.mean``, ``.std``, ``.min``, ``.max``,
    ``.count`` of each metric (NaN where a group has no finite value of it)."""
    import pandas as pd  # only when asked for: pandas costs ~0.3 s to import

    names = [column[len("params."):] for column in found.by]
    columns = [*names, "runs", *(f"{m}.{s}" for m in found.metrics for s in GROUP_STATISTICS)]
    rows = []
    for group in found.groups:
        row = [group.key[column] for column in found.by] + [group.runs]
        for metric in found.metrics:
            stats = group.metrics[metric]
            row += [math.nan if stats[s] is None else stats[s] for s in GROUP_STATISTICS]
        rows.append(row)
    frame = pd.DataFrame(rows, columns=columns)
    for position, name in enumerate(names):
        values = [row[position] for row in rows]
        if any(v is None for v in values):  # integer params stay integers (nullable Int64), as in runs()
            frame[name] = pd.Series(_param_column(values), index=frame.index, dtype=None)
    for metric in found.metrics:
        frame[f"{metric}.count"] = frame[f"{metric}.count"].astype("int64")
    return frame
