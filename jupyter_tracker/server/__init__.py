"""The jupyter_server extension: the REST API of the JupyterLab sidebar, under ``/jupyter-tracker/api/``.

Enabled by ``pip install`` (``etc/jupyter/jupyter_server_config.d/jupyter_tracker.json``). The store
it shows is resolved like everywhere else (``config.resolve_settings``), starting from the server's
root directory; ``c.JupyterTracker.db = "/path/tracker.db"`` overrides it.
"""

from __future__ import annotations

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
    setup_handlers(server_app.web_app, TrackerContext(db=settings.db_path, jobs=Jobs()))
    server_app.log.info("jupyter_tracker: sidebar API at /jupyter-tracker/api/, store %s", settings.db_path)
