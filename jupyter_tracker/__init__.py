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
    log_metric,
    log_metrics,
    log_param,
    log_params,
    metric_series,
    runs,
    set_tag,
    start_run,
)
from .errors import AmbiguousRunId, NoActiveRun, RunNotFound, StoreError, TrackerError, UsageProblem
from .records import Run

__version__ = "0.1.0"

__all__ = [
    "AmbiguousRunId", "NoActiveRun", "Run", "RunNotFound", "StoreError", "TrackerError", "UsageProblem",
    "compare", "doctor", "experiments", "export", "get_run", "log_metric", "log_metrics", "log_param",
    "log_params", "metric_series", "runs", "set_tag", "start_run",
]


def load_ipython_extension(ipython):  # noqa: ANN001, ANN201
    """``%load_ext jupyter_tracker``: register ``%track`` / ``%%track``."""
    from .magics import TrackerMagics

    ipython.register_magics(TrackerMagics(ipython))
