"""The benchmark cases of issue 7: jupyter_tracker against MLflow (SQLite backend), side by side.

Each function takes the suite's ``Context`` and returns a ``Case``: its rows (one per method,
timed interleaved with the others), and the issue's targets checked against them.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from harness import Case, Kernel, MlflowServer, Row, Samples, Target, interleave

PARAMS = {"n_estimators": 200, "max_depth": 8, "learning_rate": 0.05, "subsample": 0.8, "colsample": 0.9,
          "min_child": 3, "reg_alpha": 0.0, "reg_lambda": 1.0, "objective": "binary", "seed": 7}
METRICS = {"acc": 0.91, "f1": 0.88, "auc": 0.95, "loss": 0.31, "precision": 0.9}


@dataclass
class Context:
    work: Path  # a temporary folder: every store, notebook and MLflow database of the run
    quick: bool  # smaller sizes and fewer repetitions, to try the suite out (not for results)

    def pick(self, full: Any, quick: Any) -> Any:
        return quick if self.quick else full

    def env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, **extra}


def mlflow_at(ctx: Context, name: str) -> tuple[Any, Any, str]:
    """MLflow on its SQLite backend in the work folder: (mlflow, client, experiment id)."""
    import mlflow
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{ctx.work / f'mlflow-{name}.db'}")
    experiment = mlflow.set_experiment(name)
    return mlflow, MlflowClient(), experiment.experiment_id


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.2f} ms"


# ---------------------------------------------------------------- 1. recording a run (Python API)
def record_run(ctx: Context) -> Case:
    import jupyter_tracker as jt
    from mlflow.entities import Metric, Param

    mlflow, client, _ = mlflow_at(ctx, "record")
    db = ctx.work / "record.db"

    def jupyter_tracker() -> None:
        with jt.start_run("bench", experiment="bench", db=db):
            for key, value in PARAMS.items():
                jt.log_param(key, value)
            for key, value in METRICS.items():
                jt.log_metric(key, value)

    def mlflow_batch() -> None:
        with mlflow.start_run() as run:
            now = int(time.time() * 1000)
            client.log_batch(run.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in METRICS.items()],
                             params=[Param(k, str(v)) for k, v in PARAMS.items()])

    def mlflow_calls() -> None:
        with mlflow.start_run():
            for key, value in PARAMS.items():
                mlflow.log_param(key, value)
            for key, value in METRICS.items():
                mlflow.log_metric(key, value)

    samples = interleave({"jt": jupyter_tracker, "batch": mlflow_batch, "calls": mlflow_calls},
                         rounds=ctx.pick(40, 8), warmup=3)
    case = Case("record_run", "Record one run of 10 params and 5 final metrics (Python API)", [
        Row("jupyter_tracker start_run + log_param/log_metric", "jupyter_tracker", samples["jt"],
            note="the run row and code are written at the start; the rest in one transaction at the end"),
        Row("MLflow start_run + one log_batch", "mlflow", samples["batch"]),
        Row("MLflow start_run + log_param/log_metric per call", "mlflow", samples["calls"]),
    ])
    jt_median, batch = samples["jt"].median, samples["batch"].median
    case.targets.append(Target("at most 1/10 of MLflow's batch-API time",
                               f"{_ms(jt_median)} vs {_ms(batch)}: 1/{batch / jt_median:.0f}",
                               jt_median <= batch / 10))
    return case


# ---------------------------------------------------------------- 2. %%track in a real kernel
CELL = "\n".join([*(f"{k} = {v!r}" for k, v in PARAMS.items()), *(f"{k} = {v!r}" for k, v in METRICS.items())])
MLFLOW_CELL = CELL + (
    "\nwith mlflow.start_run():\n"
    f"    mlflow.log_params({{{', '.join(f'{k!r}: {k}' for k in PARAMS)}}})\n"
    f"    mlflow.log_metrics({{{', '.join(f'{k!r}: {k}' for k in METRICS)}}})\n"
)


def track_cell(ctx: Context) -> Case:
    """Each tool in its own kernel (neither pays for the other's imports or garbage); the rounds alternate
    between the kernels, and each tool's cost is its cell minus the same cell untracked in its kernel."""
    folder = ctx.work / "kernel"
    folder.mkdir()
    env = ctx.env(JUPYTER_TRACKER_DB=str(folder / "tracker.db"))
    jt_kernel = Kernel(str(folder), env)
    mlflow_kernel = Kernel(str(folder), env)
    try:
        jt_kernel.execute("%load_ext jupyter_tracker")
        mlflow_kernel.execute(f"import mlflow\nmlflow.set_tracking_uri({'sqlite:///' + str(folder / 'mlflow.db')!r})\n"
                              "mlflow.set_experiment('bench');")
        _, outputs = jt_kernel.execute("%%track bench --experiment bench\n" + CELL)
        shown = [m for m in outputs if m["msg_type"] == "display_data"]
        assert shown and "10 params" in shown[0]["content"]["data"]["text/plain"], outputs
        cells = {
            "plain": (jt_kernel, CELL),
            "jt": (jt_kernel, "%%track bench --experiment bench\n" + CELL),
            "trivial": (jt_kernel, "x = 1"),
            "jt_trivial": (jt_kernel, "%%track trivial\nx = 1"),
            "mlflow_plain": (mlflow_kernel, CELL),
            "mlflow": (mlflow_kernel, MLFLOW_CELL),
        }
        methods = {name: (lambda kernel=kernel, code=code: kernel.execute(code)[0])
                   for name, (kernel, code) in cells.items()}
        samples = interleave(methods, rounds=ctx.pick(120, 20), warmup=5)
        history = int(jt_kernel.value("print(len(get_ipython().history_manager.input_hist_raw))"))
    finally:
        jt_kernel.close()
        mlflow_kernel.close()

    def added(name: str, base: str) -> Samples:
        # Rounds ran the cells back to back, so each round's difference pairs cells under the same load.
        return Samples([t - p for t, p in zip(samples[name].values, samples[base].values)])

    jt_added, trivial_added = added("jt", "plain"), added("jt_trivial", "trivial")
    mlflow_added = added("mlflow", "mlflow_plain")
    case = Case("track_cell", "Record a cell of 10 params and 5 metrics in a real kernel: time added to the cell", [
        Row("jupyter_tracker %%track (added)", "jupyter_tracker", jt_added,
            note="includes the HTML + text summary sent to the notebook"),
        Row("MLflow start_run + log_params + log_metrics in the cell (added)", "mlflow", mlflow_added),
        Row("jupyter_tracker %%track on `x = 1` (added)", "jupyter_tracker", trivial_added),
        Row("the untracked cell itself (request to idle)", "reference", samples["plain"]),
    ], notes=[f"timed at the client, execute request to idle, over ZMQ, each tool in its own kernel; "
              f"{len(samples['plain'].values)} rounds; the kernel's history held {history} cells at the end"])
    case.targets.append(Target("the %%track added cost at most 3 ms median for a trivial cell",
                               f"{_ms(jt_added.median)} (x = 1: {_ms(trivial_added.median)})",
                               max(jt_added.median, trivial_added.median) <= 3e-3))
    return case


# ---------------------------------------------------------------- 3. a step series
def step_series(ctx: Context) -> Case:
    import jupyter_tracker as jt
    from mlflow.entities import Metric

    points = ctx.pick(100_000, 20_000)
    mlflow, client, _ = mlflow_at(ctx, "series")
    db = ctx.work / "series.db"
    values = [1.0 / (step + 1) for step in range(points)]

    def jupyter_tracker() -> None:
        with jt.start_run("series", experiment="bench", db=db):
            for step, value in enumerate(values):
                jt.log_metric("loss", value, step=step)

    def mlflow_batch() -> None:
        with mlflow.start_run() as run:
            now = int(time.time() * 1000)
            for start in range(0, points, 1000):  # MLflow takes at most 1,000 metrics per log_batch
                client.log_batch(run.info.run_id, metrics=[
                    Metric("loss", values[step], now, step) for step in range(start, min(points, start + 1000))])

    samples = interleave({"jt": jupyter_tracker, "mlflow": mlflow_batch}, rounds=ctx.pick(3, 2), warmup=0)
    case = Case("step_series", f"A step series of {points:,} points for one metric", [
        Row("jupyter_tracker log_metric(step=) per point", "jupyter_tracker", samples["jt"], points, "points/s",
            note="points are appended in memory; the live writer thread flushes them every 0.5 s (issue 12)"),
        Row("MLflow log_batch, 1,000 points a call", "mlflow", samples["mlflow"], points, "points/s"),
    ])
    rate = points / samples["jt"].median
    case.targets.append(Target("at least 100,000 points/s", f"{rate:,.0f} points/s", rate >= 100_000))
    return case


# ---------------------------------------------------------------- 3b. %%track after a long history (issue 12)
def track_history(ctx: Context) -> Case:
    """The added cost of ``%%track`` on ``x = 1`` after 10, 1,000 and 5,000 executed cells in one kernel: a
    tracked cell handles only what is new in the history since the last run, so the cost must not grow."""
    folder = ctx.work / "history"
    folder.mkdir()
    kernel = Kernel(str(folder), ctx.env(JUPYTER_TRACKER_DB=str(folder / "tracker.db")))
    added: dict[int, Samples] = {}
    try:
        kernel.execute("%load_ext jupyter_tracker")
        executed = int(kernel.value("print(len(get_ipython().history_manager.input_hist_raw))"))
        for size in (10, 1_000, 5_000):
            # Distinct cells (none ran twice: no hidden-state reason to list), each run as a notebook cell
            # would be, with history, from one request.
            grow = size - executed
            if grow > 0:
                kernel.execute(f"for _i in range({executed}, {size}):\n"
                               "    get_ipython().run_cell(f'_h{_i} = {_i}', store_history=True, silent=False)")
            methods = {"plain": lambda: kernel.execute("x = 1")[0],
                       "jt": lambda: kernel.execute("%%track trivial\nx = 1")[0]}
            samples = interleave(methods, rounds=ctx.pick(60, 15), warmup=3)
            added[size] = Samples([t - p for t, p in zip(samples["jt"].values, samples["plain"].values)])
            executed = int(kernel.value("print(len(get_ipython().history_manager.input_hist_raw))"))
    finally:
        kernel.close()
    case = Case("track_history", "%%track on `x = 1` as the kernel's history grows: time added to the cell", [
        Row(f"jupyter_tracker %%track after {size:,} cells (added)", "jupyter_tracker", samples)
        for size, samples in added.items()
    ], notes=["timed at the client, execute request to idle, tracked minus untracked `x = 1` in the same round; "
              "each size's rounds add two cells each to the history"])
    growth = added[5_000].median - added[10].median
    case.targets.append(Target("after 5,000 cells at most 1 ms more than after 10",
                               f"{_ms(added[10].median)} / {_ms(added[1_000].median)} / {_ms(added[5_000].median)}",
                               growth <= 1e-3))
    return case


# ---------------------------------------------------------------- 3c. live metrics: log_metric to visible (issue 12)
LIVE_SCRIPT = """
import sys, time
import jupyter_tracker as jt

with jt.start_run("live", db=sys.argv[1]):
    for step in range(int(sys.argv[2])):
        jt.log_metric("loss", 1.0 / (step + 1), step=step)
        time.sleep(float(sys.argv[3]))
"""


def live_latency(ctx: Context) -> Case:
    """A script logs a point every 20 ms; this process polls the store with its own connection every 5 ms and
    takes, for each point, the time it became visible minus the time it was logged (its stored timestamp)."""
    import subprocess

    folder = ctx.work / "live"
    folder.mkdir()
    db, script = folder / "tracker.db", folder / "live.py"
    script.write_text(LIVE_SCRIPT)
    points, every = ctx.pick(500, 100), 0.02
    writer = subprocess.Popen([sys.executable, str(script), str(db), str(points), str(every)])
    latencies: list[float] = []
    try:
        while writer.poll() is None and not db.exists():
            time.sleep(0.01)
        conn = sqlite3.connect(db, timeout=60)
        seen = -1
        while len(latencies) < points and (writer.poll() is None or seen < points - 1):
            try:
                rows = conn.execute("SELECT seq, timestamp FROM metrics WHERE key = 'loss' AND seq > ?"
                                    " ORDER BY seq", (seen,)).fetchall()
            except sqlite3.OperationalError:  # the schema is not there yet
                rows = []
            now = time.time()
            latencies.extend(now - logged for _, logged in rows)
            seen = rows[-1][0] if rows else seen
            time.sleep(0.005)
        conn.close()
    finally:
        writer.wait(timeout=60)
    samples = Samples(latencies)
    p99 = sorted(latencies)[int(0.99 * (len(latencies) - 1))]
    case = Case("live_latency", "Live metrics: from log_metric in a running script to visible in another process", [
        Row("jupyter_tracker log_metric to visible (one point every 20 ms)", "jupyter_tracker", samples,
            note="the live writer flushes every 0.5 s, one transaction per batch"),
    ], notes=[f"{len(latencies)} points; median {_ms(samples.median)}, p99 {_ms(p99)}, max {_ms(max(latencies))}; "
              "polled every 5 ms (adds up to 5 ms)"])
    case.extra["p99_seconds"] = p99
    case.targets.append(Target("p99 within 1 s", f"median {_ms(samples.median)}, p99 {_ms(p99)}", p99 <= 1.0))
    return case


# ---------------------------------------------------------------- 4. runs into a DataFrame, the sidebar page
def _clone_runs(path: Path, run_table: str, id_column: str, tables: list[str], copies: int,
                new_id: str, time_column: str, time_step: float) -> None:
    """Copy every run of a store ``copies`` times under fresh ids, rows of ``tables`` included.

    The rows are the ones the tool itself wrote (through its API) for the first runs: only ids
    and start times differ, so a store of 10,000 runs is made in seconds, not minutes.
    """
    conn = sqlite3.connect(path)
    try:
        conn.execute("BEGIN")
        originals = [r for (r,) in conn.execute(f"SELECT {id_column} FROM {run_table}")]
        conn.execute("CREATE TEMP TABLE idmap (old TEXT, new TEXT, shift REAL)")
        conn.executemany("INSERT INTO idmap VALUES (?, ?, ?)", [
            (old, None, (copy + 1) * len(originals) * time_step) for copy in range(copies) for old in originals])
        conn.execute(f"UPDATE idmap SET new = {new_id}")
        for table in [run_table, *tables]:
            columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
            select = ", ".join(
                "m.new" if c == id_column else (f"t.{c} + m.shift" if table == run_table and c == time_column
                                                else f"t.{c}") for c in columns)
            conn.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {select} FROM {table} AS t"
                         f" JOIN idmap AS m ON m.old = t.{id_column}")
        conn.execute("COMMIT")
    finally:
        conn.close()


def runs_frame(ctx: Context) -> list[Case]:
    import jupyter_tracker as jt
    from jupyter_tracker import api
    from jupyter_tracker import store as stores
    from mlflow.entities import Metric, Param

    base = ctx.pick(1000, 200)
    sizes = [base, base * 10]
    mlflow, client, experiment_id = mlflow_at(ctx, "runs")
    jt_dbs, mlflow_dbs = {}, {}
    started = time.perf_counter()
    first = ctx.work / f"runs-{base}.db"
    for i in range(base):  # both tools record the first runs through their own APIs
        params = {**PARAMS, "seed": i}
        metrics = {k: v + i * 1e-4 for k, v in METRICS.items()}
        with jt.start_run("train", experiment="bench", db=first):
            jt.log_params(params)
            jt.log_metrics(metrics)
        with mlflow.start_run() as run:
            now = int(time.time() * 1000)
            client.log_batch(run.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                             params=[Param(k, str(v)) for k, v in params.items()])
    populate_api = time.perf_counter() - started
    jt_dbs[base], mlflow_dbs[base] = first, ctx.work / "mlflow-runs.db"
    big = base * 10
    jt_dbs[big], mlflow_dbs[big] = ctx.work / f"runs-{big}.db", ctx.work / f"mlflow-runs-{big}.db"
    api.open_store(first).close()
    stores._stores.clear()  # the copy below must see a checkpointed file, and later opens a fresh connection
    shutil.copy(first, jt_dbs[big])
    shutil.copy(mlflow_dbs[base], mlflow_dbs[big])
    _clone_runs(jt_dbs[big], "runs", "run_id", ["params", "tags", "seeds", "latest_metrics", "metrics"], 9,
                "lower(hex(randomblob(16)))", "start_time", 0.001)
    _clone_runs(mlflow_dbs[big], "runs", "run_uuid", ["params", "tags", "latest_metrics", "metrics"], 9,
                "lower(hex(randomblob(16)))", "start_time", 1)
    note = (f"the first {base:,} runs of each store were recorded through each tool's API ({populate_api:.0f} s for "
            f"both), the {big:,}-run stores copy them under new ids")

    cases = []
    frames = {}
    for size in sizes:
        uri = f"sqlite:///{mlflow_dbs[size]}"

        def jupyter_tracker(size: int = size) -> None:
            frames["jt"] = jt.runs(db=jt_dbs[size])

        def mlflow_search(uri: str = uri) -> None:
            mlflow.set_tracking_uri(uri)
            frames["mlflow"] = mlflow.search_runs(experiment_ids=[experiment_id])

        samples = interleave({"jt": jupyter_tracker, "mlflow": mlflow_search},
                             rounds=ctx.pick(7 if size == base else 4, 3), warmup=1)
        assert len(frames["jt"]) == size and len(frames["mlflow"]) == size, (len(frames["jt"]), len(frames["mlflow"]))
        case = Case(f"runs_frame_{size}", f"{size:,} stored runs (10 params, 5 metrics each) into a pandas DataFrame", [
            Row("jupyter_tracker runs()", "jupyter_tracker", samples["jt"]),
            Row("MLflow search_runs()", "mlflow", samples["mlflow"]),
        ], notes=[note, f"frames: {frames['jt'].shape[1]} and {frames['mlflow'].shape[1]} columns"])
        if size == big:
            jt_median, other = samples["jt"].median, samples["mlflow"].median
            case.targets.append(Target(f"{big:,} runs: at most 0.3 s", f"{jt_median:.3f} s", jt_median <= 0.3))
            case.targets.append(Target(f"{big:,} runs: at least 20 times faster than search_runs",
                                       f"{other / jt_median:.0f}x", other / jt_median >= 20))
        cases.append(case)

    cases.append(_sidebar_page(ctx, jt_dbs[big], mlflow_dbs[big], experiment_id, big))
    return cases


def _sidebar_page(ctx: Context, db: Path, mlflow_db: Path, experiment_id: str, size: int) -> Case:
    import dataclasses

    import mlflow
    from jupyter_tracker import api
    from mlflow.tracking import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{mlflow_db}")
    client = MlflowClient()
    pages = {}

    def jupyter_tracker() -> None:
        # What the sidebar's GET /jupyter-tracker/api/runs does on the server: the query and the JSON.
        page = api.runs_page(sort="metrics.acc", order="desc", limit=50, db=db)
        pages["jt"] = json.dumps(dataclasses.asdict(page), default=str)

    def mlflow_page() -> None:
        pages["mlflow"] = client.search_runs([experiment_id], order_by=["metrics.acc DESC"], max_results=50)

    # MLflow takes seconds per call here (its metric sort): five rounds.
    samples = interleave({"jt": jupyter_tracker, "mlflow": mlflow_page}, rounds=ctx.pick(5, 3), warmup=1)
    assert len(pages["mlflow"]) == 50 and len(json.loads(pages["jt"])["runs"]) == 50
    rows = [
        Row("jupyter_tracker runs_page(sort=metrics.acc, limit=50) + JSON", "jupyter_tracker", samples["jt"]),
        Row("MLflow search_runs(order_by=metrics.acc DESC, max_results=50)", "mlflow", samples["mlflow"]),
    ]
    notes = [f"{size:,} runs in the store"]
    http = _sidebar_http(ctx, db, rounds=ctx.pick(30, 5))
    if isinstance(http, str):
        notes.append(f"real HTTP request not timed: {http}")
    else:
        rows.append(Row("jupyter_tracker GET /jupyter-tracker/api/runs, server time (Server-Timing)",
                        "jupyter_tracker", http[0], note="jupyter_server on loopback, token auth"))
        rows.append(Row("jupyter_tracker GET /jupyter-tracker/api/runs, round trip at the client", "reference", http[1]))
    case = Case("sidebar_page", f"The sidebar's first page: 50 of {size:,} runs sorted by a metric", rows, notes=notes)
    server = http[0].median if not isinstance(http, str) else samples["jt"].median
    case.targets.append(Target("the sidebar's first page at most 50 ms of server time", _ms(server), server <= 0.05))
    return case


def _sidebar_http(ctx: Context, db: Path, rounds: int,
                  route: str = "runs?sort=metrics.acc&order=desc&limit=50",
                  check: Callable[[Any], bool] = lambda body: len(body["runs"]) == 50,
                  ) -> tuple[Samples, Samples] | str:
    """Time the real REST request ``route`` through a jupyter_server on loopback, if one starts here: its
    server time (Server-Timing) and its round trip; ``check`` asserts on the last answer's JSON."""
    import secrets
    import socket
    import subprocess
    import urllib.error
    import urllib.request

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    token = secrets.token_hex(16)
    root = ctx.work / "server"
    root.mkdir(exist_ok=True)
    log = open(ctx.work / "server.log", "ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "jupyter_server", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}", "--ServerApp.open_browser=False",
         *(["--allow-root"] if hasattr(os, "geteuid") and os.geteuid() == 0 else [])],
        env=ctx.env(JUPYTER_TRACKER_DB=str(db)), stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/jupyter-tracker/api/{route}"
    request = urllib.request.Request(url, headers={"Authorization": f"token {token}"})
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(request, timeout=10) as response:
                    response.read()
                break
            except (urllib.error.URLError, ConnectionError) as error:
                if isinstance(error, urllib.error.HTTPError) or process.poll() is not None or time.monotonic() > deadline:
                    return f"the server did not answer ({error})"
                time.sleep(0.25)
        server, client = Samples(), Samples()
        for _ in range(rounds):
            started = time.perf_counter()
            with urllib.request.urlopen(request, timeout=10) as response:
                body = response.read()
                timing = response.headers.get("Server-Timing", "")
            client.values.append(time.perf_counter() - started)
            if "dur=" not in timing:
                return "the response has no Server-Timing header"
            server.values.append(float(timing.split("dur=")[1].split(",")[0].split(";")[0]) / 1000)
        assert check(json.loads(body)), body[:300]
        return server, client
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()


# ---------------------------------------------------------------- 4b. the runs table (issue 14)
TABLE_FAMILIES = 10  # a run carries the shared params and its family's columns: 303 columns over the store


def _table_values(index: int) -> tuple[dict[str, Any], dict[str, float], dict[str, str]]:
    """The params, metrics and tags of run ``index`` of the table case: three params every run has (s000 a
    model, s001 one of 5 values, s002 one of 3), then 10 params, 15 metrics and 5 tags of its family
    (index % 10): 103 params, 150 metrics and 50 tags over the store, 33 values a run."""
    family = index % TABLE_FAMILIES
    params: dict[str, Any] = {"s000": "rf", "s001": index % 5, "s002": f"d{(index // 7) % 3}"}
    params.update({f"p{family * 10 + j:03d}": (index * 7 + j) % 101 for j in range(10)})
    metrics = {f"m{family * 15 + j:03d}": ((index * 7919 + j * 31) % 1000) / 1000 for j in range(15)}
    tags = {f"t{family * 5 + j:03d}": f"v{index % 3}" for j in range(5)}
    return params, metrics, tags


def runs_table(ctx: Context) -> list[Case]:
    """The runs table's first page and its groups over 100,000 runs of 300 columns, against MLflow's
    search_runs on a store of the same runs (MLflow has no grouping: its UI groups the runs it fetched)."""
    import jupyter_tracker as jt
    from jupyter_tracker import api
    from jupyter_tracker import store as stores
    from mlflow.entities import Metric, Param, RunTag

    base, size = 100, ctx.pick(100_000, 10_000)
    mlflow, client, experiment_id = mlflow_at(ctx, "table")
    db, mlflow_db = ctx.work / "table.db", ctx.work / "mlflow-table.db"
    started = time.perf_counter()
    for index in range(base):  # both tools record the first runs through their own APIs
        params, metrics, tags = _table_values(index)
        with jt.start_run(f"train{index % 7}", experiment=f"exp{index % 4}", db=db):
            jt.log_params(params)
            jt.log_metrics(metrics)
            for key, value in tags.items():
                jt.set_tag(key, value)
        with mlflow.start_run(run_name=f"train{index % 7}") as run:
            now = int(time.time() * 1000)
            client.log_batch(run.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in metrics.items()],
                             params=[Param(k, str(v)) for k, v in params.items()],
                             tags=[RunTag(k, v) for k, v in tags.items()])
    api.open_store(db).close()
    stores._stores.clear()  # the copies below write the files directly; later opens see them
    copies = size // base - 1
    _clone_runs(db, "runs", "run_id", ["params", "tags", "seeds", "latest_metrics", "metrics"], copies,
                "lower(hex(randomblob(16)))", "start_time", 0.001)
    _clone_runs(mlflow_db, "runs", "run_uuid", ["params", "tags", "latest_metrics", "metrics"], copies,
                "lower(hex(randomblob(16)))", "start_time", 1)
    note = (f"{size:,} runs, {base} recorded through each tool's API and copied under new ids "
            f"({time.perf_counter() - started:.0f} s for both stores); 33 values a run, 303 columns in all")
    mlflow.set_tracking_uri(f"sqlite:///{mlflow_db}")
    answers: dict[str, Any] = {}

    def jt_page() -> None:  # what GET table does: the store's page, then its JSON
        answers["jt"] = json.dumps(api.runs_table(limit=100, db=db).to_dict(), default=str)

    def mlflow_page() -> None:
        answers["mlflow"] = client.search_runs([experiment_id], max_results=100)

    samples = interleave({"jt": jt_page, "mlflow": mlflow_page}, rounds=ctx.pick(7, 3), warmup=1)
    table = json.loads(answers["jt"])
    assert len(table["rows"]) == 100 and table["total"] == size and len(answers["mlflow"]) == 100
    rows = [
        Row("jupyter_tracker runs_table(limit=100) + JSON: 100 rows, every column, constant columns marked",
            "jupyter_tracker", samples["jt"]),
        Row("MLflow search_runs(max_results=100)", "mlflow", samples["mlflow"]),
    ]
    notes = [note, f"the table's JSON: {len(answers['jt']) / 1e6:.2f} MB, {len(table['columns'])} columns"]
    http = _sidebar_http(ctx, db, rounds=ctx.pick(15, 3), route="table?limit=100",
                         check=lambda body: len(body["rows"]) == 100)
    if isinstance(http, str):
        notes.append(f"real HTTP request not timed: {http}")
    else:
        rows.append(Row("jupyter_tracker GET /jupyter-tracker/api/table?limit=100, server time (Server-Timing)",
                        "jupyter_tracker", http[0], note="jupyter_server on loopback, token auth"))
        rows.append(Row("jupyter_tracker GET /jupyter-tracker/api/table?limit=100, round trip at the client",
                        "reference", http[1]))
    painted = _table_in_browser(ctx, db, rounds=ctx.pick(5, 2))
    if isinstance(painted, str):
        notes.append(f"browser first paint not timed: {painted}")
    else:
        rows.append(Row("runs table in JupyterLab (headless Chromium): first rows, from the table's creation",
                        "reference", painted["first_rows_s"]))
        rows.append(Row("runs table in JupyterLab: first rows, from the command palette's Enter", "reference",
                        painted["from_command_s"]))
    page_case = Case("runs_table_page", f"The runs table's first page: 100 of {size:,} runs, 303 columns", rows,
                     notes=notes)
    server = http[0].median if not isinstance(http, str) else samples["jt"].median
    page_case.targets.append(Target("the first page at most 0.5 s of server time", _ms(server), server <= 0.5))
    page_case.targets.append(Target("the first page no slower than MLflow's search_runs(max_results=100)",
                                    f"{samples['mlflow'].median / samples['jt'].median:.1f}x",
                                    samples["jt"].median <= samples["mlflow"].median))

    metrics = sorted({k for i in range(base) for k in _table_values(i)[1]})[:50]

    def jt_groups() -> None:
        answers["jt_groups"] = api.groups_page(["s001", "s002"], metrics=metrics, db=db)

    def mlflow_groups() -> None:  # what a user of MLflow does: every run into pandas, then groupby
        frame = mlflow.search_runs([experiment_id], max_results=size)
        columns = [f"metrics.{m}" for m in metrics]
        answers["mlflow_groups"] = frame.groupby(["params.s001", "params.s002"])[columns].agg(
            ["mean", "std", "min", "max", "count"])

    ours = interleave({"jt": jt_groups}, rounds=ctx.pick(5, 3), warmup=1)
    theirs = interleave({"mlflow": mlflow_groups}, rounds=1, warmup=0)  # minutes a call at 100,000 runs
    assert answers["jt_groups"].total == len(answers["mlflow_groups"]) == 15, (
        answers["jt_groups"].total, len(answers["mlflow_groups"]))
    group_case = Case("runs_table_groups", f"Group {size:,} runs by two params: mean, std, min, max, count of "
                      f"{len(metrics)} metrics", [
                          Row("jupyter_tracker groups_page(by=[s001, s002])", "jupyter_tracker", ours["jt"]),
                          Row("MLflow search_runs() of every run + pandas groupby", "mlflow", theirs["mlflow"]),
                      ], notes=[note, "MLflow's 1 round only: it takes minutes"])
    group_case.targets.append(Target(f"grouping {size:,} runs at most 2 s", f"{ours['jt'].median:.2f} s",
                                     ours["jt"].median <= 2))
    return [page_case, group_case]


def _table_in_browser(ctx: Context, db: Path, rounds: int) -> dict[str, Samples] | str:
    """The runs table's first paint in JupyterLab in headless Chromium (bench/browser.py), if they run here."""
    if not Path("/usr/bin/chromium").exists():
        return "no /usr/bin/chromium"
    try:
        import browser
    except ImportError as error:
        return f"cannot drive a browser here: {error}"
    try:
        measured = browser.table_first_paint(db, ctx.work / "lab", rounds)
    except Exception as error:  # noqa: BLE001  (the other rows stand; the note says what went wrong)
        return f"the browser run failed: {type(error).__name__}: {str(error).splitlines()[0][:200]}"
    return {name: Samples(list(values)) for name, values in measured.items()}


# ---------------------------------------------------------------- 5. fingerprints
def _frame(rows: int) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(0)
    columns: dict[str, Any] = {}
    for i in range(12):
        columns[f"f{i}"] = rng.standard_normal(rows)
    for i in range(4):
        columns[f"i{i}"] = rng.integers(0, 1_000_000, rows)
    words = np.array([f"customer-{i:06d}" for i in range(5000)], dtype=object)
    for i in range(2):
        columns[f"s{i}"] = pd.array(words[rng.integers(0, len(words), rows)], dtype="str")
    start = np.datetime64("2024-01-01T00:00:00", "ns")
    for i in range(2):
        columns[f"t{i}"] = start + rng.integers(0, 10**9 * 86400 * 365, rows).astype("timedelta64[ns]")
    return pd.DataFrame(columns)


def _buffers(obj: Any) -> list[Any]:
    """The bytes holding the content: numpy data of each column, UTF-8 data and offsets of strings."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if isinstance(obj, np.ndarray):
        return [memoryview(obj).cast("B")]
    views = []
    for name in obj.columns:
        values = obj[name].array
        if isinstance(values, pd.arrays.ArrowStringArray) or "pyarrow" in str(getattr(values.dtype, "storage", "")):
            chunked = pa.chunked_array(values._pa_array) if hasattr(values, "_pa_array") else pa.array(values)
            for chunk in chunked.chunks:
                views.extend(memoryview(b).cast("B") for b in chunk.buffers()[1:] if b is not None)
        else:
            array = obj[name].to_numpy()
            views.append(memoryview(np.ascontiguousarray(array).view("u1")).cast("B"))
    return views


def _md5(buffers: list[Any]) -> str:
    md5 = hashlib.md5(usedforsecurity=False)
    for view in buffers:
        md5.update(view)
    return md5.hexdigest()


def fingerprints(ctx: Context) -> list[Case]:
    import mlflow.data
    import numpy as np
    from jupyter_tracker.capture.data import fingerprint

    cases = []
    rows = ctx.pick(1_000_000, 200_000)
    frame = _frame(rows)
    elements = ctx.pick(100_000_000, 10_000_000)
    array = np.random.default_rng(1).random(elements)
    for key, obj, title in (
        ("fingerprint_frame", frame, f"Fingerprint a {rows:,} x 20 DataFrame (12 float, 4 int, 2 string, 2 datetime columns)"),
        ("fingerprint_array", array, f"Fingerprint a {elements:,}-element float64 array"),
    ):
        # The buffers are taken again at each call: changing a value (the full-content check) may give a
        # column new memory (pandas' copy on write), and what is hashed must be the object as it is now.
        nbytes = sum(view.nbytes for view in _buffers(obj))
        targets = [np.empty(view.nbytes, dtype=np.uint8) for view in _buffers(obj)]
        is_frame = obj is frame

        def copy() -> None:
            for view, target in zip(_buffers(obj), targets):
                np.copyto(target, np.frombuffer(view, dtype=np.uint8))

        methods = {
            "jt": lambda: fingerprint(obj).hash,
            "mlflow": (lambda: mlflow.data.from_pandas(obj).digest) if is_frame
            else (lambda: mlflow.data.from_numpy(obj).digest),
            "md5": lambda: _md5(_buffers(obj)),
            "copy": copy,
        }
        # MLflow's frame digest takes seconds (it looks at the type of every cell): fewer rounds for the frame.
        samples = interleave(methods, rounds=ctx.pick(3 if is_frame else 5, 3), warmup=1)
        targets.clear()  # the copies' memory (800 MB for the array)
        # After the timing: changing a value may move a column to new memory (pandas' copy on write).
        full = {name: _covers_full_content(obj, methods[name]) for name in ("jt", "mlflow", "md5")}
        digest = "mlflow.data.from_pandas(df).digest" if is_frame else "mlflow.data.from_numpy(a).digest"
        case = Case(key, title, [
            Row("jupyter_tracker fingerprint (xxh3-128 + schema + column statistics)" if is_frame
                else "jupyter_tracker fingerprint (xxh3-128)", "jupyter_tracker", samples["jt"], nbytes, "GB/s",
                full["jt"]),
            Row(f"MLflow dataset digest ({digest})", "mlflow", samples["mlflow"], nbytes, "GB/s", full["mlflow"]),
            Row("hashlib.md5 of the same bytes", "reference", samples["md5"], nbytes, "GB/s", full["md5"]),
            Row("numpy copy of the same bytes (memory bandwidth)", "reference", samples["copy"], nbytes, "GB/s"),
        ], notes=[f"{nbytes / 1e6:,.0f} MB of content{' (string columns: their UTF-8 data and offsets)' if is_frame else ''}"
                  "; full content: the hash changes when one element of the last row changes"
                  f"{' (a float, a string and a datetime, in turn)' if is_frame else ''}"])
        jt_rate = nbytes / samples["jt"].median / 1e9
        copy_rate = nbytes / samples["copy"].median / 1e9
        if is_frame:
            case.targets.append(Target("full content at least 1.5 GB/s for the DataFrame with strings",
                                       f"{jt_rate:.2f} GB/s, full content: {full['jt']}", full["jt"] and jt_rate >= 1.5))
        else:
            case.targets.append(Target("full content at no less than half the memory-copy bandwidth (numeric)",
                                       f"{jt_rate:.1f} GB/s vs copy {copy_rate:.1f} GB/s ({jt_rate / copy_rate:.2f}x)",
                                       full["jt"] and jt_rate >= copy_rate / 2))
        cases.append(case)
    return cases


def _covers_full_content(obj: Any, digest: Any) -> bool:
    """Whether ``digest`` changes when one element of the last row changes (and every column type is tried)."""
    import numpy as np

    before = digest()
    if isinstance(obj, np.ndarray):
        old = obj[-1]
        obj[-1] = old + 1.0
        try:
            return digest() != before
        finally:
            obj[-1] = old
    changed = []
    for name in ("f0", "s0", "t0"):
        old = obj[name].iloc[-1]
        obj.loc[obj.index[-1], name] = old + 1.0 if name == "f0" else (old + "x" if name == "s0" else old + np.timedelta64(1, "s"))
        try:
            changed.append(digest() != before)
        finally:
            obj.loc[obj.index[-1], name] = old
    return all(changed)


# ---------------------------------------------------------------- 6. %load_ext in a fresh kernel
def load_ext(ctx: Context) -> Case:
    folder = ctx.work / "load-ext"
    folder.mkdir()
    env = ctx.env(JUPYTER_TRACKER_DB=str(folder / "tracker.db"))
    statements = {
        "jt": ("", "get_ipython().run_line_magic('load_ext', 'jupyter_tracker')"),
        "pandas": ("", "import pandas"),
        "mlflow": ("", "import mlflow"),
        "jt_after_pandas": ("import pandas", "get_ipython().run_line_magic('load_ext', 'jupyter_tracker')"),
    }

    def in_fresh_kernel(before: str, statement: str) -> float:
        kernel = Kernel(str(folder), env)
        try:
            if before:
                kernel.execute(before)
            return float(kernel.value(
                f"import time as _t\n_s = _t.perf_counter()\n{statement}\nprint(_t.perf_counter() - _s)").strip())
        finally:
            kernel.close()

    methods = {name: (lambda pair=pair: in_fresh_kernel(*pair)) for name, pair in statements.items()}
    samples = interleave(methods, rounds=ctx.pick(7, 2), warmup=0)
    case = Case("load_ext", "Load the extension in a fresh kernel, against the imports notebook users pay", [
        Row("%load_ext jupyter_tracker", "jupyter_tracker", samples["jt"]),
        Row("import mlflow", "mlflow", samples["mlflow"]),
        Row("import pandas", "reference", samples["pandas"]),
        Row("%load_ext jupyter_tracker after import pandas", "reference", samples["jt_after_pandas"]),
    ], notes=["timed inside the kernel around the statement alone; each repetition in a new kernel",
              "after import pandas, the extension's own allocations set off Python's first full garbage collection "
              "of pandas' objects (about 35 ms here): whatever runs next after import pandas pays it"])
    beyond = samples["jt_after_pandas"].median
    case.targets.append(Target("%load_ext at most 150 ms beyond import pandas",
                               f"{_ms(beyond)} after pandas ({_ms(samples['jt'].median)} alone; import pandas "
                               f"{_ms(samples['pandas'].median)})", beyond <= 0.150))
    return case


# ---------------------------------------------------------------- 7. batch of notebook executions
PARAMETERS_CELL = "seed = 0"
JT_CELLS = [
    "%load_ext jupyter_tracker\nimport numpy as np",
    "%%track step\nnp.random.seed(seed)\ndata = np.random.rand(100_000)\nscore = float(data.mean())",
]
MLFLOW_CELLS = [
    "import mlflow\nimport numpy as np",
    "with mlflow.start_run():\n    np.random.seed(seed)\n    data = np.random.rand(100_000)\n"
    "    score = float(data.mean())\n    mlflow.log_param('seed', seed)\n    mlflow.log_metric('score', score)",
]


def _notebook(path: Path, cells: list[str]) -> Path:
    import nbformat

    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell(PARAMETERS_CELL)
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters] + [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(notebook, str(path))
    return path


def _papermill_one(args: tuple[str, str, int, str]) -> None:
    import papermill

    notebook, output, seed, cwd = args
    papermill.execute_notebook(notebook, output, parameters={"seed": seed}, kernel_name="python3", cwd=cwd,
                               progress_bar=False)


def batch(ctx: Context) -> Case:
    import jupyter_tracker as jt

    folder = ctx.work / "batch"
    folder.mkdir()
    executions = ctx.pick(12, 4)
    jt_notebook = _notebook(folder / "jt.ipynb", JT_CELLS)
    mlflow_notebook = _notebook(folder / "mlflow.ipynb", MLFLOW_CELLS)
    db = folder / "tracker.db"
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"  # inherited by papermill's kernels
    import mlflow

    mlflow.set_tracking_uri(os.environ["MLFLOW_TRACKING_URI"])
    mlflow.set_experiment("Default")  # migrate the database once, before parallel kernels race to do it

    def jupyter_tracker(workers: int) -> None:
        report = jt.batch(jt_notebook, grid={"seed": list(range(executions))}, workers=workers, progress=False,
                          db=db, output_dir=folder / f"jt-{workers}-{time.monotonic_ns()}")
        assert not report.failed, report

    def mlflow_pool(workers: int) -> None:
        out = folder / f"mlflow-{workers}-{time.monotonic_ns()}"
        out.mkdir()
        jobs = [(str(mlflow_notebook), str(out / f"{seed}.ipynb"), seed, str(folder)) for seed in range(executions)]
        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(_papermill_one, jobs))

    methods = {f"{tool}_{workers}": (lambda tool=tool, workers=workers:
                                     (jupyter_tracker if tool == "jt" else mlflow_pool)(workers))
               for workers in (1, 2) for tool in ("jt", "mlflow")}
    samples = interleave(methods, rounds=1, warmup=0)
    # MLflow's executions take minutes (each kernel imports MLflow): jupyter_tracker's get a second round.
    again = interleave({name: methods[name] for name in ("jt_2", "jt_1")}, rounds=ctx.pick(1, 0), warmup=0)
    for name, more in again.items():
        samples[name].values.extend(more.values)
    rows = [
        Row("jupyter_tracker batch, 1 worker", "jupyter_tracker", samples["jt_1"]),
        Row("jupyter_tracker batch, 2 workers", "jupyter_tracker", samples["jt_2"]),
        Row("MLflow notebook, papermill in a process pool, 1 worker", "mlflow", samples["mlflow_1"]),
        Row("MLflow notebook, papermill in a process pool, 2 workers", "mlflow", samples["mlflow_2"]),
    ]
    speedup = samples["jt_1"].median / samples["jt_2"].median
    mlflow_speedup = samples["mlflow_1"].median / samples["mlflow_2"].median
    case = Case("batch", f"A batch of {executions} short notebook executions (papermill), 1 and 2 workers", rows, notes=[
        f"speed-up with 2 workers: jupyter_tracker {speedup:.2f}x, MLflow + process pool {mlflow_speedup:.2f}x",
        "MLflow has no batch command: its row is the same executions through papermill in a process pool",
    ])
    case.extra = {"speedup_jt": speedup, "speedup_mlflow": mlflow_speedup}
    return case


def rerun_cost(ctx: Context) -> Case:
    """What rerun adds around papermill's own execution of the same replay notebook (no MLflow equivalent)."""
    import nbformat
    import papermill

    import jupyter_tracker as jt
    from jupyter_tracker.models.replay import build_replay

    folder = ctx.work / "rerun"
    folder.mkdir()
    db = folder / "tracker.db"
    notebook = _notebook(folder / "jt.ipynb", JT_CELLS)
    jt.batch(notebook, workers=1, progress=False, db=db, output_dir=folder / "first")
    run_id = jt.runs(db=db)["run_id"].iloc[-1]
    replay = folder / "replay.ipynb"
    nbformat.write(build_replay(jt.get_run(run_id, db=db)), str(replay))

    def rerun() -> None:
        verdict = jt.rerun(run_id, db=db, progress=False)
        assert verdict.reproduced, str(verdict)

    def plain() -> None:
        papermill.execute_notebook(str(replay), str(folder / "plain.ipynb"), kernel_name="python3", cwd=str(folder),
                                   progress_bar=False)

    samples = interleave({"rerun": rerun, "papermill": plain}, rounds=ctx.pick(5, 1), warmup=1)
    extra = Samples([r - p for r, p in zip(samples["rerun"].values, samples["papermill"].values)])
    return Case("rerun", "rerun against papermill executing the same replay notebook", [
        Row("jupyter_tracker rerun minus papermill alone (paired)", "jupyter_tracker", extra),
        Row("jupyter_tracker rerun", "reference", samples["rerun"]),
        Row("papermill alone", "reference", samples["papermill"]),
    ], notes=["no MLflow equivalent: MLflow records no execution history to replay"])



# ---------------------------------------------------------------- 10. push to the team's MLflow server (issue 15)
def _quiet_mlflow_client() -> None:
    # set_terminated asks the server for the run and prints two "View run" lines: not what is measured.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")


def push_runs(ctx: Context) -> Case:
    """``jt.push`` of 1,000 runs of 10 params and 5 metrics against MLflow's client logging the same runs
    straight to the same server, one after another (what a notebook logging to the team server pays)."""
    import jupyter_tracker as jt
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    _quiet_mlflow_client()
    count = ctx.pick(1000, 100)
    folder = ctx.work / "push-runs"
    server = MlflowServer(folder / "server")
    client = MlflowClient(tracking_uri=server.uri)
    stores: list[Path] = []
    tick = iter(range(1 << 30))

    def record(db: Path, experiment: str) -> None:
        for i in range(count):
            with jt.start_run(f"train{i % 7}", experiment=experiment, db=db):
                jt.log_params({**PARAMS, "seed": i})
                jt.log_metrics(METRICS)

    def setup(name: str) -> None:
        if name == "jt":  # untimed: a store of new runs to push, in an experiment of its own
            db = folder / f"store-{next(tick)}" / "tracker.db"
            record(db, f"jt-{db.parent.name}")
            stores.append(db)

    def jupyter_tracker() -> None:
        report = jt.push(server.uri, db=stores[-1], progress=False)
        assert len(report.of("pushed")) == count, str(report)

    def push_again() -> None:
        report = jt.push(server.uri, db=stores[-1], progress=False)
        assert len(report.of("present")) == count, str(report)

    def mlflow_client() -> None:
        experiment_id = client.create_experiment(f"mlflow-{next(tick)}")
        for i in range(count):
            now = int(time.time() * 1000)
            run = client.create_run(experiment_id, start_time=now, run_name=f"train{i % 7}")
            client.log_batch(run.info.run_id, metrics=[Metric(k, v, now, 0) for k, v in METRICS.items()],
                             params=[Param(k, str(v)) for k, v in {**PARAMS, "seed": i}.items()])
            client.set_terminated(run.info.run_id, end_time=now)

    try:
        samples = interleave({"jt": jupyter_tracker, "again": push_again, "mlflow": mlflow_client},
                             rounds=ctx.pick(3, 1), warmup=0, setup=setup)
    finally:
        server.close()
    case = Case("push_runs", f"Push {count:,} runs of 10 params and 5 metrics to an MLflow server", [
        Row(f"jupyter_tracker push, {count:,} runs (4 runs at a time)", "jupyter_tracker", samples["jt"], count,
            "runs/s", note="each run: params, metrics, tags, status and times, code, record and environment "
                           "as artifacts, then the completion tag"),
        Row(f"MLflow client, the same {count:,} runs logged one after another (create_run, log_batch, "
            "set_terminated)", "mlflow", samples["mlflow"], count, "runs/s",
            note="no artifacts: MLflow's own client records no code or environment"),
        Row("jupyter_tracker push again (everything there: nothing sent)", "reference", samples["again"], count,
            "runs/s"),
    ], notes=["a real `mlflow server` (MLflow 3.17.2, SQLite backend, 1 worker) on 127.0.0.1, shared by both tools"])
    return case


def push_series(ctx: Context) -> Case:
    """One run with a 100,000-point series: ``jt.push`` against MLflow's client logging it in batches."""
    import jupyter_tracker as jt
    from mlflow.entities import Metric
    from mlflow.tracking import MlflowClient

    _quiet_mlflow_client()
    points = ctx.pick(100_000, 20_000)
    folder = ctx.work / "push-series"
    server = MlflowServer(folder / "server")
    client = MlflowClient(tracking_uri=server.uri)
    stores: list[Path] = []
    tick = iter(range(1 << 30))

    def setup(name: str) -> None:
        if name == "jt":
            db = folder / f"store-{next(tick)}" / "tracker.db"
            with jt.start_run("series", experiment=f"jt-{db.parent.name}", db=db):
                for step in range(points):
                    jt.log_metric("loss", 1.0 / (step + 1), step=step)
            stores.append(db)

    def jupyter_tracker() -> None:
        report = jt.push(server.uri, db=stores[-1], progress=False)
        assert report.points == points, str(report)

    def mlflow_client() -> None:
        experiment_id = client.create_experiment(f"mlflow-{next(tick)}")
        now = int(time.time() * 1000)
        run = client.create_run(experiment_id, start_time=now, run_name="series")
        for start in range(0, points, 1000):  # MLflow takes at most 1,000 metrics per log_batch
            client.log_batch(run.info.run_id, metrics=[
                Metric("loss", 1.0 / (step + 1), now, step) for step in range(start, min(points, start + 1000))])
        client.set_terminated(run.info.run_id, end_time=now)

    try:
        samples = interleave({"jt": jupyter_tracker, "mlflow": mlflow_client}, rounds=ctx.pick(3, 1), warmup=0,
                             setup=setup)
    finally:
        server.close()
    return Case("push_series", f"Push one run with a {points:,}-point series to an MLflow server", [
        Row("jupyter_tracker push", "jupyter_tracker", samples["jt"], points, "points/s",
            note="1,000 points per log_batch, as MLflow allows"),
        Row("MLflow client log_batch, 1,000 points a call", "mlflow", samples["mlflow"], points, "points/s"),
    ], notes=["a real `mlflow server` (MLflow 3.17.2, SQLite backend, 1 worker) on 127.0.0.1, shared by both tools"])
