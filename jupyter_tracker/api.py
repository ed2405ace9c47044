"""The Python API: the one façade that the magics, the CLI, the widgets and the server call.

For example::

    import jupyter_tracker as jt
    with jt.start_run("train", experiment="churn"):
        jt.log_params({"n_estimators": 200})
        jt.log_metric("acc", 0.91)
    jt.runs(experiment="churn")[["name", "params.n_estimators", "metrics.acc"]]
"""

from __future__ import annotations

import dataclasses
import os
import sys
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable, Iterator

from .capture.env import shared_probe
from .capture.recorder import FINISHED_LISTENERS, Recorder, active_recorder, recording
from .capture.seeds import GENERATORS, seed_hooks
from .config import resolve_settings
from .render import csv_text, frame_json
from .errors import (MAX_OFFSET, MAX_RUN_ID_CHARS, StoreError, UsageProblem, bounded_text, positive_int, run_id_list,
                     search_text, whole_number)
from .models.artifacts import (
    find_artifact,
    read_model,
    replace_artifact,
    store_figure,
    store_file,
    store_model,
)
from .models.compare import Comparison
from .models.registry import current, history_frame
from .models.registry import promote as promote_run
from .models.registry import rollback as rollback_stage
from .models.registry import validate as validate_run
from .models.validation import ValidationResult, ValidationSpec
from .records import Artifact, ExperimentSummary, GroupsPage, RegistryEvent, Run, RunsPage, RunsTable
from .store import DoctorCheck, open_store

if TYPE_CHECKING:
    import pandas


def on_run_finished(listener: Callable[[Run], None]) -> Callable[[], None]:
    """Call ``listener(run)`` after each run this process records (``%%track`` cell or ``start_run``).

    Returns a function that removes the listener. Listeners run inside the cell's bookkeeping:
    keep them quick; one that raises becomes a warning line and the run is recorded anyway.

    >>> stop = on_run_finished(lambda run: print("recorded", run.short_id))
    >>> stop()
    """

    FINISHED_LISTENERS.append(listener)

    def remove() -> None:
        if listener in FINISHED_LISTENERS:
            FINISHED_LISTENERS.remove(listener)

    return remove


# ------------------------------------------------------------------- logging
def log_metric(name: str, value: float, step: int | None = None) -> None:
    """Log one metric value (optionally at a step) to the active run.

    For example::

        log_metric("loss", 0.31, step=10)
    """
    active_recorder("log_metric").log_metrics({name: value}, step)


def log_metrics(metrics: dict[str, float], step: int | None = None) -> None:
    """Log several metric values at once (optionally at one step) to the active run."""
    if not isinstance(metrics, dict):
        raise UsageProblem(f"log_metrics() takes a dict of name -> number, got {type(metrics).__name__}")
    active_recorder("log_metrics").log_metrics(metrics, step)


def log_param(name: str, value: Any) -> None:
    """Record one parameter of the active run."""
    active_recorder("log_param").log_params({name: value})


def log_params(params: dict[str, Any]) -> None:
    """Record several parameters of the active run."""
    if not isinstance(params, dict):
        raise UsageProblem(f"log_params() takes a dict of name -> value, got {type(params).__name__}")
    active_recorder("log_params").log_params(params)


def set_tag(key: str, value: Any) -> None:
    """Tag the active run (``key=value``)."""
    active_recorder("set_tag").set_tag(key, value)


@contextmanager
def start_run(
    name: str, experiment: str | None = None, tags: dict[str, Any] | None = None, db: str | os.PathLike | None = None
) -> Iterator[Recorder]:
    """Record a run from a plain script: params, metrics, seeds, code, environment and outcome.

    For example::

        with start_run("train", experiment="churn") as run:
            log_metric("acc", 0.9)
        run.run_id
    """

    # The run's start is written once the seeds in effect are known, with the script's code (issue 12).
    recorder = Recorder(open_store(db), name, experiment, source="script", tags=tags, begin=False)
    seeds = seed_hooks()
    main = sys.modules["__main__"].__dict__
    # Seeds the script set before this block ran before any hook did: read them from its source, up to here.
    caller = sys._getframe(2)  # start_run's caller (above contextlib's __enter__)
    if caller.f_globals is main:
        seeds.user_globals = main
        above = "".join(_script_source().splitlines(keepends=True)[:caller.f_lineno - 1])
        seeds.scan(above, os.path.basename(caller.f_code.co_filename), GENERATORS, line_numbers=True)
    seeds.begin(recorder.seeds, user_globals=main)
    code = _script_source()
    try:
        recorder.begin(code=code, history=[code])
    except BaseException:
        seeds.end()
        raise
    status, error = "finished", None
    try:
        with recording(recorder):
            yield recorder
    except KeyboardInterrupt as exc:
        status, error = "interrupted", exc
        raise
    except BaseException as exc:
        status, error = "failed", exc
        raise
    finally:
        recorder.warnings.extend(seeds.end())
        recorder.finish(status, error, code=code, history=[code], environment=shared_probe().snapshot())


def _script_source() -> str:
    path = getattr(sys.modules.get("__main__"), "__file__", None)
    if not path:
        return ""
    try:
        return Path(path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


# --------------------------------------------------------------------- reading
def runs(
    experiment: str | None = None, name: str | None = None, last: int | None = None, db: str | os.PathLike | None = None
) -> "pandas.DataFrame":
    """One row per run (oldest first): run_id, experiment, name, status, start, duration,
    params.<p>, metrics.<m> (final values), tags.<t>.

    For example::

        runs(experiment="churn").sort_values("metrics.acc").tail(3)
    """
    if last is not None:
        positive_int("last", last, of="runs")
    return open_store(db, create=False).runs_frame(experiment=experiment, name=name, last=last)


def resolve(prefix: str, db: str | os.PathLike | None = None) -> str:
    """The full id of the one run whose id starts with ``prefix`` (``RunNotFound``, ``AmbiguousRunId``):
    the store's resolver, the one every command, chart and panel uses."""
    return open_store(db, create=False).resolve(prefix)


def get_run(run_id: str, db: str | os.PathLike | None = None) -> Run:
    """Everything recorded about one run; any unique prefix of its id works.

    For example::

        get_run("3f2a").metrics
    """
    return open_store(db, create=False).get_run(run_id)


def compare(*run_ids: str, db: str | os.PathLike | None = None) -> "Comparison":
    """Params, seeds, data, metrics (with deltas to the first run), code and packages side by side.

    For example::

        compare("3f2a", "9be0")
    """

    run_ids = tuple(run_id_list(run_ids))
    if len(run_ids) < 2:
        raise UsageProblem("compare needs at least two different run ids")
    store = open_store(db, create=False)
    runs = list({run.run_id: run for run in map(store.get_run, run_ids)}.values())  # two prefixes of one run
    if len(runs) < 2:
        raise UsageProblem("compare needs at least two different runs")
    return Comparison(runs)


def metric_series(run_id: str, name: str, db: str | os.PathLike | None = None) -> "pandas.DataFrame":
    """The step series of one metric of one run: columns step, value, timestamp."""
    bounded_text("a run id", run_id, MAX_RUN_ID_CHARS)
    return open_store(db, create=False).metric_series(run_id, bounded_text("metric name", name))


def experiments(db: str | os.PathLike | None = None) -> list[str]:
    """Names of the experiments that have runs."""
    return open_store(db, create=False).experiments()


# ------------------------------------------------------- paged reads (the sidebar)
MAX_PAGE = 1000


def runs_page(
    experiment: str | None = None, q: str | None = None, sort: str = "start", order: str = "desc",
    limit: int = 50, offset: int = 0, db: str | os.PathLike | None = None,
) -> "RunsPage":
    """One page of runs, filtered, sorted and paged by the store, with the total number matching.

    ``q``: words that must each appear in a run's name, experiment, status, id, or a param's or tag's
    name or value. ``sort``: start, end, duration, name, experiment, status, run_id, ``metrics.<m>``,
    ``params.<p>`` or ``tags.<t>`` (runs without a value last). ``order``: asc or desc.

    For example::

        page = runs_page(experiment="churn", sort="metrics.acc", limit=20)
        page.total, [run.metrics["acc"] for run in page.runs]
    """
    if order not in ("asc", "desc"):
        raise UsageProblem(f"order must be 'asc' or 'desc', not '{order:.40}'")
    whole_number("limit", limit, 0, MAX_PAGE)
    whole_number("offset", offset, 0, MAX_OFFSET)
    bounded_text("experiment", experiment)
    bounded_text("sort", sort)
    search_text(q)
    return open_store(db, create=False).runs_page(
        experiment=experiment, q=q, sort=sort, descending=order == "desc", limit=limit, offset=offset
    )


# ------------------------------------------------------- the runs table (issue 14)
MAX_TABLE_COLUMNS = 1000  # columns asked for by name in one page
MAX_GROUP_METRICS = 50


def runs_table(
    experiment: str | None = None, filter: str | None = None, q: str | None = None, sort: str = "start",
    order: str = "desc", limit: int = 100, offset: int = 0, columns: "list[str] | None" = None,
    db: str | os.PathLike | None = None,
) -> "RunsTable":
    """One page of the runs table, filtered, searched, sorted and paged by the store: the number of runs
    matching, every column of theirs (fields, then params, metrics and tags, each with its kind and whether
    it is constant) and the values of ``columns`` (all when None) of this page's runs.

    ``filter``: an expression such as ``metrics.acc > 0.9 and params.model == "rf"`` (or, and, not,
    parentheses; ``==  !=  <  <=  >  >=``; ``contains "text"``; ``is missing`` / ``is present``).
    ``q``: search words, as in ``runs_page`` (names, params, tags, ids, and the code and history).
    ``sort``: any column (``start`` by default); runs without a value come last either way.

    For example::

        table = runs_table(experiment="churn", filter='params.model == "rf"', sort="metrics.acc", limit=20)
        table.total, [row.values.get("metrics.acc") for row in table.rows]
    """
    _order(order)
    whole_number("limit", limit, 0, MAX_PAGE)
    whole_number("offset", offset, 0, MAX_OFFSET)
    bounded_text("experiment", experiment)
    bounded_text("sort", sort)
    search_text(q)
    if columns is not None:
        columns = _names("columns", columns, MAX_TABLE_COLUMNS)
    return open_store(db, create=False).runs_table(
        experiment=experiment, filter=filter, q=q, sort=sort, descending=order == "desc", limit=limit,
        offset=offset, columns=columns)


def groups_page(
    by: "str | list[str]", experiment: str | None = None, filter: str | None = None, q: str | None = None,
    metrics: "list[str] | None" = None, sort: str | None = None, order: str = "asc", limit: int = 100,
    offset: int = 0, db: str | os.PathLike | None = None,
) -> "GroupsPage":
    """A page of the groups of the matching runs by the values of 1 to 5 params ``by`` (``params.a`` or
    ``a``), each with its number of runs and, for each of ``metrics`` (default: every metric of the matching
    runs, the first 50 by name), the mean, sample std, min, max and count of its finite values. Sorted by a
    by-param, ``runs`` or ``metrics.<m>`` (its mean), the first by-param ascending by default.

    For example::

        groups_page(["params.model", "params.max_depth"], experiment="churn", sort="metrics.acc").groups[0]
    """
    _order(order)
    whole_number("limit", limit, 0, MAX_PAGE)
    whole_number("offset", offset, 0, MAX_OFFSET)
    bounded_text("experiment", experiment)
    search_text(q)
    if sort is not None:
        bounded_text("sort", sort)
    if metrics is not None:
        metrics = _names("metrics", metrics, MAX_GROUP_METRICS)
        metrics = [m[len("metrics."):] if m.startswith("metrics.") else m for m in metrics]
    return open_store(db, create=False).groups(
        _by(by), experiment=experiment, filter=filter, q=q, metrics=metrics, sort=sort,
        descending=order == "desc", limit=limit, offset=offset)


def groups(by: "str | list[str]", experiment: str | None = None, filter: str | None = None, q: str | None = None,
           runs: "Iterable[str] | pandas.DataFrame | None" = None, db: str | os.PathLike | None = None
           ) -> "pandas.DataFrame":
    """One row per combination of the values of the params ``by`` (one name or a list, with or without the
    ``params.`` prefix) among the matching runs: the params (bare names), ``runs``, and for each metric
    ``<m>.mean``, ``<m>.std`` (sample std, NaN below 2 values), ``<m>.min``, ``<m>.max`` and ``<m>.count``
    over its finite values (the first 50 metrics by name). A run without one of the params is in the group
    whose value there is None. Sorted by the params. ``runs`` keeps only those runs: full run ids, or a
    frame with a ``run_id`` column (what ``runs()`` returns, filtered as you like).

    For example::

        groups(["model", "max_depth"], experiment="churn")
        #   model  max_depth  runs  acc.mean   acc.std  acc.min  acc.max  acc.count
        # 0    lr          3     3     0.812  0.004041    0.808    0.816          3
        # 1    rf          8     5     0.871  0.002550    0.868    0.874          5
        table = runs(experiment="churn")
        groups("model", runs=table[table["metrics.acc"] > 0.8])
    """
    bounded_text("experiment", experiment)
    search_text(q)
    ids = None if runs is None else _run_ids(runs)
    return open_store(db, create=False).groups_frame(_by(by), experiment=experiment, filter=filter, q=q, runs=ids)


def _run_ids(runs: "Iterable[str] | pandas.DataFrame") -> list[str]:
    if hasattr(runs, "columns"):
        if "run_id" not in runs.columns:
            raise UsageProblem("runs must be run ids or a frame with a run_id column (as runs() returns)")
        runs = runs["run_id"]
    if isinstance(runs, str):
        runs = [runs]
    ids = list(runs)
    for run_id in ids:
        if not isinstance(run_id, str):
            raise UsageProblem(f"runs must be run ids, not {run_id!r:.40}")
        bounded_text("run id", run_id)
    return ids


def _by(by: "str | list[str]") -> list[str]:
    names = [by] if isinstance(by, str) else list(by)
    if len(names) > 5:
        raise UsageProblem(f"by must name 1 to 5 params, not {len(names)}")
    for name in names:
        if not isinstance(name, str):
            raise UsageProblem(f"by must name params, not {name!r:.40}")
        bounded_text("by", name)
    return names


def _names(what: str, names: "list[str]", most: int) -> list[str]:
    names = [name.strip() for name in names if name.strip()]
    if len(names) > most:
        raise UsageProblem(f"{what} must name at most {most:,} columns, not {len(names):,}")
    for name in names:
        bounded_text(what, name)
    return names


def _order(order: str) -> None:
    if order not in ("asc", "desc"):
        raise UsageProblem(f"order must be 'asc' or 'desc', not '{order:.40}'")


def experiment_summaries(q: str | None = None, db: str | os.PathLike | None = None) -> "list[ExperimentSummary]":
    """Experiments with how many of their runs match ``q`` (as in ``runs_page``), most recently active first."""
    return open_store(db, create=False).experiment_summaries(q=search_text(q))


def run_columns(db: str | os.PathLike | None = None) -> dict[str, list[str]]:
    """Names of the metrics, params and tags recorded in any run (what a listing can be sorted by).

    For example::

        run_columns()
        {'metrics': ['acc', 'f1'], 'params': ['n_estimators'], 'tags': ['model']}
    """
    return open_store(db, create=False).run_columns()


def previous_run(run_id: str, db: str | os.PathLike | None = None) -> Run | None:
    """The run of the same experiment and name before ``run_id`` (what its inputs are compared with),
    without its code, history and environment; None for the first one."""
    store = open_store(db, create=False)
    run = store.get_run(run_id)
    return store.previous_run(run.experiment, run.name, run.start, run.run_id)


def store_status(db: str | os.PathLike | None = None) -> dict[str, Any]:
    """Where the store is and what it holds: path, exists, schema_version, and the run counts and times
    that change whenever a run starts or ends. Never creates the store.

    For example::

        store_status()["schema_version"]
    """
    path = resolve_settings(db).db_path
    status: dict[str, Any] = {"path": str(path), "exists": path.exists(), "schema_version": None}
    if status["exists"]:
        store = open_store(db, create=False)
        status["schema_version"] = store.schema_version
        status.update(dataclasses.asdict(store.activity()))
    return status


def check_integrity(db: str | os.PathLike | None = None) -> None:
    """SQLite's quick check of the whole store; ``StoreDamaged`` if it fails (then nothing more is written to
    it by this process). rerun and batch call it before they start writing (issue 13)."""
    open_store(db, create=False).check_integrity()


def doctor(interrupted: "list[str] | tuple[str, ...]" = (), hosts_down: "list[str] | tuple[str, ...]" = (),
           db: str | os.PathLike | None = None) -> list[DoctorCheck]:
    """Integrity checks of the store and its artifact files; runs of killed processes of this host are marked
    interrupted and half-written temporary files removed on the way. ``interrupted`` (run ids) and
    ``hosts_down`` (host names) mark running runs of other hosts interrupted, whose processes cannot be
    checked from here; a run whose process is alive on this host is refused.

    For example::

        [c for c in doctor(hosts_down=["gpu-box-2"]) if not c.ok]   # [] when all is well
    """
    return open_store(db, create=False).doctor(interrupted=interrupted, hosts_down=hosts_down)


def export(path: str | os.PathLike, format: str = "csv", db: str | os.PathLike | None = None,
           formulas: bool = False) -> Path:
    """Write the runs table to ``path`` as csv, json (one object per run) or parquet. In csv, text cells
    starting with = + - @ get a leading ``'`` (a spreadsheet shows them as text), unless ``formulas``."""
    frame = runs(db=db)
    path = Path(path)
    if format == "csv":
        path.write_text(csv_text(frame, formulas), encoding="utf-8")
    elif format == "json":
        path.write_text(frame_json(frame) + "\n", encoding="utf-8")
    elif format == "parquet":
        try:
            frame.to_parquet(path, index=False)
        except ImportError:
            raise StoreError("parquet export needs pyarrow: pip install pyarrow") from None
    else:
        raise UsageProblem(f"unknown export format '{format}': use csv, json or parquet")
    return path


# ---------------------------------------------------------------- versioning (issue 6)
def log_model(obj: Any, name: str = "model", run: str | None = None, db: str | os.PathLike | None = None
              ) -> "Artifact":
    """Pickle a model into the store's content-addressed artifacts, as the model ``name`` of the active
    run (or of the recorded run ``run``). Returns the stored artifact (hash, size, path).

    For example::

        log_model(clf)                      # inside a %%track cell or a start_run block
        log_model(clf, "clf", run="3f2a")   # attach it to a run recorded earlier
    """
    return _log_artifact("log_model", store_model, obj, name, run, db)


def log_figure(fig: Any, name: str, run: str | None = None, db: str | os.PathLike | None = None) -> "Artifact":
    """Save a matplotlib figure (or Axes) as PNG with the active run (or ``run``).

    For example::

        log_figure(plt.gcf(), "roc")
    """

    return _log_artifact("log_figure", store_figure, fig, name, run, db)


def log_artifact(path: str | os.PathLike, name: str | None = None, run: str | None = None,
                 db: str | os.PathLike | None = None) -> "Artifact":
    """Copy a file (streamed, any size) into the store's artifacts with the active run (or ``run``);
    its name defaults to the file's name.

    For example::

        log_artifact("reports/confusion.csv").name
        'confusion.csv'
    """

    return _log_artifact("log_artifact", store_file, path, name, run, db)


def _log_artifact(what: str, make: Any, value: Any, name: str | None, run: str | None,
                  db: str | os.PathLike | None) -> "Artifact":

    if run is None:
        recorder = active_recorder(what)
        artifact = make(recorder.store, recorder.run_id, value, name, recorder.clock)
        replace_artifact(recorder.artifacts, artifact)  # its row is written with the run
        return artifact
    store = open_store(db, create=False)
    run_id = store.resolve(run)
    artifact = make(store, run_id, value, name)
    store.add_artifacts(run_id, [artifact])
    return artifact


def artifact(run_id: str, name: str, kind: str | None = None, db: str | os.PathLike | None = None) -> Path:
    """The stored file of a run's artifact (model, figure or file) named ``name``: a read-only path.

    For example::

        from IPython.display import Image
        Image(filename=artifact("3f2a", "roc"))
    """

    store = open_store(db, create=False)
    record = store.get_run(run_id)
    found = find_artifact(record, name, kind)
    return store.artifacts.existing(found.hash, f"{found.kind} '{name}' of run {record.short_id}")


def load_model(name: str = "model", stage: str = "production", run: str | None = None,
               db: str | os.PathLike | None = None) -> Any:
    """The model holding ``stage`` in the registry, or, with ``run``, the model ``name`` logged by that run.

    For example::

        clf = load_model()                    # what is in production now
        old = load_model(run="3f2a")          # a run's own model
    """

    store = open_store(db, create=False)
    if run is not None:
        record = store.get_run(run)
        found = find_artifact(record, name, kind="model")
        return read_model(store, found.hash, f"model '{name}' of run {record.short_id}")
    holder = current(store, name, stage)
    return read_model(store, holder.model_hash, f"model '{name}' in '{stage}' (run {holder.run_id[:8]})")


def promote(run_id: str, stage: str = "production", name: str = "model", force: bool = False,
            rules: Any = None, thresholds: dict[str, Any] | None = None, eval_inputs: list[str] | None = None,
            db: str | os.PathLike | None = None) -> "RegistryEvent":
    """Make the run's model ``name`` the holder of ``stage``. It is first validated against the current
    holder (as ``validate`` does, with these rules and thresholds); a failing run is refused with
    ValidationFailed unless ``force=True``. Every promotion is kept in ``registry()``.

    For example::

        promote("9be0", "production")
        promote("9be0", "production", rules={"acc": ">= baseline - 0.01"})
    """

    spec = ValidationSpec.make(rules, thresholds, eval_inputs)
    return promote_run(open_store(db, create=False), run_id, stage, name, force=bool(force), spec=spec)


def rollback(name: str = "model", stage: str = "production", db: str | os.PathLike | None = None
             ) -> "RegistryEvent":
    """Give ``stage`` back to the version promoted before the current one (the rollback is recorded too).

    For example::

        rollback()          # production: back to the previous model
    """

    return rollback_stage(open_store(db, create=False), name, stage)


def registry(name: str | None = None, stage: str | None = None, db: str | os.PathLike | None = None
             ) -> "pandas.DataFrame":
    """The registry's whole history, oldest first: seq, time, user, host, action, name, stage, run_id,
    model_hash, previous_run_id, forced, validation.

    For example::

        registry(stage="production").tail(3)
    """

    return history_frame(open_store(db, create=False), name, stage)


def validate(run_id: str, baseline: str = "production", rules: Any = None, name: str = "model",
             thresholds: dict[str, Any] | None = None, eval_inputs: list[str] | None = None,
             db: str | os.PathLike | None = None) -> "ValidationResult":
    """Check a run against a baseline (a stage of model ``name``, or a run id): metric rules, then its
    inputs against the baseline's inputs of the same name (schema, null rate, drift).

    For example::

        validate("9be0", baseline="production", rules={"acc": ">= baseline - 0.01", "loss": "<= 0.2"})
        validate("9be0", baseline="3f2a", thresholds={"psi": 0.1, "ks": 0.2, "null_rate": 0.01})
    """

    spec = ValidationSpec.make(rules, thresholds, eval_inputs)  # a malformed rule fails before anything is read
    return validate_run(open_store(db, create=False), run_id, baseline, name, spec)
