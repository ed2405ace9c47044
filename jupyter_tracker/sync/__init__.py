"""Copy runs to a team's MLflow tracking server: ``push`` (issue 15).

For example::

    import jupyter_tracker as jt
    report = jt.push("http://mlflow.internal:5000", experiment="churn")
    print(report)          # what was sent, what was there already, what was skipped

Sync sits above the api, beside rerun and batch: it reads runs through the store the api
opens (never creating it, never writing a record) and hands them to the MLflow backend in
``sync/mlflow.py``, the only module that imports MLflow, and only when a push starts.

A push is idempotent and resumable: each MLflow run carries our run id as a tag and is
marked complete by a last tag only once everything of it has been sent. Pushing again skips
complete runs, and finishes an incomplete one (a push that was interrupted) by sending only
what the server lacks, metric points included.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable
from urllib.parse import urlsplit, urlunsplit

from ..store import open_store
from ..errors import PushError, UsageProblem, positive_int
from ..records import RunSummary
from ..render import count
from .plan import PRESENT, PUSHED, RESUMED, RUNNING, RunPush

if TYPE_CHECKING:
    from ..store import Store

DEFAULT_WORKERS = 4  # runs sent at once: each is a dozen small requests, mostly waiting on the server
PAGE = 1000

@dataclass
class PushReport:
    """The outcome of ``push``: one RunPush per selected run, in the order of the runs' start."""

    uri: str  # without any user:password part
    dry_run: bool
    runs: list[RunPush] = field(default_factory=list)
    experiments: dict[str, str] = field(default_factory=dict)  # name -> MLflow experiment id (those existing)

    def of(self, action: str) -> list[RunPush]:
        return [run for run in self.runs if run.action == action]

    @property
    def points(self) -> int:
        return sum(run.points for run in self.runs)

    def __str__(self) -> str:
        lines = []
        shown = self.runs if self.dry_run else [r for r in self.runs if r.action in (RESUMED, RUNNING) or r.notes]
        lines += [run.line(self.dry_run) for run in shown]
        pushed, resumed, present, running = (self.of(a) for a in (PUSHED, RESUMED, PRESENT, RUNNING))
        sent = pushed + resumed
        if self.dry_run:
            head = f"dry run, nothing sent to {self.uri}: "
            parts = [f"{len(pushed)} to push", f"{len(resumed)} to resume"]
        else:
            head = f"{self.uri}: "
            parts = [f"pushed {count(len(pushed), 'run')}", f"resumed {len(resumed)}"]
        parts += [f"{len(present)} already there", f"{len(running)} still running"]
        totals = (f" ({sum(r.params for r in sent):,} params, {sum(r.points for r in sent):,} metric points, "
                  f"{sum(r.artifacts for r in sent):,} artifacts)") if sent else ""
        lines.append(head + ", ".join(parts) + totals)
        if not self.dry_run:
            base = self.uri.rstrip("/")
            lines += [f"  {name}: {base}/#/experiments/{experiment_id}"
                      for name, experiment_id in sorted(self.experiments.items())]
        return "\n".join(lines)

    __repr__ = __str__


def push(uri: str, runs: str | Iterable[str] | None = None, experiment: str | None = None, *,
         dry_run: bool = False, workers: int = DEFAULT_WORKERS, progress: bool = True,
         db: str | os.PathLike | None = None) -> PushReport:
    """Copy runs to the MLflow tracking server at ``uri``: every run (or those whose id starts with one
    of ``runs``; only those of ``experiment``, if given) into an MLflow experiment of the same name.

    Sends params, every metric point with its step and timestamp, tags (ours, seeds, data fingerprints,
    git commit, hidden-state verdict, rerun and batch links), status and times, and as artifacts the
    cell code, the execution history (a notebook ``rerun`` could replay), the environment, the whole
    record, and the run's models, figures and files. Runs already pushed are skipped; a push that was
    interrupted is finished without duplicates. A running run is skipped. MLflow's own environment
    variables authenticate (MLFLOW_TRACKING_USERNAME and _PASSWORD, or MLFLOW_TRACKING_TOKEN).

    For example::

        push("http://127.0.0.1:5000", ["3f2a", "9be0"])
        push("https://mlflow.example.com", experiment="churn", dry_run=True).runs[0].action
        'pushed'
    """
    shown_uri = check_uri(uri)
    positive_int("workers", workers)
    prefixes = [runs] if isinstance(runs, str) else list(runs or [])
    store = open_store(db, create=False)  # read only: a push never creates a store nor writes a record
    selected = select_runs(store, prefixes, experiment)
    try:
        # MLflow is an optional extra and takes ~2 s to import: only a push loads it (tests/test_import_cost.py).
        from . import mlflow as backend
    except ImportError as error:
        if (error.name or "").split(".")[0] != "mlflow":
            raise
        raise PushError("push needs MLflow: pip install 'jupyter_tracker[mlflow]'") from None
    report = PushReport(uri=shown_uri, dry_run=bool(dry_run))
    report.runs, report.experiments = backend.push_runs(uri, shown_uri, store, selected, dry_run=bool(dry_run),
                                                        workers=workers, progress=progress)
    return report


def check_uri(uri: str) -> str:
    """The URI as it may be shown (without a password); UsageProblem unless it is an http(s) server's."""
    if not isinstance(uri, str) or not uri.strip():
        raise UsageProblem(f"push needs the tracking server's URI, such as http://127.0.0.1:5000, not {uri!r}")
    try:
        parts = urlsplit(uri.strip())
        hostname, _ = parts.hostname, parts.port  # .port raises on a port that is not a number
    except ValueError as error:
        raise UsageProblem(f"'{uri}' is not a valid URI: {error}") from None
    if parts.scheme not in ("http", "https") or not hostname:
        raise UsageProblem(f"'{_without_password(uri)}' is not an MLflow tracking server URI: "
                           "use http://HOST:PORT or https://HOST[/PATH]")
    return _without_password(uri.strip())


def _without_password(uri: str) -> str:
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.password is None and parts.username is None:
        return uri
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def select_runs(store: "Store", prefixes: list[str], experiment: str | None) -> list[RunSummary]:
    """The runs to push, oldest first: those of the prefixes (each must match one run), else all of the
    store (of ``experiment`` when given)."""
    if prefixes:
        chosen, seen = [], set()
        for prefix in prefixes:
            run = store.get_run(prefix)  # RunNotFound / AmbiguousRunId name the prefix
            if experiment is not None and run.experiment != experiment:
                raise UsageProblem(f"run {run.short_id} is in experiment '{run.experiment}', not '{experiment}'")
            if run.run_id not in seen:
                seen.add(run.run_id)
                chosen.append(RunSummary(run_id=run.run_id, experiment=run.experiment, name=run.name,
                                         status=run.status, start=run.start, duration=run.duration))
        return sorted(chosen, key=lambda r: (r.start, r.run_id))
    found, offset = [], 0
    while True:
        page = store.runs_page(experiment=experiment, sort="start", descending=False, limit=PAGE, offset=offset)
        found += page.runs
        offset += len(page.runs)
        if len(page.runs) < PAGE:
            return found
