"""Models, figures and files as artifacts of a run: what ``log_model``, ``log_figure`` and
``log_artifact`` store, and how ``load_model`` and ``artifact`` find them again.

The bytes go to the store's content-addressed folder (``store/artifacts.py``); this module
only turns objects into bytes and back: a model is pickled, a figure saved as PNG.
Both are written straight into the hashing writer, so neither is ever held whole in memory.
"""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path
from typing import Any, Callable

from ..errors import ArtifactNotFound, UsageProblem
from ..records import Artifact, Run
from ..store import Store

PICKLE_PROTOCOL = 5  # out-of-band-capable buffers: large numpy arrays are written without a copy
KINDS = ("model", "figure", "file")


def check_artifact_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip() or "\n" in name:
        raise UsageProblem(f"an artifact name must be a non-empty one-line string, not {name!r}")
    return name


def store_model(store: Store, run_id: str, obj: Any, name: str, clock: Callable[[], float] = time.time) -> Artifact:
    """Pickle ``obj`` into the store's artifacts folder as the model ``name`` of ``run_id``.

    For example::

        store_model(store, run_id, clf, "model").size > 0
        True
    """
    check_artifact_name(name)

    def produce(writer: Any) -> None:
        try:
            pickle.dump(obj, writer, protocol=PICKLE_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            raise UsageProblem(f"cannot pickle model '{name}' ({type(obj).__name__}): {error}") from None

    digest, size = store.artifacts.put_stream(produce)
    return Artifact(run_id, name, "model", digest, size, "pickle", _qualified_name(obj), clock(),
                    store.artifacts.path(digest))


def store_figure(store: Store, run_id: str, figure: Any, name: str, clock: Callable[[], float] = time.time) -> Artifact:
    """Save a matplotlib figure (or anything with ``savefig``, or an Axes) as PNG.

    For example::

        store_figure(store, run_id, plt.gcf(), "roc").format
        'png'
    """
    check_artifact_name(name)
    target = figure if hasattr(figure, "savefig") else getattr(figure, "figure", None)
    if not hasattr(target, "savefig"):
        raise UsageProblem(f"log_figure() needs a matplotlib Figure (or Axes), got {type(figure).__name__}")
    # The writer has no fileno(): Pillow then writes through write(), so every byte is hashed.
    digest, size = store.artifacts.put_stream(lambda writer: target.savefig(writer, format="png"))
    return Artifact(run_id, name, "figure", digest, size, "png", _qualified_name(target), clock(),
                    store.artifacts.path(digest))


def store_file(store: Store, run_id: str, path: str | os.PathLike, name: str | None = None,
               clock: Callable[[], float] = time.time) -> Artifact:
    """Copy the file at ``path`` into the artifacts folder (streamed: any size).

    For example::

        store_file(store, run_id, "report.csv").name
        'report.csv'
    """
    source = Path(path)
    if source.is_dir():
        raise UsageProblem(f"log_artifact() takes a file, and '{path}' is a folder")
    name = check_artifact_name(source.name if name is None else name)
    digest, size = store.artifacts.put_file(source)
    return Artifact(run_id, name, "file", digest, size, "file", str(source.absolute()), clock(),
                    store.artifacts.path(digest))


def find_artifact(run: Run, name: str, kind: str | None = None) -> Artifact:
    """The artifact ``name`` (of ``kind``, if given) of ``run``; a clear error if there is none or several."""
    if kind is not None and kind not in KINDS:
        raise UsageProblem(f"unknown artifact kind '{kind}': use one of {', '.join(KINDS)}")
    found = [a for a in run.artifacts if a.name == name and (kind is None or a.kind == kind)]
    if not found:
        what = kind or "artifact"
        logged = ", ".join(f"{a.kind} '{a.name}'" for a in run.artifacts) or "none"
        hint = f": log one with log_model(obj, name='{name}')" if kind == "model" else ""
        raise ArtifactNotFound(f"run {run.short_id} has no {what} '{name}' (logged: {logged}){hint}")
    if len(found) > 1:
        kinds = ", ".join(a.kind for a in found)
        raise UsageProblem(f"run {run.short_id} has several artifacts named '{name}' ({kinds}): give kind=")
    return found[0]


def read_model(store: Store, digest: str, what: str) -> Any:
    """Unpickle the stored model with hash ``digest`` (``what`` names it in errors)."""
    path = store.artifacts.existing(digest, what)
    with open(path, "rb") as handle:
        return pickle.load(handle)


def replace_artifact(artifacts: list[Artifact], artifact: Artifact) -> None:
    """Add ``artifact`` to a run's list, replacing one of the same kind and name (logged again)."""
    artifacts[:] = [a for a in artifacts if (a.kind, a.name) != (artifact.kind, artifact.name)]
    artifacts.append(artifact)


def _qualified_name(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"
