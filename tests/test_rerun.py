"""rerun, batch and report: real papermill executions in fresh kernels, against a real store."""

from __future__ import annotations

import json
import os
from pathlib import Path

import nbformat
import pytest

import jupyter_tracker as jt
from jupyter_tracker.capture.code import hidden_state
from jupyter_tracker.store import Store

from conftest import KernelSession, run_cli
from helpers import latest_run

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]  # slow: papermill executions in fresh kernels

OUT_OF_ORDER_CELLS = [
    "%load_ext jupyter_tracker",
    "total = 1",
    "step = 3",
    "total = total * 10",
    "%%track combine\nscore = total + step",
]


def write_notebook(path: Path, cells: list[str], parameters: str | None = None) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    if parameters is not None:
        cell = nbformat.v4.new_code_cell(parameters)
        cell.metadata["tags"] = ["parameters"]
        notebook.cells.append(cell)
    notebook.cells += [nbformat.v4.new_code_cell(source) for source in cells]
    nbformat.write(notebook, str(path))
    return path


@pytest.fixture
def notebook_kernel(tracker_db: Path, tmp_path: Path):
    """A kernel that, like one started by Jupyter for a notebook, knows its notebook's path."""
    work = tmp_path / "work"
    work.mkdir()
    path = write_notebook(work / "analysis.ipynb", OUT_OF_ORDER_CELLS)
    env = {**os.environ, "JUPYTER_TRACKER_DB": str(tracker_db), "JPY_SESSION_NAME": str(path)}
    session = KernelSession(work, env)
    yield session, path
    session.shutdown()


def latest(tracker_db: Path, name: str) -> jt.Run:
    return latest_run(tracker_db, name)


# ------------------------------------------------------------------ rerun

def test_rerun_reproduces_state_built_out_of_order_where_top_to_bottom_would_not(notebook_kernel, tracker_db):
    kernel, notebook = notebook_kernel
    # Given a cell run twice and a later cell run before an earlier one
    for index in (0, 1, 3, 3, 2):
        kernel.run(OUT_OF_ORDER_CELLS[index])
    summary = kernel.run(OUT_OF_ORDER_CELLS[4])
    original = latest(tracker_db, "combine")
    assert original.metrics["score"] == 103  # total = 1 * 10 * 10, step = 3
    # Then the run says its state is hidden, and why
    assert original.hidden_state["clean"] is False
    reasons = " ".join(original.hidden_state["reasons"])
    assert "cell [4] ran more than once" in reasons and "out of order" in reasons
    assert "HIDDEN STATE" in summary.text()
    assert "HIDDEN" in run_cli("show", original.run_id[:8], db=tracker_db).stdout

    # When it is rerun from its recorded history in a fresh kernel
    verdict = jt.rerun(original.run_id[:10], db=tracker_db, progress=False)

    # Then the rerun reproduces the out-of-order state and is linked to the original
    assert verdict.status == "REPRODUCED" and verdict.exit_code == 0, str(verdict)
    rerun = jt.get_run(verdict.rerun_ids[0], db=tracker_db)
    assert rerun.rerun_of == original.run_id and rerun.metrics["score"] == 103
    assert rerun.history == original.history
    assert "rerun of" in str(rerun)
    # While the notebook executed top to bottom gives another result
    report = jt.batch(notebook, db=tracker_db, workers=1, progress=False, output_dir=notebook.parent / "plain")
    assert report.executions[0].final_metrics()["score"] == 13


def test_a_clean_top_to_bottom_history_is_marked_clean(notebook_kernel, tracker_db):
    kernel, _ = notebook_kernel
    for source in OUT_OF_ORDER_CELLS:
        summary = kernel.run(source)
    run = latest(tracker_db, "combine")
    assert run.hidden_state == {"clean": True, "checked_against_notebook": True, "reasons": []}
    assert "HIDDEN" not in summary.text()
    assert "clean (top-to-bottom run of the notebook)" in run_cli("show", run.run_id, db=tracker_db).stdout


def test_hidden_state_names_deleted_cells_and_cells_never_run():
    cells = ["a = 1", "b = 2", "c = a + b"]
    assert hidden_state(["a = 1", "b = 2", "c = a + b"], cells)["clean"] is True
    deleted = hidden_state(["a = 1", "b = 20", "c = a + b"], cells)
    assert any("not in the notebook" in r and "b = 20" in r for r in deleted["reasons"])
    skipped = hidden_state(["a = 1", "c = a + b"], cells)
    assert skipped["reasons"] == ["cells above never ran: [2]"]
    assert hidden_state(["a = 1", "a = 1"], None)["reasons"] == ["a cell ran 2 times: 'a = 1'"]


def test_verdict_names_each_param_seed_input_metric_and_output_that_differs(kernel, tracker_db, tmp_path):
    # Given a tracked cell whose inputs come from a file
    data = tmp_path / "work" / "data.csv"
    data.write_text("x,y\n1,10\n2,20\n3,30\n")
    kernel.run("import numpy as np, pandas as pd\nframe = pd.read_csv('data.csv')")
    kernel.run("%%track fit --params rows\nrows = len(frame)\nnp.random.seed(int(frame.x.sum()))\n"
               "score = float(frame.x.mean())\nfitted = frame * 2")
    original = latest(tracker_db, "fit")
    # When the file changes before the rerun (one value of x, and one more row)
    data.write_text("x,y\n1,10\n2,20\n3,30\n5,40\n")
    result = run_cli("rerun", original.run_id[:8], db=tracker_db)
    # Then the verdict is DIFFERS, exit code 1, naming exactly what differs
    assert result.code == 1, result.stderr
    out = result.stdout
    assert out.startswith("DIFFERS")
    assert "param   rows: 3 -> 4" in out
    assert "seed    numpy.random.seed: 6 -> 11" in out
    assert "input   frame:" in out and "columns changed: x, y, <index>" in out
    assert "metric  score: 2 -> 2.75 (abs 0.75, rel 0.375)" in out
    assert "output  fitted:" in out
    # And the JSON form carries the figures
    verdict = json.loads(run_cli("rerun", original.run_id, "-f", "json", db=tracker_db).stdout)
    metric = next(d for d in verdict["attempts"][0]["differences"] if d["kind"] == "metric")
    assert (metric["original"], metric["new"], metric["abs_diff"], metric["rel_diff"]) == (2.0, 2.75, 0.75, 0.375)


def test_tolerances_decide_whether_noisy_metrics_reproduce(kernel, tracker_db):
    # Given a metric drawn from an unseeded generator
    kernel.run("import numpy as np")
    kernel.run("%%track noisy\nscore = float(np.random.default_rng().random(1000).mean())")
    run = latest(tracker_db, "noisy")
    # When it is rerun twice, exactly and with a tolerance wider than the noise
    exact = jt.rerun(run.run_id, repeat=2, workers=2, db=tracker_db, progress=False)
    loose = jt.rerun(run.run_id, atol=0.5, db=tracker_db, progress=False)
    # Then only the tolerant check reproduces, and the frames say why
    assert exact.status == "DIFFERS" and len(exact.attempts) == 2 and len(set(exact.rerun_ids)) == 2
    frame = exact.metrics_frame()
    assert list(frame["name"]) == ["score", "score"] and not frame["agrees"].any()
    assert (exact.differences_frame()["kind"] == "metric").all()
    assert loose.status == "REPRODUCED"
    assert "DIFFERS" in exact._repr_html_() and "<table>" in exact._repr_html_()


def test_a_rerun_that_cannot_execute_exits_2_with_the_error(kernel, tracker_db, tmp_path):
    (tmp_path / "work" / "notes.txt").write_text("hello")
    kernel.run("text = open('notes.txt').read()")
    kernel.run("%%track uses_text\nlength = len(text)")
    run = latest(tracker_db, "uses_text")
    (tmp_path / "work" / "notes.txt").unlink()
    result = run_cli("rerun", run.run_id, db=tracker_db)
    assert result.code == 2
    assert result.stdout.startswith("COULD NOT EXECUTE")
    assert "raised FileNotFoundError" in result.stdout and "executed notebook kept at" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_rerun_refuses_bad_input_with_one_line(tracker_db, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with jt.start_run("script_run"):
        jt.log_metric("acc", 0.5)
    script = jt.runs(db=tracker_db)["run_id"].iloc[-1]
    for args, code, fragment in (
        (("rerun", "ffff"), 3, "no run matches 'ffff'"),
        (("rerun", script), 2, "recorded by a script"),
        (("rerun", script, "--repeat", "0"), 2, "--repeat"),
        (("batch", "missing.ipynb"), 2, "notebook missing.ipynb does not exist"),
        (("report", "nosuchbatch"), 2, "no runs belong to batch 'nosuchbatch'"),
    ):
        result = run_cli(*args, db=tracker_db, cwd=tmp_path)
        assert result.code == code, (args, result.stderr)
        assert fragment in result.stderr and "Traceback" not in result.stderr
    notebook = write_notebook(tmp_path / "n.ipynb", ["x = 1"])
    malformed = run_cli("batch", str(notebook), "--grid", "depth", db=tracker_db, cwd=tmp_path)
    assert malformed.code == 2 and "--grid expects NAME=V1,V2" in malformed.stderr


def test_inside_a_replay_rerun_and_batch_do_not_recurse(tracker_db, monkeypatch, capsys):
    monkeypatch.setenv("JUPYTER_TRACKER_REPLAY", "1")
    assert jt.rerun("abcd", db=tracker_db) is None
    assert jt.batch("any.ipynb", db=tracker_db) is None
    assert capsys.readouterr().err.count("skipped inside a rerun replay") == 2


# ------------------------------------------------------------------ batch and report

GRID_CELLS = [
    "%load_ext jupyter_tracker\nimport numpy as np",
    "%%track prepare\nif depth == 0:\n    raise ValueError('depth must be positive')\n"
    "np.random.seed(depth)\ndata = np.random.rand(200) * depth",
    "%%track evaluate\nnoise = np.random.default_rng().random() if noisy else 0.0\nscore = float(data.mean()) + noise",
]


@pytest.fixture
def grid_notebook(tmp_path: Path) -> Path:
    return write_notebook(tmp_path / "grid.ipynb", GRID_CELLS, parameters="depth = 1\nnoisy = False")


def test_batch_runs_every_combination_in_parallel_and_reports_agreement(grid_notebook, tracker_db, tmp_path):
    out = tmp_path / "executed"
    # When a grid of 3 x 2 combinations runs twice each on 2 workers, one combination failing
    result = run_cli("batch", str(grid_notebook), "-p", "noisy", "False", "--grid", "depth=0,2,3",
                     "--grid", "noisy=False,True", "--repeat", "2", "--workers", "2", "--output-dir", str(out),
                     "--html", str(tmp_path / "report.html"), db=tracker_db)
    # (-p and --grid naming one parameter is refused, so give noisy only as a grid)
    assert result.code == 2 and "both as a parameter and as a grid" in result.stderr
    result = run_cli("batch", str(grid_notebook), "--grid", "depth=0,2,3", "--grid", "noisy=False,True",
                     "--repeat", "2", "--workers", "2", "--output-dir", str(out),
                     "--html", str(tmp_path / "report.html"), db=tracker_db)
    # Then the failures are reported, the others ran, and the exit code says so (2: an execution failed)
    assert result.code == 2, result.stderr
    assert "12 executions, 4 failed" in result.stdout
    assert "100%" in result.stderr  # the progress bar
    assert len(list(out.glob("*.ipynb"))) == 12, result.stderr
    batch_id = result.stdout.split()[1].rstrip(":")
    report = jt.report(batch_id, db=tracker_db)
    assert len(report.failed) == 4 and all("depth must be positive" in e.error for e in report.failed)
    # Every run is tagged with the batch and records the papermill parameters as params
    runs = jt.runs(db=tracker_db)
    tagged = runs[runs["tags.batch"] == batch_id]
    assert set(tagged["params.depth"]) == {0, 2, 3} and set(tagged["params.noisy"]) == {False, True}
    # Deterministic combinations agree; noisy ones diverge first at the second tracked cell
    agreement = report.divergence_frame().set_index(["params.depth", "params.noisy"])
    assert bool(agreement.loc[(2, False), "agree"]) and bool(agreement.loc[(3, False), "agree"])
    assert not agreement.loc[(2, True), "agree"]
    assert agreement.loc[(2, True), "cell"] == "evaluate" and agreement.loc[(2, True), "position"] == 2
    assert "metric  score" in agreement.loc[(2, True), "what"]
    # Per combination: mean and spread over repeats
    metrics = report.metrics_frame().set_index(["params.depth", "params.noisy", "metric"])
    assert metrics.loc[(3, False, "score"), "n"] == 2 and metrics.loc[(3, False, "score"), "spread"] == 0
    assert metrics.loc[(3, True, "score"), "spread"] > 0
    # The text report is the same from the store, and the HTML page embeds its charts
    again = run_cli("report", batch_id, "--html", str(tmp_path / "again.html"), db=tracker_db)
    assert again.code == 0 and again.stdout.splitlines()[0] == result.stdout.splitlines()[0]
    page = (tmp_path / "report.html").read_text()
    assert page.count("<img") >= 3 and "data:image/png;base64," in page and "first diverges" in page


def test_batch_without_grid_runs_the_fixed_parameters(grid_notebook, tracker_db, tmp_path):
    report = jt.batch(grid_notebook, parameters={"depth": 4}, repeat=1, workers=1, db=tracker_db,
                      output_dir=tmp_path / "one", progress=False)
    assert len(report.executions) == 1 and not report.failed
    assert report.executions_frame()["params.depth"].tolist() == [4]
    assert "1 combination x 1 repeat = 1 executions, 0 failed" in str(report)


def test_batch_on_a_dask_cluster_lands_in_the_one_store(grid_notebook, tracker_db, tmp_path):
    import distributed
    # Given a local Dask cluster of two worker processes
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        # When the batch runs on it
        result = run_cli("batch", str(grid_notebook), "--grid", "depth=2,3", "--repeat", "2",
                         "--scheduler", cluster.scheduler_address, "--output-dir", str(tmp_path / "dask"),
                         db=tracker_db)
    # Then every execution's runs were written by the client into the one store
    assert result.code == 0, result.stderr
    assert "4 executions, 0 failed; repeats agree" in result.stdout
    assert len(list((tmp_path / "dask").glob("*.ipynb"))) == 4
    store = Store(tracker_db)
    try:
        batch_id = result.stdout.split()[1].rstrip(":")
        assert len(store.tagged_runs("batch", batch_id)) == 8  # 4 executions x 2 tracked cells
        assert all(c.ok for c in store.doctor())
    finally:
        store.close()


def test_the_replay_comments_out_cells_that_start_reruns_of_their_own():
    from jupyter_tracker.models.replay import build_replay

    history = ["import jupyter_tracker as jt", "%%track first\nacc = 0.5",
               "verdict = jt.rerun('abcd')", "for batch in range(3):\n    pass", "jt.promote('ab12')",
               "%%track second\nacc = 0.7"]
    run = jt.Run(run_id="ab" * 16, experiment="default", name="second", status="finished", start=0.0, end=1.0,
                 duration=1.0, source="cell", history=history)
    cells = [c.source for c in build_replay(run).cells]
    assert cells[2].startswith("# jupyter_tracker: not replayed") and "# verdict = jt.rerun('abcd')" in cells[2]
    assert cells[4].startswith("# jupyter_tracker: not replayed") and "# jt.promote('ab12')" in cells[4]
    assert cells[:2] == history[:2] and cells[3] == history[3] and cells[5] == history[5]


def test_a_plain_script_can_run_a_parallel_batch(grid_notebook, tracker_db, tmp_path):
    # Given a script with no `if __name__ == "__main__"` guard (parallel executions must not re-import it)
    script = tmp_path / "sweep.py"
    script.write_text("import jupyter_tracker as jt\n"
                      f"report = jt.batch({str(grid_notebook)!r}, grid={{'depth': [2, 3]}}, workers=2,\n"
                      f"                  output_dir={str(tmp_path / 'sweep')!r}, progress=False)\n"
                      "print(len(report.executions), len(report.failed))\n")
    # When it runs
    import subprocess
    import sys

    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=180,
                          env={**os.environ, "JUPYTER_TRACKER_DB": str(tracker_db)})
    # Then both executions ran once each
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["2", "0"]


# ------------------------------------------------ real notebooks (issue 10)
SEARCH_CELLS = [
    "import numpy as np\nimport pandas as pd\nfrom sklearn.datasets import load_iris\n"
    "from sklearn.model_selection import GridSearchCV, KFold, cross_validate\n"
    "from sklearn.tree import DecisionTreeClassifier\nnp.random.seed(0)",
    "%load_ext jupyter_tracker",
    "X, y = load_iris(return_X_y=True)\npd.DataFrame(X).to_csv('iris.csv', index=False)\n"
    "frame = pd.read_csv('iris.csv')",
    "def simplest_good_enough(cv_results):\n    return int(np.argmax(cv_results['mean_test_score']))",
    "%%track search\nsplitter = KFold(n_splits=3, shuffle=True, random_state=0)\n"
    "search = GridSearchCV(DecisionTreeClassifier(random_state=0), {'max_depth': [2, 3]},\n"
    "                      refit=simplest_good_enough, cv=splitter, scoring=lambda est, X, y: est.score(X, y))\n"
    "search.fit(frame.values, y)\nresults = pd.DataFrame(cross_validate(search.best_estimator_, frame.values, y, cv=3))\n"
    "table = pd.DataFrame(search.cv_results_)[['mean_fit_time', 'mean_score_time', 'mean_test_score']]\n"
    "noise = np.random.rand(3)\nscore = float(results['test_score'].mean())",
]


def test_a_deterministic_search_notebook_reproduces_and_its_repeats_agree(tmp_path, tracker_db):
    # Given: a notebook written the usual way: seeds in the setup cell, the CSV read in an untracked
    # cell, a callable refit and scorer, cross-validation results (with their timings) as DataFrames
    work = tmp_path / "nb"
    work.mkdir()
    notebook = write_notebook(work / "search.ipynb", SEARCH_CELLS)
    # When it runs twice in a batch
    result = run_cli("batch", str(notebook), "--repeat", "2", "--workers", "2",
                     "--output-dir", str(tmp_path / "out"), db=tracker_db)
    # Then the repeats agree: no memory address in a param, timings are not differences, the seed counts
    assert result.code == 0, result.stdout + result.stderr
    assert "repeats agree" in result.stdout
    run = latest(tracker_db, "search")
    assert run.params["search.refit"] == "__main__.simplest_good_enough"
    assert run.params["search.cv"] == "KFold(n_splits=3, random_state=0, shuffle=True)"
    assert run.params["search.scoring"] == "__main__.<lambda>"
    assert " at 0x" not in json.dumps(run.params)
    assert not [w for w in run.warnings if "never seeded" in w]
    assert {s.generator: s.value for s in run.seeds if s.generator}["numpy"] == 0
    csv = next(r for r in run.inputs if r.name == "iris.csv")
    assert csv.source == "pandas.read_csv" and csv.location.startswith("In [")
    # And a rerun of it says REPRODUCED, naming the timing columns without counting them
    verdict = jt.rerun(run.run_id, db=tracker_db, progress=False)
    assert verdict.status == "REPRODUCED", str(verdict)
    timing = [d for a in verdict.attempts for d in a.differences if not d.counts]
    assert {d.name for d in timing} == {"results", "table"}
    assert "fit_time (timing)" in " ".join(d.detail for d in timing)
    # Unless timings count
    strict = run_cli("rerun", run.run_id[:8], "--strict", db=tracker_db)
    assert strict.code == 1 and "DIFFERS" in strict.stdout and "mean_fit_time (timing)" in strict.stdout


def test_a_changed_csv_read_in_an_untracked_cell_makes_a_rerun_differ(tmp_path, tracker_db):
    # Given: a run whose data came from a CSV loaded in an untracked cell
    work = tmp_path / "nb"
    work.mkdir()
    (work / "data.csv").write_text("x\n1\n2\n3\n")
    cells = ["%load_ext jupyter_tracker", "import pandas as pd\nframe = pd.read_csv('data.csv')",
             "%%track total\nscore = float(frame.x.sum())"]
    session = KernelSession(work, {**os.environ, "JUPYTER_TRACKER_DB": str(tracker_db)})
    try:
        for cell in cells:
            session.run(cell)
    finally:
        session.shutdown()
    original = latest(tracker_db, "total")
    # When the file changes and the run is rerun
    (work / "data.csv").write_text("x\n1\n2\n4\n")
    result = run_cli("rerun", original.run_id[:8], db=tracker_db)
    # Then the verdict names the file
    assert result.code == 1, result.stdout + result.stderr
    assert "input   data.csv" in result.stdout and "metric  score" in result.stdout


def test_an_untracked_cell_raising_after_the_tracked_cells_fails_the_batch(tmp_path, tracker_db):
    # Given: a notebook whose tracked cell succeeds and whose last, untracked cell raises
    notebook = write_notebook(tmp_path / "late.ipynb", [
        "%load_ext jupyter_tracker", "%%track fit\nscore = 1.0", "raise RuntimeError('plot failed')"])
    # When it runs in a batch
    result = run_cli("batch", str(notebook), "--repeat", "2", "--output-dir", str(tmp_path / "out"), db=tracker_db)
    # Then the executions are failed, with the cell and the error, and the exit code is 2
    assert result.code == 2, result.stdout + result.stderr
    assert "2 failed" in result.stdout
    assert "cell 3" in result.stdout and "RuntimeError: plot failed" in result.stdout


def test_a_cell_that_raised_in_the_original_kernel_does_not_stop_the_rerun(tmp_path, tracker_db):
    # Given: a kernel where the user ran a cell with a typo, then the fixed cell, then the tracked one
    work = tmp_path / "nb"
    work.mkdir()
    session = KernelSession(work, {**os.environ, "JUPYTER_TRACKER_DB": str(tracker_db)})
    try:
        session.run("%load_ext jupyter_tracker")
        session.run("x = undefined_name + 1", allow_error=True)
        session.run("x = 41 + 1")
        session.run("%%track answer\nscore = float(x)")
    finally:
        session.shutdown()
    original = latest(tracker_db, "answer")
    assert original.hidden_state["raised"] == [1]
    # When it is rerun
    verdict = jt.rerun(original.run_id, db=tracker_db, progress=False)
    # Then the replay lets that cell raise again and the result reproduces
    assert verdict.status == "REPRODUCED", str(verdict)
    # But a cell that raises in the replay only is a failure (exit 2)
    notebook = write_notebook(tmp_path / "late.ipynb", ["%load_ext jupyter_tracker", "%%track fit\nscore = 1.0",
                                                        "raise RuntimeError('late')"])
    from jupyter_tracker.repro.engine import Execution, execute

    result = execute(Execution(str(notebook), str(tmp_path / "out.ipynb"), str(tmp_path), str(tracker_db), "s1"))
    assert result.error is not None and result.error.cell_index == 2 and result.error.ename == "RuntimeError"
