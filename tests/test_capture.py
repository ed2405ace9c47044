"""What ``%%track`` records, each item checked in a real IPython kernel."""

from __future__ import annotations

import os
import subprocess

import pytest

from jupyter_tracker.store import Store

from helpers import latest_run

pytestmark = pytest.mark.slow  # a real kernel per test




# ---------------------------------------------------------------- params
def test_literal_assignments_become_params(kernel, tracker_db):
    # When
    kernel.run("%%track train\nn_estimators = 200\nname = 'rf'\nlayers = [64, 32]\nopts = {'a': None, 'b': True}\n"
               "lr = -1e-3\nderived = n_estimators * 2")
    # Then
    run = latest_run(tracker_db)
    assert run.params == {"n_estimators": 200, "name": "rf", "layers": [64, 32], "opts": {"a": None, "b": True},
                          "lr": -1e-3}


def test_papermill_parameters_become_params(tmp_path, tracker_db):
    import nbformat
    import papermill

    # Given a notebook with a parameters cell and a tracked cell
    nb = nbformat.v4.new_notebook()
    parameters = nbformat.v4.new_code_cell("alpha = 0.1\nepochs = 3")
    parameters.metadata["tags"] = ["parameters"]
    nb.cells = [parameters, nbformat.v4.new_code_cell("%load_ext jupyter_tracker"),
                nbformat.v4.new_code_cell("%%track fit\nresult = alpha * epochs")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    source = tmp_path / "params.ipynb"
    nbformat.write(nb, source)
    # When papermill executes it with overrides
    papermill.execute_notebook(str(source), str(tmp_path / "out.ipynb"), parameters={"alpha": 0.5, "epochs": 7},
                               kernel_name="python3", progress_bar=False, cwd=str(tmp_path))
    # Then the injected values are the run's params
    run = latest_run(tracker_db)
    assert run.params["alpha"] == 0.5
    assert run.params["epochs"] == 7


def test_non_default_sklearn_params_are_prefixed_by_variable(kernel, tracker_db):
    kernel.run("from sklearn.ensemble import RandomForestClassifier\n"
               "from sklearn.pipeline import make_pipeline\nfrom sklearn.preprocessing import StandardScaler")
    kernel.run("%%track fit\nclf = RandomForestClassifier(n_estimators=17, max_depth=3)\n"
               "pipe = make_pipeline(StandardScaler(with_mean=False), RandomForestClassifier(min_samples_leaf=4))")
    params = latest_run(tracker_db).params
    assert params["clf.n_estimators"] == 17
    assert params["clf.max_depth"] == 3
    assert "clf.criterion" not in params  # a default is not a param
    assert params["pipe.standardscaler.with_mean"] is False
    assert params["pipe.randomforestclassifier.min_samples_leaf"] == 4


def test_params_option_records_named_values(kernel, tracker_db):
    kernel.run("base = 10")
    kernel.run("%%track fit --params lr,batch\nlr = base / 100\nbatch = int(base * 3)")
    params = latest_run(tracker_db).params
    assert params["lr"] == 0.1
    assert params["batch"] == 30


# ----------------------------------------------------------------- seeds
def test_every_seed_hook_is_captured(kernel, tracker_db):
    kernel.run("import random\nimport numpy as np\nfrom sklearn.linear_model import SGDClassifier")
    kernel.run("%%track seeded\nrandom.seed(1)\nnp.random.seed(2)\nrng = np.random.default_rng(3)\n"
               "legacy = np.random.RandomState(4)\nmodel = SGDClassifier(random_state=5)\n"
               "draw = rng.random() + legacy.rand() + np.random.rand() + random.random()")
    run = latest_run(tracker_db)
    seeds = {(s.source, s.value) for s in run.seeds}
    assert {("random.seed", 1), ("numpy.random.seed", 2), ("numpy.random.default_rng", 3),
            ("numpy.random.RandomState", 4), ("model.random_state", 5)} <= seeds
    assert not [w for w in run.warnings if "never seeded" in w]


def test_random_state_stand_in_keeps_isinstance_working(kernel):
    kernel.run("import numpy as np\nfrom sklearn.utils import check_random_state\nkept = np.random.RandomState(0)")
    out = kernel.run("%%track check\nprint(isinstance(kept, np.random.RandomState), "
                     "type(check_random_state(kept)).__name__, type(np.random.RandomState(1)).__name__)")
    assert "True RandomState RandomState" in out.stdout
    assert kernel.run("print(type(np.random.RandomState).__name__)").stdout.strip() == "type"


def test_torch_manual_seed_is_captured_when_torch_is_imported(kernel, tracker_db, tmp_path):
    kernel.run("import torch")
    kernel.run("%%track torchy\ntorch.manual_seed(11)\nx = torch.rand(2)")
    run = latest_run(tracker_db)
    assert ("torch.manual_seed", 11) in {(s.source, s.value) for s in run.seeds}


def test_drawing_from_an_unseeded_global_generator_warns(kernel, tracker_db):
    kernel.run("import numpy as np")
    out = kernel.run("%%track noisy\nx = np.random.rand()")
    run = latest_run(tracker_db)
    assert any("numpy random generator, which was never seeded" in w for w in run.warnings)
    assert "never seeded" in out.text()
    # Once seeded in this kernel (even by %track seed), drawing is fine.
    kernel.run("%track seed 42")
    kernel.run("%%track quiet\ny = np.random.rand()")
    run = latest_run(tracker_db)
    assert not [w for w in run.warnings if "never seeded" in w]
    assert ("%track seed", 42) in {(s.source, s.value) for s in run.seeds}


def _seeds_by_generator(run) -> dict[str, tuple]:
    return {s.generator: (s.source, s.value, s.location) for s in run.seeds if s.generator}


# Each global generator: how a notebook imports it, seeds it (with N) and draws from it.
GENERATORS = [
    ("python", "import random", "random.seed({})", "x = random.random()"),
    ("numpy", "import numpy as np", "np.random.seed({})", "x = np.random.rand()"),
    ("torch", "import torch", "torch.manual_seed({})", "x = torch.rand(2)"),
]


@pytest.mark.parametrize("generator, load, seed, draw", GENERATORS)
def test_a_seed_set_in_an_untracked_cell_counts(kernel, tracker_db, generator, load, seed, draw):
    # Given: the seed is set in a setup cell, the way notebooks are written
    kernel.run(f"{load}\n{seed.format(1)}")
    kernel.run("y = 2")  # an unrelated cell in between
    # When: a tracked cell draws from that generator
    out = kernel.run(f"%%track drawing\n{draw}")
    # Then: no warning, and the run records the seed in effect and the cell that set it
    run = latest_run(tracker_db)
    assert not [w for w in run.warnings if "never seeded" in w], run.warnings
    assert "never seeded" not in out.stderr
    source, value, location = _seeds_by_generator(run)[generator]
    assert value == 1 and source.endswith(("random.seed", "manual_seed"))
    assert location.startswith("In [") and "seed(1)" in location


@pytest.mark.parametrize("generator, load, seed, draw", GENERATORS)
def test_a_seed_set_before_load_ext_counts(tracker_db, tmp_path, generator, load, seed, draw):
    # Given: a kernel that seeded before loading the extension
    from conftest import KernelSession

    work = tmp_path / "before"
    work.mkdir()
    session = KernelSession(work, {**os.environ, "JUPYTER_TRACKER_DB": str(tracker_db)})
    try:
        session.run(f"{load}\n{seed.format(5)}")
        session.run("%load_ext jupyter_tracker")
        # When
        session.run(f"%%track drawing\n{draw}")
    finally:
        session.shutdown()
    # Then
    run = latest_run(tracker_db)
    assert not [w for w in run.warnings if "never seeded" in w], run.warnings
    source, value, location = _seeds_by_generator(run)[generator]
    assert value == 5 and location.startswith("In [1]")


@pytest.mark.parametrize("generator, load, seed, draw", GENERATORS)
def test_a_never_seeded_generator_still_warns(kernel, tracker_db, generator, load, seed, draw):
    kernel.run(load)
    kernel.run("import random\nrandom.seed(3)" if generator != "python" else "import numpy as np\nnp.random.seed(3)")
    kernel.run(f"%%track drawing\n{draw}")
    run = latest_run(tracker_db)
    assert [w for w in run.warnings if f"global {generator} random generator, which was never seeded" in w]
    assert generator not in _seeds_by_generator(run)


def test_a_seed_in_the_cell_that_imports_numpy_counts(kernel, tracker_db):
    # numpy is not imported yet when the extension loads: the cell that imports it also seeds it.
    kernel.run("import numpy as np; from numpy.random import seed as numpy_seed\nnumpy_seed(9)")
    kernel.run("%%track drawing\nx = np.random.rand()")
    run = latest_run(tracker_db)
    assert not [w for w in run.warnings if "never seeded" in w], run.warnings
    assert _seeds_by_generator(run)["numpy"][:2] == ("numpy.random.seed", 9)


def test_a_seed_set_after_load_ext_is_live_and_the_latest_wins(kernel, tracker_db):
    kernel.run("import numpy as np\nnp.random.seed(1)")
    kernel.run("np.random.seed(2)")
    kernel.run("%%track drawing\nx = np.random.rand()")
    run = latest_run(tracker_db)
    assert _seeds_by_generator(run)["numpy"][:2] == ("numpy.random.seed", 2)
    # A cell that does not draw records the seed in effect too, and does not warn.
    kernel.run("%%track quiet\nz = 1")
    assert _seeds_by_generator(latest_run(tracker_db))["numpy"][:2] == ("numpy.random.seed", 2)


# ------------------------------------------------------------------ data
def test_inputs_are_hashed_at_cell_start_and_outputs_at_cell_end(kernel, tracker_db):
    kernel.run("import numpy as np, pandas as pd\n"
               "frame = pd.DataFrame({'a': np.arange(1000), 'b': np.linspace(0, 1, 1000)})\n"
               "vector = np.arange(10.0)")
    start_hash = kernel.run("from jupyter_tracker.capture.data import fingerprint\n"
                            "print(fingerprint(frame).hash)").stdout.strip()
    # When the cell reads frame, then changes it in place, and binds a new array
    kernel.run("%%track prep\ntotal = frame['a'].sum()\nframe.loc[0, 'a'] = -1\nscaled = vector * 2")
    run = latest_run(tracker_db)
    inputs = {r.name: r for r in run.inputs}
    outputs = {r.name: r for r in run.outputs}
    # Then the input fingerprint is of the data as the cell found it
    assert inputs["frame"].fingerprint.hash == start_hash
    assert inputs["frame"].fingerprint.kind == "dataframe"
    assert inputs["frame"].fingerprint.shape == (1000, 2)
    assert [c.name for c in inputs["frame"].fingerprint.columns][:2] == ["a", "b"]
    assert "vector" in inputs
    assert outputs["scaled"].fingerprint.kind == "ndarray"
    assert outputs["scaled"].fingerprint.shape == (10,)


def test_files_read_through_pandas_numpy_and_open_are_fingerprinted(kernel, tracker_db, tmp_path):
    work = tmp_path / "work"
    (work / "table.csv").write_text("x,y\n1,2\n3,4\n")
    (work / "notes.txt").write_text("hello")
    kernel.run("import numpy as np, pandas as pd\nnp.save('array.npy', np.arange(5))")
    kernel.run("%%track load\ntable = pd.read_csv('table.csv')\narray = np.load('array.npy')\n"
               "with open('notes.txt') as handle:\n    notes = handle.read()\n"
               "with open('written.txt', 'w') as handle:\n    handle.write('not an input')")
    run = latest_run(tracker_db)
    files = {r.name: r for r in run.inputs if r.source != "variable"}
    assert files["table.csv"].source == "pandas.read_csv"
    assert files["array.npy"].source == "numpy.load"
    assert files["notes.txt"].source == "open"
    assert "written.txt" not in files
    assert all(r.fingerprint.kind == "file" for r in files.values())
    # and the wrapped reader is the real one underneath
    assert kernel.run("import builtins, io\nprint(builtins.open.__wrapped__ is io.open)").stdout.strip() == "True"


@pytest.mark.parametrize("where", ["working folder", "parent folder", "elsewhere"])
def test_every_file_read_is_an_input_wherever_the_store_lies(tmp_path, where):
    # Given: data.csv beside the notebook, and the store in the same folder, above it, or elsewhere
    work = tmp_path / "project" / "notebooks"
    work.mkdir(parents=True)
    (work / "data.csv").write_text("x,y\n1,2\n")
    db = {"working folder": work / "tracker.db", "parent folder": work.parent / "tracker.db",
          "elsewhere": tmp_path / "elsewhere" / "tracker.db"}[where]
    from conftest import KernelSession

    session = KernelSession(work, {**os.environ, "JUPYTER_TRACKER_DB": str(db)})
    try:
        session.run("%load_ext jupyter_tracker")
        session.run("import pandas as pd")
        # When: a tracked cell reads the CSV, logs a figure (an artifact file) and reads the store itself
        session.run("%%track load\nframe = pd.read_csv('data.csv')\n"
                    f"blob = open({str(db)!r}, 'rb').read(16)")
    finally:
        session.shutdown()
    # Then: the CSV is an input; none of the store's own files are
    run = latest_run(db)
    files = {r.name: r for r in run.inputs if r.source != "variable"}
    assert set(files) == {"data.csv"}, files
    assert files["data.csv"].source == "pandas.read_csv" and files["data.csv"].location is None


def test_a_file_read_in_an_untracked_cell_is_an_input_of_later_runs(kernel, tracker_db, tmp_path):
    # Given: the CSV is loaded in an untracked setup cell, as tutorials do
    work = tmp_path / "work"
    (work / "train.csv").write_text("x,y\n1,2\n3,4\n")
    kernel.run("import pandas as pd\nframe = pd.read_csv('train.csv')")
    setup_cell = kernel.value("get_ipython().execution_count") - 1
    # When: the file changes afterwards, and a tracked cell fits on the frame
    (work / "train.csv").write_text("x,y\n1,2\n3,5\n")
    kernel.run("%%track fit\ntotal = frame.x.sum()")
    kernel.run("%%track again\ntotal = frame.y.sum()")
    # Then: both runs have the file as an input, marked with the cell that read it, fingerprinted as read
    from jupyter_tracker.capture.data import fingerprint_file

    for run in (latest_run(tracker_db),):
        ref = next(r for r in run.inputs if r.name == "train.csv")
        assert ref.source == "pandas.read_csv"
        assert ref.location == f"In [{setup_cell}]"
        (work / "as_read.csv").write_text("x,y\n1,2\n3,4\n")
        assert ref.fingerprint.hash == fingerprint_file(work / "as_read.csv").hash
    # And: tools' own files (caches, settings in dot-folders of the home) are not inputs
    assert all(not r.name.startswith(os.path.expanduser("~/.")) for r in latest_run(tracker_db).inputs)


def test_unhashable_objects_are_skipped_with_a_note(kernel, tracker_db):
    kernel.run("import numpy as np\nclass Weird(np.ndarray):\n"
               "    def __array_finalize__(self, obj):\n        pass\n"
               "    @property\n    def dtype(self):\n        raise RuntimeError('no dtype for you')\n"
               "weird = np.arange(3).view(Weird)")
    out = kernel.run("%%track odd\nresult = len(weird)\nresult")
    assert "3" in out.text()
    run = latest_run(tracker_db)
    ref = next(r for r in run.inputs if r.name == "weird")
    assert ref.fingerprint is None and "cannot fingerprint" in ref.note
    assert len(out.warning_lines()) == 1


# --------------------------------------------------------------- metrics
def test_metrics_from_log_calls_option_and_metric_named_assignments(kernel, tracker_db):
    kernel.run("import jupyter_tracker as jt")
    kernel.run("%%track fit --metrics custom\nfor step in range(5):\n    jt.log_metric('loss', 1 / (step + 1), step=step)\n"
               "jt.log_metrics({'lr': 0.1, 'momentum': 0.9}, step=4)\ncustom = 3.5\nacc = 0.93\nf1 = 0.88\n"
               "not_a_metric = 1.0")
    run = latest_run(tracker_db)
    assert run.metrics == {"acc": 0.93, "custom": 3.5, "f1": 0.88, "loss": 0.2, "lr": 0.1, "momentum": 0.9}
    assert run.metric_steps["loss"] == 5
    series = Store(tracker_db).metric_series(run.run_id, "loss")
    assert series["step"].tolist() == [0, 1, 2, 3, 4]
    assert "not_a_metric" not in run.metrics


# ------------------------------------------------------------------ code
def test_cell_source_and_the_kernels_real_execution_history_are_recorded(kernel, tracker_db):
    kernel.run("a = 1")
    kernel.run("a = a + 10")
    kernel.run("a = a + 10")  # run twice: the history shows it twice
    kernel.run("%%track use\nb = a * 2")
    run = latest_run(tracker_db)
    assert run.code == "b = a * 2\n" or run.code.rstrip() == "b = a * 2"
    assert [h for h in run.history if h.startswith("a =")] == ["a = 1", "a = a + 10", "a = a + 10"]
    assert run.history[-1].startswith("%%track use")
    assert run.history[0] == "%load_ext jupyter_tracker"


# ----------------------------------------------------------- environment
def test_environment_records_versions_host_and_git_state(kernel, tracker_db, tmp_path):
    work = tmp_path / "work"
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run(["git", "init", "-q", str(work)], check=True)
    (work / "tracked.py").write_text("x = 1\n")
    subprocess.run([*git, "-C", str(work), "add", "tracked.py"], check=True)
    subprocess.run([*git, "-C", str(work), "commit", "-qm", "first"], check=True)
    commit = subprocess.run(["git", "-C", str(work), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    kernel.run("import pandas")
    kernel.run("%%track clean\nx = 1")
    env = latest_run(tracker_db).environment
    assert env["git"]["commit"] == commit and env["git"]["dirty"] is False
    assert env["packages"]["pandas"] == kernel.value("pandas.__version__")
    assert env["python"] == kernel.value("__import__('platform').python_version()")
    assert env["host"] and env["os"] and env["cwd"] == str(work)
    # When a tracked file changes (after the cache window), the run is dirty
    (work / "tracked.py").write_text("x = 2\n")
    # (the git state is read again once its cache window has passed: move the probe's clock past it)
    kernel.run("from jupyter_tracker.capture.env import shared_probe\n"
               "probe = shared_probe(); later = probe.clock() + 60; probe.clock = lambda: later")
    kernel.run("%%track dirty\nx = 2")
    assert latest_run(tracker_db).environment["git"]["dirty"] is True


# --------------------------------------------------------------- outcome
def test_finished_run_has_timings(kernel, tracker_db):
    kernel.run("%%track wait\nimport time\ntime.sleep(0.2)")
    run = latest_run(tracker_db)
    assert run.status == "finished"
    assert 0.2 <= run.duration < 5
    assert run.end >= run.start + 0.2


def test_failed_cell_records_traceback_and_raises_the_users_exception_unchanged(kernel, tracker_db):
    out = kernel.run("%%track broken\nx = 1\nraise ValueError('bad input 42')", allow_error=True)
    assert out.error["ename"] == "ValueError" and out.error["evalue"] == "bad input 42"
    run = latest_run(tracker_db)
    assert run.status == "failed"
    assert "ValueError: bad input 42" in run.error
    # the exception object the user gets is the very one raised
    kernel.run("import sys")
    kernel.run("try:\n    get_ipython().run_cell_magic('track', 'again', 'err = KeyError(\"k\")\\nraise err')\n"
               "except KeyError as caught:\n    same = caught is err", allow_error=True)
    assert kernel.value("same") is True


def test_interrupted_cell_is_recorded_as_interrupted(kernel, tracker_db):
    import threading
    import time

    def interrupt_soon():
        time.sleep(1.5)
        kernel.manager.interrupt_kernel()

    threading.Thread(target=interrupt_soon).start()
    out = kernel.run("%%track long\nimport time\ntime.sleep(30)", allow_error=True)
    assert out.error["ename"] == "KeyboardInterrupt"
    run = latest_run(tracker_db)
    assert run.status == "interrupted"
    assert 1 <= run.duration < 20


# --------------------------------------------------------------- summary
def test_summary_shows_changed_inputs_and_metric_deltas(kernel, tracker_db):
    kernel.run("import numpy as np, pandas as pd\ndata = pd.DataFrame({'a': [1.0, 2.0], 'b': [3.0, 4.0]})")
    first = kernel.run("%%track train\nacc = data['a'].mean() / 2")
    assert "train" in first.html() and "acc=0.75" in first.text()
    kernel.run("data.loc[0, 'b'] = 9.0")
    second = kernel.run("%%track train\nacc = data['a'].mean() / 2 + data['b'].mean() / 100")
    run = latest_run(tracker_db)
    assert run.short_id in second.html()
    assert "data CHANGED (b)" in second.text()
    assert "acc=0.815 (+0.065)" in second.text()
    assert "<div" in second.html() and "text/plain" not in second.html()


# ---------------------------------------------------------------- history cost (issue 12)
def test_the_history_digest_kept_up_to_date_says_what_a_fresh_look_at_the_history_says():
    from jupyter_tracker.capture.code import HistoryDigest, hidden_state, papermill_parameters

    # Given a history that grows cell by cell: repeats, blank cells, papermill parameter cells
    sources = ["x = 1", "# Parameters\nalpha = 0.5", "  ", "y = x", "x = 1", "y = x  ", "# Parameters\nalpha = 2",
               "x = 1", "z = 3"]
    cells = ["x = 1", "y = x", "z = 3"]
    digest, history = HistoryDigest(), []
    for source in sources:
        history.append(source)
        # When the digest is updated with each new entry only
        digest.update(list(history))
        # Then it gives the same verdicts and params as a look at the whole history
        assert hidden_state(history, None, digest) == hidden_state(history, None)
        assert hidden_state(history, cells, digest) == hidden_state(history, cells)
        assert digest.papermill_params == papermill_parameters(history)
    assert hidden_state(history, None, digest)["reasons"] == ["a cell ran 3 times: 'x = 1'",
                                                              "a cell ran 2 times: 'y = x'"]
    assert digest.papermill_params == {"alpha": 2}
    # And a history that does not continue the one seen is looked at afresh
    other = ["q = 1", "q = 1"]
    assert hidden_state(other, None, digest.update(other)) == hidden_state(other, None)
