"""jupyter_tracker: one line, ``%%track``, records a notebook cell as a reproducible experiment run.

Loading the extension (``%load_ext jupyter_tracker``) imports only the standard library,
IPython and xxhash: pandas, matplotlib, scikit-learn and papermill load when first used.
"""

from .api import (
    compare,
    doctor,
    experiments,
    export,
    get_run,
    groups,
    log_metric,
    log_metrics,
    log_param,
    log_params,
    metric_series,
    on_run_finished,
    runs,
    set_tag,
    start_run,
)
from .api import (  # versioning and validation (issue 6)
    artifact,
    load_model,
    log_artifact,
    log_figure,
    log_model,
    promote,
    registry,
    rollback,
    validate,
)
from .repro import batch, report, rerun  # reproducing sits above the api (DESIGN "Layout")
from .errors import AmbiguousRunId, NoActiveRun, RunNotFound, StoreError, TrackerError, UsageProblem
from .errors import ArtifactNotFound, NothingToRollBack, StageNotFound, ValidationFailed
from .errors import PushError
from .records import Run

__version__ = "0.1.0"

__all__ = [
    "AmbiguousRunId", "NoActiveRun", "Run", "RunNotFound", "StoreError", "TrackerError", "UsageProblem",
    "compare", "doctor", "experiments", "export", "get_run", "log_metric", "log_metrics", "log_param",
    "log_params", "metric_series", "runs", "set_tag", "start_run",
]

__all__ += ["on_run_finished"]
__all__ += ["groups"]  # the runs table's groups (issue 14)
__all__ += [
    "ArtifactNotFound", "NothingToRollBack", "StageNotFound", "ValidationFailed",
    "artifact", "load_model", "log_artifact", "log_figure", "log_model", "promote", "registry", "rollback", "validate",
]
__all__ += ["batch", "report", "rerun"]
__all__ += ["PushError"]

# The panel and the charts need ipywidgets and matplotlib (together ~0.5 s to import), so they
# load on first use of jupyter_tracker.panel / plot_*, never at %load_ext (tests/test_import_cost.py).
_LAZY = {"panel": "views.panel", "plot_metric": "views", "plot_series": "views", "plot_spread": "views",
         "plot_parallel": "views", "plot_scatter": "views"}
# push copies runs to an MLflow server (issue 15): its module sits above the api and loads MLflow (~2 s),
# an optional extra, only when a push starts.
_LAZY["push"] = "sync"
__all__ += list(_LAZY)


def __getattr__(name: str):  # noqa: ANN202
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'jupyter_tracker' has no attribute '{name}'")
    from importlib import import_module

    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """jupyter_server finds the sidebar's REST API here (enabled by jupyter-config/ at pip install)."""
    return [{"module": "jupyter_tracker.server"}]


def _jupyter_labextension_paths() -> list[dict[str, str]]:
    """The prebuilt JupyterLab sidebar shipped inside the package (built from labextension/)."""
    return [{"src": "labextension", "dest": "jupyter-tracker"}]


def load_ipython_extension(ipython):  # noqa: ANN001, ANN201
    """``%load_ext jupyter_tracker``: register ``%track`` / ``%%track``."""
    from .magics import TrackerMagics

    ipython.register_magics(TrackerMagics(ipython))
