"""The model registry: which run's model holds each stage of each model name, and its history.

Every change is an event appended to the store's ``registry`` table, never an update: a
promotion puts a run's model on top of the stage, a rollback takes the top one off and
gives the stage back to the version below it (and is itself recorded). The holder of a
stage is therefore the top of a stack replayed from the history:

    promote A, promote B, promote C   -> A B C   (C holds the stage)
    rollback                          -> A B     (B again)
    promote D                         -> A B D
    rollback, rollback                -> A       (a third rollback is refused)

A promotion is validated against the current holder before it is written; the write then
checks, inside its own transaction, that nobody changed the stage in between, and if
somebody did, validates again against the new holder. So two processes promoting at once
leave a history where every event names the version it really replaced.
"""

from __future__ import annotations

import dataclasses
import getpass
import os
import re
import socket
import time
from typing import Any, Callable

from .artifacts import find_artifact
from ..errors import NothingToRollBack, StageNotFound, StoreError, UsageProblem, ValidationFailed
from ..records import RegistryEvent, Run
from ..store import Store
from .validation import ValidationResult, ValidationSpec, validate_runs

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
HEX = re.compile(r"^[0-9a-fA-F]+$")
ATTEMPTS = 20  # re-validations when other processes keep changing the stage meanwhile


class _StageChanged(Exception):
    """The stage's history moved between validating and writing: validate again."""


def check_name(what: str, value: Any) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise UsageProblem(f"{what} must be a word of letters, digits, '_', '-' or '.' "
                           f"(like 'production' or 'model'), not {value!r}")
    return value


def holders(events: list[RegistryEvent]) -> list[RegistryEvent]:
    """Replay one stage's history: the stack of promotions still in effect, the holder last."""
    stack: list[RegistryEvent] = []
    for event in events:
        if event.action == "promote":
            stack.append(event)
        elif stack:
            stack.pop()
    return stack


def stages_in_use(store: Store, name: str) -> list[str]:
    return sorted({event.stage for event in store.registry_events(name=name)})


def current(store: Store, name: str = "model", stage: str = "production") -> RegistryEvent:
    """The promotion in effect for ``name`` in ``stage``; StageNotFound if the stage holds nothing.

    For example::

        current(store, "model", "production").run_id
    """
    check_name("the model name", name)
    check_name("the stage", stage)
    stack = holders(store.registry_events(name=name, stage=stage))
    if not stack:
        raise StageNotFound(name, stage, stages_in_use(store, name))
    return stack[-1]


def resolve_baseline(store: Store, baseline: str, name: str = "model") -> tuple[Run, str | None]:
    """The baseline run, and the stage it holds when ``baseline`` names a stage of ``name`` in the
    registry (else ``baseline`` is a run id prefix, and the stage None).

    For example::

        resolve_baseline(store, "production")[1]
        'production'
    """
    if not isinstance(baseline, str) or not baseline.strip():
        raise UsageProblem(f"baseline must be a stage (like 'production') or a run id, not {baseline!r}")
    baseline = baseline.strip()
    check_name("the model name", name)
    stages = stages_in_use(store, name)
    if baseline in stages:
        holder = current(store, name, baseline)
        return store.get_run(holder.run_id), baseline
    if HEX.match(baseline):
        return store.get_run(baseline), None
    raise StageNotFound(name, baseline, stages)


def validate(store: Store, run_id: str, baseline: str = "production", name: str = "model",
             spec: ValidationSpec | None = None) -> ValidationResult:
    """Validate a run against a stage's holder or another run (see validation.py for the checks)."""
    spec = spec or ValidationSpec.make()
    candidate = store.get_run(run_id)
    baseline_run, stage = resolve_baseline(store, baseline, name)
    return validate_runs(candidate, baseline_run, spec, stage)


def promote(store: Store, run_id: str, stage: str = "production", name: str = "model", force: bool = False,
            spec: ValidationSpec | None = None, clock: Callable[[], float] = time.time) -> RegistryEvent:
    """Make ``run_id``'s model the holder of ``stage``, after validating it against the current holder.

    Promoting the run that already holds the stage with the same model changes nothing and
    returns the promotion in effect.

    For example::

        promote(store, "9be0", "production").previous_run_id
    """
    check_name("the stage", stage)
    check_name("the model name", name)
    spec = spec or ValidationSpec.make()
    candidate = store.get_run(run_id)
    model = find_artifact(candidate, name, kind="model")
    store.artifacts.existing(model.hash, f"model '{name}' of run {candidate.short_id}")
    for _ in range(ATTEMPTS):
        history = store.registry_events(name=name, stage=stage)
        stack = holders(history)
        holder = stack[-1] if stack else None
        if holder is not None and (holder.run_id, holder.model_hash) == (candidate.run_id, model.hash):
            return holder
        summary, forced = None, False
        if holder is not None:
            result = validate_runs(candidate, store.get_run(holder.run_id), spec, stage)
            summary = result.summary()
            if not result.passed:
                if not force:
                    raise ValidationFailed(candidate.run_id, result.baseline_label,
                                           [c.line() for c in result.failures], result)
                forced = True
        elif candidate.status != "finished":
            if not force:
                raise ValidationFailed(candidate.run_id, f"an empty '{stage}'",
                                       [f"status run: the run is {candidate.status}, not finished"])
            forced = True
        seen = history[-1].seq if history else None
        event = RegistryEvent(0, 0.0, name, stage, "promote", candidate.run_id, model.hash,
                              holder.run_id if holder else None, _user(), socket.gethostname(),
                              forced=forced, validation=summary)

        def decide(events: list[RegistryEvent], event: RegistryEvent = event, seen: int | None = seen
                   ) -> RegistryEvent:
            if (events[-1].seq if events else None) != seen:
                raise _StageChanged()
            return _stamped(event, clock)

        try:
            return store.append_registry_event(name, stage, decide)
        except _StageChanged:
            continue  # another process changed the stage since we validated: validate against the new holder
    raise StoreError(f"could not promote to '{stage}': the stage kept changing ({ATTEMPTS} attempts)")


def rollback(store: Store, name: str = "model", stage: str = "production",
             clock: Callable[[], float] = time.time) -> RegistryEvent:
    """Give ``stage`` back to the version promoted before the current one; the rollback is recorded.

    For example::

        rollback(store, "model", "production").run_id   # the previous holder
    """
    check_name("the stage", stage)
    check_name("the model name", name)
    if stage not in stages_in_use(store, name):
        raise StageNotFound(name, stage, stages_in_use(store, name))
    user, host = _user(), socket.gethostname()

    def decide(events: list[RegistryEvent]) -> RegistryEvent:
        # Decided on the history read inside the write: a concurrent change cannot slip in between.
        stack = holders(events)
        if not stack:
            raise StageNotFound(name, stage, [])
        if len(stack) < 2:
            raise NothingToRollBack(name, stage, stack[-1].run_id)
        back_to, leaving = stack[-2], stack[-1]
        return _stamped(RegistryEvent(0, 0.0, name, stage, "rollback", back_to.run_id, back_to.model_hash,
                                      leaving.run_id, user, host), clock)

    return store.append_registry_event(name, stage, decide)


def history_frame(store: Store, name: str | None = None, stage: str | None = None) -> Any:
    """The registry's history as a DataFrame, oldest first: who, when, which run, which model hash, which stage."""
    import pandas as pd  # only when asked for

    if name is not None:
        check_name("the model name", name)
    if stage is not None:
        check_name("the stage", stage)
    rows = []
    for event in store.registry_events(name=name, stage=stage):
        rows.append({
            "seq": event.seq, "time": event.time, "user": event.user, "host": event.host, "action": event.action,
            "name": event.name, "stage": event.stage, "run_id": event.run_id, "model_hash": event.model_hash,
            "previous_run_id": event.previous_run_id, "forced": event.forced,
            "validation": _validation_text(event.validation),
        })
    columns = ["seq", "time", "user", "host", "action", "name", "stage", "run_id", "model_hash",
               "previous_run_id", "forced", "validation"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["time"] = pd.to_datetime(frame["time"].astype("float64"), unit="s", utc=True)
    return frame


def _validation_text(summary: dict[str, Any] | None) -> str:
    if summary is None:
        return ""
    if summary.get("passed"):
        return f"passed {summary.get('checks', 0)} checks against {str(summary.get('baseline'))[:8]}"
    failed = summary.get("failed") or []
    return f"FAILED against {str(summary.get('baseline'))[:8]}: " + "; ".join(failed[:3]) + \
        (f"; and {len(failed) - 3} more" if len(failed) > 3 else "")


def _stamped(event: RegistryEvent, clock: Callable[[], float]) -> RegistryEvent:
    return dataclasses.replace(event, time=clock())


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # a container user without a passwd entry
        return os.environ.get("USER") or os.environ.get("USERNAME") or "unknown"
