"""The one error hierarchy of jupyter_tracker.

Each class carries the exit code the CLI uses and the HTTP status the server uses, so
translating an error is a lookup in exactly three places: the click group, the magics
and the server's base handler. Messages always name the offending input.
"""


def shortened(text: str, limit: int = 40) -> str:
    """An input quoted in a message: at most ``limit`` characters, marked when cut."""
    return text if len(text) <= limit else text[:limit] + f"… ({len(text):,} characters)"


class TrackerError(Exception):
    """Base class: a problem the user can act on, reported as one line."""

    exit_code = 1
    http_status = 500


class UsageProblem(TrackerError):
    """Malformed input: a bad option, parameter or value."""

    exit_code = 2
    http_status = 400


class RunNotFound(TrackerError):
    """No run id starts with the given prefix."""

    exit_code = 3
    http_status = 404

    def __init__(self, prefix: str):
        super().__init__(f"no run matches '{shortened(prefix)}'")
        self.prefix = prefix


class AmbiguousRunId(TrackerError):
    """A prefix matches several runs; the message lists (some of) them."""

    exit_code = 3
    http_status = 400

    def __init__(self, prefix: str, candidates: list[str]):
        shown = ", ".join(c[:12] for c in candidates[:5])
        more = "" if len(candidates) <= 5 else f" and {len(candidates) - 5} more"
        super().__init__(f"run id prefix '{prefix}' is ambiguous: {shown}{more}")
        self.prefix = prefix
        self.candidates = candidates


class StoreError(TrackerError):
    """The store file cannot be used: corrupt, not ours, newer schema, missing."""

    exit_code = 4
    http_status = 503  # the request was fine; the store behind it is not usable


class StoreDamaged(StoreError):
    """SQLite found the store damaged (an integrity check, or a read that met a damaged page): from then on
    this process neither writes to it nor reads from it, and says how to recover (issue 13)."""

    def __init__(self, path: object, detail: str):
        super().__init__(
            f"store {path} is damaged ({detail}); nothing more is written to it: "
            f"run `jupyter-tracker --db {path} doctor` for how to recover")
        self.path, self.detail = path, detail


class NoActiveRun(TrackerError):
    """log_* was called outside a tracked cell or start_run block."""

    exit_code = 2
    http_status = 400

    def __init__(self, what: str):
        super().__init__(
            f"{what}() needs an active run: call it inside a %%track cell or a start_run() block"
        )


class ArtifactNotFound(TrackerError):
    """A run has no artifact (model, figure or file) of the given name, or its file is gone."""

    exit_code = 3
    http_status = 404


class StageNotFound(TrackerError):
    """Nothing is promoted to the given stage of a model (an unknown stage, or no baseline yet)."""

    exit_code = 3
    http_status = 404

    def __init__(self, name: str, stage: str, stages_in_use: list[str]):
        if stages_in_use:
            message = (f"no model '{name}' in stage '{stage}' "
                       f"(stages in use for '{name}': {', '.join(stages_in_use)})")
        else:
            message = (f"nothing has been promoted to '{stage}' for model '{name}' yet: "
                       f"promote a run first, or give a run id as the baseline")
        super().__init__(message)
        self.name, self.stage, self.stages_in_use = name, stage, stages_in_use


class NothingToRollBack(TrackerError):
    """A stage holds its first promoted version: there is no earlier one to go back to."""

    exit_code = 1
    http_status = 409

    def __init__(self, name: str, stage: str, holder: str):
        super().__init__(
            f"model '{name}' in stage '{stage}' has no earlier version to roll back to "
            f"(it holds {holder[:8]}, the first version promoted there)"
        )


class ValidationFailed(TrackerError):
    """promote refused a run that fails validation against the current holder of the stage."""

    exit_code = 1
    http_status = 409

    def __init__(self, run_id: str, baseline: str, failures: list[str], result: object = None):
        shown = "; ".join(failures[:4]) + (f"; and {len(failures) - 4} more" if len(failures) > 4 else "")
        super().__init__(
            f"run {run_id[:8]} fails validation against {baseline}: {shown}; "
            f"pass force=True (--force) to promote it anyway"
        )
        self.run_id, self.failures, self.result = run_id, failures, result


class JobNotFound(TrackerError):
    """No background job (a rerun started from JupyterLab) has the given id in this server."""

    exit_code = 3
    http_status = 404

    def __init__(self, job_id: str):
        super().__init__(f"no job '{shortened(job_id)}' in this server (jobs are kept until the server restarts)")
        self.job_id = job_id


class PushError(TrackerError):
    """``push`` could not copy runs to an MLflow tracking server: unreachable, refusing, or failing.

    ``server_status`` is the HTTP status the server answered with (401, 403, 500, ...), None when
    no answer came. Nothing is ever written to the local store; what reached the server is kept
    and a second push resumes from it.
    """

    exit_code = 5
    http_status = 502

    def __init__(self, message: str, server_status: int | None = None):
        super().__init__(message)
        self.server_status = server_status


def positive_int(name: str, value: object, of: str = "") -> int:
    """``value`` when it is a whole number of at least 1, else a UsageProblem naming ``name``.

    >>> positive_int("repeat", 0, of="executions")
    Traceback (most recent call last):
    ...
    jupyter_tracker.errors.UsageProblem: repeat must be a positive number of executions, not 0
    """
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise UsageProblem(f"{name} must be a positive number{f' of {of}' if of else ''}, not {value!r}")
    return value


# ------------------------------------------------------------------ input bounds
# What a request or a command may ask for (issue 13): beyond these, one UsageProblem naming the input,
# never a query the store cannot run or an answer without bound. The README's "Security and limits"
# lists them.
MAX_OFFSET = 10**12  # rows skipped by a page: far beyond any store, far below SQLite's 64-bit integers
MAX_SEARCH_WORDS = 20
MAX_SEARCH_CHARS = 1000
MAX_COMPARED = 50  # runs in one comparison
MAX_TEXT_CHARS = 10_000  # an experiment, a run name or a metric name given as a filter or in a path
MAX_RUN_ID_CHARS = 64  # a run id is 32 hex digits; a prefix is shorter


def whole_number(name: str, value: object, low: int, high: int) -> int:
    """``value`` when it is a whole number from ``low`` to ``high``, else a UsageProblem naming ``name``.

    >>> whole_number("offset", 10**20, 0, MAX_OFFSET)
    Traceback (most recent call last):
    ...
    jupyter_tracker.errors.UsageProblem: offset must be a whole number from 0 to 1,000,000,000,000, not 100000000000000000000
    """
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise UsageProblem(f"{name} must be a whole number from {low:,} to {high:,}, not {value!r:.40}")
    return value


def bounded_text(name: str, value: str | None, limit: int = MAX_TEXT_CHARS) -> str | None:
    """``value`` when it is at most ``limit`` characters, else a UsageProblem naming ``name``."""
    if value is not None and len(value) > limit:
        raise UsageProblem(f"{name} must be at most {limit:,} characters, not {len(value):,}")
    return value


def search_text(q: str | None) -> str | None:
    """A search of at most ``MAX_SEARCH_WORDS`` words and ``MAX_SEARCH_CHARS`` characters.

    >>> search_text("rf  churn")
    'rf  churn'
    """
    bounded_text("q", q, MAX_SEARCH_CHARS)
    if q is not None and len(q.split()) > MAX_SEARCH_WORDS:
        raise UsageProblem(f"q must be at most {MAX_SEARCH_WORDS} words, not {len(q.split()):,}")
    return q


def run_id_list(ids: "list[str] | tuple[str, ...]", most: int = MAX_COMPARED) -> list[str]:
    """Run ids (or prefixes, of any case) without repeats, in their first order: at most ``most``, each of a
    sane length.

    >>> run_id_list(["3f2a", "9be0", "3F2A "])
    ['3f2a', '9be0']
    """
    unique = list(dict.fromkeys(run_id.strip().lower() for run_id in ids))
    if len(unique) > most:
        raise UsageProblem(f"at most {most} runs can be compared at once, not {len(unique):,}")
    for run_id in unique:
        bounded_text("a run id", run_id, MAX_RUN_ID_CHARS)
    return unique
