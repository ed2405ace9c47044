"""The one error hierarchy of jupyter_tracker.

Each class carries the exit code the CLI uses and the HTTP status the server uses, so
translating an error is a lookup in exactly three places: the click group, the magics
and the server's base handler. Messages always name the offending input.
"""


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
        super().__init__(f"no run matches '{prefix}'")
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
    http_status = 500


class NoActiveRun(TrackerError):
    """log_* was called outside a tracked cell or start_run block."""

    exit_code = 2
    http_status = 400

    def __init__(self, what: str):
        super().__init__(
            f"{what}() needs an active run: call it inside a %%track cell or a start_run() block"
        )
