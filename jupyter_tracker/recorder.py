"""One run being recorded, by a ``%%track`` cell or a ``start_run`` block.

Everything logged is buffered here and written by ``finish`` in one transaction; only the
``running`` row is written at the start, so a killed process leaves a run the store can
recognise as interrupted.
"""

from __future__ import annotations

import numbers
import secrets
import time
import traceback
from typing import Any, Callable

from .errors import UsageProblem
from .records import DataRef, MetricPoint, Run, Seed
from .store import Store

DEFAULT_EXPERIMENT = "default"


def new_run_id() -> str:
    # Made by the client, never max+1: parallel writers cannot collide.
    return secrets.token_hex(16)


class Recorder:
    def __init__(
        self,
        store: Store,
        name: str,
        experiment: str | None = None,
        source: str = "cell",
        tags: dict[str, str] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.run_id = new_run_id()
        self.name = name
        self.experiment = experiment or DEFAULT_EXPERIMENT
        self.source = source
        self.clock = clock
        self.params: dict[str, Any] = {}
        self.tags: dict[str, str] = {k: str(v) for k, v in (tags or {}).items()}
        self.seeds: list[Seed] = []
        self.points: list[MetricPoint] = []
        self.inputs: list[DataRef] = []
        self.outputs: list[DataRef] = []
        self.warnings: list[str] = []
        self.start = clock()
        self._started = time.perf_counter()
        store.begin_run(self.run_id, self.experiment, name, source, self.start, self.tags)

    # --------------------------------------------------------------- logging
    def log_metrics(self, metrics: dict[str, Any], step: int | None = None) -> None:
        if step is not None and (isinstance(step, bool) or not isinstance(step, numbers.Integral)):
            raise UsageProblem(f"step must be an integer, got {step!r}")
        now = self.clock()
        for name, value in metrics.items():
            self.points.append(MetricPoint(str(name), metric_value(name, value), None if step is None else int(step), now))

    def log_params(self, params: dict[str, Any]) -> None:
        self.params.update({str(k): v for k, v in params.items()})

    def set_tag(self, key: str, value: Any) -> None:
        self.tags[str(key)] = str(value)

    def logged_metric_names(self) -> set[str]:
        return {p.name for p in self.points}

    # ------------------------------------------------------------- finishing
    def finish(
        self,
        status: str,
        error: BaseException | None = None,
        code: str = "",
        history: list[str] | None = None,
        environment: dict[str, Any] | None = None,
    ) -> Run:
        end = self.clock()
        run = Run(
            run_id=self.run_id, experiment=self.experiment, name=self.name, status=status,
            start=self.start, end=end, duration=time.perf_counter() - self._started, source=self.source,
            params=self.params, tags=self.tags, seeds=self.seeds,
            metrics={p.name: p.value for p in self.points},
            metric_steps={},
            inputs=self.inputs, outputs=self.outputs, code=code, history=list(history or [code]),
            environment=environment or {},
            error=format_error(error) if error is not None else None,
            warnings=self.warnings,
        )
        self.store.finish_run(run, self.points)
        return run


def metric_value(name: Any, value: Any) -> float:
    """A metric as a float; a clear error for anything that is not a real number."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        item = getattr(value, "item", None)  # numpy scalars and 0-d arrays
        if item is not None and getattr(value, "ndim", 1) == 0:
            return metric_value(name, item())
        raise UsageProblem(f"metric '{name}' must be a number, got {type(value).__name__} {value!r:.60}")
    return float(value)


def is_metric_number(value: Any) -> bool:
    try:
        metric_value("", value)
    except UsageProblem:
        return False
    return True


def format_error(error: BaseException) -> str:
    return "".join(traceback.format_exception(type(error), error, error.__traceback__))
