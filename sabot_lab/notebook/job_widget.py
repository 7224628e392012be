"""The live view of a cluster job in a notebook.

A :class:`JobWidget` follows its job from the kernel's event loop (an :class:`asyncio.Task`
polling the JobManager on a worker thread, at most every
:data:`~sabot_lab.notebook.frontend.UPDATE_INTERVAL` seconds, see
:func:`~sabot_lab.notebook.live.follow`) and stops once the job ended, keeping its final
state. Its traitlets are the JSON data of :func:`~sabot_lab.notebook.job_view.job_view`;
``static/job.js`` draws them, with a Cancel button that sends ``{"type": "cancel"}``: the
widget then cancels the job on a worker thread, so the event loop never waits.

Elements a browser test can find: ``.sabot-job`` (the widget), ``.sabot-job-state`` (the
state's name: RUNNING, FINISHED, ...), ``.sabot-job-rows`` (rows out so far),
``.sabot-job-progress`` (a ``<progress>`` and ``.sabot-job-tasks``, bounded jobs),
``.sabot-sparkline`` (the throughput's SVG), ``.sabot-job-throughput``, ``.sabot-job-latency``,
``.sabot-job-backpressure``, ``.sabot-job-checkpoint``, ``.sabot-job-error`` (the remote
traceback), ``.sabot-job-failure`` (a failed task: ``.sabot-job-task-error``, its error when
the job's does not hold it, and ``.sabot-job-log``, the tail of its log),
``.sabot-job-cancel`` (the button) and ``.sabot-job-notice``.
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

import traitlets

from sabot_lab.errors import SabotError
from sabot_lab.notebook.display import LiveWidget
from sabot_lab.notebook.frontend import STATIC, UPDATE_INTERVAL
from sabot_lab.notebook.job_view import (
    Throughput,
    job_html,
    job_text,
    job_view,
    source_sizes,
)
from sabot_lab.notebook.live import JobSnapshot, follow, job_snapshot
from sabot_lab.notebook.snapshot import JOB_MIME

if TYPE_CHECKING:
    from sabot_lab.client import Job

__all__ = ["JobWidget"]

Reading = tuple[JobSnapshot, list[dict[str, Any]]]


class JobWidget(LiveWidget):
    """A job's state, rows, progress (bounded jobs), throughput sparkline, latency,
    backpressure, last checkpoint, error and failed task (its log's tail), live while it
    runs, with a Cancel button.

    ``job.widget()`` returns one, and a job displayed in a notebook cell shows as one. On a
    running event loop (a notebook cell) it follows the job (:attr:`updater`); elsewhere it
    shows the job as it is when made, and :meth:`refresh` reads it again.

    >>> import sabot_lab as sl
    >>> with sl.LocalCluster(agents=1, slots=1) as cluster:  # doctest: +SKIP
    ...     job = sl.from_pydict({"x": [1, 2, 3]}).submit(cluster)
    ...     _ = job.wait()
    ...     JobWidget(job).rows
    3
    """

    _esm = STATIC / "job.js"
    _css = STATIC / "widgets.css"
    snapshot_mime = JOB_MIME

    job_id = traitlets.Unicode().tag(sync=True)
    state = traitlets.Unicode().tag(sync=True)
    error = traitlets.Unicode().tag(sync=True)
    rows = traitlets.Int().tag(sync=True)
    rows_all_stages = traitlets.Int().tag(sync=True)
    rows_read = traitlets.Int(allow_none=True, default_value=None).tag(sync=True)
    tasks = traitlets.Dict().tag(sync=True)
    progress = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    throughput = traitlets.List(traitlets.Float()).tag(sync=True)
    sparkline = traitlets.Unicode().tag(sync=True)
    latency_s = traitlets.Float(allow_none=True, default_value=None).tag(sync=True)
    backpressure = traitlets.Float().tag(sync=True)
    checkpoint = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    attempts = traitlets.Int().tag(sync=True)
    failure = traitlets.Dict(allow_none=True, default_value=None).tag(sync=True)
    """The failed task's id, agent, error and the tail of its log (None: none failed)."""
    notice = traitlets.Unicode().tag(sync=True)
    """What the Cancel button started: ``cancelling``, or why the cancel failed; or that the
    JobManager gives no reading (:func:`~sabot_lab.notebook.live.follow` tries again)."""

    def __init__(self, job: Job, interval: float = UPDATE_INTERVAL) -> None:
        super().__init__()
        self.job = job
        self._meter = Throughput()
        initial = job_view(JobSnapshot(job.job_id, "PENDING", None, [], {}))
        self._keys = tuple(initial)
        self._show(initial)
        self.on_msg(self._on_message)
        self._troubled = ""  # the notice of readings failing, while shown
        self.updater: asyncio.Task[Reading] | None = None
        """The task following the job on the event loop; its result is the last reading."""
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.refresh()
        else:
            self.updater = self.keep(
                follow(self._read, self._apply, _ended, interval, on_trouble=self._trouble)
            )

    def view(self) -> dict[str, Any]:
        """The JSON data the widget shows (:func:`~sabot_lab.notebook.job_view.job_view`)."""
        return {key: getattr(self, key) for key in self._keys}

    def snapshot_state(self) -> dict[str, Any]:
        """The widget's data (:meth:`view`), with no notice (a snapshot cancels nothing)."""
        return {**self.view(), "notice": ""}

    def static_html(self) -> str:
        """The widget's data as HTML (:func:`~sabot_lab.notebook.job_view.job_html`)."""
        return job_html(self.view())

    def static_text(self) -> str:
        """The widget's data as text (:func:`~sabot_lab.notebook.job_view.job_text`)."""
        return job_text(self.view())

    def refresh(self) -> None:
        """Read the job now and show it (blocking: for scripts, not notebook cells)."""
        self._apply(self._read())

    def cancel(self) -> None:
        """Cancel the job, as the Cancel button does: on a worker thread when an event loop
        runs (the widget's updater then shows the job CANCELLED), else at once."""
        self.notice = "cancelling"
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            self.job.cancel()
        else:
            self.keep(self._cancel())

    async def _cancel(self) -> None:
        try:
            await asyncio.to_thread(self.job.cancel)
        except SabotError as exc:
            self.notice = f"cancel failed: {exc}"

    def _trouble(self, text: str) -> None:
        """Say that readings fail (``text``), or no more (``""``), unless a Cancel's notice
        is shown."""
        if self.notice in ("", self._troubled):
            self.notice = text
        self._troubled = text

    def _on_message(self, widget: Any, content: Any, buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "cancel":
            self.cancel()

    @functools.cached_property
    def _source_sizes(self) -> dict[str, int | None] | None:
        """The sizes of the job's sources (:func:`~sabot_lab.notebook.job_view.source_sizes`)."""
        return source_sizes(self.job)

    def _read(self) -> Reading:
        """The job's snapshot and checkpoints (blocking calls; the updater runs this on a
        worker thread)."""
        _ = self._source_sizes  # read once, here: off the event loop
        snapshot = job_snapshot(self.job)
        return snapshot, self.job.checkpoints()

    def _apply(self, reading: Reading) -> None:
        snapshot, checkpoints = reading
        self._meter.add(snapshot.tasks)
        before = self.state
        view = job_view(
            snapshot, checkpoints, snapshot.planned_tasks, self._meter.rates,
            sources=self._source_sizes, read_before=self.rows_read or 0,
        )  # fmt: skip
        self._show(view)
        if snapshot.ended and self.notice == "cancelling":
            self.notice = ""
        if snapshot.state != before:
            self.refresh_outputs()

    def _show(self, view: dict[str, Any]) -> None:
        with self.hold_sync():
            for key, value in view.items():
                self.set_trait(key, value)


def _ended(reading: Reading) -> bool:
    return reading[0].ended
