"""Versioning (issue 6): content-addressed artifacts, the model registry, promote/rollback and
the registry CLI, through real SQLite files, real files and real processes."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
import textwrap
import tracemalloc
from pathlib import Path

import pytest
import xxhash

import jupyter_tracker as jt
from jupyter_tracker import api
from jupyter_tracker.capture.data import fingerprint_file
from jupyter_tracker.errors import (
    ArtifactNotFound, NoActiveRun, NothingToRollBack, RunNotFound, StageNotFound, UsageProblem, ValidationFailed,
)
from jupyter_tracker.models.registry import holders
from jupyter_tracker.capture.recorder import Recorder
from jupyter_tracker.store import Store

from conftest import run_cli

pytestmark = pytest.mark.slow  # a real kernel per test

START = 1_700_000_000.0


def record(store: Store, name: str = "train", metrics: dict | None = None, model: object = None,
           status: str = "finished", model_name: str = "model") -> str:
    """One run written the way a tracked cell writes it; ``model`` is logged with log_model inside it."""
    recorder = Recorder(store, name, clock=lambda: START)
    recorder.log_metrics(metrics or {})
    if model is not None:
        with api.recording(recorder):
            jt.log_model(model, model_name)
    recorder.finish(status)
    return recorder.run_id


def stored_files(tracker_db: Path) -> list[Path]:
    return sorted(p for p in (tracker_db.parent / "artifacts").rglob("*") if p.is_file())


# ------------------------------------------------------------------ artifacts
def test_log_model_stores_a_content_addressed_pickle_linked_to_the_run(store, tracker_db):
    # Given a run that logs a model
    run_id = record(store, model={"weights": [1.5, 2.5], "kind": "linear"})
    # When the run is read back
    artifact, = jt.get_run(run_id).artifacts
    # Then the model is a file beside the store, named by the hash of its bytes, with its size
    data = artifact.path.read_bytes()
    assert (artifact.kind, artifact.name, artifact.format) == ("model", "model", "pickle")
    assert artifact.path == tracker_db.parent / "artifacts" / artifact.hash[:2] / artifact.hash
    assert artifact.hash == xxhash.xxh3_128_hexdigest(data) and artifact.size == len(data)
    assert artifact.origin == "builtins.dict"
    # And load_model and the artifact accessor give it back
    assert jt.load_model(run=run_id[:6]) == {"weights": [1.5, 2.5], "kind": "linear"}
    assert jt.artifact(run_id[:6], "model") == artifact.path
    # And `show` lists it
    assert artifact.hash[:12] in str(jt.get_run(run_id))


def test_the_same_bytes_are_stored_once_however_many_runs_log_them(store, tracker_db, tmp_path):
    # Given a file and a model, logged by two runs each
    report = tmp_path / "report.csv"
    report.write_text("a,b\n1,2\n")
    ids = []
    for _ in range(2):
        recorder = Recorder(store, "train", clock=lambda: START)
        with api.recording(recorder):
            jt.log_artifact(report)
            jt.log_model([1, 2, 3])
        recorder.finish("finished")
        ids.append(recorder.run_id)
    # Then each run lists both, and only two files are stored
    first, second = (jt.get_run(run_id).artifacts for run_id in ids)
    assert [(a.kind, a.name, a.hash) for a in first] == [(a.kind, a.name, a.hash) for a in second]
    assert {a.name for a in first} == {"report.csv", "model"}
    assert len(stored_files(tracker_db)) == 2
    assert jt.artifact(ids[1], "report.csv").read_text() == "a,b\n1,2\n"


def test_large_files_are_streamed_never_read_whole_into_memory(store, tmp_path):
    # Given a 48 MiB file
    big = tmp_path / "big.bin"
    with open(big, "wb") as handle:
        for i in range(48):
            handle.write(bytes([i]) * (1 << 20))
    run_id = record(store)
    # When it is logged, with Python's allocations traced
    tracemalloc.start()
    try:
        artifact = jt.log_artifact(big, run=run_id)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    # Then memory stayed far below the file's size, and the hash is the file's full-content hash
    assert peak < 8 << 20, peak
    assert artifact.size == 48 << 20
    assert artifact.hash == fingerprint_file(big).hash == fingerprint_file(artifact.path).hash


def test_log_figure_stores_a_png_found_again_by_name(store):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Given a run that logs a matplotlib figure and an Axes
    fig, ax = plt.subplots()
    ax.plot([0, 1], [0, 1])
    recorder = Recorder(store, "plots", clock=lambda: START)
    with api.recording(recorder):
        jt.log_figure(fig, "roc")
        jt.log_figure(ax, "roc-axes")
    recorder.finish("finished")
    plt.close(fig)
    # When / Then each is a PNG, found by name
    for name in ("roc", "roc-axes"):
        path = jt.artifact(recorder.run_id, name)
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert {a.format for a in jt.get_run(recorder.run_id).artifacts} == {"png"}
    with pytest.raises(UsageProblem, match="needs a matplotlib Figure"):
        jt.log_figure("not a figure", "x", run=recorder.run_id)


def test_logging_needs_an_active_run_or_a_recorded_one(store, tmp_path, tracker_db):
    # Given one recorded run without artifacts
    run_id = record(store)
    # Then logging outside a run, or to an unknown run, says what to do
    with pytest.raises(NoActiveRun, match="log_model"):
        jt.log_model([1])
    with pytest.raises(RunNotFound, match="ffff"):
        jt.log_model([1], run="ffff")
    with pytest.raises(UsageProblem, match="non-empty"):
        jt.log_model([1], name="", run=run_id)
    with pytest.raises(ArtifactNotFound, match="cannot read"):
        jt.log_artifact(tmp_path / "missing.txt", run=run_id)
    with pytest.raises(UsageProblem, match="cannot pickle model 'model'"):
        jt.log_model(lambda x: x, run=run_id)
    assert stored_files(tracker_db) == []  # the failed pickle left no half-written file
    # And asking for an artifact the run does not have names what it has
    jt.log_model([1], "clf", run=run_id)
    with pytest.raises(ArtifactNotFound, match=r"has no model 'model' \(logged: model 'clf'\)"):
        jt.load_model(run=run_id)
    with pytest.raises(ArtifactNotFound, match="has no artifact 'roc'"):
        jt.artifact(run_id, "roc")


# ------------------------------------------------------------------ registry
def test_promote_then_load_model_returns_what_the_stage_holds(store):
    # Given two runs with different models
    first = record(store, metrics={"acc": 0.8}, model="model-1")
    second = record(store, metrics={"acc": 0.9}, model="model-2")
    # When the first, then the second is promoted
    event = jt.promote(first[:6])
    assert (event.action, event.run_id, event.previous_run_id) == ("promote", first, None)
    assert jt.load_model() == "model-1"
    event = jt.promote(second, stage="production", name="model")
    # Then production holds the second, which records what it replaced and the validation that let it in
    assert jt.load_model(name="model", stage="production") == "model-2"
    assert event.previous_run_id == first and event.validation["passed"] is True
    # And promoting the holder again changes nothing
    assert jt.promote(second).seq == event.seq
    assert len(jt.registry()) == 2


def test_rollback_chains_walk_back_through_earlier_versions(store):
    # Given A, B, C promoted to production in turn
    a, b, c, d = (record(store, metrics={"acc": 0.9}, model=f"model-{x}") for x in "abcd")
    for run_id in (a, b, c):
        jt.promote(run_id)
    # When rolling back twice
    first, second = jt.rollback(), jt.rollback()
    # Then production went back to B, then to A, each rollback recorded with what it left
    assert (first.action, first.run_id, first.previous_run_id) == ("rollback", b, c)
    assert (second.run_id, second.previous_run_id) == (a, b)
    assert jt.load_model() == "model-a"
    # And a third rollback is refused: A was the first version
    with pytest.raises(NothingToRollBack, match="no earlier version"):
        jt.rollback()
    # When D is promoted on top of A and rolled back, production is A again
    jt.promote(d)
    assert jt.rollback().run_id == a and jt.load_model() == "model-a"
    # And the history keeps every change, in order
    history = jt.registry()
    assert list(history["action"]) == ["promote"] * 3 + ["rollback"] * 2 + ["promote", "rollback"]
    assert list(history["run_id"]) == [a, b, c, b, a, d, a]
    assert list(history["seq"]) == sorted(history["seq"])


def test_registry_is_a_dataframe_of_who_when_which_run_which_model_which_stage(store):
    # Given promotions of two model names into two stages
    run_id = record(store, metrics={"acc": 0.9}, model="m")
    recorder = Recorder(store, "other", clock=lambda: START)
    with api.recording(recorder):
        jt.log_model("c", "churn")
    recorder.finish("finished")
    jt.promote(run_id, stage="staging")
    jt.promote(recorder.run_id, name="churn")
    # When the registry is read
    history = jt.registry()
    # Then each change says who, when, which run, which model hash, which stage
    assert list(history.columns) == ["seq", "time", "user", "host", "action", "name", "stage", "run_id",
                                     "model_hash", "previous_run_id", "forced", "validation"]
    assert list(zip(history["name"], history["stage"])) == [("model", "staging"), ("churn", "production")]
    assert history["model_hash"].iloc[0] == jt.get_run(run_id).artifacts[0].hash
    assert history["user"].iloc[0] and str(history["time"].dtype).startswith("datetime64")
    assert len(jt.registry(name="churn")) == 1 and len(jt.registry(stage="staging")) == 1
    # And stages of different names are independent
    assert jt.load_model(name="churn") == "c" and jt.load_model(stage="staging") == "m"


def test_bad_registry_input_gives_clear_errors(store):
    # Given a store where nothing has been promoted
    run_id = record(store, metrics={"acc": 0.9}, model="m")
    no_model = record(store, metrics={"acc": 0.9})
    # Then: no baseline yet
    with pytest.raises(StageNotFound, match="nothing has been promoted to 'production' for model 'model' yet"):
        jt.load_model()
    with pytest.raises(StageNotFound, match="nothing has been promoted"):
        jt.rollback()
    # And once production exists, an unknown stage names the stages in use
    jt.promote(run_id)
    with pytest.raises(StageNotFound, match=r"no model 'model' in stage 'prod' \(stages in use for 'model': production\)"):
        jt.load_model(stage="prod")
    with pytest.raises(StageNotFound, match="stage 'staging'"):
        jt.rollback(stage="staging")
    # And malformed names, a run without a model, and unknown runs are refused
    for bad in ("", "two words", "../x", 3):
        with pytest.raises(UsageProblem, match="the stage must be a word"):
            jt.promote(run_id, stage=bad)
    with pytest.raises(ArtifactNotFound, match="has no model 'model'.*log_model"):
        jt.promote(no_model)
    with pytest.raises(RunNotFound):
        jt.promote("ffffffff")
    assert len(jt.registry()) == 1


def test_promote_refuses_a_run_failing_validation_unless_forced(store):
    # Given production holds a run with acc 0.9, and a candidate with acc 0.7
    holder = record(store, metrics={"acc": 0.9}, model="good")
    worse = record(store, metrics={"acc": 0.7}, model="worse")
    jt.promote(holder)
    # When the worse run is promoted, it is refused and nothing changes
    with pytest.raises(ValidationFailed, match=r"fails validation against production.*metric acc.*force=True") as refused:
        jt.promote(worse)
    assert not refused.value.result.passed
    assert len(jt.registry()) == 1 and jt.load_model() == "good"
    # When it is forced, it is promoted anyway, recorded as forced with the failed validation
    event = jt.promote(worse, force=True)
    assert event.forced and event.validation["passed"] is False
    assert "acc" in event.validation["failed"][0]
    assert jt.registry()["forced"].tolist() == [False, True]
    assert jt.registry()["validation"].iloc[1].startswith("FAILED")
    # And with rules it passes, it is promoted without force
    jt.rollback()
    event = jt.promote(worse, rules={"acc": ">= baseline - 0.25"})
    assert not event.forced and event.validation["passed"] is True


def test_a_run_that_did_not_finish_is_not_promoted_into_an_empty_stage(store):
    failed = record(store, metrics={"acc": 0.9}, model="m", status="failed")
    with pytest.raises(ValidationFailed, match="not finished"):
        jt.promote(failed)
    assert jt.promote(failed, force=True).forced


PROMOTER = """
import json, os, sys, time
import jupyter_tracker as jt
run_id, go = sys.argv[1], sys.argv[2]
while not os.path.exists(go):
    time.sleep(0.005)
seqs = []
for _ in range(5):
    seqs.append(jt.promote(run_id).seq)
    try:
        seqs.append(jt.rollback().seq)
    except jt.NothingToRollBack:
        pass
print(json.dumps(seqs))
"""


def test_two_processes_promoting_at_once_leave_a_consistent_history(store, tracker_db, tmp_path):
    # Given four runs with models, each promoted and rolled back by its own process, all at once
    ids = [record(store, metrics={"acc": 0.9}, model=f"m{i}") for i in range(4)]
    script = tmp_path / "promoter.py"
    script.write_text(textwrap.dedent(PROMOTER))
    go = tmp_path / "go"
    env = {**os.environ, "JUPYTER_TRACKER_DB": str(tracker_db)}
    processes = [subprocess.Popen([sys.executable, str(script), run_id, str(go)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True, env=env) for run_id in ids]
    go.touch()
    outputs = [process.communicate(timeout=120) for process in processes]
    assert all(process.returncode == 0 for process in processes), [err for _, err in outputs]
    # Then every change any process made is in the history, once, in one order
    events = Store(tracker_db).registry_events()
    returned = {seq for out, _ in outputs for seq in json.loads(out)}
    assert [e.seq for e in events] == sorted(returned)
    assert sum(e.action == "promote" for e in events) >= 4
    # And replaying it, each event names the holder it really replaced
    stack: list[str] = []
    for event in events:
        assert event.previous_run_id == (stack[-1] if stack else None), event
        if event.action == "promote":
            stack.append(event.run_id)
        else:
            stack.pop()
            assert event.run_id == stack[-1]
    assert [e.run_id for e in holders(events)] == stack
    assert jt.load_model() == pickle.loads(jt.artifact(stack[-1], "model").read_bytes())


# ------------------------------------------------------------------ CLI
def test_registry_promote_and_rollback_from_the_command_line(store, tracker_db):
    # Given two runs with models
    first = record(store, metrics={"acc": 0.9}, model="one")
    worse = record(store, metrics={"acc": 0.5}, model="two")
    # When promoting and rolling back from the command line
    promoted = run_cli("promote", first[:8], db=tracker_db)
    refused = run_cli("promote", worse[:8], "--stage", "production", db=tracker_db)
    forced = run_cli("promote", worse[:8], "--force", "--model", "model", db=tracker_db)
    rolled = run_cli("rollback", "-s", "production", db=tracker_db)
    listed = run_cli("registry", "--format", "json", db=tracker_db)
    # Then each says what happened, and a refusal is one Error line with exit 1
    assert promoted.code == 0 and f"promoted {first[:8]}" in promoted.stdout
    assert refused.code == 1 and refused.stderr.startswith("Error: run ") and "--force" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1 and "Traceback" not in refused.stderr
    assert forced.code == 0 and "(forced)" in forced.stdout
    assert rolled.code == 0 and f"rolled back to {first[:8]}" in rolled.stdout
    history = json.loads(listed.stdout)
    assert [(e["action"], e["run_id"]) for e in history] == [("promote", first), ("promote", worse),
                                                              ("rollback", first)]
    table = run_cli("registry", db=tracker_db)
    assert table.code == 0 and "rollback" in table.stdout and first[:8] in table.stdout


@pytest.mark.parametrize("args, code, message", [
    (["rollback"], 3, "nothing has been promoted to 'production'"),
    (["promote", "ffffffff"], 3, "no run matches 'ffffffff'"),
    (["promote", "RUN", "--stage", "two words"], 2, "the stage must be a word"),
    (["registry", "--stage", "a/b"], 2, "the stage must be a word"),
])
def test_registry_commands_on_bad_input_print_one_error_line(store, tracker_db, args, code, message):
    run_id = record(store, metrics={"acc": 0.9}, model="m")
    result = run_cli(*[run_id if a == "RUN" else a for a in args], db=tracker_db)
    assert result.code == code, result.stderr
    assert result.stderr.splitlines() == [result.stderr.strip()] and result.stderr.startswith("Error: ")
    assert message in result.stderr and "Traceback" not in result.stderr
