"""The runs table of JupyterLab (issue 14): filter expressions, the table and groups routes, search by code,
and the store at 100,000 runs. Real SQLite files; the routes through a real jupyter_server (pytest-jupyter)."""

from __future__ import annotations

import json
import math
import random
import sqlite3
import time
from pathlib import Path

import pytest

# pytest-jupyter's fixtures, for this module only (as tests/test_server.py does).
from pytest_jupyter.jupyter_core import *  # noqa: F401,F403
from pytest_jupyter.jupyter_server import *  # noqa: F401,F403

import jupyter_tracker as jt
from jupyter_tracker import api
from jupyter_tracker.errors import UsageProblem
from jupyter_tracker.store import Store
from jupyter_tracker.store.codec import content_hash
from jupyter_tracker.store.filter import parse_filter
from jupyter_tracker.store.schema import SCHEMA_VERSION, migrate
from helpers import record_run
import test_server

EVIL = "<img src=x onerror=alert(1)>"


# The real jupyter_server of test_server.py, with its fixtures (pytest finds them by name here).
jp_server_config, fetch, body = test_server.jp_server_config, test_server.fetch, test_server.body


@pytest.fixture
def zoo(store: Store) -> dict[str, str]:
    """Six runs of every kind of value: numbers, strings, booleans, a JSON null, missing values, NaN."""
    ids = {}
    ids["rf8"] = record_run(store, "rf8", "churn", params={"model": "rf", "n": 8, "max depth": 3, "scale": True},
                            metrics={"acc": 0.91, "loss": 0.2}, tags={"owner": "ana"})
    ids["rf10"] = record_run(store, "rf10", "churn", params={"model": "rf", "n": 10, "scale": False},
                             metrics={"acc": 0.85}, tags={"owner": "bo"})
    ids["gbm"] = record_run(store, "gbm", "churn", params={"model": "gbm", "n": 8.0, "max depth": 5},
                            metrics={"acc": 0.95, "loss": float("nan")}, tags={"owner": "ana"})
    ids["text_n"] = record_run(store, "text_n", "churn", params={"model": "lr", "n": "8"}, metrics={"acc": 0.5})
    ids["none"] = record_run(store, "none", "churn", params={"model": None}, metrics={})
    ids["other"] = record_run(store, "other", "fraud", params={"model": "rf", "n": 200}, metrics={"acc": 0.7})
    return ids


def selected(zoo: dict[str, str], text: str, experiment: str | None = None) -> list[str]:
    table = api.runs_table(filter=text, experiment=experiment, limit=100)
    by_id = {v: k for k, v in zoo.items()}
    assert table.total == len(table.rows)
    return sorted(by_id[row.run_id] for row in table.rows)


# ------------------------------------------------------------------ filters
GOOD = [
    ('params.model == "rf"', ["other", "rf10", "rf8"]),
    ("params.model == 'rf' and metrics.acc > 0.9", ["rf8"]),
    ('metrics.acc > 0.9 or params.model == "lr"', ["gbm", "rf8", "text_n"]),
    # and binds tighter than or; not tighter than and
    ('params.model == "lr" or params.model == "rf" and metrics.acc >= 0.85', ["rf10", "rf8", "text_n"]),
    ('(params.model == "lr" or params.model == "rf") and metrics.acc >= 0.85', ["rf10", "rf8"]),
    ('not params.model == "rf" and metrics.acc > 0', ["gbm", "text_n"]),
    ("params.n == 8", ["gbm", "rf8"]),  # 8 and 8.0 are one number; "8" is text
    ('params.n == "8"', ["text_n"]),
    ("params.n > 9", ["other", "rf10"]),  # strings never compare with numbers
    ("params.n != 8", ["other", "rf10", "text_n"]),  # runs with the param only: "8" is not 8
    ("params.n < 1e3 and params.n >= -1.5", ["gbm", "other", "rf10", "rf8"]),
    ("params.scale == true", ["rf8"]),
    ("params.scale == FALSE", ["rf10"]),
    ("params.`max depth` > 4", ["gbm"]),
    ("params.model is missing", ["none"]),  # a JSON null counts as missing
    ("params.scale is missing and experiment == 'churn'", ["gbm", "none", "text_n"]),
    ("metrics.loss is present", ["gbm", "rf8"]),  # NaN is a value
    ("metrics.acc is missing", ["none"]),
    ('tags.owner == "ana"', ["gbm", "rf8"]),
    ('tags.owner contains "AN"', ["gbm", "rf8"]),
    ('params.model contains "B"', ["gbm"]),
    ('name contains "rf" AND NOT experiment == "fraud"', ["rf10", "rf8"]),
    ("status == 'finished' and duration > 0.5 and start > 0", ["gbm", "none", "other", "rf10", "rf8", "text_n"]),
    ('name == "it\\"s" or name == \'rf8\'', ["rf8"]),
    ("duration is missing", []),
    ("not (metrics.acc < 0.8 or metrics.acc is missing)", ["gbm", "rf10", "rf8"]),
]


@pytest.mark.parametrize("text, expected", GOOD, ids=[g[0][:40] for g in GOOD])
def test_a_filter_selects_exactly_the_runs_it_says(zoo, text, expected):
    assert selected(zoo, text) == expected


def test_a_filter_on_a_run_id_and_within_an_experiment(zoo):
    assert selected(zoo, f'run_id == "{zoo["gbm"]}"') == ["gbm"]
    assert selected(zoo, 'params.model == "rf"', experiment="churn") == ["rf10", "rf8"]


BAD = [
    ("metrics.acc > ", "bad filter at character 15: expected a value after '>'"),
    ("metrics.acc > and", "bad filter at character 15: expected a value after '>'"),
    ("foo == 1", "unknown column 'foo' in the filter: use metrics.<name>, params.<name>, tags.<name>, status,"
                 " name, experiment, run_id, start or duration"),
    ("params.model == rf", "bad filter at character 17: expected a value after '==' (text goes in quotes: \"rf\")"),
    ("metrics.acc = 1", "bad filter at character 13: use '==' to compare"),
    ("metrics.acc", "bad filter at character 12: expected ==, !=, <, <=, >, >=, contains or is after 'metrics.acc'"),
    ('params.model == "rf', "bad filter at character 17: the string starting here has no closing \""),
    ("(metrics.acc > 1", "bad filter at character 17: expected ')' to close the '(' at character 1"),
    ("metrics.acc > 1 metrics.f1 > 2", "bad filter at character 17: expected 'and', 'or' or the end"),
    ('metrics.acc == "x"', "bad filter at character 16: metrics are numbers"),
    ("start == 'today'", "bad filter at character 10: start holds numbers"),
    ("params.a is there", "bad filter at character 13: expected 'missing' or 'present' after 'is'"),
    ("metrics.acc contains 'x'", "metrics are numbers: 'contains' needs text"),
    ("and", "bad filter at character 1: expected a column"),
    ("metrics.acc > 1 and", "bad filter at character 20: expected a column (such as metrics.acc or params.model), "
                            "not the end"),
    ("params.` == 1", "the name in backquotes has no closing `"),
    ("metrics. > 1", "bad filter at character 9: expected a name after 'metrics.'"),
    ("metrics.acc > 1 ; DROP TABLE runs", "bad filter at character 17: unexpected character ';'"),
    ("params.flag > true", "true and false can only be compared with == or !="),
    ("(" * 60 + "metrics.acc > 1" + ")" * 60, "at most 50 parentheses and 'not' inside each other"),
    (" or ".join(["metrics.acc > 1"] * 51), "filter must have at most 50 comparisons"),
    ("metrics.acc > " + "1" * 2000, "filter must be at most 2,000 characters, not 2,014"),
]


@pytest.mark.parametrize("text, message", BAD, ids=[b[0][:30] for b in BAD])
def test_a_bad_filter_is_one_line_saying_where(zoo, text, message):
    with pytest.raises(UsageProblem) as raised:
        api.runs_table(filter=text)
    assert str(raised.value).startswith(message) or message in str(raised.value), str(raised.value)
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 300


def test_filter_values_are_bound_never_spliced_into_the_sql():
    condition = parse_filter("params.`x'; DROP TABLE runs; --` == \"'); DROP TABLE runs; --\"")
    assert "DROP" not in condition.sql
    assert condition.args == ["x'; DROP TABLE runs; --", json.dumps("'); DROP TABLE runs; --")]


# ------------------------------------------------------------------ the table
def test_the_table_lists_every_column_with_its_kind_and_whether_it_is_constant(zoo):
    table = api.runs_table(experiment="churn", filter='params.model == "rf"')
    assert table.total == 2
    assert [(c.name, c.kind, c.constant) for c in table.columns] == [
        ("status", "field", True), ("name", "field", False), ("experiment", "field", True),
        ("start", "field", False), ("duration", "field", True),
        ("params.max depth", "param", False),  # one run lacks it: missing counts as a value
        ("params.model", "param", True), ("params.n", "param", False), ("params.scale", "param", False),
        ("metrics.acc", "metric", False), ("metrics.loss", "metric", False),
        ("tags.owner", "tag", False),
    ]
    # Over the whole store (the index-only path) the same rule holds
    everything = {c.name: c.constant for c in api.runs_table().columns}
    assert everything["status"] is True and everything["params.model"] is False
    assert everything["experiment"] is False and "tags.owner" in everything


def test_a_column_constant_over_the_whole_store_is_found_by_the_index_path(store):
    for i in range(3):
        record_run(store, f"r{i}", params={"same": "x", "differs": i}, metrics={"one": 1.0, "nan": float("nan")},
                   tags={"t": "a"})
    record_run(store, "without", params={"differs": 9}, metrics={"nan": float("nan")}, tags={"t": "a"})
    constant = {c.name: c.constant for c in api.runs_table().columns}
    assert constant == {"status": True, "name": False, "experiment": True, "start": False, "duration": True,
                        "params.differs": False, "params.same": False, "metrics.nan": True, "metrics.one": False,
                        "tags.t": True}


def test_rows_carry_the_columns_asked_for_in_the_json_conventions(zoo):
    table = api.runs_table(filter='name == "gbm"', columns=["name", "metrics.loss", "params.max depth", "tags.x"])
    assert [(row.run_id, row.values) for row in table.rows] == [
        (zoo["gbm"], {"name": "gbm", "metrics.loss": table.rows[0].values["metrics.loss"], "params.max depth": 5})]
    assert math.isnan(table.rows[0].values["metrics.loss"])
    whole = api.runs_table(filter='name == "rf8"').rows[0].values
    assert whole == {"status": "finished", "name": "rf8", "experiment": "churn", "start": whole["start"],
                     "duration": 1.0, "params.max depth": 3, "params.model": "rf", "params.n": 8,
                     "params.scale": True, "metrics.acc": 0.91, "metrics.loss": 0.2, "tags.owner": "ana"}


@pytest.mark.parametrize("sort, order, expected", [
    ("metrics.acc", "desc", ["gbm", "rf8", "rf10", "other", "text_n", "none"]),
    ("metrics.acc", "asc", ["text_n", "other", "rf10", "rf8", "gbm", "none"]),
    ("params.n", "asc", ["gbm", "rf8", "rf10", "other", "text_n", "none"]),  # numbers, then text, then missing
    ("params.n", "desc", ["text_n", "other", "rf10", "gbm", "rf8", "none"]),
    ("tags.owner", "asc", ["gbm", "rf8", "rf10", "none", "other", "text_n"]),
    ("tags.owner", "desc", ["rf10", "gbm", "rf8", "none", "other", "text_n"]),
    ("name", "asc", ["gbm", "none", "other", "rf10", "rf8", "text_n"]),
    ("start", "desc", ["other", "none", "text_n", "gbm", "rf10", "rf8"]),
])
def test_sort_by_each_kind_of_column_with_missing_last(zoo, sort, order, expected):
    by_id = {v: k for k, v in zoo.items()}
    rows = api.runs_table(sort=sort, order=order).rows
    got = [by_id[row.run_id] for row in rows]
    if sort.startswith("tags."):  # runs without the tag: last, newest first among them
        assert got[:3] == expected[:3] and sorted(got[3:]) == sorted(expected[3:])
    elif sort == "params.n" and order == "desc":
        assert got[:3] == expected[:3] and sorted(got[3:5]) == ["gbm", "rf8"] and got[5] == "none"
    else:
        assert got == expected


def test_pages_follow_each_other_without_gaps_or_repeats(store):
    ids = [record_run(store, f"r{i}", params={"i": i}, metrics={"acc": (i * 37 % 11) / 10}) for i in range(23)]
    seen = []
    for offset in range(0, 30, 5):
        table = api.runs_table(sort="metrics.acc", limit=5, offset=offset)
        assert table.total == 23 and table.offset == offset and table.limit == 5
        seen += [row.run_id for row in table.rows]
    assert sorted(seen) == sorted(ids) and len(seen) == 23
    assert api.runs_table(limit=0).rows == [] and api.runs_table(limit=0).total == 23


# ------------------------------------------------------------------ groups
@pytest.fixture
def repeats(store: Store) -> None:
    """Runs of a grid (a in 1, 2; b in x, y, or missing) repeated, with random accuracies."""
    rng = random.Random(4)
    for a in (1, 2):
        for b in ("x", "y", None):
            for repeat in range(rng.randint(1, 4)):
                params = {"a": a, "c": repeat} if b is None else {"a": a, "b": b, "c": repeat}
                metrics = {"acc": 0.8 + rng.random() / 10, "f1": rng.random()}
                if a == 2 and b == "x" and repeat == 0:
                    metrics["f1"] = float("inf")
                record_run(store, "grid", "g", params=params, metrics=metrics)
    record_run(store, "other", "elsewhere", params={"a": 1, "b": "x"}, metrics={"acc": 0.1})


def test_groups_statistics_match_pandas(repeats):
    frame = jt.runs(experiment="g")
    truth = frame.assign(**{"params.b": frame["params.b"].astype(object)}).groupby(
        ["params.a", "params.b"], dropna=False)["metrics.acc"].agg(["mean", "std", "min", "max", "count"])
    page = api.groups_page(["params.a", "b"], experiment="g")
    assert page.total == len(truth) == 6 and page.by == ["params.a", "params.b"] and page.metrics == ["acc", "f1"]
    assert [tuple(g.key.values()) for g in page.groups] == [(1, "x"), (1, "y"), (1, None), (2, "x"), (2, "y"),
                                                            (2, None)]
    for group in page.groups:
        a, b = group.key["params.a"], group.key["params.b"]
        expected = truth.loc[(a, b if b is not None else math.nan)] if b is not None else truth[
            (truth.index.get_level_values(0) == a) & truth.index.get_level_values(1).isna()].iloc[0]
        stats = group.metrics["acc"]
        assert group.runs == expected["count"] == stats["count"]
        assert stats["mean"] == pytest.approx(expected["mean"], abs=1e-12)
        assert stats["min"] == expected["min"] and stats["max"] == expected["max"]
        if expected["count"] < 2:
            assert stats["std"] is None
        else:
            assert stats["std"] == pytest.approx(expected["std"], rel=1e-9)
    # a non-finite value is left out of the statistics and counted apart
    infinite = next(g for g in page.groups if g.key == {"params.a": 2, "params.b": "x"}).metrics["f1"]
    assert infinite["not_finite"] == 1 and infinite["count"] == next(
        g for g in page.groups if g.key == {"params.a": 2, "params.b": "x"}).runs - 1
    assert "not_finite" not in page.groups[0].metrics["f1"]


def test_groups_as_a_dataframe(repeats):
    frame = jt.groups(["a", "params.b"], experiment="g")
    assert list(frame.columns) == ["a", "b", "runs", *(f"{m}.{s}" for m in ("acc", "f1")
                                                        for s in ("mean", "std", "min", "max", "count"))]
    assert len(frame) == 6 and frame["runs"].sum() == len(jt.runs(experiment="g"))
    one = jt.groups("a")
    assert list(one["a"]) == [1, 2] and one["runs"].sum() == len(jt.runs())


def test_one_group_holds_a_value_written_as_an_integer_and_as_a_float(store):
    for depth, acc in ((8, 0.5), (8.0, 0.7), ("8", 0.9)):
        record_run(store, "fit", params={"depth": depth}, metrics={"acc": acc})
    page = api.groups_page("depth")
    assert [(g.key["params.depth"], g.runs) for g in page.groups] == [(8, 2), ("8", 1)]
    assert page.groups[0].metrics["acc"]["mean"] == pytest.approx(0.6)


def test_groups_of_chosen_runs_only(repeats):
    # Given the runs of g filtered in pandas, as a notebook filters runs()
    frame = jt.runs(experiment="g")
    chosen = frame[frame["metrics.acc"] > 0.85]
    # Then groups(runs=...) groups those runs only, from the frame or from its ids
    groups = jt.groups("a", runs=chosen)
    assert groups["runs"].sum() == len(chosen)
    assert groups.set_index("a")["acc.min"].min() > 0.85
    assert jt.groups("a", runs=list(chosen["run_id"])).equals(groups)
    assert len(jt.groups("a", runs=[])) == 0
    for bad, message in ((frame[["name"]], "a frame with a run_id column"), ([1, 2], "must be run ids, not 1")):
        with pytest.raises(UsageProblem, match=message):
            jt.groups("a", runs=bad)


def test_expanding_a_group_with_its_filter_selects_exactly_its_runs(repeats, store):
    record_run(store, "float", "g", params={"a": 1.0, "b": "x", "c": 0.1}, metrics={"acc": 0.5})
    record_run(store, "flag", "g", params={"a": True, "b": "x"}, metrics={"acc": 0.5})
    frame = jt.runs(experiment="g")
    for group in api.groups_page(["a", "b", "c"], experiment="g", limit=1000).groups:
        terms = []
        for column, value in group.key.items():
            terms.append(f"{column} is missing" if value is None else f"{column} == {json.dumps(value)}")
        table = api.runs_table(experiment="g", filter=" and ".join(terms), limit=1000)
        assert table.total == group.runs, (group.key, table.total)
        # the same runs as pandas finds for that key
        mask = True
        for column, value in group.key.items():
            values = frame[column]
            if value is None:
                mask = mask & values.isna()
            else:
                mask = mask & values.map(lambda v, value=value: v == value and type(v) is type(value)
                                         if not isinstance(value, (int, float)) or isinstance(value, bool)
                                         else (not isinstance(v, (bool, str)) and v == value))
        assert sorted(frame[mask]["run_id"]) == sorted(row.run_id for row in table.rows), group.key


def test_groups_sort_by_a_metric_mean_and_refuse_bad_arguments(repeats):
    page = api.groups_page("a", experiment="g", sort="metrics.acc", order="desc")
    means = [g.metrics["acc"]["mean"] for g in page.groups]
    assert means == sorted(means, reverse=True)
    assert [g.key["params.a"] for g in api.groups_page("a", order="desc").groups] == [2, 1]
    assert len(api.groups_page("a", limit=1, offset=1).groups) == 1
    for by, message in (([], "by must name 1 to 5 params, not 0"),
                        (list("abcdef"), "by must name 1 to 5 params, not 6")):
        with pytest.raises(UsageProblem, match=message):
            api.groups_page(by)
    with pytest.raises(UsageProblem, match="cannot sort groups by 'metrics.zzz'"):
        api.groups_page("a", sort="metrics.zzz")


# ------------------------------------------------------------------ search by code
def test_search_finds_runs_by_their_code_and_history(store):
    record_run(store, "scaled", params={"k": 1},
                        code="from sklearn.preprocessing import StandardScaler\nclf = RF(max_depth=8)")
    record_run(store, "plain", params={"k": 2}, code="clf = RF(max_depth=80)\nscale = 'none'")
    history_only = record_run(store, "later", code="fit()")
    store.finish_run(store.get_run(history_only).__class__(**{
        **{f: getattr(store.get_run(history_only), f) for f in ("run_id", "experiment", "name", "status", "start",
                                                                 "end", "duration", "source")},
        "code": "fit()", "history": ["import numpy as np", "from sklearn.preprocessing import StandardScaler",
                                     "fit()"]}))

    def names(q):
        return sorted(run.name for run in api.runs_page(q=q).runs)

    assert names("StandardScaler") == ["later", "scaled"]
    assert names("standardscaler scaled") == ["scaled"]  # every word is required, in any field
    assert names("Standard") == ["later", "scaled"]  # a word prefix
    assert names("max_depth=8") == ["plain", "scaled"]  # the phrase max depth 8*: a prefix of 80 too
    assert names("max_depth=80") == ["plain"]
    # quotes, stars, colons and keywords are text, never FTS syntax (and never an error)
    assert names('"StandardScaler') == ["later", "scaled"] and names('StandardScaler"*') == ["later", "scaled"]
    assert names("NOT") == [] and names("scale* OR") == [] and names("code: NEAR(") == [] and names('"') == []
    assert names("plain") == ["plain"]  # names still match as before
    assert [e.name for e in api.experiment_summaries(q="StandardScaler")] == ["default"]
    assert api.runs_table(q="StandardScaler").total == 2
    assert [g.key["params.k"] for g in api.groups_page("k", q="StandardScaler").groups] == [1, None]


def test_a_tracked_cell_writes_no_search_document_and_a_search_indexes_what_is_new(store):
    # Given two runs recorded, one searched for already
    record_run(store, "first", code="uses XGBoost")
    assert api.runs_page(q="xgboost").total == 1
    record_run(store, "second", code="uses CatBoost")
    # Then the second run's write added no document: the next search by code does, once
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT count(*) FROM run_search").fetchone()[0] == 1
    assert [r.name for r in api.runs_page(q="catboost").runs] == ["second"]
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT count(*) FROM run_search").fetchone()[0] == 2
    # (a search without a word long enough for code writes nothing)
    record_run(store, "third", code="uses LightGBM")
    assert api.runs_page(q="th").total == 1
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT count(*) FROM run_search").fetchone()[0] == 2


def test_a_long_catch_up_is_written_a_chunk_a_transaction(store, monkeypatch):
    import jupyter_tracker.store as stores

    # Given 20 runs never searched, and chunks of 7
    monkeypatch.setattr(stores, "SEARCH_CHUNK", 7)
    ids = [record_run(store, f"r{i}", code=f"step_{i:02d} = fit()") for i in range(20)]
    commits = []
    searching = stores.open_store()  # the store the API searches through
    searching._conn.set_trace_callback(lambda sql: commits.append(sql) if sql == "COMMIT" else None)
    # When one is searched by code
    found = api.runs_page(q="step_19").runs
    searching._conn.set_trace_callback(None)
    # Then every run was indexed, in three transactions, and the search finds it
    assert [r.run_id for r in found] == [ids[19]]
    assert len(commits) == 3
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT count(*) FROM run_search").fetchone()[0] == 20


def test_a_store_locked_by_another_writer_is_searched_as_indexed_with_one_warning(store, capsys):
    # Given one run indexed, a newer one not, and another process holding the write lock
    record_run(store, "indexed", code="uses XGBoost")
    assert api.runs_page(q="xgboost").total == 1
    record_run(store, "newer", code="uses CatBoost")
    holder = sqlite3.connect(store.path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        # When the newer run's code is searched, twice
        first = api.runs_page(q="catboost")
        second = api.runs_page(q="xgboost")
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    # Then the search answers from what is indexed, and says once why the newest runs are missing
    assert first.total == 0 and second.total == 1
    warnings = [line for line in capsys.readouterr().err.splitlines() if "cannot index" in line]
    assert len(warnings) == 1 and "database is locked" in warnings[0], warnings
    # And once the lock is gone, the next search finds it
    assert [r.name for r in api.runs_page(q="catboost").runs] == ["newer"]


def test_a_search_document_follows_the_runs_writes(store):
    run_id = record_run(store, "first", tags={"owner": "ana"}, code="uses XGBoost")
    run = store.get_run(run_id)
    run.code, run.history = "uses LightGBM", ["uses LightGBM"]
    store.finish_run(run)
    assert [r.name for r in api.runs_page(q="lightgbm").runs] == ["first"]
    assert api.runs_page(q="xgboost").runs == []
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("SELECT count(*) FROM run_search").fetchone()[0] == 1


def test_a_version_5_store_is_migrated_with_its_search_index_built(tmp_path):
    # Given a file at schema version 5 with a run whose code and history are blobs
    path = tmp_path / "v5.db"
    conn = sqlite3.connect(path, isolation_level=None)
    assert migrate(conn, target=5) == 5
    code, earlier = "pipe = make_pipeline(StandardScaler(), SVC())", "import pandas as pd"
    history = json.dumps([content_hash(earlier), content_hash(code)])
    conn.executemany("INSERT INTO blobs (hash, content) VALUES (?, ?)",
                     [(content_hash(code), code), (content_hash(earlier), earlier), (content_hash(history), history)])
    run_id = "5" * 32
    conn.execute(
        "INSERT INTO runs (run_id, experiment, name, status, source, start_time, code_hash, history_hash)"
        " VALUES (?, 'old', 'svc', 'finished', 'cell', 1.7e9, ?, ?)", (run_id, content_hash(code),
                                                                       content_hash(history)))
    conn.execute("INSERT INTO params (run_id, key, value) VALUES (?, 'C', '1.5')", (run_id,))
    conn.execute("INSERT INTO runs (run_id, experiment, name, status, source, start_time)"
                 " VALUES (?, 'old', 'bare', 'finished', 'script', 1.7e9)", ("6" * 32,))
    conn.close()
    # When it is opened
    store = Store(path, create=False)
    # Then it is at version 6 and every run has its document: found by its code and its history
    assert store.schema_version == SCHEMA_VERSION == 6
    assert [r.run_id for r in store.runs_page(q="StandardScaler").runs] == [run_id]
    assert [r.run_id for r in store.runs_page(q="pandas").runs] == [run_id]
    with sqlite3.connect(path) as check:
        assert check.execute("SELECT count(*) FROM run_search").fetchone()[0] == 2
        assert check.execute("SELECT code FROM run_search WHERE run_id = ?", (run_id,)).fetchone() == (code,)
    store.close()


# ------------------------------------------------------------------ the routes
@pytest.mark.slow
def test_the_new_routes_refuse_a_request_without_a_token(fetch, zoo):
    for path in ("table", "groups"):
        for token in ("", "token not-the-token"):
            response = fetch(path, params={"by": "params.model"}, headers={"Authorization": token})
            assert response.code == 403, (path, token, response.code)


@pytest.mark.slow
def test_the_table_route_answers_the_documented_shape(fetch, zoo):
    response = fetch("table", params={"experiment": "churn", "filter": 'params.model == "rf"', "sort": "metrics.acc",
                                      "order": "asc", "limit": "1", "offset": "1", "columns": "name,metrics.acc"})
    assert response.code == 200, response.body
    answer = body(response)
    assert set(answer) == {"total", "offset", "limit", "columns", "rows"}
    assert (answer["total"], answer["offset"], answer["limit"]) == (2, 1, 1)
    assert answer["columns"][0] == {"name": "status", "kind": "field", "constant": True}
    assert answer["rows"] == [{"run_id": zoo["rf8"], "values": {"name": "rf8", "metrics.acc": 0.91}}]
    nan = body(fetch("table", params={"filter": "name == 'gbm'", "columns": "metrics.loss"}))["rows"][0]["values"]
    assert nan == {"metrics.loss": "NaN"}
    assert float(response.headers["Server-Timing"].split("dur=")[1]) >= 0


@pytest.mark.slow
def test_the_groups_route_answers_the_documented_shape(fetch, zoo):
    answer = body(fetch("groups", params={"by": "params.model", "experiment": "churn", "metrics": "acc",
                                          "sort": "metrics.acc", "order": "desc"}))
    assert set(answer) == {"total", "by", "metrics", "groups"}
    assert answer["by"] == ["params.model"] and answer["metrics"] == ["acc"] and answer["total"] == 4
    assert answer["groups"][0] == {"key": {"params.model": "gbm"}, "runs": 1,
                                   "metrics": {"acc": {"mean": 0.95, "std": None, "min": 0.95, "max": 0.95,
                                                       "count": 1}}}
    assert answer["groups"][-1]["key"] == {"params.model": None}


@pytest.mark.slow
def test_values_travel_as_data_in_the_table_and_groups(fetch, store):
    run_id = record_run(store, EVIL, params={EVIL: EVIL, "p": EVIL}, tags={"t": EVIL})
    table = body(fetch("table", params={"filter": f"params.`{EVIL}` == {json.dumps(EVIL)}"}))
    assert table["rows"][0]["run_id"] == run_id
    assert table["rows"][0]["values"]["name"] == EVIL and table["rows"][0]["values"][f"params.{EVIL}"] == EVIL
    assert f"params.{EVIL}" in [c["name"] for c in table["columns"]]
    groups = body(fetch("groups", params={"by": "params.p"}))
    assert groups["groups"][0]["key"] == {"params.p": EVIL}


OUT_OF_RANGE = [
    ("table", {"limit": "1001"}, "limit must be a whole number from 0 to 1,000"),
    ("table", {"limit": "ten"}, "limit must be a whole number"),
    ("table", {"offset": "-1"}, "offset must be a whole number from 0 to"),
    ("table", {"order": "up"}, "order must be 'asc' or 'desc'"),
    ("table", {"sort": "colour"}, "cannot sort by 'colour'"),
    ("table", {"filter": "metrics.acc >"}, "bad filter at character 14: expected a value after '>'"),
    ("table", {"filter": "x" * 3000}, "filter must be at most 2,000 characters, not 3,000"),
    ("table", {"columns": "colour"}, "unknown column 'colour'"),
    ("table", {"columns": ",".join(f"metrics.m{i}" for i in range(1001))}, "columns must name at most 1,000"),
    ("table", {"q": " ".join(["w"] * 30)}, "q must be at most 20 words"),
    ("table", {"experiment": "e" * 20_000}, "experiment must be at most 10,000 characters"),
    ("groups", {}, "by must name 1 to 5 params, not 0"),
    ("groups", {"by": "a,b,c,d,e,f"}, "by must name 1 to 5 params, not 6"),
    ("groups", {"by": "a", "limit": "5000"}, "limit must be a whole number from 0 to 1,000"),
    ("groups", {"by": "a", "offset": "1e3"}, "offset must be a whole number"),
    ("groups", {"by": "a", "metrics": ",".join(f"m{i}" for i in range(51))}, "metrics must name at most 50"),
    ("groups", {"by": "a", "sort": "colour"}, "cannot sort groups by 'colour'"),
    ("groups", {"by": "a", "filter": "(("}, "bad filter at character 3"),
]


@pytest.mark.slow
@pytest.mark.parametrize("route, query, message", OUT_OF_RANGE, ids=lambda v: str(v)[:30] if isinstance(v, str) else None)
def test_every_parameter_out_of_range_is_a_400_naming_it(fetch, zoo, route, query, message):
    response = fetch(route, params=query)
    assert response.code == 400, (route, response.code, response.body[:300])
    text = body(response)["message"]
    assert text.startswith(message) or message in text, text
    assert len(text) < 300 and "tracker.db" not in text


# ------------------------------------------------------------------ scale
def big_store(path: Path, runs: int = 100_000) -> None:
    """``runs`` runs in 4 experiments over 303 columns (103 params, 150 metrics, 50 tags), each run carrying 33
    of them (three params shared by all runs, and a tenth of the other params, metrics and tags, by the run's
    family of models), written with SQL directly: minutes through the recorder, seconds this way. (Every run
    with all 300 columns, 30 million rows, takes 6 minutes and 3 GB to build: not a test.)"""
    Store(path).close()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("BEGIN")
    conn.execute(
        "WITH RECURSIVE i(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM i WHERE n < ?)"
        " INSERT INTO runs (run_id, experiment, name, status, source, start_time, end_time, duration)"
        " SELECT lower(hex(randomblob(16))), 'exp' || (n % 4), 'train' || (n % 7), 'finished', 'script',"
        " 1.7e9 + n, 1.7e9 + n + 1, (n % 100) / 10.0 FROM i", (runs - 1,))
    conn.execute("CREATE TEMP TABLE k (i INTEGER)")
    conn.executemany("INSERT INTO k VALUES (?)", [(i,) for i in range(15)])
    # Family f = rowid % 10 carries params s000-s002 (all runs) and p<f*10> .. p<f*10+9>, metrics m<f*15> ..
    # m<f*15+14> and tags t<f*5> .. t<f*5+4>: 13 params, 15 metrics, 5 tags a run; 103 + 150 + 50 columns.
    conn.execute(
        "INSERT INTO params (run_id, key, value) SELECT r.run_id,"
        " CASE WHEN k.i < 3 THEN printf('s%03d', k.i) ELSE printf('p%03d', (r.rowid % 10) * 10 + k.i - 3) END,"
        " CASE WHEN k.i = 0 THEN '\"rf\"' WHEN k.i = 1 THEN r.rowid % 5 WHEN k.i = 2 THEN"
        " '\"d' || ((r.rowid / 7) % 3) || '\"' ELSE (r.rowid * 7 + k.i) % 101 END FROM runs AS r, k WHERE k.i < 13")
    conn.execute(
        "INSERT INTO latest_metrics (run_id, key, value, step, points) SELECT r.run_id,"
        " printf('m%03d', (r.rowid % 10) * 15 + k.i), ((r.rowid * 7919 + k.i * 31) % 1000) / 1000.0, NULL, 1"
        " FROM runs AS r, k")
    conn.execute(
        "INSERT INTO tags (run_id, key, value) SELECT r.run_id, printf('t%03d', (r.rowid % 10) * 5 + k.i),"
        " 'v' || (r.rowid % 3) FROM runs AS r, k WHERE k.i < 5")
    conn.execute("COMMIT")
    conn.close()


@pytest.fixture(scope="module")
def store_of_100000_runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("table-scale") / "tracker.db"
    started = time.perf_counter()
    big_store(path)
    print(f"\nbuilt 100,000 runs x 300 columns in {time.perf_counter() - started:.1f} s")
    return path


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - started


@pytest.mark.slow
def test_the_first_page_of_100000_runs_is_quick(store_of_100000_runs):
    db = store_of_100000_runs
    api.runs_table(limit=1, db=db)  # opens the store once
    cases = {
        "all, newest first": {},
        "one experiment": {"experiment": "exp1"},
        "sorted by a metric": {"sort": "metrics.m001"},
        "sorted by a param, one experiment": {"experiment": "exp2", "sort": "params.s001", "order": "asc"},
        "filtered": {"filter": 'metrics.m001 > 0.5 and params.s000 == "rf"'},
        "searched": {"q": "exp3 train1"},
    }
    for label, arguments in cases.items():
        table, seconds = timed(api.runs_table, db=db, **arguments)
        print(f"runs_table {label}: {seconds * 1000:.0f} ms, total {table.total:,}, columns {len(table.columns)}")
        assert len(table.rows) == 100 and len(table.columns) >= 5
    everything = api.runs_table(db=db)
    assert everything.total == 100_000 and len(everything.columns) == 5 + 103 + 150 + 50
    assert seconds < 10  # asserted loosely: a shared machine; the times are printed


@pytest.mark.slow
def test_grouping_100000_runs_by_two_params_is_quick(store_of_100000_runs):
    db = store_of_100000_runs
    page, seconds = timed(api.groups_page, ["s001", "s002"], metrics=["m001", "m002"], db=db)
    print(f"\ngroups of 100,000 runs by two params, two metrics: {seconds * 1000:.0f} ms, {page.total} groups")
    page, seconds = timed(api.groups_page, ["s001", "s002"], experiment="exp1", db=db)
    print(f"groups of one experiment (25,000 runs), every metric ({len(page.metrics)}): {seconds * 1000:.0f} ms")
    assert page.total == 15 and sum(g.runs for g in page.groups) == 25_000  # 5 x 3 values
    assert seconds < 20


def test_a_session_indexes_only_its_new_history_and_earlier_cells_find_later_runs(store):
    # Given one kernel session of three tracked cells, its history growing as a kernel's does
    cells = ["import numpy as np", "from sklearn.preprocessing import StandardScaler", "fit(1)",
             "import lightgbm", "fit(2)", "fit(3)"]
    ids = []
    for seq, upto in enumerate((3, 5, 6)):
        run_id = f"{seq:032x}"
        history = cells[:upto]
        store.begin_run(run_id, "default", f"cell{seq}", "cell", 1.7e9 + seq, session_id="kernel1", session_seq=seq,
                        code=history[-1], history=history)
        run = store.get_run(run_id)
        run.code, run.history, run.status = history[-1], history, "finished"
        store.finish_run(run)
        ids.append(run_id)
    # Then, once searched, each run's document holds only the cells new since the previous one (indexing
    # never grows with the kernel's history)
    assert api.runs_page(q="numpy").total == 3
    with sqlite3.connect(store.path) as conn:
        documents = dict(conn.execute("SELECT run_id, history FROM run_search"))
    assert [documents[i] for i in ids] == ["\n".join(cells[:3]), "\n".join(cells[3:5]), "fit(3)"]
    # And a cell found in the history matches its run and every later run of the session, not earlier ones

    def found(q):
        return sorted(run.run_id for run in api.runs_page(q=q).runs)

    assert found("StandardScaler") == ids
    assert found("lightgbm") == ids[1:]
    assert found("fit(3)") == ids[2:]
    # And another session's run is found by its own code from its start, never by this session's cells
    store.begin_run("f" * 32, "default", "other", "cell", 1.8e9, session_id="kernel2", session_seq=0,
                    code="fit(9)", history=["fit(9)"])
    assert found("fit(9)") == ["f" * 32]  # running: its code and history are written at its start
    run = store.get_run("f" * 32)
    run.code, run.history, run.status = "fit(9)", ["fit(9)"], "finished"
    store.finish_run(run)
    assert found("lightgbm") == ids[1:] and found("fit(9)") == ["f" * 32]
