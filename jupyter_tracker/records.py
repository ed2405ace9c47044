"""Plain records that move between capture, store, API and display. No I/O here."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

RUN_STATUSES = ("running", "finished", "failed", "interrupted")


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


@dataclass(frozen=True)
class Seed:
    source: str  # "random.seed", "numpy.random.seed", "%track seed", "clf.random_state", ...
    value: Any


@dataclass(frozen=True)
class MetricPoint:
    name: str
    value: float
    step: int | None
    timestamp: float


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

    @property
    def short_id(self) -> str:
        return self.run_id[:8]

    def _repr_html_(self) -> str:
        from .display import run_html

        return run_html(self)

    def __str__(self) -> str:
        from .display import run_text

        return run_text(self)

    __repr__ = __str__
