"""Batches on a Dask cluster (a real LocalCluster of worker processes): what the workers record comes
back whole into the one store, artifact files included, and nothing is left running (issue 10)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

import jupyter_tracker as jt
from jupyter_tracker.store import Store

from conftest import run_cli

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]  # slow: a Dask cluster and papermill

CELLS = [
    "%load_ext jupyter_tracker\nimport os, signal\nimport jupyter_tracker as jt",
    "%%track fit\nweights = [depth] * 1000\njt.log_model({'depth': depth, 'weights': weights})\n"
    "acc = depth / 10\nif depth == 9:\n    os.kill(os.getpid(), signal.SIGKILL)  # the kernel dies mid-cell",
]


@pytest.fixture
def model_notebook(tmp_path: Path) -> Path:
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell("depth = 1")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters, *(nbformat.v4.new_code_cell(source) for source in CELLS)]
    path = tmp_path / "fit.ipynb"
    nbformat.write(notebook, str(path))
    return path


def test_a_dask_batch_brings_back_artifact_files_and_leaves_no_run_running(model_notebook, tracker_db, tmp_path):
    import distributed

    # Given a local Dask cluster of two worker processes, each recording into its own private store
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        # When a batch logging a model runs on it, one of its kernels killed mid-cell
        result = run_cli("batch", str(model_notebook), "--grid", "depth=2,3,9", "--scheduler",
                         cluster.scheduler_address, "--output-dir", str(tmp_path / "executed"), db=tracker_db)
    assert result.code == 2, result.stdout + result.stderr  # an execution failed: its kernel died
    batch_id = result.stdout.split()[1].rstrip(":")
    store = Store(tracker_db)
    try:
        runs = {json.loads(run.tags["batch_params"])["depth"]: run
                for run in map(store.get_run, store.tagged_runs("batch", batch_id)) if run.source == "cell"}
        # Then the finished runs' models are in the one store's artifacts folder, and load
        for depth in (2, 3):
            (model,) = runs[depth].artifacts
            assert model.path.parent.parent == tracker_db.parent / "artifacts"
            assert jt.load_model(run=runs[depth].run_id, db=tracker_db) == {"depth": depth, "weights": [depth] * 1000}
        # And the run whose kernel died is interrupted, not left running forever
        assert runs[9].status == "interrupted" and runs[9].end is not None
        assert "ended before the run finished" in runs[9].error
        # And doctor finds every artifact file whole and nothing half-written
        checks = {check.name: check for check in store.doctor()}
        assert all(check.ok for check in checks.values()), checks
        assert checks["artifacts"].detail.startswith("2 files of 2 artifacts present")
    finally:
        store.close()
