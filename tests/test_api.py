"""The Python API from a plain script, and what it returns."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pandas as pd
import pytest

import jupyter_tracker as jt

SCRIPT = """
import random
import numpy as np
import jupyter_tracker as jt

with jt.start_run("train", experiment="script-exp", tags={"stage": "dev"}) as run:
    np.random.seed(3)
    jt.log_params({"lr": 0.01, "layers": [8, 4]})
    jt.log_param("optimizer", "adam")
    for step in range(3):
        jt.log_metric("loss", 1.0 / (step + 1), step=step)
    jt.log_metrics({"acc": 0.9, "f1": np.float32(0.5)})
    jt.set_tag("owner", "me")
print(run.run_id)
"""


def run_script(tmp_path, source: str, db) -> subprocess.CompletedProcess:
    path = tmp_path / "train.py"
    path.write_text(textwrap.dedent(source))
    return subprocess.run([sys.executable, str(path)], capture_output=True, text=True, cwd=tmp_path,
                          env={**__import__("os").environ, "JUPYTER_TRACKER_DB": str(db)}, timeout=120)


def test_start_run_records_the_same_things_from_a_plain_script(tmp_path, tracker_db):
    done = run_script(tmp_path, SCRIPT, tracker_db)
    assert done.returncode == 0, done.stderr
    run = jt.get_run(done.stdout.strip()[:10])
    assert run.source == "script" and run.status == "finished"
    assert run.params == {"lr": 0.01, "layers": [8, 4], "optimizer": "adam"}
    assert run.metrics == {"acc": 0.9, "f1": 0.5, "loss": 1.0 / 3}
    assert run.metric_steps["loss"] == 3
    assert run.tags == {"stage": "dev", "owner": "me"}
    assert ("numpy.random.seed", 3) in {(s.source, s.value) for s in run.seeds}
    assert "jt.start_run" in run.code and run.history == [run.code]
    assert run.environment["packages"]["numpy"]
    assert run.duration is not None and run.end >= run.start


def test_failed_script_run_keeps_the_traceback_and_reraises(tmp_path, tracker_db):
    done = run_script(tmp_path, """
        import jupyter_tracker as jt
        with jt.start_run("crash"):
            jt.log_metric("partial", 1.0)
            raise RuntimeError("exploded")
        """, tracker_db)
    assert done.returncode == 1 and "RuntimeError: exploded" in done.stderr
    run = jt.get_run(jt.runs()["run_id"].iloc[-1])
    assert run.status == "failed" and "RuntimeError: exploded" in run.error
    assert run.metrics == {"partial": 1.0}


def test_runs_dataframe_has_the_documented_columns(tmp_path, tracker_db):
    run_script(tmp_path, SCRIPT, tracker_db)
    frame = jt.runs(experiment="script-exp")
    assert list(frame.columns[:6]) == ["run_id", "experiment", "name", "status", "start", "duration"]
    assert {"params.lr", "params.layers", "metrics.acc", "metrics.loss", "tags.stage"} <= set(frame.columns)
    assert isinstance(frame["start"].dtype, pd.DatetimeTZDtype)
    assert jt.runs(experiment="nothing-here").empty
    assert len(jt.runs(name="train")) == 1


def test_compare_renders_html_and_text_with_differences(tmp_path, tracker_db):
    run_script(tmp_path, SCRIPT, tracker_db)
    run_script(tmp_path, SCRIPT.replace('"lr": 0.01', '"lr": "<img src=x onerror=alert(1)>"'), tracker_db)
    first, second = jt.runs()["run_id"]
    comparison = jt.compare(first[:7], second[:7])
    assert comparison.differing_params() == ["lr"]
    assert "&lt;img src=x onerror=alert(1)&gt;" in comparison._repr_html_()
    assert "<img" not in comparison._repr_html_()
    assert "* lr" in str(comparison)
    assert comparison.metrics_frame().loc["acc", "differs"] == False  # noqa: E712
    assert "<img" not in jt.get_run(second)._repr_html_()


def test_logging_outside_a_run_is_a_clear_error():
    with pytest.raises(jt.NoActiveRun, match=r"log_metric\(\) needs an active run"):
        jt.log_metric("acc", 0.5)


def test_bad_metric_values_are_rejected_with_the_metric_name(tmp_path, tracker_db):
    with jt.start_run("bad"):
        with pytest.raises(jt.UsageProblem, match="metric 'acc' must be a number, got str"):
            jt.log_metric("acc", "high")
        with pytest.raises(jt.UsageProblem, match="step must be an integer"):
            jt.log_metric("acc", 0.5, step=1.5)


def test_compare_needs_two_runs_and_known_ids(tracker_db, tmp_path):
    run_script(tmp_path, SCRIPT, tracker_db)
    with pytest.raises(jt.UsageProblem):
        jt.compare(jt.runs()["run_id"].iloc[0])
    with pytest.raises(jt.RunNotFound, match="no run matches 'abcdef'"):
        jt.compare(jt.runs()["run_id"].iloc[0], "abcdef")


def test_a_script_seeded_before_start_run_is_not_reported_unseeded(tmp_path, tracker_db):
    done = run_script(tmp_path, """
        import numpy as np
        import jupyter_tracker as jt
        np.random.seed(4)
        with jt.start_run("scripted") as run:
            x = np.random.rand()
        print(run.run_id)
    """, tracker_db)
    assert done.returncode == 0, done.stderr
    run = jt.get_run(done.stdout.strip()[:10])
    assert not [w for w in run.warnings if "never seeded" in w]
    seed = next(s for s in run.seeds if s.generator == "numpy")
    assert (seed.source, seed.value, seed.location) == ("numpy.random.seed", 4, "train.py line 4: np.random.seed(4)")


@pytest.mark.parametrize("first, second, same", [
    (1, 1.0, True), (True, 1, False), (float("nan"), float("nan"), True), ([1, 2], [1.0, 2], True),
    ({"a": [1, "x"]}, {"a": [1, "x"]}, True), ("1", 1, False), (None, 0, False), (False, 0, False),
])
def test_compare_and_rerun_share_one_rule_for_the_same_value(tracker_db, first, second, same):
    from jupyter_tracker.repro.verdict import compare_runs

    # Given two runs whose only param is the pair's values
    ids = []
    for value in (first, second):
        with jt.start_run("pair", db=tracker_db) as run:
            jt.log_param("value", value)
        ids.append(run.run_id)
    # Then compare (the table) and the verdict (rerun, batch) say the same thing
    table = jt.compare(*ids, db=tracker_db)
    assert ("value" in table.differing_params()) is (not same)
    differences, _ = compare_runs(*(jt.get_run(i, db=tracker_db) for i in ids))
    assert any(d.kind == "param" for d in differences) is (not same)


# ------------------------------------------------------------------ live metrics (issue 12)
def _wait_for_points(reader, run_id: str, count: int, seconds: float = 5.0) -> float:
    """Seconds until ``reader`` (its own connection, as another process's) sees ``count`` points of the run."""
    started = time.time()
    while time.time() - started < seconds and len(reader.metric_points(run_id)) < count:
        time.sleep(0.02)
    return time.time() - started


def test_points_of_a_running_run_reach_the_store_within_a_second_and_are_written_once(tracker_db):
    # Given a run that logged five points and then went quiet
    from jupyter_tracker.store import Store

    with jt.start_run("live", db=tracker_db) as recorder:
        for step in range(5):
            jt.log_metric("loss", 1.0 / (step + 1), step=step)
        reader = Store(tracker_db)
        # When another connection reads the store while the run sleeps
        waited = _wait_for_points(reader, recorder.run_id, 5)
        # Then it sees them within about a second, with the run still running and no end
        assert waited < 1.0, waited
        running = reader.get_run(recorder.run_id)
        assert (running.status, running.end, running.metrics, running.metric_steps) == (
            "running", None, {"loss": 0.2}, {"loss": 5})
        jt.log_metric("loss", 0.1, step=5)  # after a flush: left to the final write
    # And the final write adds only what the live writer had not written
    series = reader.metric_series(recorder.run_id, "loss")
    assert series["step"].tolist() == [0, 1, 2, 3, 4, 5]
    run = reader.get_run(recorder.run_id)
    assert (run.status, run.metrics, run.metric_steps) == ("finished", {"loss": 0.1}, {"loss": 6})


def test_nested_runs_each_have_their_points_flushed(tracker_db):
    from jupyter_tracker.store import Store

    reader = Store(tracker_db)
    with jt.start_run("outer", db=tracker_db) as outer:
        jt.log_metric("a", 1.0)
        with jt.start_run("inner", db=tracker_db) as inner:
            jt.log_metric("b", 2.0)
            assert _wait_for_points(reader, inner.run_id, 1) < 1.0
            assert _wait_for_points(reader, outer.run_id, 1) < 1.0
        jt.log_metric("a", 3.0)
    assert reader.get_run(outer.run_id).metric_steps == {"a": 2}
    assert reader.get_run(inner.run_id).metrics == {"b": 2.0}


def test_the_live_writer_starts_only_for_a_run_that_logs_a_point(tmp_path, tracker_db):
    done = run_script(tmp_path, """
        import threading
        import jupyter_tracker as jt

        def writer_running():
            return any(t.name == "jupyter_tracker live metrics" for t in threading.enumerate())

        with jt.start_run("quiet"):
            jt.log_param("lr", 0.1)
        print(writer_running())
        with jt.start_run("loud"):
            jt.log_metric("acc", 0.9)
        print(writer_running())
    """, tracker_db)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
