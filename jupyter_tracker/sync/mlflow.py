"""The MLflow side of ``push``: the only module that imports MLflow, loaded only when a push starts.

A local run becomes one MLflow run in the experiment of the same name:

- created with our run id and ``jupyter_tracker.push=partial`` as tags, its name and start time;
- params, tags and every metric point (step and timestamp kept) in ``log_batch`` calls chunked to
  MLflow's limits (1,000 metrics, 100 params, 100 tags, 1,000 entities and 1 MB a request);
- artifacts: ``jupyter_tracker/`` (run.json: the whole record, in full; code.py; history.ipynb, a
  notebook ``rerun`` could replay; environment.json) and the run's ``models/``, ``figures/``, ``files/``;
- then its status and end time (``set_terminated``), and last ``jupyter_tracker.push=complete``.

A run found by its id tag without the last tag is an interrupted push: only what the server lacks is
sent (params, tags, artifacts by path and size, metric points by comparing histories).

Names MLflow cannot take (characters outside letters, digits, ``_ - . /`` and space, path-like ``..``)
are rewritten and the renaming is listed in the ``jupyter_tracker.renamed`` tag; values longer than
MLflow keeps are shortened with a marker saying so (run.json holds them whole). NaN metric values are
sent as NaN and come back as NaN; MLflow's SQL stores keep +/-inf as +/-1.7976931348623157e308, and a
resumed push compares them as such.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import os
import posixpath
import re
import sys
import tempfile
import threading
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from mlflow.entities import Metric, Param, RunTag, ViewType
from mlflow.exceptions import MlflowException
from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository
from mlflow.tracking import MlflowClient
from mlflow.utils.credentials import get_default_host_creds
from mlflow.utils.rest_utils import http_request

from ..render import json_safe, json_text
from ..errors import PushError
from ..records import DataRef, MetricPoint, Run, RunSummary
from ..store import Store
from .plan import PRESENT, PUSHED, RESUMED, RUNNING, RunPush

RUN_ID_TAG = "jupyter_tracker.run_id"
PUSH_TAG = "jupyter_tracker.push"  # "partial" from the run's creation until everything is sent, then "complete"
PARTIAL, COMPLETE = "partial", "complete"
RENAMED_TAG = "jupyter_tracker.renamed"
RECORD = "jupyter_tracker/run.json"  # the whole record, in full: what a shortened value points to
STATUS = {"finished": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}

# MLflow's limits (mlflow/utils/validation.py in 3.17): a server refuses a batch over them, and cuts a
# longer value without a word (MLFLOW_TRUNCATE_LONG_VALUES), so both are kept to here.
MAX_KEY = 250
MAX_PARAM_VALUE = 6000
MAX_TAG_VALUE = 8000
MAX_RUN_NAME = 250  # the runs table's name column
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_TAGS_PER_BATCH = 100
MAX_ENTITIES_PER_BATCH = 1000
BATCH_BYTES = 900_000  # under the 1,000,000-byte request limit, with room for the JSON around the entities
MAX_FLOAT = 1.7976931348623157e308  # what MLflow's SQL stores keep for +/-inf
PROBE_TIMEOUT = 30  # seconds for the first request, unless MLFLOW_HTTP_REQUEST_TIMEOUT says otherwise
_BAD_KEY_CHARACTERS = re.compile(r"[^/\w.\- ]")  # MLflow's rule, less the colon Windows servers refuse

Point = tuple[str, float, int, int]  # MLflow key, value, timestamp (ms), step


# ------------------------------------------------------------------ what a run becomes
@dataclass
class Payload:
    """One local run in MLflow's terms: names checked, values within limits, times in milliseconds."""

    run_name: str
    start_ms: int
    end_ms: int
    status: str
    params: dict[str, str]
    tags: dict[str, str]
    points: list[Point]
    files: list[tuple[str, bytes | Path]]  # artifact path -> content, or the stored file to upload
    notes: list[str] = field(default_factory=list)

    @property
    def metric_keys(self) -> set[str]:
        return {point[0] for point in self.points}


class _Keys:
    """MLflow names for one family (params, metrics or tags): valid, unique, and the renamings made."""

    def __init__(self, renamed: dict[str, str], taken: set[str] | None = None) -> None:
        self.names: dict[str, str] = {}
        self.taken = set() if taken is None else taken
        self.renamed = renamed

    def __call__(self, key: str) -> str:
        name = self.names.get(key)
        if name is None:
            name = mlflow_key(key)
            base, number = name, 2
            while name in self.taken:
                suffix = f"_{number}"
                name = base[:MAX_KEY - len(suffix)] + suffix
                number += 1
            self.taken.add(name)
            self.names[key] = name
            if name != key:
                self.renamed[key] = name
        return name


def mlflow_key(key: str) -> str:
    """A name MLflow accepts for a param, metric or tag: ``train loss%`` -> ``train loss_``.

    >>> mlflow_key("../data/x.csv")
    '__/data/x.csv'
    """
    clean = _BAD_KEY_CHARACTERS.sub("_", str(key))
    # MLflow treats names as paths and refuses those that normalise to another name.
    parts = [part if part not in (".", "..") else "_" * len(part) for part in clean.split("/") if part]
    clean = "/".join(parts) or "_"
    if len(clean) > MAX_KEY:
        digest = hashlib.blake2s(str(key).encode("utf-8", "surrogatepass"), digest_size=4).hexdigest()
        clean = clean[:MAX_KEY - 9] + "-" + digest
    return clean


def shorten(value: str, limit: int) -> str:
    """``value`` if MLflow keeps it whole, else its start and a marker saying what was cut."""
    if len(value) <= limit:
        return value
    marker = f" … [shortened by jupyter_tracker from {len(value):,} characters; in full in {RECORD}]"
    return value[:limit - len(marker)] + marker


def param_text(value: Any) -> str:
    """A param as MLflow's log_param writes it (``str``), containers as JSON."""
    if isinstance(value, str):
        return value
    if value is None or isinstance(value, (bool, int, float)):
        return str(value)
    return json.dumps(json_safe(value), ensure_ascii=False)


def data_text(ref: DataRef) -> str:
    """A data tag's value: ``<hash> dataframe shape 100x4`` (and how a file was read)."""
    fp = ref.fingerprint
    if fp is None:
        return f"not fingerprinted: {ref.note or 'no fingerprint'}"
    shape = "x".join(str(n) for n in fp.shape) or "scalar"
    text = f"{fp.hash} {fp.kind} shape {shape}"
    return text if ref.source == "variable" else f"{text} read by {ref.source}"


def milliseconds(seconds: float) -> int:
    return int(round(seconds * 1000))


def point_identity(key: str, value: float, timestamp: int, step: int) -> tuple[str, int, int, Any]:
    """What tells two points apart on an MLflow server (its metrics' primary key): NaN equals NaN, and
    +/-inf are the largest floats, as MLflow's SQL stores keep them."""
    value = float(value)
    if value != value:
        kept: Any = "nan"
    elif value in (float("inf"), float("-inf")):
        kept = MAX_FLOAT if value > 0 else -MAX_FLOAT
    else:
        kept = value
    return key, int(timestamp), int(step), kept


def build_payload(run: Run, points: list[MetricPoint]) -> Payload:
    """Everything MLflow is sent for ``run``, before comparing with what the server has."""
    renamed: dict[str, str] = {}
    param_key, metric_key = _Keys(renamed), _Keys(renamed)
    tags: dict[str, str] = {}
    tag_key = _Keys(renamed, taken={RUN_ID_TAG, PUSH_TAG, RENAMED_TAG})

    def tag(key: str, value: Any, ours: bool = True) -> None:
        if value is None or value == "":
            return
        tags[tag_key(key) if ours else key] = shorten(str(value), MAX_TAG_VALUE)

    for key, value in run.tags.items():
        tag(key, value)
    tag("mlflow.source.type", "NOTEBOOK" if run.source == "cell" else "LOCAL", ours=False)
    tag("mlflow.source.name", run.environment.get("notebook"), ours=False)
    git = run.environment.get("git") or {}
    tag("mlflow.source.git.commit", git.get("commit"), ours=False)
    tag("mlflow.source.git.branch", git.get("branch"), ours=False)
    if git.get("dirty") is not None:
        tag("jupyter_tracker.git.dirty", "true" if git["dirty"] else "false")
    tag("jupyter_tracker.status", run.status)
    tag("jupyter_tracker.source", run.source)
    seeds: dict[str, list[str]] = {}
    for seed in run.seeds:
        seeds.setdefault(seed.source, []).append(param_text(seed.value))
    for source, values in seeds.items():
        tag(f"jupyter_tracker.seed.{source}", ", ".join(values))
    for ref in [*run.inputs, *run.outputs]:
        tag(f"jupyter_tracker.{ref.role}.{ref.name}", data_text(ref))
    if run.hidden_state is not None:
        reasons = run.hidden_state.get("reasons") or []
        verdict = "clean" if run.hidden_state.get("clean") else "hidden state: " + "; ".join(map(str, reasons))
        tag("jupyter_tracker.hidden_state", verdict)
    tag("jupyter_tracker.rerun_of", run.rerun_of)
    tag("jupyter_tracker.session", run.session_id)
    tag("jupyter_tracker.error", run.error)
    tag("jupyter_tracker.warnings", "\n".join(run.warnings))

    params = {param_key(k): shorten(param_text(v), MAX_PARAM_VALUE) for k, v in run.params.items()}
    sent: set[tuple] = set()
    kept: list[Point] = []
    for point in points:
        mlflow_point = (metric_key(point.name), float(point.value), milliseconds(point.timestamp),
                        0 if point.step is None else int(point.step))  # MLflow's default step is 0
        identity = point_identity(*mlflow_point)
        if identity not in sent:  # the server keeps one of identical points: so do we, or a resume never ends
            sent.add(identity)
            kept.append(mlflow_point)
    if renamed:
        tags[RENAMED_TAG] = shorten("; ".join(f"{k} -> {v}" for k, v in renamed.items()), MAX_TAG_VALUE)

    files, notes = _files(run)
    end = run.end if run.end is not None else run.start + (run.duration or 0.0)
    return Payload(run_name=shorten(run.name, MAX_RUN_NAME), start_ms=milliseconds(run.start),
                   end_ms=milliseconds(end), status=STATUS[run.status], params=params, tags=tags,
                   points=kept, files=files, notes=notes)


def _record(run: Run) -> dict[str, Any]:
    return {
        "run_id": run.run_id, "experiment": run.experiment, "name": run.name, "status": run.status,
        "start": run.start, "end": run.end, "duration": run.duration, "source": run.source,
        "params": run.params, "tags": run.tags, "metrics": run.metrics, "metric_points": run.metric_steps,
        "seeds": [vars(seed) for seed in run.seeds],
        "inputs": [_ref(r) for r in run.inputs], "outputs": [_ref(r) for r in run.outputs],
        "error": run.error, "warnings": run.warnings, "rerun_of": run.rerun_of, "session_id": run.session_id,
        "session_seq": run.session_seq, "hidden_state": run.hidden_state,
        "artifacts": [{"name": a.name, "kind": a.kind, "hash": a.hash, "size": a.size, "format": a.format,
                       "origin": a.origin, "created": a.created, "path": _artifact_path(a.kind, a.name)}
                      for a in run.artifacts],
    }


def _ref(ref: DataRef) -> dict[str, Any]:
    return {"role": ref.role, "name": ref.name, "source": ref.source, "note": ref.note,
            "fingerprint": ref.fingerprint.to_dict() if ref.fingerprint else None}


def _artifact_path(kind: str, name: str) -> str:
    parts = [p if p not in (".", "..") else "_" * len(p) for p in name.replace("\\", "/").split("/") if p]
    clean = "/".join(parts) or "_"
    return {"model": f"models/{clean}.pkl", "figure": f"figures/{clean}.png"}.get(kind, f"files/{clean}")


def _files(run: Run) -> tuple[list[tuple[str, bytes | Path]], list[str]]:
    files: list[tuple[str, bytes | Path]] = [(RECORD, json_text(_record(run)).encode("utf-8"))]
    if run.code:
        files.append(("jupyter_tracker/code.py", run.code.encode("utf-8", "surrogatepass")))
    if run.source == "cell" and run.history:
        import nbformat  # with papermill, a dependency; loaded only for a run that has a history

        from ..models.replay import build_replay

        files.append(("jupyter_tracker/history.ipynb", nbformat.writes(build_replay(run)).encode("utf-8")))
    if run.environment:
        files.append(("jupyter_tracker/environment.json", json_text(run.environment).encode("utf-8")))
    notes = []
    for artifact in run.artifacts:
        path = Path(artifact.path) if artifact.path is not None else None
        if path is None or not path.is_file():
            notes.append(f"not sent: the stored file of {artifact.kind} '{artifact.name}' is missing locally")
            continue
        files.append((_artifact_path(artifact.kind, artifact.name), path))
    return files, notes


def batches(params: list[tuple[str, str]], tags: list[tuple[str, str]], points: list[Point]
            ) -> Iterator[tuple[list[Param], list[RunTag], list[Metric]]]:
    """``log_batch`` arguments within MLflow's limits: counts per kind and in all, and request size."""
    batch: tuple[list[Param], list[RunTag], list[Metric]] = ([], [], [])
    size = 0
    limits = (MAX_PARAMS_TAGS_PER_BATCH, MAX_PARAMS_TAGS_PER_BATCH, MAX_METRICS_PER_BATCH)

    def items() -> Iterator[tuple[int, Any, int]]:
        # json.dumps escapes every non-ASCII character: never fewer bytes than the request's UTF-8.
        for key, value in params:
            yield 0, Param(key, value), len(json.dumps(key)) + len(json.dumps(value)) + 24
        for key, value in tags:
            yield 1, RunTag(key, value), len(json.dumps(key)) + len(json.dumps(value)) + 24
        for key, value, timestamp, step in points:
            yield 2, Metric(key, value, timestamp, step), len(json.dumps(key)) + 96

    for kind, entity, cost in items():
        full = (len(batch[kind]) >= limits[kind] or sum(map(len, batch)) >= MAX_ENTITIES_PER_BATCH
                or size + cost > BATCH_BYTES)
        if full and any(batch):
            yield batch
            batch, size = ([], [], []), 0
        batch[kind].append(entity)
        size += cost
    if any(batch):
        yield batch


# ------------------------------------------------------------------ the server
class Server:
    """One MLflow tracking server, through ``MlflowClient`` (its retries, its authentication)."""

    def __init__(self, uri: str, shown: str) -> None:
        self.uri, self.shown = uri, shown
        self.client = MlflowClient(tracking_uri=uri)

    def probe(self) -> None:
        """One request without retries: a server that is not there or refuses us fails in seconds,
        not after MLflow's minutes of retrying, and nothing has been sent yet."""
        timeout = int(os.environ.get("MLFLOW_HTTP_REQUEST_TIMEOUT") or PROBE_TIMEOUT)
        try:
            response = http_request(get_default_host_creds(self.uri), "/api/2.0/mlflow/experiments/get-by-name",
                                    "GET", max_retries=0, backoff_factor=0, retry_codes=(), timeout=timeout,
                                    params={"experiment_name": "Default"})
        except MlflowException as error:
            raise PushError(f"cannot reach the MLflow server at {self.shown}: {_reason(error)}") from None
        status = response.status_code
        try:
            body = response.json()
        except ValueError:
            body = None
        if status == 200 and isinstance(body, dict):
            return
        if status == 404 and isinstance(body, dict) and body.get("error_code") == "RESOURCE_DOES_NOT_EXIST":
            return  # an MLflow server without the Default experiment
        if status == 401:
            raise PushError(f"the MLflow server at {self.shown} refused the request (HTTP 401, not authenticated):"
                            " set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN",
                            401)
        if status == 403:
            raise PushError(f"the MLflow server at {self.shown} refused the request (HTTP 403, permission denied):"
                            " the credentials given (MLFLOW_TRACKING_USERNAME or MLFLOW_TRACKING_TOKEN) have no"
                            " access", 403)
        if status in (200, 404):
            raise PushError(f"{self.shown} does not answer as an MLflow tracking server "
                            f"(HTTP {status} on its REST API)", status)
        detail = body.get("message") if isinstance(body, dict) else response.text
        raise PushError(f"the MLflow server at {self.shown} answered HTTP {status}: {_one_line(detail)}", status)

    def experiment_id(self, name: str, create: bool) -> str | None:
        """The id of the experiment ``name``, created if missing (or None when not to create it)."""
        experiment = self.client.get_experiment_by_name(name)
        if experiment is None:
            if not create:
                return None
            try:
                return self.client.create_experiment(name)
            except MlflowException as error:
                if error.error_code != "RESOURCE_ALREADY_EXISTS":  # created meanwhile by another push
                    raise
                experiment = self.client.get_experiment_by_name(name)
        if experiment.lifecycle_stage != "active":
            raise PushError(f"the experiment '{name}' was deleted on the MLflow server at {self.shown}: "
                            "restore it (mlflow experiments restore) or delete it for good first")
        return experiment.experiment_id

    def pushed_runs(self, experiment_id: str) -> dict[str, Any]:
        """Our run id -> the MLflow run carrying it, in one experiment (a complete one wins)."""
        found: dict[str, Any] = {}
        token = None
        while True:
            page = self.client.search_runs([experiment_id], filter_string=f"tags.`{RUN_ID_TAG}` LIKE '%'",
                                           run_view_type=ViewType.ACTIVE_ONLY, max_results=10_000,
                                           page_token=token)
            for remote in page:
                ours = remote.data.tags.get(RUN_ID_TAG)
                known = found.get(ours)
                if known is None or (known.data.tags.get(PUSH_TAG) != COMPLETE
                                     and remote.data.tags.get(PUSH_TAG) == COMPLETE):
                    found[ours] = remote
            token = page.token
            if not token:
                return found

    def points(self, run_id: str, keys: list[str]) -> set[tuple]:
        return {point_identity(key, m.value, m.timestamp, m.step)
                for key in keys for m in self.client.get_metric_history(run_id, key)}

    def artifacts(self, artifact_uri: str) -> Any:
        # The run's artifact store, from the run's own record: MlflowClient.log_artifact would ask the
        # server for the run first, one more request per run (a tenth of a small run's push).
        return get_artifact_repository(artifact_uri, tracking_uri=self.uri)

    @staticmethod
    def files(repository: Any) -> dict[str, int | None]:
        found, folders = {}, [None]
        while folders:
            for info in repository.list_artifacts(folders.pop()):
                if info.is_dir:
                    folders.append(info.path)
                else:
                    found[info.path] = info.file_size
        return found


# ------------------------------------------------------------------ pushing
def push_runs(uri: str, shown: str, store: Store, selected: list[RunSummary], dry_run: bool, workers: int,
              progress: bool) -> tuple[list[RunPush], dict[str, str]]:
    """Push (or, dry, plan) every selected run: the outcomes in the order of ``selected``, and the ids of
    the MLflow experiments they are in."""
    from tqdm.auto import tqdm  # a progress bar in a terminal and in a notebook

    server = Server(uri, shown)
    outcomes: dict[str, RunPush] = {}
    with _quiet_mlflow():
        server.probe()
        try:
            names = sorted({run.experiment for run in selected if run.status != "running"})
            experiments = {name: server.experiment_id(name, create=not dry_run) for name in names}
            remote: dict[str, Any] = {}
            for experiment_id in experiments.values():
                if experiment_id is not None:
                    remote.update(server.pushed_runs(experiment_id))
        except MlflowException as error:
            raise _refused(error, shown, None) from None
        todo = []
        for run in selected:
            there = remote.get(run.run_id)
            if run.status == "running":
                outcomes[run.run_id] = RunPush(run.run_id, run.name, run.experiment, RUNNING)
            elif there is not None and there.data.tags.get(PUSH_TAG) == COMPLETE:
                outcomes[run.run_id] = RunPush(run.run_id, run.name, run.experiment, PRESENT,
                                               mlflow_run_id=there.info.run_id)
            else:
                todo.append((run, there))
        sent = _Counter()
        failure: BaseException | None = None
        with tqdm(total=len(todo), desc="planning" if dry_run else "pushing", unit="run", file=sys.stderr,
                  disable=not progress or not todo) as bar, ThreadPoolExecutor(max_workers=workers) as pool:
            pending: dict[Future, RunSummary] = {
                pool.submit(_push_one, server, store, run, there, experiments[run.experiment], dry_run, sent.add): run
                for run, there in todo
            }
            try:
                while pending:
                    done, _ = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
                    for future in done:
                        run = pending.pop(future)
                        try:
                            outcomes[run.run_id] = future.result()
                        except BaseException as error:  # noqa: BLE001  (the first failure stops the push)
                            failure = failure or error
                            for other in pending:
                                other.cancel()
                        bar.update(1)
                    bar.set_postfix_str(f"{sent.value:,} points", refresh=False)
            except BaseException:
                for other in pending:
                    other.cancel()
                raise
        if failure is not None:
            done_runs = sum(1 for o in outcomes.values() if o.action in (PUSHED, RESUMED))
            resume = f" ({done_runs} of {len(todo)} runs sent before it: push again to resume)" if todo else ""
            if isinstance(failure, PushError):
                raise PushError(f"{failure}{resume}", failure.server_status) from None
            raise failure
    existing = {name: experiment_id for name, experiment_id in experiments.items() if experiment_id is not None}
    return [outcomes[run.run_id] for run in selected], existing


class _Counter:
    def __init__(self) -> None:
        self.value = 0
        self._lock = threading.Lock()

    def add(self, number: int) -> None:
        with self._lock:
            self.value += number


def _push_one(server: Server, store: Store, summary: RunSummary, there: Any, experiment_id: str | None,
              dry_run: bool, on_points: Callable[[int], None]) -> RunPush:
    run = store.get_run(summary.run_id)
    if run.status == "running":  # started again meanwhile? a run id is never reused: it is still running
        return RunPush(run.run_id, run.name, run.experiment, RUNNING)
    payload = build_payload(run, store.metric_points(run.run_id))
    outcome = RunPush(run.run_id, run.name, run.experiment, PUSHED if there is None else RESUMED,
                      notes=list(payload.notes))
    try:
        if there is None:
            have_params: dict[str, str] = {}
            have_tags: dict[str, str] = {}
            have_points: set[tuple] = set()
            have_files: dict[str, int | None] = {}
        else:
            outcome.mlflow_run_id = there.info.run_id
            have_params, have_tags = there.data.params, there.data.tags
            have_points = server.points(there.info.run_id, sorted(payload.metric_keys & set(there.data.metrics)))
            have_files = server.files(server.artifacts(there.info.artifact_uri))
        params = [(k, v) for k, v in payload.params.items() if have_params.get(k) != v]
        tags = [(k, v) for k, v in payload.tags.items() if have_tags.get(k) != v]
        points = [p for p in payload.points if point_identity(*p) not in have_points]
        files = [(path, content) for path, content in payload.files
                 if have_files.get(path) != (len(content) if isinstance(content, bytes) else content.stat().st_size)]
        outcome.params, outcome.tags, outcome.artifacts = len(params), len(tags), len(files)
        outcome.metrics, outcome.points = len({p[0] for p in points}), len(points)
        outcome.points_there = len(payload.points) - len(points)
        if dry_run:
            return outcome
        client = server.client
        if there is None:
            created = client.create_run(experiment_id, start_time=payload.start_ms, run_name=payload.run_name,
                                        tags={RUN_ID_TAG: run.run_id, PUSH_TAG: PARTIAL, "mlflow.user": _user()})
            outcome.mlflow_run_id, artifact_uri = created.info.run_id, created.info.artifact_uri
        else:
            artifact_uri = there.info.artifact_uri
        mlflow_run_id = outcome.mlflow_run_id
        for batch_params, batch_tags, batch_metrics in batches(params, tags, points):
            client.log_batch(mlflow_run_id, metrics=batch_metrics, params=batch_params, tags=batch_tags)
            on_points(len(batch_metrics))
        if files:
            _upload(server.artifacts(artifact_uri), files)
        client.set_terminated(mlflow_run_id, status=payload.status, end_time=payload.end_ms)
        client.set_tag(mlflow_run_id, PUSH_TAG, COMPLETE)  # last: only now is the run whole on the server
    except MlflowException as error:
        raise _refused(error, server.shown, run) from None
    return outcome


def _upload(repository: Any, files: list[tuple[str, bytes | Path]]) -> None:
    # log_artifact names the remote file after the local one: lay each out under its artifact path
    # (stored models and figures are content-addressed files without a name; they are linked, not copied).
    with tempfile.TemporaryDirectory(prefix="jupyter-tracker-push-") as folder:
        for path, content in files:
            local = Path(folder, *path.split("/"))
            local.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                local.write_bytes(content)
            else:
                os.symlink(content, local)
            repository.log_artifact(str(local), posixpath.dirname(path) or None)


@contextmanager
def _quiet_mlflow() -> Iterator[None]:
    # set_terminated prints two "View run ... at" lines per run to stdout (and asks the server for the
    # run to do so): a push of 1,000 runs would print 2,000 lines. A user's own setting is kept.
    name = "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT"
    before = os.environ.get(name)
    if before is None:
        os.environ[name] = "true"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a container without a passwd entry
        return "unknown"


def _refused(error: MlflowException, shown: str, run: Run | None) -> PushError:
    """One line for an MLflow error: the server's status and message, or why it could not be reached."""
    what = f" run {run.short_id} ({run.name})" if run is not None else ""
    if _connection_failure(error):
        return PushError(f"lost the MLflow server at {shown} while pushing{what}: {_reason(error)}")
    status = error.get_http_status_code()
    hint = ""
    if status == 401:
        hint = ": set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD, or MLFLOW_TRACKING_TOKEN"
    message = _one_line(getattr(error, "message", None) or str(error))
    return PushError(f"the MLflow server at {shown} refused{what or ' the push'} (HTTP {status} {error.error_code})"
                     f"{hint}: {message}", status)


def _chain(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    while error is not None and error not in chain:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def _connection_failure(error: MlflowException) -> bool:
    import requests  # MLflow's own HTTP library, loaded with it

    return any(isinstance(e, (requests.exceptions.ConnectionError, requests.exceptions.Timeout))
               for e in _chain(error)) or "failed with exception" in str(error)


def _reason(error: BaseException) -> str:
    """Why a request did not get an answer, in a few words."""
    import requests

    chain = _chain(error)
    text = " ".join(str(e) for e in chain)
    if any(isinstance(e, requests.exceptions.SSLError) for e in chain) or "CERTIFICATE_VERIFY_FAILED" in text:
        return ("TLS certificate check failed (set MLFLOW_TRACKING_SERVER_CERT_PATH to the server's CA bundle,"
                " or MLFLOW_TRACKING_INSECURE_TLS=true)")
    for needle, reason in (("Connection refused", "connection refused"),
                           ("Name or service not known", "unknown host"),
                           ("nodename nor servname", "unknown host"),
                           ("Temporary failure in name resolution", "unknown host"),
                           ("No address associated with hostname", "unknown host"),
                           ("Network is unreachable", "network unreachable"),
                           ("No route to host", "no route to host")):
        if needle in text:
            return reason
    if any(isinstance(e, requests.exceptions.Timeout) for e in chain) or "timed out" in text.lower():
        return "no answer in time (MLFLOW_HTTP_REQUEST_TIMEOUT sets how long to wait)"
    return _one_line(str(chain[-1]))


def _one_line(text: Any, limit: int = 300) -> str:
    line = " ".join(str(text or "").split())
    return line if len(line) <= limit else line[:limit - 1] + "…"

