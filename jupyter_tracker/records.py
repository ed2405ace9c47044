"""Plain records that move between capture, store, API and display. No I/O here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .render import run_html, run_text

RUN_STATUSES = ("running", "finished", "failed", "interrupted")
INDEX_COLUMN = "<index>"  # the name of a table's index among its column fingerprints (it has no statistics)


@dataclass(frozen=True)
class ColumnFingerprint:
    """One column (or the index, named ``<index>``) of a table: its own hash and summary."""

    name: str
    dtype: str
    hash: str
    stats: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Fingerprint:
    """Full-content hash of a DataFrame, Series, ndarray or file, plus shape and schema."""

    kind: str  # "dataframe" | "series" | "ndarray" | "file"
    hash: str  # 32 hex digits (xxh3-128)
    shape: tuple[int, ...]
    nbytes: int
    columns: tuple[ColumnFingerprint, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Fingerprint":
        return cls(
            kind=data["kind"],
            hash=data["hash"],
            shape=tuple(data["shape"]),
            nbytes=data["nbytes"],
            columns=tuple(ColumnFingerprint(**c) for c in data.get("columns", ())),
        )

    def changed_columns(self, other: "Fingerprint") -> list[str]:
        """Names of columns added, removed, retyped or changed in content between two fingerprints."""
        mine = {c.name: c for c in self.columns}
        theirs = {c.name: c for c in other.columns}
        names = list(mine) + [n for n in theirs if n not in mine]
        return [
            n for n in names
            if n not in mine or n not in theirs
            or (mine[n].hash, mine[n].dtype) != (theirs[n].hash, theirs[n].dtype)
        ]


@dataclass(frozen=True)
class DataRef:
    """A piece of data a run read (``input``) or produced (``output``)."""

    role: str  # "input" | "output"
    name: str  # variable name, or the file path as the user wrote it
    source: str  # "variable", or how a file was read: "open", "pandas.read_csv", "numpy.load", ...
    fingerprint: Fingerprint | None = None
    note: str | None = None  # why there is no fingerprint
    location: str | None = None  # the earlier cell that read this file ("In [2]"); None: the run's own cell


@dataclass(frozen=True)
class Seed:
    source: str  # "random.seed", "numpy.random.seed", "%track seed", "clf.random_state", ...
    value: Any
    generator: str | None = None  # the global generator it seeded: "python", "numpy", "torch"; None if local
    location: str | None = None  # where it was set, when before the run: "In [3]: np.random.seed(1)"

    @property
    def key(self) -> tuple[str, Any, str | None]:
        """What two executions must share for this seed to be the same (where it was set may differ)."""
        return (self.source, self.value, self.generator)


@dataclass(frozen=True)
class MetricPoint:
    name: str
    value: float
    step: int | None
    timestamp: float


@dataclass(frozen=True)
class Artifact:
    """A file stored with a run (a pickled model, a figure, any file), content-addressed beside the store."""

    run_id: str
    name: str
    kind: str  # "model" | "figure" | "file"
    hash: str  # xxh3-128 of the stored bytes: the same bytes are stored once
    size: int  # bytes
    format: str  # "pickle" | "png" | "file"
    origin: str  # the model's class, the figure's class, or the logged file's path
    created: float
    path: Any = None  # pathlib.Path of the stored file (filled in by the store that read the record)

    def __repr__(self) -> str:
        return (f"<Artifact {self.kind} '{self.name}' of run {self.run_id[:8]}: {self.format}, {self.size} bytes,"
                f" {self.hash[:12]} at {self.path}>")


@dataclass(frozen=True)
class RegistryEvent:
    """One change of the model registry: a promotion or a rollback of ``name`` in ``stage``."""

    seq: int  # order of the change in the store (0 until written)
    time: float
    name: str
    stage: str
    action: str  # "promote" | "rollback"
    run_id: str  # the run whose model holds the stage after this change
    model_hash: str  # hash of that model's stored file
    previous_run_id: str | None  # the run that held the stage before
    user: str
    host: str
    forced: bool = False  # promoted although validation failed
    validation: dict[str, Any] | None = None  # summary of the validation that allowed (or not) the promotion

    def __str__(self) -> str:
        before = f" (was {self.previous_run_id[:8]})" if self.previous_run_id else ""
        verb = "promoted" if self.action == "promote" else "rolled back to"
        forced = " (forced)" if self.forced else ""
        return (f"{self.name}/{self.stage}: {verb} {self.run_id[:8]}, model {self.model_hash[:12]}"
                f"{before}{forced}")

    def __repr__(self) -> str:
        return f"<RegistryEvent {self.seq}: {self}>"


@dataclass(repr=False)
class Run:
    """Everything recorded about one run, as returned by ``get_run``."""

    run_id: str
    experiment: str
    name: str
    status: str
    start: float
    end: float | None
    duration: float | None
    source: str  # "cell" | "script"
    params: dict[str, Any] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    seeds: list[Seed] = field(default_factory=list)
    metrics: dict[str, float] = field(default_factory=dict)  # final value of each metric
    metric_steps: dict[str, int] = field(default_factory=dict)  # number of points per metric
    inputs: list[DataRef] = field(default_factory=list)
    outputs: list[DataRef] = field(default_factory=list)
    code: str = ""
    history: list[str] = field(default_factory=list)  # sources in the order the kernel ran them
    environment: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    warnings: list[str] = field(default_factory=list)
    rerun_of: str | None = None  # the run this one re-executed
    session_id: str | None = None  # the kernel or process that recorded it
    session_seq: int | None = None  # its position among that session's runs
    hidden_state: dict[str, Any] | None = None  # {"clean": bool, "reasons": [...]} for tracked cells
    artifacts: list[Artifact] = field(default_factory=list)  # models, figures and files logged with the run

    @property
    def short_id(self) -> str:
        return self.run_id[:8]

    def to_dict(self) -> dict[str, Any]:
        """Everything recorded about the run as plain data: the one shape of ``show --format json`` and
        of the server's ``runs/<id>`` route (issue 10), so the two can never drift apart.

        Every field of the record is there under its own name, nested records as dicts, artifact paths as
        text. Floats are kept as they are: the faces write NaN and infinities as strict JSON
        (``display.json_safe``).

        For example::

            get_run("3f2a").to_dict()["metric_steps"]
            {'acc': 1, 'loss': 30}
        """
        data = asdict(self)
        data["artifacts"] = [{**artifact, "path": None if artifact["path"] is None else str(artifact["path"])}
                             for artifact in data["artifacts"]]
        return data

    def _repr_html_(self) -> str:
        return run_html(self)

    def __str__(self) -> str:
        return run_text(self)

    __repr__ = __str__


@dataclass(frozen=True)
class RunSummary:
    """One row of a runs listing: what the sidebar shows per run, without code or environment."""

    run_id: str
    experiment: str
    name: str
    status: str
    start: float
    duration: float | None
    params: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    rerun_of: str | None = None
    hidden_state: dict[str, Any] | None = None


@dataclass(frozen=True)
class RunsPage:
    """One page of a filtered, sorted runs listing and the number of runs matching in all."""

    total: int
    offset: int
    limit: int
    runs: list[RunSummary]


@dataclass(frozen=True)
class ExperimentSummary:
    name: str
    runs: int  # runs matching the filter
    last_start: float


@dataclass(frozen=True)
class StoreActivity:
    """Cheap facts about a store that change whenever a run starts or ends (the sidebar polls them)."""

    runs: int
    running: int
    last_start: float | None
    last_end: float | None


@dataclass(frozen=True)
class TableColumn:
    """A column of the runs table (issue 14): ``metrics.acc``, ``params.n``, ``tags.t`` or a field (``status``,
    ``name``, ``experiment``, ``start``, ``duration``); ``kind`` is field, param, metric or tag; ``constant``
    when every run shown has the same value there (a missing value counting as a value)."""

    name: str
    kind: str
    constant: bool


@dataclass(frozen=True)
class TableRow:
    """One run of the runs table: its id and its values by column name (a column it has no value in is left
    out)."""

    run_id: str
    values: dict[str, Any]


@dataclass(frozen=True)
class RunsTable:
    """One page of the runs table: the runs matching in all, every column of theirs, and this page's rows.

    For example::

        runs_table(filter="metrics.acc > 0.9", sort="metrics.acc", limit=20).to_dict()["total"]
    """

    total: int
    offset: int
    limit: int
    columns: list[TableColumn]
    rows: list[TableRow]

    def to_dict(self) -> dict[str, Any]:
        """The server's ``table`` answer (floats as they are: the faces write NaN and infinities as strict
        JSON with ``json_safe``)."""
        return asdict(self)


@dataclass(frozen=True)
class RunGroup:
    """Runs sharing the values of some params: ``key`` (``{"params.a": 1}``, None for runs without the param),
    how many ``runs``, and per metric ``{"mean", "std", "min", "max", "count"}`` over its finite values
    (``std`` the sample std, None below 2 values; ``"not_finite"``: how many NaN or infinite, when any)."""

    key: dict[str, Any]
    runs: int
    metrics: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class GroupsPage:
    """Groups of runs by params (issue 14): how many groups in all, the ``by`` columns, the metrics whose
    statistics each group carries, and the groups of this page."""

    total: int
    by: list[str]
    metrics: list[str]
    groups: list[RunGroup]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)
