"""Measure the corpus's ground truth: each notebook executed twice WITHOUT the tracker.

For every notebook of tests/corpus/ (or those named on the command line), a copy is made in which
``%load_ext jupyter_tracker``, the ``%%track ...`` first lines and ``import jupyter_tracker`` are
removed and the ``jupyter_tracker.*`` calls go to a small recorder defined in an injected first cell
(``log_metric``/``log_metrics`` keep their values, anything else does nothing). After each formerly
tracked cell an injected cell notes what the tracker should record for that run:

- ``metrics``: the names the cell binds at top level that are common metric names (DESIGN "metrics")
  or listed with ``--metrics``, and the logged ones (final values); ``series``: the logged steps;
- ``outputs``: a hash of each DataFrame, Series or array the cell binds (timing columns such as
  ``mean_fit_time`` dropped, memory addresses removed);
- ``global_numpy``: whether the cell drew from numpy's global generator, and whether and with what
  ``numpy.random.seed`` had seeded it by the end of the cell (in any cell).

The copy is executed twice with papermill, each time in a fresh kernel, in the notebook's own folder
(so ``data/*.csv`` resolve) and with one BLAS thread (as tests/test_corpus.py runs it).
ground_truth.json records per notebook: ``deterministic`` (both executions recorded the same), where
they first differ, the seconds of each execution (kernel start included) and both executions' records.

    .venv/bin/python tests/corpus/measure_ground_truth.py            # every notebook
    .venv/bin/python tests/corpus/measure_ground_truth.py lda.ipynb  # only these (others are kept)
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import platform
import re
import shlex
import sys
import tempfile
import time
from pathlib import Path

import nbformat

CORPUS = Path(__file__).resolve().parent
GROUND_TRUTH = CORPUS / "ground_truth.json"
MARKER = "GROUND-TRUTH-RECORDS:"

# The common metric names of DESIGN.md "metrics" (a top-level numeric assignment to one is a metric).
METRIC_NAMES = frozenset({
    "acc", "accuracy", "balanced_accuracy", "auc", "roc_auc", "pr_auc", "f1", "f1_score", "precision", "recall",
    "loss", "val_loss", "train_loss", "test_loss", "mse", "rmse", "mae", "mape", "r2", "score", "val_score",
    "test_score", "train_score", "logloss", "log_loss", "error", "err", "val_acc", "test_acc", "train_acc",
    "val_accuracy", "test_accuracy", "train_accuracy", "top1", "top5",
})

TRACK_LINE = re.compile(r"^%%track\b(.*)$")
IMPORT_LINE = re.compile(r"^\s*import jupyter_tracker(\s+as\s+\w+)?\s*$")
LOAD_EXT_LINE = re.compile(r"^\s*%load_ext\s+jupyter_tracker\s*$")

# Runs in the kernel: no jupyter_tracker import, only the stdlib, numpy and pandas (when the notebook has them).
RECORDER = r'''
import hashlib as _hashlib, json as _json, math as _math, numbers as _numbers, re as _re, sys as _sys

import numpy as _numpy  # imported early only to watch its global generator (the notebooks import it anyway)


class _GroundTruth:
    """What the tracker would record for each formerly tracked cell, measured without it."""

    TIMING = _re.compile(r"(^|_)(fit|score)_time$")
    ADDRESS = _re.compile(r" at 0x[0-9a-fA-F]+")

    def __init__(self):
        self.records = []
        self.current = None
        self.logged = {}
        self.numpy_seed = None  # the last value given to numpy.random.seed, in any cell so far
        self.numpy_seeded = False
        self.state = None

    def watch_numpy_seed(self):
        seed = _numpy.random.seed

        def watched(value=None):
            self.numpy_seed, self.numpy_seeded = value, value is not None
            return seed(value)

        _numpy.random.seed = watched

    @staticmethod
    def same_state(a, b):
        return a[0] == b[0] and (a[1] == b[1]).all() and a[2:] == b[2:]

    def begin(self, cell):
        self.current = {"cell": cell, "metrics": {}, "series": {}, "outputs": {}}
        self.logged = {}
        self.state = _numpy.random.get_state()

    @staticmethod
    def number(value):
        if isinstance(value, bool):
            return None
        if not isinstance(value, _numbers.Real):
            item = getattr(value, "item", None)
            if item is None or getattr(value, "ndim", 1) != 0:
                return None
            return _GroundTruth.number(item())
        return float(value)

    def log_metric(self, name, value, step=None):
        value = self.number(value)
        self.logged[name] = value
        if step is not None:
            self.current["series"].setdefault(name, []).append([step, value])

    def log_metrics(self, values, step=None):
        for name, value in values.items():
            self.log_metric(name, value, step=step)

    def __getattr__(self, name):  # log_param, set_tag, ...: nothing to measure
        return lambda *args, **kwargs: None

    def digest(self, value):
        pandas = _sys.modules.get("pandas")
        numpy = _sys.modules.get("numpy")
        if pandas is not None and isinstance(value, pandas.DataFrame):
            kept = value[[c for c in value.columns if not self.TIMING.search(str(c))]]
            text = kept.to_csv()
        elif pandas is not None and isinstance(value, pandas.Series):
            text = value.to_csv()
        elif numpy is not None and isinstance(value, numpy.ndarray):
            if value.dtype != object:
                data = f"{value.dtype}{value.shape}".encode() + numpy.ascontiguousarray(value).tobytes()
                return _hashlib.sha256(data).hexdigest()[:16]
            text = repr(value.tolist())
        else:
            return None
        return _hashlib.sha256(self.ADDRESS.sub("", text).encode()).hexdigest()[:16]

    def end(self, cell, metric_names, bound, namespace):
        record = self.current
        for name in metric_names:
            if name not in self.logged and name in namespace:
                value = self.number(namespace[name])
                if value is not None:
                    record["metrics"][name] = value
        record["metrics"].update(self.logged)
        record["global_numpy"] = {"drew": not self.same_state(self.state, _numpy.random.get_state()),
                                  "seeded": self.numpy_seeded, "seed": self.numpy_seed}
        for name in bound:
            digest = self.digest(namespace.get(name))
            if digest is not None:
                record["outputs"][name] = digest
        self.records.append(record)
        self.current = None


_ground_truth = _GroundTruth()
_ground_truth.watch_numpy_seed()
'''

DUMP = f'''assert "jupyter_tracker" not in _sys.modules, "the ground truth must be measured without the tracker"
print({MARKER!r} + _json.dumps(_ground_truth.records))'''


def top_level_binds(source: str) -> list[str]:
    """Names a cell binds at top level (assignments, augmented and annotated ones, for and with targets)."""
    names: list[str] = []
    for statement in ast.parse(source).body:
        targets: list[ast.expr] = []
        if isinstance(statement, ast.Assign):
            targets = statement.targets
        elif isinstance(statement, (ast.AugAssign, ast.AnnAssign)):
            targets = [statement.target]
        elif isinstance(statement, ast.For):
            targets = [statement.target]
        elif isinstance(statement, ast.With):
            targets = [item.optional_vars for item in statement.items if item.optional_vars is not None]
        for target in targets:
            for node in ast.walk(target):
                if isinstance(node, ast.Name) and node.id not in names:
                    names.append(node.id)
    return names


def track_options(line: str) -> tuple[str, list[str]]:
    """The run name and the --metrics names of a ``%%track`` line."""
    words = shlex.split(TRACK_LINE.match(line).group(1))
    name, metrics = None, []
    while words:
        word = words.pop(0)
        if word in ("--metrics", "-m"):
            metrics += [m.strip() for m in words.pop(0).split(",") if m.strip()]
        elif word.startswith("-"):
            words.pop(0)  # every other option of %%track takes one value
        elif name is None:
            name = word
    if name is None:
        raise SystemExit(f"a %%track line without a run name: {line!r}")
    return name, metrics


def without_tracker(notebook: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, list[str]]:
    """A copy of ``notebook`` that never loads the tracker and records what it would have; its tracked cells."""
    stripped = nbformat.v4.new_notebook(metadata=notebook.metadata)
    stripped.cells.append(nbformat.v4.new_code_cell(RECORDER))
    tracked: list[str] = []
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        lines = cell.source.splitlines()
        name = None
        if lines and TRACK_LINE.match(lines[0]):
            name, listed = track_options(lines[0])
            lines = lines[1:]
        lines = [line for line in lines if not LOAD_EXT_LINE.match(line) and not IMPORT_LINE.match(line)]
        source = re.sub(r"\bjupyter_tracker\.", "_ground_truth.", "\n".join(lines))
        if "jupyter_tracker" in source or re.search(r"^\s*%track\b", source, re.M):
            raise SystemExit(f"cannot strip the tracker from this cell:\n{cell.source}")
        if name is None:
            stripped.cells.append(nbformat.v4.new_code_cell(source))
            continue
        tracked.append(name)
        # Cell magics other than %%track are not used by the corpus; a line magic would not parse.
        bound = top_level_binds(re.sub(r"^\s*[%!].*$", "", source, flags=re.M))
        metric_names = [n for n in bound if n.lower() in METRIC_NAMES or n in listed]
        metric_names += [n for n in listed if n not in metric_names]
        stripped.cells.append(nbformat.v4.new_code_cell(f"_ground_truth.begin({name!r})"))
        stripped.cells.append(nbformat.v4.new_code_cell(source))
        stripped.cells.append(nbformat.v4.new_code_cell(
            f"_ground_truth.end({name!r}, {metric_names!r}, {bound!r}, globals())"))
    stripped.cells.append(nbformat.v4.new_code_cell(DUMP))
    return stripped, tracked


def execute(notebook: nbformat.NotebookNode, folder: Path) -> tuple[list[dict], float]:
    """One execution in a fresh kernel, in the corpus folder; the records and the seconds it took."""
    import papermill  # heavy, and only this function needs it

    source, output = folder / "input.ipynb", folder / "output.ipynb"
    nbformat.write(notebook, str(source))
    start = time.perf_counter()
    papermill.execute_notebook(str(source), str(output), cwd=str(CORPUS), kernel_name="python3",
                               progress_bar=False, log_output=False)
    seconds = time.perf_counter() - start
    last = nbformat.read(str(output), as_version=4).cells[-1]
    text = "".join(o.get("text", "") for o in last.outputs if o.get("output_type") == "stream")
    return json.loads(text.split(MARKER, 1)[1]), seconds


def first_divergence(first: list[dict], second: list[dict]) -> dict | None:
    for position, (a, b) in enumerate(zip(first, second)):
        if a != b:
            what = sorted({*(k for k in a["metrics"] if a["metrics"][k] != b["metrics"].get(k)),
                           *(k for k in a["series"] if a["series"][k] != b["series"].get(k)),
                           *(f"output {k}" for k in a["outputs"] if a["outputs"][k] != b["outputs"].get(k))})
            return {"position": position, "cell": a["cell"], "what": what}
    if len(first) != len(second):
        return {"position": min(len(first), len(second)), "cell": None, "what": ["number of tracked cells"]}
    return None


def source_example(notebook: nbformat.NotebookNode) -> str:
    for cell in notebook.cells[:3]:
        found = re.search(r"\(from `(examples/[^`]+)`", cell.source)
        if found:
            return found.group(1)
    raise SystemExit("the notebook does not say which example it comes from")


def measure(path: Path, repeat: int) -> dict:
    notebook = nbformat.read(str(path), as_version=4)
    stripped, tracked = without_tracker(notebook)
    executions, seconds = [], []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(repeat):
            records, took = execute(stripped, Path(folder))
            executions.append(records)
            seconds.append(round(took, 2))
    if [r["cell"] for r in executions[0]] != tracked:
        raise SystemExit(f"{path.name}: tracked cells {tracked} but recorded {[r['cell'] for r in executions[0]]}")
    divergence = None
    for other in executions[1:]:
        divergence = divergence or first_divergence(executions[0], other)
    return {"source": source_example(notebook), "deterministic": divergence is None,
            "first_divergence": divergence, "seconds": seconds, "executions": executions}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", help="notebook file names in tests/corpus (default: all)")
    parser.add_argument("--repeat", type=int, default=2, help="executions per notebook (default: 2)")
    args = parser.parse_args()
    # As tests/test_corpus.py runs them: one BLAS thread per kernel (two kernels share two cores there).
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = "1"
    names = args.notebooks or sorted(p.name for p in CORPUS.glob("*.ipynb"))
    truth = json.loads(GROUND_TRUTH.read_text()) if GROUND_TRUTH.exists() else {}
    import numpy
    import sklearn

    truth["measured_with"] = {"python": platform.python_version(), "scikit-learn": sklearn.__version__,
                              "numpy": numpy.__version__, "machine": platform.machine(),
                              "blas_threads": os.environ["OPENBLAS_NUM_THREADS"]}
    notebooks = truth.setdefault("notebooks", {})
    for name in names:
        result = measure(CORPUS / Path(name).name, args.repeat)
        notebooks[Path(name).name] = result
        verdict = "deterministic" if result["deterministic"] else f"NOT deterministic: {result['first_divergence']}"
        print(f"{name}: {verdict}; {result['seconds']} s", flush=True)
    truth["notebooks"] = dict(sorted(notebooks.items()))
    GROUND_TRUTH.write_text(json.dumps(truth, indent=1, sort_keys=False) + "\n")


if __name__ == "__main__":
    sys.exit(main())
