"""REST handlers under ``/jupyter-tracker/api/``: parse the request, call ``jupyter_tracker.api``, answer JSON.

Every verb requires the server's authentication (``@tornado.web.authenticated``; an API handler
answers 403 instead of redirecting to the login page) and POSTs are checked for XSRF by
jupyter_server. A ``TrackerError`` becomes an ``HTTPError`` with its ``http_status`` and a JSON
``{"message": ...}`` body, here and nowhere else in the server.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import math
import time
from pathlib import Path
from typing import Any, Callable

import tornado.web
from jupyter_server.base.handlers import APIHandler
from jupyter_server.utils import url_path_join

from .. import __version__, api, repro
from ..render import changed_inputs, json_safe
from ..errors import TrackerError, UsageProblem, shortened
from .jobs import Jobs

PREFIX = ("jupyter-tracker", "api")
MAX_REPEAT = 20
MAX_LIST_CHARS = 100_000  # a comma-separated list of column names (each bounded again by the api)


@dataclasses.dataclass(frozen=True)
class TrackerContext:
    """What every handler shares, built once by the extension into ``web_app.settings``."""

    db: Path  # the store the sidebar shows
    jobs: Jobs


class TrackerHandler(APIHandler):
    @property
    def context(self) -> TrackerContext:
        return self.settings["jupyter_tracker"]

    async def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run an API function on the store, off the event loop (a query may take tens of ms)."""
        started = time.perf_counter()
        bound = functools.partial(function, *args, db=self.context.db, **kwargs)
        try:
            return await asyncio.get_running_loop().run_in_executor(None, bound)
        except TrackerError as error:
            raise _http_error(error) from None
        finally:
            # Server time per request, visible in the browser's network panel and to the tests.
            self.add_header("Server-Timing", f"api;dur={(time.perf_counter() - started) * 1000:.1f}")

    def int_argument(self, name: str, default: int) -> int:
        text = self.get_argument(name, None)
        if text is None:
            return default
        try:
            return int(text)
        except ValueError:
            raise _http_error(UsageProblem(f"{name} must be a whole number, not '{shortened(text)}'")) from None

    def list_argument(self, name: str) -> list[str] | None:
        """A comma-separated argument as a list; None when absent or empty (the route's default)."""
        text = self.get_argument(name, None)
        if text is None or not text.strip():
            return None
        if len(text) > MAX_LIST_CHARS:
            raise _http_error(UsageProblem(f"{name} must be at most {MAX_LIST_CHARS:,} characters, not {len(text):,}"))
        return [part.strip() for part in text.split(",") if part.strip()]

    def reply(self, payload: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(json_safe(payload), ensure_ascii=False, allow_nan=False))

    async def reply_page(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        """Answer a page of the runs table or of groups: the API call and the JSON of its answer both in a
        worker thread, both in the Server-Timing (a page of 100 runs × 300 columns is 30,000 values: through
        ``asdict``'s deep copy, on the event loop, its encoding took about as long as the query itself)."""
        self.finish(await self.call(lambda *a, **kw: encode_page(function(*a, **kw)), *args, **kwargs))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        error = kwargs.get("exc_info", (None, None, None))[1]
        if not isinstance(error, tornado.web.HTTPError) or not error.log_message:
            return super().write_error(status_code, **kwargs)
        self.set_header("Content-Type", "application/json")
        message = error.log_message % error.args if error.args else error.log_message
        self.finish(json.dumps({"message": message, "reason": error.reason}))


def plain(value: Any) -> Any:
    """``dataclasses.asdict`` without its deep copy of every value (the values are the store's: numbers, text,
    lists and dicts of them), for dataclasses, lists, tuples and dicts nested in each other."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    if isinstance(value, dict):
        return {key: plain(item) for key, item in value.items()}
    return value


def _fields(value: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    raise TypeError(f"{type(value).__name__} is not JSON")


def encode_page(page: Any) -> str:
    """A table or groups page (dataclasses) as strict JSON, as ``reply`` writes ``asdict`` of it: straight
    through the C encoder when every value is plain JSON, through ``json_safe`` when one is not (NaN, an
    infinity, a numpy number)."""
    try:
        return json.dumps(page, default=_fields, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):
        return json.dumps(json_safe(plain(page)), ensure_ascii=False, allow_nan=False)


def _http_error(error: TrackerError) -> tornado.web.HTTPError:
    # "%s" keeps a '%' in the message (a search text, a prefix) from being read as a format by tornado's log.
    return tornado.web.HTTPError(error.http_status, "%s", str(error))


class StatusHandler(TrackerHandler):
    """The handshake: versions, where the store is, and what changes when runs start or end."""

    @tornado.web.authenticated
    async def get(self) -> None:
        store = await self.call(api.store_status)
        self.reply({
            "version": __version__, "store_path": store.pop("path"), "store_exists": store.pop("exists"),
            **store, "rerun": True,
        })


class ExperimentsHandler(TrackerHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        summaries = await self.call(api.experiment_summaries, q=self.get_argument("q", None))
        self.reply({"experiments": [dataclasses.asdict(s) for s in summaries]})


class ColumnsHandler(TrackerHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        self.reply(await self.call(api.run_columns))


class RunsHandler(TrackerHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        page = await self.call(
            api.runs_page,
            experiment=self.get_argument("experiment", None), q=self.get_argument("q", None),
            sort=self.get_argument("sort", "start"), order=self.get_argument("order", "desc"),
            limit=self.int_argument("limit", 50), offset=self.int_argument("offset", 0),
        )
        self.reply(dataclasses.asdict(page))


class TableHandler(TrackerHandler):
    """A page of the runs table (issue 14): every column, filtered, searched, sorted and paged by the store."""

    @tornado.web.authenticated
    async def get(self) -> None:
        await self.reply_page(
            api.runs_table,
            experiment=self.get_argument("experiment", None), filter=self.get_argument("filter", None),
            q=self.get_argument("q", None), sort=self.get_argument("sort", "start"),
            order=self.get_argument("order", "desc"), limit=self.int_argument("limit", 100),
            offset=self.int_argument("offset", 0), columns=self.list_argument("columns"),
        )


class GroupsHandler(TrackerHandler):
    """Groups of runs by 1 to 5 params, with each metric's mean, std, min, max and count (issue 14)."""

    @tornado.web.authenticated
    async def get(self) -> None:
        await self.reply_page(
            api.groups_page,
            self.list_argument("by") or [], experiment=self.get_argument("experiment", None),
            filter=self.get_argument("filter", None), q=self.get_argument("q", None),
            metrics=self.list_argument("metrics"), sort=self.get_argument("sort", None),
            order=self.get_argument("order", "asc"), limit=self.int_argument("limit", 100),
            offset=self.int_argument("offset", 0),
        )


class RunHandler(TrackerHandler):
    @tornado.web.authenticated
    async def get(self, run_id: str) -> None:
        run = await self.call(api.get_run, run_id)
        previous = await self.call(api.previous_run, run.run_id)
        self.reply({
            "run": run.to_dict(),  # the very shape of `show --format json`
            "previous_run_id": previous.run_id if previous else None,
            "changed_inputs": changed_inputs(run, previous),
        })


class CompareHandler(TrackerHandler):
    @tornado.web.authenticated
    async def get(self) -> None:
        ids = [i.strip() for i in self.get_argument("ids", "").split(",") if i.strip()]
        comparison = await self.call(api.compare, *ids)
        self.reply({
            **comparison.to_dict(),
            "details": [
                {"run_id": r.run_id, "name": r.name, "experiment": r.experiment, "status": r.status,
                 "start": r.start, "metric_steps": r.metric_steps}
                for r in comparison.runs
            ],
        })


class MetricHandler(TrackerHandler):
    @tornado.web.authenticated
    async def get(self, run_id: str, name: str) -> None:
        series = await self.call(api.metric_series, run_id, name)
        if series.empty:
            raise tornado.web.HTTPError(404, "%s", f"run '{run_id}' has no metric '{name}'")
        self.reply({"run_id": run_id, "name": name, **{k: series[k].tolist() for k in ("step", "value")}})


class RerunHandler(TrackerHandler):
    """Start re-executing a run in the background; answer 202 with the job to poll."""

    @tornado.web.authenticated
    async def post(self, run_id: str) -> None:
        options = self._options()
        run = await self.call(api.get_run, run_id)  # 404 now, not in the job, for an unknown run
        await self.call(api.check_integrity)  # 503 now for a damaged store: no execution writes into it
        db = self.context.db

        def work(progress: Callable[[int, int], None]) -> Any:
            return repro.rerun(run.run_id, db=db, on_progress=progress, progress=False, **options)

        job = self.context.jobs.submit("rerun", run.run_id, total=options["repeat"], work=work)
        self.set_header("Location", url_path_join(self.base_url, *PREFIX, "jobs", job["job_id"]))
        self.reply(job, status=202)

    def _options(self) -> dict[str, Any]:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise _http_error(UsageProblem("the request body must be JSON")) from None
        if not isinstance(body, dict):
            raise _http_error(UsageProblem("the request body must be a JSON object"))
        unknown = sorted(set(body) - {"repeat", "rtol", "atol"})
        if unknown:
            raise _http_error(UsageProblem(f"unknown rerun option(s): {', '.join(unknown)}; use repeat, rtol, atol"))
        repeat = body.get("repeat", 1)
        if isinstance(repeat, bool) or not isinstance(repeat, int) or not 1 <= repeat <= MAX_REPEAT:
            raise _http_error(UsageProblem(f"repeat must be a whole number from 1 to {MAX_REPEAT}, not {repeat!r}"))
        options: dict[str, Any] = {"repeat": repeat}
        for name in ("rtol", "atol"):
            value = body.get(name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                      or not math.isfinite(value) or value < 0):
                raise _http_error(UsageProblem(f"{name} must be a non-negative number, not {value!r}"))
            if value is not None:
                options[name] = float(value)
        return options


class JobHandler(TrackerHandler):
    @tornado.web.authenticated
    async def get(self, job_id: str) -> None:
        try:
            self.reply(self.context.jobs.get(job_id))
        except TrackerError as error:
            raise _http_error(error) from None


# (path as documented in the README, URL pattern, handler). tests/test_docs.py checks the README.
ROUTES: list[tuple[str, str, type[TrackerHandler]]] = [
    ("status", r"status", StatusHandler),
    ("experiments", r"experiments", ExperimentsHandler),
    ("columns", r"columns", ColumnsHandler),
    ("runs", r"runs", RunsHandler),
    ("table", r"table", TableHandler),
    ("groups", r"groups", GroupsHandler),
    ("runs/<id>", r"runs/(?P<run_id>[^/]+)", RunHandler),
    ("runs/<id>/metrics/<name>", r"runs/(?P<run_id>[^/]+)/metrics/(?P<name>.+)", MetricHandler),
    ("runs/<id>/rerun", r"runs/(?P<run_id>[^/]+)/rerun", RerunHandler),
    ("compare", r"compare", CompareHandler),
    ("jobs/<id>", r"jobs/(?P<job_id>[^/]+)", JobHandler),
]


def setup_handlers(web_app: tornado.web.Application, context: TrackerContext) -> None:
    """Register the routes under ``<base_url>jupyter-tracker/api/`` with ``context`` for every handler."""
    web_app.settings["jupyter_tracker"] = context
    base = url_path_join(web_app.settings["base_url"], *PREFIX)
    web_app.add_handlers(".*$", [(url_path_join(base, pattern) + "$", handler) for _, pattern, handler in ROUTES])
