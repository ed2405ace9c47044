"""The Python API from a plain script, and what it returns."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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
