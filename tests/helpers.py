"""Shared test helpers: runs written through the real store with chosen start times and ids (no sleeping
for order), and the latest run of a store. Fixtures over real parts live in conftest.py."""

from __future__ import annotations

import itertools
import secrets
from pathlib import Path
from typing import Any

from jupyter_tracker.records import DataRef, Fingerprint, MetricPoint, Run, Seed
from jupyter_tracker.store import Store

EPOCH = 1_767_225_600.0  # 2026-01-01: runs get explicit, increasing start times (no sleeping for order)
_ticks = itertools.count()


def record_run(
    store: Store,
    name: str,
    experiment: str = "default",
    params: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
    series: dict[str, list[float]] | None = None,
    seeds: dict[str, Any] | None = None,
    inputs: dict[str, Fingerprint] | None = None,
    tags: dict[str, str] | None = None,
    code: str = "x = 1",
    status: str = "finished",
    start: float | None = None,
) -> str:
    """Write one finished run (begin + finish, two transactions, like a tracked cell); return its id."""
    run_id = secrets.token_hex(16)
    start = EPOCH + next(_ticks) if start is None else start
    store.begin_run(run_id, experiment, name, "script", start, tags)
    points = [MetricPoint(k, v, None, start + 0.5) for k, v in (metrics or {}).items()]
    for key, values in (series or {}).items():
        points += [MetricPoint(key, v, step, start + 0.1) for step, v in enumerate(values)]
    run = Run(
        run_id=run_id, experiment=experiment, name=name, status=status, start=start, end=start + 1.0,
        duration=1.0, source="script", params=dict(params or {}), tags=dict(tags or {}),
        seeds=[Seed(source, value) for source, value in (seeds or {}).items()],
        inputs=[DataRef("input", key, "variable", fp) for key, fp in (inputs or {}).items()],
        code=code, history=[code], environment={"python": "3.11", "host": "test", "packages": {"numpy": "2.0"}},
    )
    store.finish_run(run, points)
    return run_id


def latest_run(db: Path | str, name: str | None = None) -> Run:
    """The most recent run of the store at ``db`` (of that ``name``, when given)."""
    store = Store(db)
    try:
        frame = store.runs_frame(name=name)
        return store.get_run(frame["run_id"].iloc[-1])
    finally:
        store.close()


def record_many(store: Store, count: int, experiments: int = 4) -> None:
    """``count`` runs spread over ``experiments`` experiments, each with a few params and metrics."""
    for i in range(count):
        record_run(
            store, f"train{i % 7}", experiment=f"exp{i % experiments}",
            params={"n_estimators": 10 + i % 50, "max_depth": i % 9, "model": ["rf", "gbm", "lr"][i % 3],
                    "lr": round(0.001 * (1 + i % 13), 4)},
            metrics={"acc": (i * 7919 % 1000) / 1000, "f1": (i * 104729 % 1000) / 1000, "loss": 1 / (1 + i)},
            tags={"batch": f"b{i // 100}"},
        )
