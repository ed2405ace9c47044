"""What rerun and batch cost around papermill (run on demand, not a test).

1. The extra time ``rerun`` adds beyond papermill's own execution of the same replay
   notebook: both are timed, interleaved, ``--repeat`` times; medians and their difference.
2. The speed-up of a 12-execution batch on 2 workers over 1 worker.

    python bench/rerun_costs.py [--repeat 5] [--executions 12]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import nbformat

CELLS = [
    "%load_ext jupyter_tracker\nimport numpy as np",
    "%%track step\nnp.random.seed(seed)\ndata = np.random.rand(100_000)\nscore = float(data.mean())",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--executions", type=int, default=12)
    args = parser.parse_args()

    import papermill

    import jupyter_tracker as jt

    work = Path(tempfile.mkdtemp(prefix="jt-bench-"))
    db = work / "tracker.db"
    notebook = nbformat.v4.new_notebook()
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    parameters = nbformat.v4.new_code_cell("seed = 0")
    parameters.metadata["tags"] = ["parameters"]
    notebook.cells = [parameters] + [nbformat.v4.new_code_cell(c) for c in CELLS]
    path = work / "bench.ipynb"
    nbformat.write(notebook, str(path))

    # A run to rerun, recorded by a papermill execution.
    jt.batch(path, workers=1, progress=False, db=db, output_dir=work / "first")
    run_id = jt.runs(db=db)["run_id"].iloc[-1]
    replay = work / "replay.ipynb"
    from jupyter_tracker.execution import build_replay

    nbformat.write(build_replay(jt.get_run(run_id, db=db)), str(replay))

    rerun_times, papermill_times = [], []
    for _ in range(args.repeat):
        start = time.perf_counter()
        verdict = jt.rerun(run_id, db=db, progress=False)
        rerun_times.append(time.perf_counter() - start)
        assert verdict.reproduced, str(verdict)
        start = time.perf_counter()
        papermill.execute_notebook(str(replay), str(work / "plain.ipynb"), kernel_name="python3",
                                   cwd=str(work), progress_bar=False)
        papermill_times.append(time.perf_counter() - start)

    batch_times = {}
    for workers in (1, 2):
        start = time.perf_counter()
        report = jt.batch(path, grid={"seed": list(range(args.executions))}, workers=workers, progress=False,
                          db=db, output_dir=work / f"batch-{workers}")
        batch_times[workers] = time.perf_counter() - start
        assert not report.failed

    result = {
        "rerun_median_s": statistics.median(rerun_times),
        "papermill_median_s": statistics.median(papermill_times),
        "rerun_extra_s": statistics.median(r - p for r, p in zip(rerun_times, papermill_times)),
        "batch_1_worker_s": batch_times[1],
        "batch_2_workers_s": batch_times[2],
        "batch_speedup": batch_times[1] / batch_times[2],
        "executions": args.executions,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
    }
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
