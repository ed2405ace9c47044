"""The tracker never breaks a user's cell; a killed kernel leaves a readable store."""

from __future__ import annotations

import os
import queue
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

import jupyter_tracker as jt
from jupyter_tracker.store import Store

from conftest import run_cli

pytestmark = pytest.mark.slow  # kernels killed mid-cell


def make_read_only(path: Path) -> None:
    # SQLite treats a file whose header "write version" byte is above 2 as read-only.
    data = bytearray(path.read_bytes())
    data[18] = 3
    path.write_bytes(bytes(data))


def test_read_only_store_leaves_results_and_exceptions_unchanged_with_one_warning(kernel, tracker_db):
    # Given a store the tracker can read but not write
    Store(tracker_db).close()
    make_read_only(tracker_db)
    before = tracker_db.read_bytes()
    # When a tracked cell returns a value
    out = kernel.run("%%track second\ny = 40 + 2\ny")
    # Then the value is shown as without the magic, with exactly one warning line
    assert "42" in out.text()
    assert len(out.warning_lines()) == 1 and "attempt to write a readonly database" in out.warning_lines()[0]
    assert kernel.value("y") == 42
    # When a tracked cell raises
    failed = kernel.run("%%track third\nraise ZeroDivisionError('user error')", allow_error=True)
    assert failed.error["ename"] == "ZeroDivisionError" and failed.error["evalue"] == "user error"
    assert len(failed.warning_lines()) == 1
    assert tracker_db.read_bytes() == before


def test_object_whose_hashing_raises_does_not_change_the_cell(kernel, tracker_db):
    kernel.run("import pandas as pd\nclass Exploding(pd.DataFrame):\n"
               "    @property\n    def dtypes(self):\n        raise RuntimeError('boom')\n"
               "    @property\n    def columns(self):\n        raise RuntimeError('boom')\n"
               "frame = Exploding({'a': [1, 2]})")
    out = kernel.run("%%track uses_it\nvalue = 7 * 6\nvalue")
    assert "42" in out.text()
    out = kernel.run("%%track uses_frame\ntotal = len(frame)\ntotal")
    assert "2" in out.text()
    assert len(out.warning_lines()) == 1
    run = Store(tracker_db).get_run(Store(tracker_db).runs_frame()["run_id"].iloc[-1])
    assert run.status == "finished"
    assert any("cannot fingerprint" in w for w in run.warnings)


def test_magic_output_and_display_semantics_match_an_untracked_cell(kernel):
    plain = kernel.run("print('side effect')\n1 + 1")
    tracked = kernel.run("%%track same\nprint('side effect')\n1 + 1")
    assert tracked.stdout == plain.stdout
    assert plain.displays[-1]["text/plain"] in tracked.text()
    silenced = kernel.run("%%track quiet\n1 + 1;")
    assert "2" not in [d.get("text/plain") for d in silenced.displays]


def test_tracking_off_runs_cells_without_recording(kernel, tracker_db):
    kernel.run("%%track one\nx = 1")
    kernel.run("%track off")
    out = kernel.run("%%track two\nx = 2\nx")
    assert "2" in out.text() and "[jupyter_tracker]" not in out.text()
    kernel.run("%track on")
    kernel.run("%%track three\nx = 3")
    assert Store(tracker_db).runs_frame()["name"].tolist() == ["one", "three"]


def test_kernel_killed_mid_cell_leaves_an_interrupted_run_and_a_healthy_store(kernel, tracker_db):
    # Given a tracked cell that is still running
    pid = kernel.value("__import__('os').getpid()")
    kernel.client.execute("%%track doomed\nimport time\ntime.sleep(60)")
    deadline = time.time() + 30
    while time.time() < deadline:
        if tracker_db.exists() and not Store(tracker_db).runs_frame().empty:
            break
        time.sleep(0.1)
    # When the kernel is killed with SIGKILL
    os.kill(pid, signal.SIGKILL)
    kernel.manager.provisioner.process.wait(timeout=10)  # reap it, as the notebook server would
    # Then doctor passes and reports the run as interrupted
    result = run_cli("doctor", db=tracker_db)
    assert result.code == 0, result.stdout + result.stderr
    assert "marked 1 killed run(s) interrupted" in result.stdout
    run = Store(tracker_db).get_run(Store(tracker_db).runs_frame()["run_id"].iloc[-1])
    assert run.status == "interrupted" and run.end is not None


# ------------------------------------------------------------------ live and durable metrics (issue 12)
LOGGING_CELL = """%%track doomed --params lr
n_estimators = 200
for step in range(100_000 + 0 * X.size):  # reads the input X
    jupyter_tracker.log_metric("loss", 1 / (step + 1), step=step)
    print(step, time.time(), flush=True)
    time.sleep(0.01)
"""


def _stdout_of(client: Any, seconds: float) -> str:
    """The stdout a kernel sent on iopub (drained for ``seconds`` at most, after it died)."""
    text, deadline = "", time.time() + seconds
    while time.time() < deadline:
        try:
            message = client.get_iopub_msg(timeout=0.5)
        except queue.Empty:
            break
        if message["msg_type"] == "stream" and message["content"]["name"] == "stdout":
            text += message["content"]["text"]
    return text


def test_kernel_killed_while_logging_keeps_every_point_older_than_a_second_and_the_run_start(kernel, tracker_db):
    # Given a kernel with a seed, a papermill parameters cell, an input and a --params name set up front
    kernel.run("import time, numpy as np, jupyter_tracker\n%track seed 3")
    kernel.run("# Parameters\nalpha = 0.5")
    kernel.run("lr = 0.1\nX = np.arange(12.0).reshape(3, 4)")
    pid = kernel.value("__import__('os').getpid()")
    # When a tracked cell logs a point every 10 ms, reading X, and is SIGKILLed after a few seconds
    kernel.client.execute(LOGGING_CELL)
    reader = None
    deadline = time.time() + 60
    while time.time() < deadline:
        time.sleep(0.2)
        if tracker_db.exists():
            reader = reader or Store(tracker_db)
            if not reader.runs_frame().empty and reader.metric_points(reader.runs_frame()["run_id"].iloc[-1]):
                break
    time.sleep(3)
    # (while it runs, another process sees its points within about a second)
    run_id = reader.runs_frame()["run_id"].iloc[-1]
    seen_at, newest = time.time(), max(p.timestamp for p in reader.metric_points(run_id))
    assert seen_at - newest < 1.5, f"the newest stored point is {seen_at - newest:.2f} s old"
    running = reader.get_run(run_id)
    assert running.status == "running" and running.end is None and running.duration is None
    killed_at = time.time()
    os.kill(pid, signal.SIGKILL)
    kernel.manager.provisioner.process.wait(timeout=10)
    logged = [(int(step), float(at)) for step, at in
              (line.split() for line in _stdout_of(kernel.client, 10).splitlines() if line.count(" ") == 1)]
    # Then every point logged more than a second before the kill is in the store, once, in order
    result = run_cli("doctor", db=tracker_db)
    assert result.code == 0, result.stdout + result.stderr
    assert "marked 1 killed run(s) interrupted" in result.stdout
    store = Store(tracker_db)
    stored = store.metric_series(run_id, "loss")
    old_enough = [step for step, at in logged if at < killed_at - 1.0]
    assert len(old_enough) > 100 and old_enough == list(range(len(old_enough)))
    assert stored["step"].tolist() == list(range(len(stored)))  # no gap, no duplicate
    assert len(stored) >= len(old_enough), (len(stored), len(old_enough), len(logged))
    print(f"logged {len(logged)} points, {len(old_enough)} more than 1 s before the kill; kept {len(stored)}")
    run = store.get_run(run_id)
    assert run.status == "interrupted" and run.end is not None
    assert run.metric_steps["loss"] == len(stored) and run.metrics["loss"] == stored["value"].iloc[-1]
    # And what was known at the start is there: params, seeds, inputs, code and history
    assert {k: run.params.get(k) for k in ("alpha", "lr", "n_estimators")} == {
        "alpha": 0.5, "lr": 0.1, "n_estimators": 200}
    assert [(s.source, s.value) for s in run.seeds] == [("%track seed", 3)]
    assert [ref.name for ref in run.inputs] == ["X"] and tuple(run.inputs[0].fingerprint.shape) == (3, 4)
    assert run.code == LOGGING_CELL.split("\n", 1)[1]  # the cell's body, below the magic's line
    assert "lr = 0.1\nX = np.arange(12.0).reshape(3, 4)" in run.history
    # And the store accepts new runs
    with jt.start_run("after", db=tracker_db) as recorder:
        jt.log_metric("acc", 0.9)
    assert store.get_run(recorder.run_id).status == "finished"


BURST_SCRIPT = """
import sys
import jupyter_tracker as jt

with jt.start_run("burst", db=sys.argv[1]):
    jt.log_param("keys", 2)
    step = 0
    while True:
        jt.log_metrics({"a": step, "b": -step}, step=step)
        step += 1
"""


def test_writer_killed_in_a_burst_of_points_leaves_whole_batches_and_a_healthy_store(tmp_path, tracker_db):
    # Given a script logging two metrics per step as fast as it can
    script = tmp_path / "burst.py"
    script.write_text(BURST_SCRIPT)
    process = subprocess.Popen([sys.executable, str(script), str(tracker_db)])
    try:
        deadline = time.time() + 60
        while time.time() < deadline and process.poll() is None:
            time.sleep(0.1)
            if tracker_db.exists() and count_rows(tracker_db, "metrics"):
                break
        time.sleep(1.0)
        # When it is SIGKILLed mid-burst (a flush may be under way)
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    # Then doctor passes (integrity check included) and marks the run interrupted
    result = run_cli("doctor", db=tracker_db)
    assert result.code == 0, result.stdout + result.stderr
    assert "marked 1 killed run(s) interrupted" in result.stdout
    store = Store(tracker_db)
    run_id = store.runs_frame()["run_id"].iloc[-1]
    a, b = store.metric_series(run_id, "a"), store.metric_series(run_id, "b")
    # And the points kept are whole batches of whole log_metrics calls: steps 0..n-1 of both keys, no gap
    n = len(a)
    assert n > 1000, n
    print(f"kept {n} steps of 2 points ({2 * n} points)")
    assert a["step"].tolist() == list(range(n)) and b["step"].tolist() == list(range(n))
    assert a["value"].tolist() == [float(s) for s in range(n)] and b["value"].tolist() == [-float(s) for s in range(n)]
    run = store.get_run(run_id)
    assert run.status == "interrupted" and run.metric_steps == {"a": n, "b": n}
    assert run.metrics == {"a": n - 1, "b": -(n - 1)}
    assert run.code == BURST_SCRIPT
    # And the store accepts new runs
    with jt.start_run("after", db=tracker_db) as recorder:
        jt.log_metric("acc", 0.9)
    assert store.get_run(recorder.run_id).status == "finished"


def count_rows(path: Path, table: str) -> int:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    except sqlite3.OperationalError:
        return 0
    finally:
        conn.close()
