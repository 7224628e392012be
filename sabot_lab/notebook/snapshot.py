"""Snapshots of the notebook views, as custom MIME types that outlive the kernel.

Each output of a plan, job or cluster carries, next to its widget view and static HTML, a
snapshot of what the view shows: the widget's synced state as plain JSON, under
:data:`PLAN_MIME`, :data:`JOB_MIME` or :data:`CLUSTER_MIME`. sabot-lab's JupyterLab extension
draws a snapshot with the widget's own drawing code when the widget's model is not there (a
saved notebook reopened without its kernel); GitHub, nbviewer and ``nbconvert`` know nothing of
these types and show the static HTML.

A snapshot is written into the notebook file: it never holds a token or a link that opens the
cluster (:data:`SECRET_KEYS` are dropped).

May import: the standard library.

>>> snapshot(JOB_MIME, {"job_id": "j1", "state": "FINISHED"})
{'application/vnd.sabot.job+json': {'version': 1, 'state': {'job_id': 'j1', 'state': 'FINISHED'}}}
>>> snapshot(CLUSTER_MIME, {"uri": "grpc://127.0.0.1:9", "link": "http://127.0.0.1:8/?code=x"})
{'application/vnd.sabot.cluster+json': {'version': 1, 'state': {'uri': 'grpc://127.0.0.1:9'}}}
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["CLUSTER_MIME", "JOB_MIME", "PLAN_MIME", "SECRET_KEYS", "SNAPSHOT_VERSION", "snapshot"]

PLAN_MIME = "application/vnd.sabot.plan+json"
"""A plan's snapshot: its laid-out views, the view shown and a followed job's numbers."""
JOB_MIME = "application/vnd.sabot.job+json"
"""A job's snapshot: the data of :func:`~sabot_lab.notebook.job_view.job_view`."""
CLUSTER_MIME = "application/vnd.sabot.cluster+json"
"""A cluster's snapshot: the data of :func:`~sabot_lab.notebook.cluster_view.cluster_view`."""
SNAPSHOT_VERSION = 1
"""The version of the snapshots' layout; the extension refuses versions it does not know."""
SECRET_KEYS = frozenset({"link"})
"""Keys of a view's data a snapshot leaves out: the status page link carries a one-time code
that opens the cluster's dashboard."""


def snapshot(mime: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """The bundle entry ``{mime: snapshot}`` of a view's ``state`` (the widget's synced data),
    without :data:`SECRET_KEYS`."""
    kept = {key: value for key, value in state.items() if key not in SECRET_KEYS}
    return {mime: {"version": SNAPSHOT_VERSION, "state": kept}}
