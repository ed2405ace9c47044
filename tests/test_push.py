"""``push`` (issue 15): runs recorded for real, copied to a real ``mlflow server`` (SQLite backend,
local artifact root) on 127.0.0.1, and read back through ``MlflowClient``."""

from __future__ import annotations

import http.server
import json
import math
import os
import pickle
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import pytest

import jupyter_tracker as jt
from jupyter_tracker.errors import PushError, UsageProblem
from jupyter_tracker.store import Store

from conftest import CliResult, run_cli
from helpers import record_run

# The mlflow extra (make test installs it): without it these tests fail, they never skip.
from mlflow import MlflowClient  # noqa: E402
from mlflow.entities import Metric, Param  # noqa: E402

pytestmark = pytest.mark.slow  # a real mlflow server

RUN_ID_TAG, PUSH_TAG = "jupyter_tracker.run_id", "jupyter_tracker.push"
MAX_FLOAT = 1.7976931348623157e308  # MLflow's SQL stores keep +/-inf as the largest floats
QUIET = {"MLFLOW_DISABLE_TELEMETRY": "true", "DO_NOT_TRACK": "true", "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class MlflowServer:
    uri: str
    client: MlflowClient

    def runs_of(self, experiment: str) -> list[Any]:
        found = self.client.get_experiment_by_name(experiment)
        return [] if found is None else self.client.search_runs([found.experiment_id], max_results=50_000)

    def run_of(self, run_id: str, experiment: str) -> Any:
        matches = [r for r in self.runs_of(experiment) if r.data.tags.get(RUN_ID_TAG) == run_id]
        assert len(matches) == 1, f"{len(matches)} MLflow runs carry {run_id}"
        return matches[0]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    """A real `mlflow server` on a free port: SQLite backend, artifacts served from a local folder."""
    root = tmp_path_factory.mktemp("mlflow-server")
    port = free_port()
    log = open(root / "server.log", "wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts")],
        cwd=root, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **QUIET},
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, (root / "server.log").read_text(errors="replace")[-3000:]
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    pass
                import urllib.request

                with urllib.request.urlopen(f"{uri}/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "mlflow server did not answer /health within 120 s"
            time.sleep(0.5)
        yield MlflowServer(uri, MlflowClient(tracking_uri=uri))
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # uvicorn and its workers: the whole process group
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@pytest.fixture(autouse=True)
def quiet_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """No telemetry from this machine, and no credentials of whoever runs the tests."""
    for name, value in QUIET.items():
        monkeypatch.setenv(name, value)
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_TOKEN",
                 "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def experiment() -> str:
    """An experiment name of this test's own: the server is shared by the whole session."""
    return f"push-{uuid.uuid4().hex[:10]}"


def history(server: MlflowServer, mlflow_run_id: str, key: str) -> list[tuple[int, int, float]]:
    return sorted((m.step, m.timestamp, m.value) for m in server.client.get_metric_history(mlflow_run_id, key))


def ms(seconds: float) -> int:
    return int(round(seconds * 1000))


def assert_clean_failure(result: CliResult, code: int, *fragments: str) -> str:
    assert result.code == code, (result.code, result.stdout, result.stderr)
    assert "Traceback" not in result.stdout + result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


# ------------------------------------------------------------------ a notebook's runs, read back
def test_runs_recorded_in_a_kernel_arrive_whole_and_a_second_push_sends_nothing(
        kernel, tracker_db, tmp_path, mlflow_server, experiment):
    # Given a git repository as the kernel's working directory, and three tracked cells run in it:
    # a training with a step series, a seed, an input frame, a model and a file; and a failing cell
    work = tmp_path / "work"
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], cwd=work, check=True)
    (work / "notes.txt").write_text("threshold chosen on the validation set\n")
    subprocess.run([*git, "add", "notes.txt"], cwd=work, check=True)
    subprocess.run([*git, "commit", "-q", "-m", "first"], cwd=work, check=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=work, capture_output=True, text=True).stdout.strip()
    kernel.run("import numpy as np, pandas as pd, jupyter_tracker as jt\n"
               "from sklearn.linear_model import LogisticRegression\n"
               "X = pd.DataFrame({'a': [0.0, 1.0, 2.0, 3.0, 4.0, 5.0], 'b': [1, 0, 1, 0, 1, 0]})\n"
               "y = np.array([0, 0, 0, 1, 1, 1])")
    kernel.run(f"%%track train --experiment {experiment} --tag model=logreg\n"
               "C = 0.5\n"
               "random_state = 7\n"
               "np.random.seed(random_state)\n"
               "noise = np.random.rand(3)\n"
               "clf = LogisticRegression(C=C).fit(X, y)\n"
               "for step in range(50):\n"
               "    jt.log_metric('loss', 1.0 / (step + 1), step=step)\n"
               "acc = float(clf.score(X, y))\n"
               "jt.log_model(clf)\n"
               "jt.log_artifact('notes.txt')")
    kernel.run(f"%%track broken --experiment {experiment}\nalpha = 0.5\nraise ValueError('boom')", allow_error=True)
    train_id, broken_id = kernel.value(f"list(jt.runs(experiment={experiment!r})['run_id'])")
    train, broken = jt.get_run(train_id), jt.get_run(broken_id)

    # When they are pushed
    report = jt.push(mlflow_server.uri, experiment=experiment, progress=False)

    # Then the report names both runs as pushed, and MLflow has exactly these two runs
    assert [(r.run_id, r.action) for r in report.runs] == [(train_id, "pushed"), (broken_id, "pushed")]
    assert len(mlflow_server.runs_of(experiment)) == 2
    pushed = mlflow_server.run_of(train_id, experiment)
    info, data = pushed.info, pushed.data
    # with the run's name, times and status
    assert (info.run_name, info.status) == ("train", "FINISHED")
    assert (info.start_time, info.end_time) == (ms(train.start), ms(train.end))
    # every param, as MLflow's log_param writes values
    assert data.params == {key: str(value) for key, value in train.params.items()}
    assert data.params["C"] == "0.5" and data.params["random_state"] == "7"
    # every metric point with its step and timestamp
    series = jt.metric_series(train_id, "loss")
    assert history(mlflow_server, info.run_id, "loss") == sorted(
        zip(series["step"], (ms(t) for t in series["timestamp"]), series["value"]))
    assert data.metrics["acc"] == train.metrics["acc"]
    # tags: ours, the seed, the input's fingerprint and shape, git, the hidden-state verdict, the push marks
    tags = data.tags
    assert tags[RUN_ID_TAG] == train_id and tags[PUSH_TAG] == "complete"
    assert tags["model"] == "logreg" and tags["mlflow.source.type"] == "NOTEBOOK"
    assert tags["jupyter_tracker.seed.numpy.random.seed"] == "7"
    x_input, = [ref for ref in train.inputs if ref.name == "X"]
    assert tags["jupyter_tracker.input.X"] == f"{x_input.fingerprint.hash} dataframe shape 6x2"
    assert tags["mlflow.source.git.commit"] == commit and tags["jupyter_tracker.git.dirty"] == "false"
    assert tags["jupyter_tracker.hidden_state"] == "clean"
    # artifacts: the whole record, the cell code, the replayable history, the environment, model and file
    root = tmp_path / "downloaded"
    local = Path(mlflow_server.client.download_artifacts(info.run_id, "", str(root)))
    names = sorted(p.relative_to(local).as_posix() for p in local.rglob("*") if p.is_file())
    assert names == ["files/notes.txt", "jupyter_tracker/code.py", "jupyter_tracker/environment.json",
                     "jupyter_tracker/history.ipynb", "jupyter_tracker/run.json", "models/model.pkl"]
    assert (local / "jupyter_tracker/code.py").read_text() == train.code
    assert json.loads((local / "jupyter_tracker/environment.json").read_text())["git"]["commit"] == commit
    record = json.loads((local / "jupyter_tracker/run.json").read_text())
    assert record["run_id"] == train_id and record["params"] == train.params
    import nbformat

    from jupyter_tracker.models.replay import build_replay

    replay = nbformat.read(local / "jupyter_tracker/history.ipynb", as_version=4)
    assert [cell.source for cell in replay.cells] == [cell.source for cell in build_replay(train).cells]
    assert replay.metadata["jupyter_tracker"]["replay_of"] == train_id
    with open(local / "models/model.pkl", "rb") as handle:
        model = pickle.load(handle)  # as jupyter_tracker.load_model reads it
    original = jt.load_model(run=train_id)
    import pandas as pd

    probe = pd.DataFrame({"a": [2.5, 4.5], "b": [1, 0]})
    assert model.predict(probe).tolist() == original.predict(probe).tolist()
    assert (local / "files/notes.txt").read_text() == (work / "notes.txt").read_text()
    # the failed run is FAILED, its traceback in a tag
    failed = mlflow_server.run_of(broken_id, experiment)
    assert failed.info.status == "FAILED" and "ValueError: boom" in failed.data.tags["jupyter_tracker.error"]
    assert broken.status == "failed"

    # When pushed again, through the command line
    again = run_cli("push", mlflow_server.uri, "--experiment", experiment, db=tracker_db)

    # Then nothing is sent: both runs are already there, no run or point is added
    assert again.code == 0, again.stderr
    assert "pushed 0 runs, resumed 0, 2 already there" in again.stdout
    assert len(mlflow_server.runs_of(experiment)) == 2
    assert len(history(mlflow_server, info.run_id, "loss")) == 50


# ------------------------------------------------------------------ idempotence and resuming
def test_dry_run_prints_what_would_be_sent_and_sends_nothing(tracker_db, mlflow_server, experiment):
    # Given two recorded runs
    store = Store(tracker_db)
    ids = [record_run(store, f"train{i}", experiment=experiment, params={"lr": 0.1 * (i + 1)},
                      series={"loss": [1.0, 0.5, 0.25]}) for i in range(2)]
    store.close()
    # When a dry run is asked for
    result = run_cli("push", mlflow_server.uri, "--dry-run", db=tracker_db)
    # Then each run is listed with what it would send, and the server has not even the experiment
    assert result.code == 0, result.stderr
    for run_id in ids:
        assert f"would push {run_id[:8]}" in result.stdout
    assert "1 param, " in result.stdout and "(3 points)" in result.stdout
    assert "dry run, nothing sent" in result.stdout
    assert mlflow_server.client.get_experiment_by_name(experiment) is None


def test_a_running_run_is_skipped_with_a_note_and_pushed_once_it_ends(tracker_db, mlflow_server, experiment):
    # Given a finished run, and a run still running (its owner, this process, is alive)
    store = Store(tracker_db)
    done = record_run(store, "done", experiment=experiment, metrics={"acc": 0.5})
    running = "ab" * 16
    store.begin_run(running, experiment, "live", "script", time.time())
    # When the store is pushed
    result = run_cli("push", mlflow_server.uri, db=tracker_db)
    # Then the running run is skipped, with a note saying to push it when it ends
    assert result.code == 0, result.stderr
    assert f"skipped {running[:8]} live ({experiment}): still running; push it when it ends" in result.stdout
    assert [r.data.tags[RUN_ID_TAG] for r in mlflow_server.runs_of(experiment)] == [done]
    # When it ends and the store is pushed again, it is sent, and only it
    from jupyter_tracker.records import MetricPoint, Run

    start = time.time()
    store.finish_run(Run(run_id=running, experiment=experiment, name="live", status="finished", start=start,
                         end=start + 1, duration=1.0, source="script"), [MetricPoint("acc", 0.7, None, start)])
    store.close()
    report = jt.push(mlflow_server.uri, db=tracker_db, progress=False)
    assert {r.run_id: r.action for r in report.runs} == {done: "present", running: "pushed"}
    assert mlflow_server.run_of(running, experiment).data.metrics == {"acc": 0.7}


def test_an_interrupted_push_is_finished_with_only_the_missing_points(tracker_db, mlflow_server, experiment):
    # Given a run with a 3,000-point series (NaN and infinities among them), params and tags
    values = [1.0 / (step + 1) for step in range(3000)]
    values[10], values[11], values[12] = math.nan, math.inf, -math.inf
    store = Store(tracker_db)
    run_id = record_run(store, "train", experiment=experiment, params={"lr": 0.1, "depth": 3},
                        series={"loss": values}, tags={"team": "churn"})
    store.close()
    local = jt.metric_series(run_id, "loss")
    # and the state a push killed half-way leaves on the server: the run, created with our id, without the
    # final mark, one param and the first half of the points (the non-finite ones included)
    client = mlflow_server.client
    experiment_id = client.create_experiment(experiment)
    partial = client.create_run(experiment_id, run_name="train", tags={RUN_ID_TAG: run_id, PUSH_TAG: "partial"})
    half = [Metric("loss", float(v), ms(t), int(s))
            for s, v, t in zip(local["step"][:1500], local["value"][:1500], local["timestamp"][:1500])]
    for start in range(0, 1500, 1000):
        client.log_batch(partial.info.run_id, metrics=half[start:start + 1000],
                         params=[Param("lr", "0.1")] if start == 0 else [])
    # When the store is pushed
    report = jt.push(mlflow_server.uri, db=tracker_db, progress=False)
    # Then the same MLflow run is finished: only the missing half of the points is sent, nothing twice
    outcome, = report.runs
    assert (outcome.action, outcome.mlflow_run_id) == ("resumed", partial.info.run_id)
    assert (outcome.points, outcome.points_there, outcome.params) == (1500, 1500, 1)
    finished = mlflow_server.run_of(run_id, experiment)
    assert finished.info.run_id == partial.info.run_id and finished.info.status == "FINISHED"
    assert finished.data.tags[PUSH_TAG] == "complete" and finished.data.params == {"lr": "0.1", "depth": "3"}
    points = history(mlflow_server, partial.info.run_id, "loss")
    assert [step for step, _, _ in points] == list(range(3000))
    by_step = {step: value for step, _, value in points}
    assert math.isnan(by_step[10]) and (by_step[11], by_step[12]) == (MAX_FLOAT, -MAX_FLOAT)
    assert by_step[2999] == values[2999]
    # and pushing once more changes nothing
    assert [r.action for r in jt.push(mlflow_server.uri, db=tracker_db, progress=False).runs] == ["present"]
    assert len(history(mlflow_server, partial.info.run_id, "loss")) == 3000


def test_a_push_killed_half_way_resumes_without_duplicate_runs_or_points(tracker_db, mlflow_server, experiment):
    # Given 24 runs of a 1,500-point series each (two log_batch calls a run)
    store = Store(tracker_db)
    ids = [record_run(store, f"train{i}", experiment=experiment, params={"i": i},
                      series={"loss": [i + 1.0 / (s + 1) for s in range(1500)]}) for i in range(24)]
    store.close()
    env = {k: v for k, v in os.environ.items() if k != "JUPYTER_TRACKER_DB"}
    command = [sys.executable, "-m", "jupyter_tracker", "--db", str(tracker_db), "push", mlflow_server.uri,
               "--workers", "2"]
    # When a push is SIGKILLed as soon as its first run is complete on the server
    pushing = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while not any(r.data.tags.get(PUSH_TAG) == "complete" for r in mlflow_server.runs_of(experiment)):
        assert pushing.poll() is None, pushing.communicate()
        assert time.monotonic() < deadline, "no run completed within 90 s"
        time.sleep(0.05)
    pushing.send_signal(signal.SIGKILL)
    pushing.communicate()
    cut = mlflow_server.runs_of(experiment)
    complete_then = sum(r.data.tags.get(PUSH_TAG) == "complete" for r in cut)
    assert complete_then < len(ids), "the push finished before it could be killed"
    # and pushed again
    report = jt.push(mlflow_server.uri, db=tracker_db, progress=False)
    # Then every run is there once, complete, with each of its points once
    runs = mlflow_server.runs_of(experiment)
    assert sorted(r.data.tags[RUN_ID_TAG] for r in runs) == sorted(ids)
    assert all(r.data.tags[PUSH_TAG] == "complete" and r.info.status == "FINISHED" for r in runs)
    for remote in runs:
        assert [step for step, _, _ in history(mlflow_server, remote.info.run_id, "loss")] == list(range(1500))
    actions = [r.action for r in report.runs]
    assert actions.count("present") == complete_then
    assert actions.count("pushed") + actions.count("resumed") == len(ids) - complete_then


def test_values_beyond_mlflows_limits_are_shortened_with_a_marker_and_batches_are_chunked(
        tracker_db, mlflow_server, experiment):
    # Given a run of 250 params (one of 7,000 characters, 150 of 5,500: 100 of them would be 550 kB),
    # 150 tags of 7,500 characters (100 would be 750 kB: a batch of 100 of each is over MLflow's 1 MB),
    # a metric name MLflow refuses and 2,500 points
    params = {f"p{i:03d}": (f"{i}" + "v" * 5500 if i < 150 else i) for i in range(249)}
    params["long"] = "x" * 7000
    tags = {f"t{i:03d}": f"{i}" + "t" * 7500 for i in range(150)}
    store = Store(tracker_db)
    run_id = record_run(store, "wide", experiment=experiment, params=params, tags=tags,
                        metrics={"hit%rate": 0.5}, series={"loss": [float(s) for s in range(2500)]})
    store.close()
    # When it is pushed
    jt.push(mlflow_server.uri, db=tracker_db, progress=False)
    # Then every param and tag is there; the long value is cut to MLflow's 6,000 characters, saying so
    remote = mlflow_server.run_of(run_id, experiment)
    assert len(remote.data.params) == 250 and all(remote.data.tags[k] == v for k, v in tags.items())
    assert all(remote.data.params[k] == str(v) for k, v in params.items() if k != "long")
    long = remote.data.params["long"]
    assert len(long) <= 6000 and long.startswith("x" * 5000)
    assert long.endswith("[shortened by jupyter_tracker from 7,000 characters; in full in jupyter_tracker/run.json]")
    # the metric name MLflow refuses is renamed, and the renaming is listed
    assert remote.data.metrics["hit_rate"] == 0.5
    assert remote.data.tags["jupyter_tracker.renamed"] == "hit%rate -> hit_rate"
    assert len(history(mlflow_server, remote.info.run_id, "loss")) == 2500


# ------------------------------------------------------------------ errors: one line, nothing written
def test_an_unreachable_server_is_one_error_line(tracker_db):
    store = Store(tracker_db)
    record_run(store, "train")
    store.close()
    before = tracker_db.read_bytes()
    result = run_cli("push", f"http://127.0.0.1:{free_port()}", db=tracker_db)
    assert_clean_failure(result, 5, "cannot reach the MLflow server at http://127.0.0.1:", "connection refused")
    assert tracker_db.read_bytes() == before  # the store is only read


@pytest.mark.parametrize("uri", ["ftp://mlflow.example.com", "localhost:5000", "http://"])
def test_a_uri_that_is_not_a_tracking_servers_is_a_usage_error(tracker_db, uri):
    result = run_cli("push", uri, db=tracker_db)
    assert_clean_failure(result, 2, "is not an MLflow tracking server URI")


def test_a_missing_store_is_an_error_and_is_not_created(tmp_path, mlflow_server):
    missing = tmp_path / "nowhere" / "tracker.db"
    result = run_cli("push", mlflow_server.uri, db=missing, cwd=tmp_path)
    assert_clean_failure(result, 4, f"no store at {missing}")
    assert list(tmp_path.iterdir()) == []


class Refusing(http.server.BaseHTTPRequestHandler):
    """A server that answers every request with one status (401 like MLflow's basic-auth app)."""

    status = 401

    def answer(self) -> None:
        body = json.dumps({"error_code": "UNAUTHENTICATED", "message": "You are not authenticated."}).encode()
        self.send_response(self.status)
        if self.status == 401:
            self.send_header("WWW-Authenticate", 'Basic realm="mlflow"')
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = answer

    def log_message(self, *args: Any) -> None:
        pass


@pytest.mark.parametrize("status, fragment", [(401, "HTTP 401, not authenticated"), (403, "HTTP 403, permission"),
                                              (500, "answered HTTP 500")])
def test_a_server_that_refuses_is_one_error_line_and_nothing_is_sent(tracker_db, status, fragment):
    # Given a server on 127.0.0.1 that refuses every request with this status
    handler = type("Refuse", (Refusing,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    store = Store(tracker_db)
    record_run(store, "train")
    store.close()
    try:
        # When the store is pushed to it
        result = run_cli("push", f"http://127.0.0.1:{server.server_address[1]}", db=tracker_db)
    finally:
        server.shutdown()
        server.server_close()
    # Then one line says so and how to authenticate, with a non-zero exit and no traceback
    line = assert_clean_failure(result, 5, fragment)
    if status == 401:
        assert "MLFLOW_TRACKING_USERNAME" in line and "MLFLOW_TRACKING_TOKEN" in line


def test_the_python_api_raises_the_same_errors(tracker_db):
    store = Store(tracker_db)
    record_run(store, "train")
    store.close()
    with pytest.raises(UsageProblem, match="not an MLflow tracking server URI"):
        jt.push("sqlite:///elsewhere.db", db=tracker_db)
    with pytest.raises(PushError, match="connection refused") as raised:
        jt.push(f"http://127.0.0.1:{free_port()}", db=tracker_db, progress=False)
    assert raised.value.exit_code == 5 and raised.value.server_status is None
