"""The live view of a cluster in a notebook.

A :class:`ClusterWidget` reads its cluster's agents and jobs from the kernel's event loop (an
:class:`asyncio.Task` polling the JobManager on a worker thread every
:data:`CLUSTER_INTERVAL` seconds, see :func:`~sabot_lab.notebook.live.follow`) until the
JobManager stops answering, the cluster is closed or the widget is closed. Its traitlets are the JSON data of
:func:`~sabot_lab.notebook.cluster_view.cluster_view`; ``static/cluster.js`` draws them, with
scale buttons for a :class:`~sabot_lab.client.LocalCluster` that send
``{"type": "scale", "by": 1}`` (or ``-1``): the widget then runs
:meth:`~sabot_lab.client.LocalCluster.scale` on a worker thread, so the event loop never waits.

Elements a browser test can find: ``.sabot-cluster`` (the widget), ``.sabot-agent`` (one row
per live agent, ``data-agent`` its URI) with ``.sabot-agent-state``, ``.sabot-agent-history``
(the fold of agents that stopped or failed, one ``.sabot-agent-past`` row each),
``.sabot-empty`` (an empty table's row), ``.sabot-cluster-job`` (one row
per job, ``data-job-id``) with ``.sabot-cluster-job-state``, ``.sabot-cluster-agents`` (agents
active), ``.sabot-cluster-link`` (the status page), ``.sabot-scale-up`` and
``.sabot-scale-down`` (the buttons) and ``.sabot-cluster-notice``.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import traitlets

from sabot_lab.client import LocalCluster
from sabot_lab.errors import ClusterError, SabotError
from sabot_lab.notebook.cluster_view import cluster_html, cluster_text, cluster_view, view_of
from sabot_lab.notebook.display import LiveWidget
from sabot_lab.notebook.frontend import STATIC
from sabot_lab.notebook.live import follow
from sabot_lab.notebook.snapshot import CLUSTER_MIME

if TYPE_CHECKING:
    from sabot_lab.client import Cluster

__all__ = ["CLUSTER_INTERVAL", "LINK_RENEWAL", "ClusterWidget"]

CLUSTER_INTERVAL = 1.0
"""Seconds between two readings of a cluster view (agents report every few seconds)."""
LINK_RENEWAL = 20.0
"""Seconds a widget shows the same one-time status page link (valid for a minute, see
:attr:`~sabot_lab.client.Cluster.dashboard_link`) before it asks for a new one."""


class ClusterWidget(LiveWidget):
    """A cluster's agents (state, slots, load, last heartbeat), its jobs and a link to its
    status page, live; for a :class:`~sabot_lab.client.LocalCluster`, buttons that add or
    stop an agent.

    ``cluster.widget()`` returns one, and a cluster displayed in a notebook cell shows as one.
    On a running event loop it follows the cluster (:attr:`updater`); elsewhere it shows the
    cluster as it is when made, and :meth:`refresh` reads it again.

    >>> import sabot_lab as sl
    >>> with sl.LocalCluster(agents=1, slots=1) as cluster:  # doctest: +SKIP
    ...     len(ClusterWidget(cluster).agents)
    1
    """

    _esm = STATIC / "cluster.js"
    _css = STATIC / "widgets.css"
    snapshot_mime = CLUSTER_MIME

    uri = traitlets.Unicode().tag(sync=True)
    link = traitlets.Unicode().tag(sync=True)
    scalable = traitlets.Bool().tag(sync=True)
    status = traitlets.Unicode().tag(sync=True)
    agents = traitlets.List(traitlets.Dict()).tag(sync=True)
    history = traitlets.List(traitlets.Dict()).tag(sync=True)
    jobs = traitlets.List(traitlets.Dict()).tag(sync=True)
    notice = traitlets.Unicode().tag(sync=True)
    """What a scale button started (``scaling to N agents``), or why it failed."""

    def __init__(self, cluster: Cluster, interval: float = CLUSTER_INTERVAL) -> None:
        super().__init__()
        self.cluster = cluster
        self._keys: tuple[str, ...] = ()
        self._read_once = False
        self._link_made: float | None = None  # when the link shown was made (time.monotonic)
        self.on_msg(self._on_message)
        self.updater: asyncio.Task[dict[str, Any]] | None = None
        """The task following the cluster on the event loop."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.refresh()
        else:
            self._show(cluster_view(cluster.uri, [], []))  # until the first reading
            self.updater = self.keep(follow(self._read, self._apply, _not_open, interval))

    def view(self) -> dict[str, Any]:
        """The JSON data the widget shows
        (:func:`~sabot_lab.notebook.cluster_view.cluster_view`)."""
        return {key: getattr(self, key) for key in self._keys}

    def snapshot_state(self) -> dict[str, Any]:
        """The widget's data (:meth:`view`; the snapshot keeps it without its link), not
        scalable and with no notice: a snapshot starts and stops nothing."""
        return {**self.view(), "scalable": False, "notice": ""}

    def static_html(self) -> str:
        """The widget's data as HTML (:func:`~sabot_lab.notebook.cluster_view.cluster_html`)."""
        return cluster_html(self.view())

    def static_text(self) -> str:
        """The widget's data as text (:func:`~sabot_lab.notebook.cluster_view.cluster_text`)."""
        return cluster_text(self.view())

    def refresh(self) -> None:
        """Read the cluster now and show it (blocking: for scripts, not notebook cells)."""
        self._apply(self._read())

    def scale_by(self, change: int) -> None:
        """Start or stop ``change`` agents of a LocalCluster, as the scale buttons do: on a
        worker thread when an event loop runs, else at once."""
        cluster = self.cluster
        if not isinstance(cluster, LocalCluster):
            raise ClusterError(
                f"cluster {cluster.uri} is not a LocalCluster: start or stop its agents "
                "where they run (sabot-lab agent)"
            )
        target = max(0, sum(p.poll() is None for p in cluster.agent_processes) + change)
        self.notice = f"scaling to {target} agents"
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            cluster.scale(target)
            self.notice = ""
        else:
            self.keep(self._scale(cluster.scale, target))

    async def _scale(self, scale: Any, target: int) -> None:
        try:
            await asyncio.to_thread(scale, target)
        except SabotError as exc:
            self.notice = f"scaling failed: {exc}"
        else:
            self.notice = ""
            self._apply(await asyncio.to_thread(self._read))

    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "scale":
            try:
                self.scale_by(int(content.get("by", 0)))
            except ClusterError as exc:  # shown where the button was clicked
                self.notice = str(exc)

    def _read(self) -> dict[str, Any]:
        """A reading of the cluster, with the link shown until it is due for renewal."""
        made = self._link_made
        renew = made is None or time.monotonic() - made >= LINK_RENEWAL
        view = view_of(self.cluster, None if renew else self.link)
        if renew and view["status"] == "open":
            self._link_made = time.monotonic()
        return view

    def _apply(self, view: dict[str, Any]) -> None:
        """Show a reading; the first one and that of a closed cluster also go into the
        outputs' static HTML."""
        self._show(view)
        if view["status"] == "closed" or (view["status"] == "open" and not self._read_once):
            self._read_once = True
            self.refresh_outputs()

    def _show(self, view: dict[str, Any]) -> None:
        self._keys = tuple(view)
        with self.hold_sync():
            for key, value in view.items():
                self.set_trait(key, value)


def _not_open(view: dict[str, Any]) -> bool:
    return view["status"] != "open"
