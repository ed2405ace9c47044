"""The jupyter_server extension: REST routes under /jupyter-tracker/api/, in a real server (pytest-jupyter)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
from traitlets.config import Config

# pytest-jupyter's fixtures, for this module only: registering it as a plugin would add its autouse
# server clean-up to every test of the suite.
from pytest_jupyter.jupyter_core import *  # noqa: F401,F403
from pytest_jupyter.jupyter_server import *  # noqa: F401,F403

import jupyter_tracker
from jupyter_tracker import api
from jupyter_tracker.capture.data import fingerprint
from jupyter_tracker.server.handlers import ROUTES
from jupyter_tracker.store import Store
from helpers import record_run

pytestmark = pytest.mark.slow  # a real jupyter_server

EVIL = "<img src=x onerror=alert(1)>"


@pytest.fixture
def jp_server_config(tracker_db: Path) -> Config:
    return Config({
        "ServerApp": {"jpserver_extensions": {"jupyter_tracker": True}},
        "JupyterTracker": {"db": str(tracker_db)},
    })


@pytest.fixture
def fetch(jp_fetch, jp_asyncio_loop):
    """``fetch("runs", params=...)``: a request to /jupyter-tracker/api/..., answered whatever its status."""

    def run(*parts: str, **kwargs):
        kwargs.setdefault("raise_error", False)
        return jp_asyncio_loop.run_until_complete(jp_fetch("jupyter-tracker", "api", *parts, **kwargs))

    return run


def body(response) -> dict:
    return json.loads(response.body)


@pytest.fixture
def two_runs(store: Store) -> tuple[str, str]:
    """Two runs of one cell: another n_estimators, another acc, a changed input column, a loss series."""
    import pandas as pd

    frame = pd.DataFrame({"age": [31, 45, 27], "income": [1.0, 2.0, 3.0]})
    changed = frame.assign(income=[1.0, 2.5, 3.0])
    first = record_run(store, "train", "churn", params={"n_estimators": 100, "model": "rf"},
                       metrics={"acc": 0.81}, series={"loss": [0.9, 0.5, 0.3]}, seeds={"numpy.random.seed": 7},
                       inputs={"X_train": fingerprint(frame)}, tags={"stage": "dev"})
    second = record_run(store, "train", "churn", params={"n_estimators": 200, "model": "rf"},
                        metrics={"acc": 0.86}, series={"loss": [0.8, 0.4, 0.2]}, seeds={"numpy.random.seed": 7},
                        inputs={"X_train": fingerprint(changed)}, tags={"stage": "dev"})
    return first, second


# ----------------------------------------------------------------- auth
def test_every_route_refuses_a_request_without_a_token(fetch, two_runs):
    # Given a route of each kind, with valid arguments
    run_id = two_runs[0]
    requests = [
        ("status", "GET"), ("experiments", "GET"), ("columns", "GET"), ("runs", "GET"),
        (f"runs/{run_id}", "GET"), (f"runs/{run_id}/metrics/loss", "GET"), (f"runs/{run_id}/rerun", "POST"),
        (f"compare?ids={two_runs[0]},{two_runs[1]}", "GET"), ("jobs/0123456789abcdef", "GET"),
        ("table", "GET"), ("groups?by=params.n_estimators", "GET"),
    ]
    assert len(requests) == len(ROUTES)
    for token in ("", "token not-the-token"):
        for path, method in requests:
            # When it comes without the server's token (or with a wrong one)
            response = fetch(*path.split("?")[0].split("/"), method=method,
                             headers={"Authorization": token}, body=b"{}" if method == "POST" else None)
            # Then it is refused, before anything runs
            assert response.code == 403, (path, token, response.code)


def test_a_post_with_a_session_cookie_needs_the_xsrf_token(fetch, jp_fetch, jp_asyncio_loop, jp_serverapp,
                                                           two_runs):
    # Given a browser session: log in with the token as a person would, keeping the cookies
    def request(*parts, **kwargs):
        kwargs.setdefault("raise_error", False)
        return jp_asyncio_loop.run_until_complete(jp_fetch(*parts, **kwargs))

    def cookies(response, jar):
        for header in response.headers.get_list("Set-Cookie"):
            name, _, value = header.split(";")[0].partition("=")
            jar[name] = value
        return jar

    jar = cookies(request("login", headers={"Authorization": ""}), {})
    xsrf = jar["_xsrf"]
    token = jp_serverapp.identity_provider.token
    cookies(request("login", method="POST", follow_redirects=False, body=f"password={token}&_xsrf={xsrf}",
                    headers={"Authorization": "", "Cookie": f"_xsrf={xsrf}"}), jar)
    assert any(name.startswith("username-") for name in jar), jar
    session = {"Authorization": "", "Cookie": "; ".join(f"{k}={v}" for k, v in jar.items())}
    # When a POST comes with the session cookie and no XSRF token
    refused = fetch("runs", two_runs[0], "rerun", method="POST", body=b"{}", headers=dict(session))
    # Then it is refused; with the token (as JupyterLab sends it) it gets through to the handler
    assert refused.code == 403 and "xsrf" in body(refused)["message"].lower()
    accepted = fetch("runs", "ffff0000", "rerun", method="POST", body=b"{}",
                     headers={**session, "X-XSRFToken": xsrf})
    assert accepted.code == 404  # the handler ran: no such run


# --------------------------------------------------------------- damage
def test_a_damaged_store_is_one_clear_error_on_every_route_and_no_rerun_writes_to_it(fetch, two_runs, tracker_db):
    # Given the server's store damaged after its schema pages (the WAL folded in first)
    import sqlite3
    from conftest import damage_all_but_schema

    with sqlite3.connect(tracker_db) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    damage_all_but_schema(tracker_db)
    before = tracker_db.read_bytes()
    run_id = two_runs[0]
    # When each route is asked, a rerun first (the server has read nothing yet) and the status last
    requests = [(f"runs/{run_id}/rerun", "POST"), (f"runs/{run_id}", "GET"), ("runs", "GET"),
                ("experiments", "GET"), ("columns", "GET"), (f"runs/{run_id}/metrics/loss", "GET"),
                (f"compare?ids={two_runs[0]},{two_runs[1]}", "GET"), ("status", "GET")]
    for path, method in requests:
        route, _, query = path.partition("?")
        params = dict([query.split("=")]) if query else None
        response = fetch(*route.split("/"), method=method, params=params, body=b"{}" if method == "POST" else None)
        # Then each answers 503 with the same one-line message: the store is damaged, and how to recover
        assert response.code == 503, (path, response.code, response.body[:300])
        message = body(response)["message"]
        assert message.startswith(f"store {tracker_db} is damaged (") and "doctor` for how to recover" in message
    # And nothing was written to the file: no rerun started
    time.sleep(0.5)
    assert tracker_db.read_bytes() == before


def test_a_rerun_of_a_readable_run_in_a_damaged_store_is_refused_before_it_starts(fetch, tracker_db):
    # Given a store damaged in one page of metric points, and a run whose own pages read fine
    from conftest import damaged_in_one_page

    run_id = damaged_in_one_page(tracker_db)
    before = tracker_db.read_bytes()
    assert fetch("runs", run_id).code == 200
    # When a rerun is asked for, then SQLite's check refuses it: no job, nothing written
    response = fetch("runs", run_id, "rerun", method="POST", body=b"{}")
    assert response.code == 503 and "is damaged" in body(response)["message"]
    assert "Location" not in response.headers
    time.sleep(0.5)
    assert tracker_db.read_bytes() == before
    # And from then on the server refuses every route the same way
    assert fetch("runs", run_id).code == 503 and fetch("status").code == 503


# --------------------------------------------------------------- status
def test_status_tells_versions_store_and_activity(fetch, two_runs, tracker_db):
    status = body(fetch("status"))
    assert status["version"] == jupyter_tracker.__version__
    assert status["store_path"] == str(tracker_db)
    assert status["store_exists"] is True
    assert status["schema_version"] >= 3
    assert status["runs"] == 2 and status["running"] == 0
    assert status["rerun"] is True


def test_status_of_a_missing_store_says_so_without_creating_it(fetch, tracker_db):
    status = body(fetch("status"))
    assert status["store_exists"] is False and status["schema_version"] is None
    assert not tracker_db.exists()


def test_a_missing_store_is_a_json_503_on_listing_routes(fetch, tracker_db):
    response = fetch("runs")
    assert response.code == 503
    assert "no store" in body(response)["message"]
    assert not tracker_db.exists()


# ----------------------------------------------------------------- runs
def test_runs_lists_a_page_with_the_total(fetch, store):
    # Given 30 runs in two experiments
    for i in range(30):
        record_run(store, f"cell{i}", "even" if i % 2 == 0 else "odd", params={"i": i}, metrics={"acc": i / 100})
    # When a page of 5 of one experiment is asked for
    page = body(fetch("runs", params={"experiment": "even", "limit": 5, "offset": 5}))
    # Then it holds 5 runs, newest first, and the experiment's total
    assert page["total"] == 15 and page["offset"] == 5 and page["limit"] == 5
    assert [r["params"]["i"] for r in page["runs"]] == [18, 16, 14, 12, 10]
    assert set(page["runs"][0]) >= {"run_id", "experiment", "name", "status", "start", "duration", "params",
                                     "metrics", "tags", "rerun_of", "hidden_state"}


def test_runs_sort_by_a_metric_or_a_param_in_either_order(fetch, store):
    for value, acc in ((8, 0.5), (10, 0.9), (9, None), (200, 0.7)):
        record_run(store, "train", params={"n": value}, metrics={} if acc is None else {"acc": acc})

    def order(sort, direction, field):
        runs = body(fetch("runs", params={"sort": sort, "order": direction}))["runs"]
        return [r[field].get(sort.split(".", 1)[1]) for r in runs]

    # numbers sort as numbers; a run without the value comes last both ways
    assert order("metrics.acc", "desc", "metrics") == [0.9, 0.7, 0.5, None]
    assert order("metrics.acc", "asc", "metrics") == [0.5, 0.7, 0.9, None]
    assert order("params.n", "asc", "params") == [8, 9, 10, 200]
    assert order("params.n", "desc", "params") == [200, 10, 9, 8]


def test_runs_search_matches_names_params_and_tags(fetch, store):
    record_run(store, "train_rf", params={"model": "random forest"}, tags={"owner": "ana"})
    record_run(store, "train_gbm", params={"model": "boosting"}, tags={"owner": "bo"})
    record_run(store, "evaluate", params={"split": 0.2}, tags={"owner": "ana"})

    def names(q):
        return sorted(r["name"] for r in body(fetch("runs", params={"q": q}))["runs"])

    assert names("train") == ["train_gbm", "train_rf"]          # name
    assert names("FOREST") == ["train_rf"]                       # param value, any case
    assert names("split") == ["evaluate"]                        # param name
    assert names("ana") == ["evaluate", "train_rf"]              # tag value
    assert names("ana train") == ["train_rf"]                    # every word must match
    assert names("100%_") == []                                  # LIKE wildcards are literal
    assert body(fetch("runs", params={"q": "ana"}))["total"] == 2


LONG = "x" * 50_000
OUT_OF_RANGE = [  # (route, query, the message's start): every route and parameter, with values out of range
    ("runs", {"sort": "colour"}, "cannot sort by 'colour'"),
    ("runs", {"sort": "metrics."}, "cannot sort by 'metrics.'"),
    ("runs", {"sort": LONG}, "sort must be at most 10,000 characters"),
    ("runs", {"order": "up"}, "order must be 'asc' or 'desc'"),
    ("runs", {"limit": "ten"}, "limit must be a whole number"),
    ("runs", {"limit": "100000"}, "limit must be a whole number from 0 to 1,000"),
    ("runs", {"limit": "-1"}, "limit must be a whole number from 0 to 1,000"),
    ("runs", {"offset": "-1"}, "offset must be a whole number from 0 to"),
    ("runs", {"offset": "99999999999999999999"}, "offset must be a whole number from 0 to 1,000,000,000,000"),
    ("runs", {"offset": "9" * 5000}, "offset must be a whole number"),
    ("runs", {"offset": "1e3"}, "offset must be a whole number"),
    ("runs", {"q": " ".join(["word"] * 1000)}, "q must be at most 1,000 characters"),
    ("runs", {"q": " ".join(["w"] * 200)}, "q must be at most 20 words, not 200"),
    ("runs", {"q": LONG}, "q must be at most 1,000 characters, not 50,000"),
    ("runs", {"experiment": LONG}, "experiment must be at most 10,000 characters"),
    ("experiments", {"q": LONG}, "q must be at most 1,000 characters"),
    ("compare", {"ids": ",".join(f"{i:04x}" for i in range(51))}, "at most 50 runs can be compared at once, not 51"),
    ("compare", {"ids": "{a},{a},{a}"}, "compare needs at least two different run"),
    ("compare", {"ids": "{a}," + "f" * 100}, "a run id must be at most 64 characters, not 100"),
    ("runs/{a}/metrics/" + "m" * 20_000, None, "metric name must be at most 10,000 characters"),
]


@pytest.mark.parametrize("route, query, message", OUT_OF_RANGE, ids=lambda v: str(v)[:30] if isinstance(v, str) else None)
def test_every_parameter_out_of_range_is_a_400_naming_it(fetch, two_runs, route, query, message):
    # Given a store of two runs; when a route is asked with a value out of range
    a = two_runs[0]
    params = {k: v.format(a=a) if "{a}" in v else v for k, v in query.items()} if query else None
    response = fetch(*route.format(a=a).split("/"), params=params)
    # Then it answers 400 with a JSON message naming the parameter, and the store's path is not in it
    assert response.code == 400, (route, response.code, response.body[:300])
    assert response.headers["Content-Type"].startswith("application/json")
    text = body(response)["message"]
    assert text.startswith(message) or message in text, text
    assert len(text) < 300 and "tracker.db" not in text


def test_a_compare_of_one_run_under_many_names_is_refused_small(fetch, two_runs):
    # 1,000 copies of one id (205 MB of JSON before): one short 400
    response = fetch("compare", params={"ids": ",".join([two_runs[0]] * 1000)})
    assert response.code == 400 and len(response.body) < 300


def test_experiments_and_columns(fetch, store):
    record_run(store, "a", "old", params={"p": 1}, metrics={"acc": 1.0}, tags={"t": "x"})
    record_run(store, "b", "new", params={"q": 1}, metrics={"f1": 1.0})
    record_run(store, "c", "new", params={"q": 2})
    experiments = body(fetch("experiments"))["experiments"]
    assert [(e["name"], e["runs"]) for e in experiments] == [("new", 2), ("old", 1)]  # most recent first
    # the runs matching a search, per experiment ("x" is no hex digit: no run id starts with it)
    assert [(e["name"], e["runs"]) for e in body(fetch("experiments", params={"q": "x"}))["experiments"]] == [
        ("old", 1)]
    assert body(fetch("columns")) == {"metrics": ["acc", "f1"], "params": ["p", "q"], "tags": ["t"]}


# ------------------------------------------------------------------ run
def test_run_detail_has_everything_recorded_and_the_changed_columns(fetch, two_runs):
    first, second = two_runs
    # When the second run is asked for by a prefix of its id
    detail = body(fetch("runs", second[:6]))
    run = detail["run"]
    # Then everything recorded is there
    assert run["run_id"] == second
    assert run["params"] == {"model": "rf", "n_estimators": 200}
    assert [(s["source"], s["value"]) for s in run["seeds"]] == [("numpy.random.seed", 7)]
    assert run["metrics"] == {"acc": 0.86, "loss": 0.2} and run["metric_steps"] == {"acc": 1, "loss": 3}
    assert run["tags"] == {"stage": "dev"}
    assert run["code"] == "x = 1" and run["history"] == ["x = 1"]
    assert run["environment"]["packages"] == {"numpy": "2.0"}
    assert "hidden_state" in run and "rerun_of" in run
    (data,) = run["inputs"]
    assert data["name"] == "X_train" and data["fingerprint"]["shape"] == [3, 2]
    columns = {c["name"]: c for c in data["fingerprint"]["columns"]}
    assert {"age", "income"} <= set(columns) and columns["income"]["stats"]
    # and the input's changed column, against the previous run of the same name
    assert detail["previous_run_id"] == first
    assert detail["changed_inputs"] == {"X_train": ["income"]}


def test_the_run_route_and_show_json_are_one_serialization(fetch, store, tracker_db):
    from conftest import run_cli
    from jupyter_tracker.records import Run

    # Given a run with non-finite metrics and params, a series, an input, seeds, tags and a model
    import pandas as pd

    run_id = record_run(store, "train", "churn", params={"limit": float("inf"), "none": None},
                        metrics={"missing": float("nan"), "down": float("-inf")}, series={"loss": [0.5, 0.25]},
                        seeds={"random.seed": 3}, inputs={"X": fingerprint(pd.DataFrame({"a": [1, 2]}))},
                        tags={"stage": "dev"})
    api.log_model({"weights": [1, 2, 3]}, name="model", run=run_id, db=tracker_db)
    # When it is read from the server and from the command line
    served = body(fetch("runs", run_id[:8]))["run"]
    shown = json.loads(run_cli("show", run_id[:8], "-f", "json", db=tracker_db).stdout,
                       parse_constant=lambda name: pytest.fail(f"bare {name} in JSON"))
    # Then both are the same strict JSON, holding every field of the record
    assert served == shown
    assert set(served) == set(Run.__dataclass_fields__)
    assert served["metrics"] == {"missing": "NaN", "down": "-Infinity", "loss": 0.25}
    assert served["params"] == {"limit": "Infinity", "none": None} and served["metric_steps"]["loss"] == 2
    (model,) = served["artifacts"]
    assert model["kind"] == "model" and model["path"] == str(store.artifacts.path(model["hash"]))


def test_unknown_and_ambiguous_runs(fetch, store):
    ids = [record_run(store, "r") for _ in range(40)]
    missing = fetch("runs", "zzzz")
    assert missing.code == 404 and body(missing)["message"] == "no run matches 'zzzz'"
    # 40 random ids: some two share their first hex digit
    first_digits = [i[0] for i in ids]
    shared = next(d for d in first_digits if first_digits.count(d) > 1)
    ambiguous = fetch("runs", shared)
    assert ambiguous.code == 400 and "ambiguous" in body(ambiguous)["message"]
    assert fetch("runs", "zzzz", "metrics", "acc").code == 404


def test_metric_series(fetch, two_runs):
    series = body(fetch("runs", two_runs[0], "metrics", "loss"))
    assert series["step"] == [0, 1, 2] and series["value"] == [0.9, 0.5, 0.3]
    missing = fetch("runs", two_runs[0], "metrics", "nope")
    assert missing.code == 404 and "no metric 'nope'" in body(missing)["message"]


def test_metric_names_with_a_slash_and_non_finite_values(fetch, store):
    run_id = record_run(store, "r", series={"val/loss": [float("nan"), float("inf"), 1.0]})
    series = body(fetch("runs", run_id, "metrics", "val/loss"))
    assert series["value"] == ["NaN", "Infinity", 1.0]


# -------------------------------------------------------------- compare
def test_compare_marks_what_differs(fetch, two_runs):
    first, second = two_runs
    comparison = body(fetch("compare", params={"ids": f"{first[:8]},{second[:8]}"}))
    assert comparison["runs"] == [first, second]
    params = {row["key"]: row for row in comparison["params"]}
    assert params["n_estimators"]["values"] == [100, 200] and params["n_estimators"]["differs"] is True
    assert params["model"]["differs"] is False
    metrics = {row["key"]: row for row in comparison["metrics"]}
    assert metrics["acc"]["deltas"][1] == pytest.approx(0.05)
    assert [d["metric_steps"]["loss"] for d in comparison["details"]] == [3, 3]
    assert any(row["differs"] and "income" in str(row["values"][1]) for row in comparison["data"])


@pytest.mark.parametrize("ids, status", [("", 400), ("abc", 400), ("zzzz,yyyy", 404)])
def test_compare_needs_two_known_runs(fetch, two_runs, ids, status):
    response = fetch("compare", params={"ids": ids} if ids else {})
    assert response.code == status and body(response)["message"]


def test_values_travel_as_data(fetch, store):
    run_id = record_run(store, "r", params={"html": EVIL, "nan": float("nan")})
    run = body(fetch("runs", run_id))["run"]
    assert run["params"] == {"html": EVIL, "nan": "NaN"}


# ---------------------------------------------------------------- reruns
def test_unknown_job_is_a_404(fetch):
    response = fetch("jobs", "0123456789abcdef")
    assert response.code == 404 and "no job" in body(response)["message"]


@pytest.mark.parametrize("payload, message", [
    (b"not json", "must be JSON"),
    (b"[1]", "JSON object"),
    (b'{"repeat": 0}', "repeat must be a whole number from 1 to 20"),
    (b'{"repeat": true}', "repeat must be"),
    (b'{"rtol": -1}', "rtol must be a non-negative number"),
    (b'{"colour": 1}', "unknown rerun option(s): colour"),
])
def test_bad_rerun_bodies_are_a_400(fetch, two_runs, payload, message):
    response = fetch("runs", two_runs[0], "rerun", method="POST", body=payload)
    assert response.code == 400 and message in body(response)["message"]


def test_rerun_of_an_unknown_run_is_a_404(fetch, two_runs):
    assert fetch("runs", "ffff0000", "rerun", method="POST", body=b"{}").code == 404


# ------------------------------------------------------------------ scale
def test_10000_runs_are_served_a_page_at_a_time_sorted_and_searched_by_the_store(fetch, tracker_db,
                                                                                  store_of_10000_runs):
    # Given 10,000 runs in 4 experiments
    tracker_db.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(store_of_10000_runs, tracker_db)
    # When the sidebar asks for its first page (one experiment at a time, newest first), sorted by a
    # metric or a param, searched; and the whole store newest first
    for params in ({"experiment": "exp1"}, {"experiment": "exp1", "sort": "metrics.acc"},
                   {"experiment": "exp1", "sort": "params.n_estimators", "order": "asc"}, {},
                   {"experiment": "exp1", "q": "gbm"}):
        response = fetch("runs", params=params)
        page = body(response)
        # Then one page of 50 comes back with the total, and the server reports its own time
        # (how long it takes is measured by bench/, not asserted here: these machines are shared)
        assert len(page["runs"]) == 50 and page["total"] >= 50, params
        assert float(response.headers["Server-Timing"].split("dur=")[1]) >= 0
        if params.get("sort") == "metrics.acc":
            values = [r["metrics"]["acc"] for r in page["runs"]]
            assert values == sorted(values, reverse=True)


def test_a_rerun_runs_in_the_background_and_its_job_reports_the_verdict(fetch, kernel):
    # Given a run recorded by a tracked cell in a real kernel
    kernel.run("%%track rerun_me --experiment jobs\nn = 3\nacc = 0.75")
    (run_id,) = kernel.value("list(__import__('jupyter_tracker').runs(experiment='jobs').run_id)")
    # When it is rerun through the API
    started = fetch("runs", run_id[:8], "rerun", method="POST", body=b'{"repeat": 1}')
    # Then the answer comes at once, with a job to poll
    assert started.code == 202
    job = body(started)
    assert job["state"] in ("queued", "running") and job["run_id"] == run_id and job["total"] == 1
    assert started.headers["Location"].endswith(f"/jupyter-tracker/api/jobs/{job['job_id']}")
    deadline = time.monotonic() + 180
    while job["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        job = body(fetch("jobs", job["job_id"]))
    # and the job ends with the verdict
    assert job["state"] == "finished", job
    assert job["result"]["status"] == "REPRODUCED" and job["done"] == 1 and job["elapsed"] > 0
    (attempt,) = job["result"]["attempts"]
    assert attempt["run_id"] and attempt["run_id"] != run_id
