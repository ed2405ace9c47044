"""The runs table of JupyterLab (issue 14): pages of runs with a column for every param, metric and tag,
filtered (filter.py), searched (query.py), sorted and paged by SQLite; and groups of runs by params, with
each metric's mean, std, min, max and count, computed by SQLite too.

Functions take the store's connection; ``Store`` holds its lock around them.
"""

from __future__ import annotations

import dataclasses
import json
import math
import sqlite3
from typing import Any

from ..errors import UsageProblem
from ..records import GroupsPage, RunGroup, RunsTable, TableColumn, TableRow
from .codec import metric_from_sql
from .filter import FAMILIES, Column, parse_column, parse_filter
from .query import _NOT_NULL, _sort_join, run_conditions

TABLE_FIELDS = ["status", "name", "experiment", "start", "duration"]
_FIELD_SQL = {"status": "r.status", "name": "r.name", "experiment": "r.experiment", "start": "r.start_time",
              "duration": "r.duration"}
KINDS = {"params": "param", "metrics": "metric", "tags": "tag"}
FAMILY_ORDER = ("params", "metrics", "tags")
MAX_GROUP_METRICS = 50
MAX_GROUP_KEYS = 5  # params a grouping may be by


def matching(conn: sqlite3.Connection, experiment: str | None, filter_text: str | None, q: str | None,
             ids: list[str] | None = None) -> tuple[str, list[Any], bool]:
    """The WHERE clause over ``runs AS r`` of the runs matching all three (and among ``ids``, when given),
    its arguments, and whether it restricts at all.

    A search or a filter is evaluated once, into this connection's temporary table ``table_runs``: the
    page, the count, the columns and the groups then read that set (a search of two words over 100,000 runs
    took 0.5 s each time, six times a page).
    """
    where, args = run_conditions(None if (q or filter_text) else experiment, q)
    condition = parse_filter(filter_text)
    if condition is not None:
        where.append(condition.sql)
        args.extend(condition.args)
    if ids is not None:  # one bound JSON array, however many (a panel's 10,000 runs)
        where.append("r.run_id IN (SELECT value FROM json_each(?))")
        args.append(json.dumps(list(ids)))
    if not (q and q.split()) and condition is None:
        return (f"WHERE {' AND '.join(where)}" if where else ""), args, bool(where)
    if experiment is not None:
        where.insert(0, "r.experiment = ?")
        args.insert(0, experiment)
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS table_runs (run_id TEXT PRIMARY KEY) WITHOUT ROWID")
    conn.execute("DELETE FROM temp.table_runs")
    conn.execute(f"INSERT INTO temp.table_runs SELECT r.run_id FROM runs AS r WHERE {' AND '.join(where)}", args)
    return "WHERE r.run_id IN (SELECT run_id FROM temp.table_runs)", [], True


# ------------------------------------------------------------------ the table
def runs_table(conn: sqlite3.Connection, experiment: str | None, filter_text: str | None, q: str | None,
               sort: str, descending: bool, limit: int, offset: int, columns: list[str] | None) -> RunsTable:
    """One page of the runs table: the runs matching, sorted by ``sort`` (runs without a value last both
    ways), with the values of ``columns`` (all when None), every column of the matching runs and whether it
    is constant, and the number matching in all."""
    where, args, restricted = matching(conn, experiment, filter_text, q)
    wanted = None if columns is None else [parse_column(name) for name in columns]
    join, key, join_args = _sort_join(sort)
    nulls_last = "" if key in _NOT_NULL else f"({key}) IS NULL, "
    order = f"{nulls_last}{key} {'DESC' if descending else 'ASC'}, r.start_time DESC, r.run_id"
    rows = conn.execute(
        f"SELECT r.run_id, r.status, r.name, r.experiment, r.start_time, r.duration FROM runs AS r {join} {where}"
        f" ORDER BY {order} LIMIT ? OFFSET ?",
        [*join_args, *args, limit, offset],
    ).fetchall()
    total = conn.execute(f"SELECT count(*) FROM runs AS r {where}", args).fetchone()[0]
    summary = column_summary(conn, where, args, restricted, total)
    return RunsTable(total=total, offset=offset, limit=limit, columns=summary,
                     rows=_table_rows(conn, rows, wanted))


def _table_rows(conn: sqlite3.Connection, rows: list[tuple[Any, ...]], wanted: list[Column] | None
                ) -> list[TableRow]:
    ids = [row[0] for row in rows]
    fields = TABLE_FIELDS if wanted is None else [c.key for c in wanted if c.family == "field"]
    keys: dict[str, list[str] | None] = {family: None for family in FAMILIES}  # None: every key
    if wanted is not None:
        keys = {family: [c.key for c in wanted if c.family == family] for family in FAMILIES}
    found: dict[str, dict[str, Any]] = {run_id: {} for run_id in ids}
    if ids:
        marks = ",".join("?" * len(ids))
        for family in FAMILY_ORDER:
            chosen = keys[family]
            if chosen == []:
                continue
            key_filter, key_args = "", []
            if chosen is not None:
                key_filter = f" AND key IN ({','.join('?' * len(chosen))})"
                key_args = chosen
            for run_id, key, value in conn.execute(
                f"SELECT run_id, key, value FROM {FAMILIES[family]} WHERE run_id IN ({marks}){key_filter}",
                [*ids, *key_args],
            ):
                found[run_id][f"{family}.{key}"] = _value(family, value)
    table_rows = []
    for run_id, status, name, experiment, start, duration in rows:
        known = {"status": status, "name": name, "experiment": experiment, "start": start, "duration": duration}
        values = {field: known[field] for field in fields if field in known and known[field] is not None}
        extra = found[run_id]
        values.update(extra.items() if wanted is None else
                      [(c.name, extra[c.name]) for c in wanted if c.family != "field" and c.name in extra])
        table_rows.append(TableRow(run_id=run_id, values=values))
    return table_rows


def _value(family: str, value: Any) -> Any:
    if family == "metrics":
        return metric_from_sql(value)
    if family == "params":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def column_summary(conn: sqlite3.Connection, where: str, args: list[Any], restricted: bool, total: int
                   ) -> list[TableColumn]:
    """Every column of the matching runs (the fields first, then params, metrics and tags, each by name),
    and whether it is constant: every matching run has the same value, a missing one counting as a value."""
    constants = _restricted_fields(conn, where, args, total) if restricted else _store_fields(conn)
    columns = [TableColumn(name=field, kind="field", constant=constants[field]) for field in TABLE_FIELDS]
    for family in FAMILY_ORDER:
        table = FAMILIES[family]
        if restricted:
            found = _restricted_stats(conn, table, where, args)
        else:
            found = _store_stats(conn, table, total)
        for key in sorted(found):
            count, with_value, low, high = found[key]
            constant = count == total and (with_value == 0 or (with_value == count and low == high))
            columns.append(TableColumn(name=f"{family}.{key}", kind=KINDS[family], constant=bool(constant)))
    return columns


def _restricted_fields(conn: sqlite3.Connection, where: str, args: list[Any], total: int) -> dict[str, bool]:
    """Whether each field is the same for every matching run: one pass over them."""
    lows_highs = ", ".join(f"min({_FIELD_SQL[f]}), max({_FIELD_SQL[f]})" for f in TABLE_FIELDS)
    stats = conn.execute(f"SELECT {lows_highs}, count(r.duration) FROM runs AS r {where}", args).fetchone()
    constants = {}
    for position, field in enumerate(TABLE_FIELDS):
        low, high = stats[2 * position], stats[2 * position + 1]
        constants[field] = low == high
    with_value = stats[-1]  # a missing duration (a running run) is a value of its own
    constants["duration"] = with_value == 0 or (with_value == total and constants["duration"])
    return {field: bool(constant) for field, constant in constants.items()}


def _store_fields(conn: sqlite3.Connection) -> dict[str, bool]:
    """Whether each field is the same for every run of the store, without reading every run: the indexed
    fields by their lowest and highest value (two seeks each), status and duration by looking for one run
    that differs from the first (it stops there; 100,000 runs: 1 ms, not the 120 ms of a pass over them)."""
    indexed = ("name", "experiment", "start")
    seeks = ", ".join(f"(SELECT min({_FIELD_SQL[f][2:]}) FROM runs), (SELECT max({_FIELD_SQL[f][2:]}) FROM runs)"
                      for f in indexed)
    row = conn.execute(
        f"SELECT {seeks}, NOT EXISTS (SELECT 1 FROM runs WHERE status IS NOT (SELECT status FROM runs LIMIT 1)),"
        " NOT EXISTS (SELECT 1 FROM runs WHERE duration IS NOT (SELECT duration FROM runs LIMIT 1))").fetchone()
    constants = {field: row[2 * i] == row[2 * i + 1] for i, field in enumerate(indexed)}
    constants["status"], constants["duration"] = bool(row[-2]), bool(row[-1])
    return constants


def _restricted_stats(conn: sqlite3.Connection, table: str, where: str, args: list[Any]
                      ) -> dict[str, tuple[int, int, Any, Any]]:
    # One pass over the values of the matching runs, in the (key, value) index's order (no sort).
    rows = conn.execute(
        f"SELECT key, count(*), count(value), min(value), max(value) FROM {table}"
        f" WHERE run_id IN (SELECT r.run_id FROM runs AS r {where}) GROUP BY key", args,
    ).fetchall()
    return {key: (count, with_value, low, high) for key, count, with_value, low, high in rows}


def _store_stats(conn: sqlite3.Connection, table: str, total: int) -> dict[str, tuple[int, int, Any, Any]]:
    """Column statistics over the whole store from the (key, value) index without reading every value: the
    keys by skipping from one to the next, each key's lowest and highest value by two seeks; only a key whose
    values are all equal is counted (100,000 runs x 300 columns: a few ms instead of seconds)."""
    found = {}
    for key in store_keys(conn, table):
        low, high = conn.execute(
            f"SELECT (SELECT min(value) FROM {table} WHERE key = ?), (SELECT max(value) FROM {table} WHERE key = ?)",
            (key, key)).fetchone()
        if low == high or low is None:
            count, with_value = conn.execute(
                f"SELECT count(*), count(value) FROM {table} WHERE key = ?", (key,)).fetchone()
        else:  # two values: not constant, whatever the counts
            count = with_value = -1
        found[key] = (count, with_value, low, high)
    return found


def store_keys(conn: sqlite3.Connection, table: str) -> list[str]:
    """The distinct keys of ``params``, ``tags`` or ``latest_metrics``, in order, by skipping along the
    (key, value) index from one key to the next (a seek per key, not a read per row)."""
    return [k for (k,) in conn.execute(
        f"WITH RECURSIVE k(key) AS (SELECT min(key) FROM {table} UNION ALL"
        f" SELECT (SELECT min(key) FROM {table} WHERE key > k.key) FROM k WHERE k.key IS NOT NULL)"
        " SELECT key FROM k WHERE key IS NOT NULL")]


# ------------------------------------------------------------------ groups
def param_keys(by: list[str]) -> list[str]:
    """The param names of ``by`` (``params.a`` or ``a``): 1 to 5 of them, without repeats."""
    names = []
    for name in by:
        name = name.strip()
        key = name[len("params."):] if name.startswith("params.") else name
        if not key:
            raise UsageProblem(f"by must name params (params.<name>), not '{name[:40]}'")
        names.append(key)
    names = list(dict.fromkeys(names))
    if not 1 <= len(names) <= MAX_GROUP_KEYS:
        raise UsageProblem(f"by must name 1 to 5 params, not {len(names)}")
    return names


# A param's value as a group key: its kind and its value, so that 8 and 8.0 are one group, "8" another,
# true a third; JSON null and a missing param are both the group of None (what `is missing` selects).
_KEY_KIND = ("CASE WHEN {v} IS NULL THEN NULL WHEN json_valid({v}) THEN CASE json_type({v}) WHEN 'integer'"
             " THEN 'number' WHEN 'real' THEN 'number' WHEN 'null' THEN NULL ELSE json_type({v}) END ELSE 'raw' END")
_KEY_VALUE = ("CASE WHEN {v} IS NULL THEN NULL WHEN json_valid({v}) THEN CASE json_type({v}) WHEN 'null' THEN NULL"
              " WHEN 'true' THEN 1 WHEN 'false' THEN 0 ELSE json_extract({v}, '$') END ELSE {v} END")
_FINITE = "(m.value IS NOT NULL AND m.value > -9e999 AND m.value < 9e999)"


def groups(conn: sqlite3.Connection, by: list[str], experiment: str | None, filter_text: str | None, q: str | None,
           metrics: list[str] | None, sort: str | None, descending: bool, limit: int | None, offset: int,
           ids: list[str] | None = None) -> GroupsPage:
    """Groups of the matching runs (among ``ids``, when given) by the values of the params ``by``, with
    statistics of ``metrics`` (all metrics of the matching runs when None, the first 50 by name), sorted by a
    key column or a metric's mean (``metrics.<m>``; default: the first key), ``limit`` of them (all when None)
    from ``offset``."""
    keys = param_keys(by)
    where, args, restricted = matching(conn, experiment, filter_text, q, ids)
    joins = " ".join(f"LEFT JOIN params AS g{i} ON g{i}.run_id = r.run_id AND g{i}.key = ?" for i in range(len(keys)))
    base_args = [*keys, *args]
    if metrics is None and not restricted:
        metrics = store_keys(conn, "latest_metrics")[:MAX_GROUP_METRICS]
    elif metrics is None:
        metrics = [k for (k,) in conn.execute(
            f"SELECT DISTINCT key FROM latest_metrics WHERE run_id IN (SELECT r.run_id FROM runs AS r {where})"
            " ORDER BY key LIMIT ?", [*args, MAX_GROUP_METRICS])]
    # 1. Each matching run's values as stored, in one pass: the distinct combinations get a number, each run
    # the number of its own; then each combination's values are read as keys, once per combination (8 and
    # 8.0: one group), and combinations with the same keys merge.
    stored = ", ".join(f"g{i}.value" for i in range(len(keys)))
    combinations: dict[tuple[Any, ...], int] = {}
    members: list[tuple[str, int]] = []
    for run_id, *values in conn.execute(f"SELECT r.run_id, {stored} FROM runs AS r {joins} {where}"
                                        " ORDER BY r.run_id", base_args):
        members.append((run_id, combinations.setdefault(tuple(values), len(combinations))))
    counts = [0] * len(combinations)
    for _, combination in members:
        counts[combination] += 1
    raw = [f"v{i}" for i in range(len(keys))]
    key_columns = ", ".join(f"{_KEY_KIND.format(v=v)}, {_KEY_VALUE.format(v=v)}" for v in raw)
    values_sql = ", ".join("?" * len(keys))
    found: dict[int, RunGroup] = {}
    gids: dict[tuple[Any, ...], int] = {}
    group_of = []  # combination -> group
    for values, combination in combinations.items():
        key = tuple(conn.execute(f"SELECT {key_columns} FROM (SELECT {', '.join(f'? AS {v}' for v in raw)})",
                                 values).fetchone()) if values_sql else ()
        gid = gids.setdefault(key, len(gids))
        group_of.append(gid)
        runs = counts[combination]
        if gid in found:
            found[gid] = dataclasses.replace(found[gid], runs=found[gid].runs + runs)
        else:
            found[gid] = RunGroup(key=_group_key(keys, list(key)), runs=runs,
                                  metrics={m: _stats(0, 0, 0.0, 0.0, None, None, 0.0) for m in metrics})
    if metrics and found:
        # 2. Each metric's values, read along its (key, value) index, summed per group through the runs'
        # groups in a temporary table: 50 metrics of 100,000 runs took 5 s as one join grouped by values.
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS group_runs (run_id TEXT PRIMARY KEY, gid INTEGER) WITHOUT ROWID")
        conn.execute("DELETE FROM temp.group_runs")
        conn.executemany("INSERT INTO temp.group_runs (run_id, gid) VALUES (?, ?)",
                         [(run_id, group_of[combination]) for run_id, combination in members])
        # A few matching runs among many: read each one's metric by its primary key instead.
        source = ("temp.group_runs AS g CROSS JOIN latest_metrics AS m ON m.run_id = g.run_id" if restricted
                  else "latest_metrics AS m JOIN temp.group_runs AS g ON g.run_id = m.run_id")
        for metric in metrics:
            # The values are summed after shifting by one of them (the lowest finite one): the variance from
            # sums of squares then keeps its precision for values far from zero.
            shift = conn.execute("SELECT min(value) FROM latest_metrics WHERE key = ? AND value > -9e999",
                                 (metric,)).fetchone()[0]
            shift = 0.0 if shift is None or math.isinf(shift) else shift
            rows = conn.execute(
                f"SELECT g.gid, count(*), sum({_FINITE}), sum(CASE WHEN {_FINITE} THEN m.value - ? END),"
                f" sum(CASE WHEN {_FINITE} THEN (m.value - ?) * (m.value - ?) END),"
                f" min(CASE WHEN {_FINITE} THEN m.value END), max(CASE WHEN {_FINITE} THEN m.value END)"
                f" FROM {source} WHERE m.key = ? GROUP BY g.gid", (shift, shift, shift, metric)).fetchall()
            for gid, count, finite, total, squares, low, high in rows:
                found[gid].metrics[metric] = _stats(count, finite, total or 0.0, squares or 0.0, low, high, shift)
    ordered = _sorted_groups(list(found.values()), keys, metrics, sort, descending)
    page = ordered[offset:] if limit is None else ordered[offset:offset + limit]
    return GroupsPage(total=len(ordered), by=[f"params.{k}" for k in keys], metrics=list(metrics), groups=page)


def _group_key(keys: list[str], row: list[Any]) -> dict[str, Any]:
    key = {}
    for i, name in enumerate(keys):
        kind, value = row[2 * i], row[2 * i + 1]
        if kind in ("true", "false"):
            value = kind == "true"
        elif kind in ("array", "object", "raw"):
            try:
                value = json.loads(value)
            except ValueError:
                pass
        key[f"params.{name}"] = value
    return key


def _stats(count: int, finite: int, total: float, squares: float, low: Any, high: Any, shift: float
           ) -> dict[str, Any]:
    mean = std = None
    if finite:
        mean = shift + total / finite
    if finite >= 2:
        std = math.sqrt(max(squares - total * total / finite, 0.0) / (finite - 1))
    stats: dict[str, Any] = {"mean": mean, "std": std, "min": low, "max": high, "count": finite}
    if count - finite:
        stats["not_finite"] = count - finite
    return stats


def _sorted_groups(found: list[RunGroup], keys: list[str], metrics: list[str], sort: str | None,
                   descending: bool) -> list[RunGroup]:
    sort = sort or f"params.{keys[0]}"
    if sort == "runs":
        def value(group: RunGroup) -> Any:
            return group.runs
    elif sort.startswith("metrics.") and sort[len("metrics."):] in metrics:
        metric = sort[len("metrics."):]

        def value(group: RunGroup) -> Any:
            return group.metrics[metric]["mean"]
    elif sort in [f"params.{k}" for k in keys] or sort in keys:
        column = sort if sort.startswith("params.") else f"params.{sort}"

        def value(group: RunGroup) -> Any:
            return group.key[column]
    else:
        raise UsageProblem(f"cannot sort groups by '{sort[:40]}': use runs, one of the by params or"
                           " metrics.<m> of the metrics shown")
    # Missing last both ways; numbers (and booleans) before text, as SQLite orders them. Ties: by the by-params
    # in order, ascending, missing last (a stable sort by those first, then by the sort column).
    def order(v: Any) -> tuple[int, Any]:
        if v is None:
            return (2, 0.0)
        if isinstance(v, (int, float)) and not (isinstance(v, float) and math.isnan(v)):
            return (0, float(v))
        return (1, str(v))

    found = sorted(found, key=lambda g: [order(g.key[f"params.{k}"]) for k in keys])
    present = [g for g in found if value(g) is not None]
    missing = [g for g in found if value(g) is None]
    present.sort(key=lambda g: order(value(g)), reverse=descending)
    return present + missing
