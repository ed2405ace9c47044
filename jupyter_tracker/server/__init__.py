"""The jupyter_server extension: the REST API of the JupyterLab sidebar, under ``/jupyter-tracker/api/``.

Enabled by ``pip install`` (``etc/jupyter/jupyter_server_config.d/jupyter_tracker.json``). The store
it shows is resolved like everywhere else (``config.resolve_settings``), starting from the server's
root directory; ``c.JupyterTracker.db = "/path/tracker.db"`` overrides it. Rerun jobs still running
when the server stops are cancelled: their kernels do not outlive it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from traitlets import Unicode
from traitlets.config import Configurable


class JupyterTracker(Configurable):
    """Server-side settings: each trait overrides one field of ``config.Settings``."""

    db = Unicode(
        None, allow_none=True, config=True,
        help="Store file shown in the sidebar (default: $JUPYTER_TRACKER_DB, else the nearest "
             ".jupyter_tracker/tracker.db above the server's root directory).",
    )


def _load_jupyter_server_extension(server_app: Any) -> None:
    from ..config import resolve_settings
    from .handlers import TrackerContext, setup_handlers
    from .jobs import Jobs

    settings = resolve_settings(JupyterTracker(parent=server_app).db, cwd=server_app.root_dir)
    jobs = Jobs()
    setup_handlers(server_app.web_app, TrackerContext(db=settings.db_path, jobs=jobs))
    _shut_down_with(server_app, jobs)
    server_app.log.info("jupyter_tracker: sidebar API at /jupyter-tracker/api/, store %s", settings.db_path)


def _shut_down_with(server_app: Any, jobs: Any) -> None:
    """Cancel the jobs when the server stops (issue 13). jupyter_server 2 calls stop hooks only on
    ExtensionApp extensions and has no unload hook for a module one like this, so join its extension
    clean-up, which ``stop()``, SIGTERM and a confirmed Ctrl-C all reach. Without it the process's
    exit waited for a running rerun to finish its notebooks."""
    clean_up_extensions = server_app.cleanup_extensions

    async def cleanup_extensions() -> None:
        # Off the event loop: the wait for the killed jobs to end (about a second) blocks.
        await asyncio.get_running_loop().run_in_executor(None, jobs.shutdown)
        await clean_up_extensions()

    server_app.cleanup_extensions = cleanup_extensions
