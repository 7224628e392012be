"""The notebook plug-in: registers the notebook displays of streams, jobs and clusters (widgets,
MIME bundles, static HTML), ``collect()``'s progress display and the IPython extension in
:mod:`sabot_lab.display`.

sabot-lab finds it through the entry point ``notebook = "sabot_lab.notebook:register"`` of the
group ``sabot_lab.plugins`` (``pyproject.toml``) on the first display request. Registering is
light: each display imports its widget module (anywidget, IPython) when it is first asked for.

May import: everything.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sabot_lab.client import Cluster, Job
    from sabot_lab.config import Config
    from sabot_lab.display import Bundle
    from sabot_lab.engine.executor import ScanObserver
    from sabot_lab.logical import JobGraph
    from sabot_lab.notebook.cluster_widget import ClusterWidget
    from sabot_lab.notebook.job_widget import JobWidget
    from sabot_lab.notebook.plan_widget import PlanWidget
    from sabot_lab.stream import Stream

__all__ = ["register"]


def register(add: Callable[[str, Callable[..., Any]], None]) -> None:
    """Register the notebook displays with ``add`` (:func:`sabot_lab.display.register`).

    >>> shown = {}
    >>> register(shown.__setitem__)
    >>> sorted(kind for kind in shown if kind.startswith("job."))
    ['job.html', 'job.mimebundle', 'job.show', 'job.widget']
    """
    displays: dict[str, Callable[..., Any]] = {
        "stream.html": _stream_html,
        "stream.mimebundle": _stream_mimebundle,
        "stream.widget": _plan_widget,
        "job.html": _job_html,
        "job.mimebundle": _job_mimebundle,
        "job.show": _show_job,
        "job.widget": _job_widget,
        "cluster.html": _cluster_html,
        "cluster.mimebundle": _cluster_mimebundle,
        "cluster.show": _show_cluster,
        "cluster.widget": _cluster_widget,
        "collect.progress": _collect_progress,
        "cluster.progress": _cluster_progress,
        "wait.progress": _wait_progress,
        "ipython.extension": _load_ipython_extension,
    }
    for kind, display in displays.items():
        add(kind, display)


# -- streams ----------------------------------------------------------------------------------
def _stream_html(stream: Stream) -> str:
    """A stream's static HTML: its optimized plan as inline SVG, and as text."""
    from sabot_lab.notebook import plan_widget

    return plan_widget.stream_html(stream)


def _stream_mimebundle(stream: Stream) -> Bundle:
    """A stream's display: its plan widget in a kernel, else the static HTML and text."""
    from sabot_lab.notebook import plan_widget

    return plan_widget.stream_mimebundle(stream)


def _plan_widget(
    stream: Stream, job: Job | None = None, partitions: int | None = None
) -> PlanWidget:
    """A stream's :class:`~sabot_lab.notebook.plan_widget.PlanWidget`, following ``job``."""
    from sabot_lab.notebook.plan_widget import PlanWidget

    widget = PlanWidget(stream, partitions)
    if job is not None:
        widget.follow(job)
    return widget


# -- jobs -------------------------------------------------------------------------------------
def _job_widget(job: Job) -> JobWidget:
    """A live view of ``job``: state, progress, throughput, Cancel."""
    from sabot_lab.notebook.job_widget import JobWidget

    return JobWidget(job)


def _job_static(job: Job) -> Bundle:
    """``job`` now as static text and HTML (blocking calls to its JobManager)."""
    from sabot_lab.notebook.job_view import job_html as html_of
    from sabot_lab.notebook.job_view import job_text, view_of

    view = view_of(job)
    return {"text/plain": job_text(view), "text/html": html_of(view)}, {}


def _job_html(job: Job) -> str:
    """``job`` now as static HTML (blocking calls to its JobManager)."""
    from sabot_lab.notebook.job_view import job_html as html_of
    from sabot_lab.notebook.job_view import view_of

    return html_of(view_of(job))


def _job_mimebundle(job: Job) -> Bundle:
    """``job``'s display: its widget in a kernel, else :func:`_job_static`."""
    from sabot_lab.notebook.display import mimebundle

    return mimebundle(job, lambda: _job_static(job))


def _show_job(job: Job) -> None:
    """Display ``job`` (its ``_ipython_display_``)."""
    from sabot_lab.notebook.display import show

    show(job, lambda: _job_static(job))


# -- clusters ---------------------------------------------------------------------------------
def _cluster_widget(cluster: Cluster) -> ClusterWidget:
    """A live view of ``cluster``: agents, jobs, scale buttons."""
    from sabot_lab.notebook.cluster_widget import ClusterWidget

    return ClusterWidget(cluster)


def _cluster_static(cluster: Cluster) -> Bundle:
    """``cluster`` now as static text and HTML (blocking calls to its JobManager)."""
    from sabot_lab.notebook.cluster_view import cluster_html as html_of
    from sabot_lab.notebook.cluster_view import cluster_text, view_of

    view = view_of(cluster)
    return {"text/plain": cluster_text(view), "text/html": html_of(view)}, {}


def _cluster_html(cluster: Cluster) -> str:
    """``cluster`` now as static HTML (blocking calls to its JobManager)."""
    from sabot_lab.notebook.cluster_view import cluster_html as html_of
    from sabot_lab.notebook.cluster_view import view_of

    return html_of(view_of(cluster))


def _cluster_mimebundle(cluster: Cluster) -> Bundle:
    """``cluster``'s display: its widget in a kernel, else :func:`_cluster_static`."""
    from sabot_lab.notebook.display import mimebundle

    return mimebundle(cluster, lambda: _cluster_static(cluster))


def _show_cluster(cluster: Cluster) -> None:
    """Display ``cluster`` (its ``_ipython_display_``)."""
    from sabot_lab.notebook.display import show

    show(cluster, lambda: _cluster_static(cluster))


# -- collect() and IPython --------------------------------------------------------------------
def _collect_progress(
    graph: JobGraph, output: str, config: Config
) -> AbstractContextManager[ScanObserver | None]:
    """The progress display of a ``collect()`` (see :mod:`sabot_lab.notebook.progress`)."""
    from sabot_lab.notebook import progress

    return progress.collect_progress(graph, output, config)


def _cluster_progress() -> AbstractContextManager[Callable[[str], None] | None]:
    """The status line of a starting ``LocalCluster`` (see :mod:`sabot_lab.notebook.startup`)."""
    from sabot_lab.notebook import startup

    return startup.startup_progress()


def _wait_progress() -> AbstractContextManager[Callable[[bool], None] | None]:
    """What a blocking wait on a job calls between its slices to keep live views moving (see
    :func:`sabot_lab.notebook.live.blocked_loop_steps`)."""
    from sabot_lab.notebook import live

    return live.blocked_loop_steps()


def _load_ipython_extension(ipython: Any) -> None:
    """Register the ``%%sabot`` and ``%sabot`` magics (``%load_ext sabot_lab``)."""
    from sabot_lab.notebook import magics

    magics.load_ipython_extension(ipython)
