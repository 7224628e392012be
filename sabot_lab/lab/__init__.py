"""sabot-lab in JupyterLab: the Jupyter server extension behind the Sabot sidebar (the
frontend is the TypeScript extension in the checkout's ``extension/``, shipped prebuilt in the
wheel under ``share/jupyter/labextensions/sabot-lab``).

Modules: :mod:`~sabot_lab.lab.reachable` (the clusters reached, their tokens kept here),
:mod:`~sabot_lab.lab.overview` (what the sidebar shows of a cluster),
:mod:`~sabot_lab.lab.handlers` (the REST handlers under ``/sabot/``).

May import: the client layer (:mod:`sabot_lab.client`, its local registry), the wire layer's
credentials, :mod:`sabot_lab.errors`, jupyter_server; nothing of the engine.
"""

from __future__ import annotations

from typing import Any

from sabot_lab.lab.handlers import routes

__all__: list[str] = []  # jupyter_server finds the two hooks below by name


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    """Where jupyter_server finds the extension (``jpserver_extensions``: ``sabot_lab.lab``).

    >>> _jupyter_server_extension_points()
    [{'module': 'sabot_lab.lab'}]
    """
    return [{"module": "sabot_lab.lab"}]


def _load_jupyter_server_extension(serverapp: Any) -> None:
    """Add the ``/sabot/`` handlers to a running Jupyter server (jupyter_server calls it when
    the extension is enabled)."""
    web_app = serverapp.web_app
    web_app.add_handlers(".*$", routes(web_app.settings["base_url"]))
    serverapp.log.info(
        "sabot-lab: the Sabot sidebar's handlers are under %ssabot/", web_app.settings["base_url"]
    )
