"""Loading the extension imports nothing heavy that the user did not import."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ["matplotlib", "sklearn", "papermill", "ipywidgets", "jupyter_server", "pandas", "numpy", "tqdm",
         "mlflow"]


def test_load_ext_imports_nothing_heavy():
    code = (
        "import json, sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "before = set(sys.modules)\n"
        "shell.run_line_magic('load_ext', 'jupyter_tracker')\n"
        "print(json.dumps(sorted(set(sys.modules) - before)))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert "jupyter_tracker.magics" in loaded
    heavy = [m for m in loaded if m.split(".")[0] in HEAVY]
    assert heavy == []


def test_a_trivial_tracked_cell_imports_nothing_heavy(tmp_path):
    code = (
        "import json, sys\n"
        "from IPython.core.interactiveshell import InteractiveShell\n"
        "shell = InteractiveShell.instance()\n"
        "shell.run_line_magic('load_ext', 'jupyter_tracker')\n"
        "result = shell.run_cell('%%track trivial\\nx = 1\\nacc = 0.5', store_history=True)\n"
        "assert result.success, result\n"
        f"print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**__import__("os").environ, "JUPYTER_TRACKER_DB": str(tmp_path / "t.db")})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def test_import_and_the_push_attribute_do_not_load_mlflow():
    # push is an optional extra (issue 15): MLflow (~2 s) loads only when a push starts.
    code = (
        "import json, sys\n"
        "import jupyter_tracker\n"
        "assert callable(jupyter_tracker.push)\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
