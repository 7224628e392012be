"""What a job's views show, as plain JSON data, and its static renderings.

:func:`job_view` turns a :class:`~sabot_lab.notebook.live.JobSnapshot` (with the job's
checkpoints, the number of tasks its plan has and the throughput measured so far) into one
dict. The :class:`~sabot_lab.notebook.job_widget.JobWidget` sends that dict to the browser,
where ``static/job.js`` draws it; :func:`job_html` and :func:`job_text` draw the same dict as
HTML and text, for saved notebooks (GitHub, nbviewer) and terminals.

>>> from sabot_lab.notebook.live import JobSnapshot
>>> tasks = [{"stage": 0, "partition": 0, "attempt": 0, "state": "FINISHED", "rows_in": 10,
...           "rows_out": 4, "batches_out": 1, "bytes_out": 32, "busy_s": 0.5,
...           "backpressure_s": 0.125, "updated_at": 100.0}]
>>> from sabot_lab.runtime.jobmanager.metrics import job_metrics
>>> view = job_view(JobSnapshot("j1", "FINISHED", None, tasks, job_metrics(tasks)), planned_tasks=1)
>>> view["state"], view["rows"], view["progress"]["text"], view["backpressure"]
('FINISHED', 4, '1/1 tasks', 0.25)
>>> print(job_text(view))
Job j1 FINISHED: 4 rows out, 1/1 tasks
  rows out, all stages 4 · backpressure 25% · attempts 1
>>> 'class="sabot-job-state sabot-state-finished">FINISHED<' in job_html(view)
True
"""

from __future__ import annotations

import html
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from sabot_lab.notebook.frontend import static_style
from sabot_lab.notebook.live import JobSnapshot, ReportHistory, job_snapshot
from sabot_lab.notebook.plan_live import stage_tasks
from sabot_lab.notebook.progress import source_totals
from sabot_lab.runtime.jobmanager.metrics import checkpoint_figures
from sabot_lab.runtime.protocol import ENDED
from sabot_lab.stream import Stream

if TYPE_CHECKING:
    from sabot_lab.client import Job

__all__ = [
    "Throughput",
    "job_html",
    "job_text",
    "job_view",
    "rows_read",
    "source_sizes",
    "sparkline_points",
    "view_of",
]

SPARKLINE_SIZE = (160, 28)
"""Width and height of the throughput sparkline, in pixels."""


class Throughput:
    """Rows per second the job's tasks put out, one reading each time a task reported anew,
    measured between each task's own reports (:class:`~sabot_lab.notebook.live.ReportHistory`);
    the last ``keep`` readings (a few minutes of heartbeats by default).

    >>> def task(at, rows):
    ...     return {"stage": 0, "partition": 0, "attempt": 0, "state": "RUNNING",
    ...             "updated_at": at, "rows_out": rows}
    >>> meter = Throughput()
    >>> meter.add([task(0.0, 0)]); meter.add([task(2.0, 400)]); meter.add([task(2.0, 400)])
    >>> meter.add([task(4.0, 1400)])
    >>> meter.rates
    [200.0, 500.0]
    """

    def __init__(self, keep: int = 240) -> None:
        self._history = ReportHistory()
        self._rates: deque[float] = deque(maxlen=keep)

    def add(self, tasks: Iterable[Mapping[str, Any]]) -> None:
        """Note a reading of the job's task rows."""
        tasks = list(tasks)
        if self._history.add(tasks):
            rate = self._history.rate(tasks, lambda t: t["rows_out"])
            if rate is not None:
                self._rates.append(rate)

    @property
    def rates(self) -> list[float]:
        """The rates measured, oldest first."""
        return list(self._rates)


def sparkline_points(values: Sequence[float], size: tuple[int, int] = SPARKLINE_SIZE) -> str:
    """The ``points`` of an SVG polyline drawing ``values`` left to right in a box of
    ``size`` pixels, zero at the bottom and the largest value at the top.

    >>> sparkline_points([0, 5, 10], (20, 10))
    '0,10 10,5 20,0'
    >>> sparkline_points([7])
    ''
    """
    if len(values) < 2:
        return ""
    width, height = size
    top = max(values) or 1.0
    step = width / (len(values) - 1)
    return " ".join(
        f"{_number(i * step)},{_number(height - v / top * height)}" for i, v in enumerate(values)
    )


def _number(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".")


def job_view(
    snapshot: JobSnapshot,
    checkpoints: Iterable[Mapping[str, Any]] = (),
    planned_tasks: int | None = None,
    throughput: Sequence[float] = (),
    now: float | None = None,
    sources: Mapping[str, int | None] | None = None,
    read_before: int = 0,
) -> dict[str, Any]:
    """The JSON data of a job's views (see the module docstring for an example).

    ``rows`` is what the job's final stage put out so far (its result rows; none while an
    earlier stage of a bounded job runs); ``rows_all_stages`` the rows all its tasks put
    out (into exchanges and the result); ``rows_read`` the rows its ``sources`` (their
    sizes by operator id, see :func:`source_sizes`; None: not known here) yielded, never
    less than ``read_before`` (a retry reads again from its checkpoint); ``progress`` the
    rows read of the sources' rows when their sizes are known, else (bounded jobs whose plan
    is known: ``planned_tasks``) the tasks of the latest attempt that finished out of the
    plan's, with the ``text`` the views show; ``throughput`` readings of ``rows_all_stages`` per second
    (:class:`Throughput`, drawn as ``sparkline``); ``latency_s`` the seconds since the
    newest report of a running task; ``backpressure`` the share of the tasks' time spent
    waiting to hand rows on; ``checkpoint`` the completed checkpoints and the last one;
    ``failure`` the failed task's id, agent, error and the tail of its log
    (:func:`~sabot_lab.client.task_failure.task_failure`), None while no task failed.
    """
    metrics, tasks = snapshot.metrics, snapshot.tasks
    stages = metrics.get("stages", {})
    read = None if sources is None else max(read_before, rows_read(tasks, sources))
    running = [t["updated_at"] for t in tasks if t["state"] == "RUNNING" and "updated_at" in t]
    busy, blocked = metrics.get("busy_s", 0.0), metrics.get("backpressure_s", 0.0)
    figures = checkpoint_figures(checkpoints)
    return {
        "job_id": snapshot.job_id,
        "state": snapshot.state,
        "error": snapshot.error or "",
        "rows": _result_rows(stages, snapshot),
        "rows_all_stages": metrics.get("rows_out", 0),
        "tasks": dict(sorted(metrics.get("tasks", {}).items())),
        "rows_read": read,
        "progress": _progress(snapshot, read, sources, planned_tasks),
        "throughput": list(throughput),
        "sparkline": sparkline_points(throughput),
        "latency_s": (
            round(max(0.0, (now or time.time()) - max(running)), 3)
            if running and snapshot.state not in ENDED
            else None
        ),
        "backpressure": round(blocked / busy, 4) if busy > 0 else 0.0,
        "checkpoint": figures if figures["completed"] else None,
        "attempts": metrics.get("attempts", 1),
        "failure": snapshot.failure,
    }


def rows_read(tasks: Iterable[Mapping[str, Any]], sources: Iterable[str]) -> int:
    """The rows the ``sources`` (operator ids) yielded so far, in the latest attempt of each
    task (agents report rows out per operator).

    >>> tasks = [{"stage": 0, "partition": p, "attempt": 0, "operators": {"scan": 40, "keep": 9}}
    ...          for p in (0, 1)]
    >>> rows_read(tasks, ["scan"])
    80
    """
    wanted = set(sources)
    return sum(
        rows
        for stage in stage_tasks(tasks).values()
        for task in stage
        for operator, rows in (task.get("operators") or {}).items()
        if operator in wanted
    )


def _progress(
    snapshot: JobSnapshot,
    read: int | None,
    sources: Mapping[str, int | None] | None,
    planned_tasks: int | None,
) -> dict[str, Any] | None:
    """The progress bar: rows read of the sources' rows when their sizes are known (all of
    them once the job finished: a filter pushed into a source skips rows it never yields),
    else the tasks of a bounded job that finished."""
    sizes = list((sources or {}).values())
    if read is not None and sizes and None not in sizes:
        total = sum(s for s in sizes if s is not None)
        done = total if snapshot.state == "FINISHED" else min(read, total)
        return {
            "done": done,
            "total": total,
            "text": f"{_count(done)} of {_count(total)} rows read",
        }
    if planned_tasks is None:
        return None
    latest = max((t["attempt"] for t in snapshot.tasks), default=0)
    finished = sum(t["attempt"] == latest and t["state"] == "FINISHED" for t in snapshot.tasks)
    return {"done": finished, "total": planned_tasks, "text": f"{finished}/{planned_tasks} tasks"}


def source_sizes(job: Job) -> dict[str, int | None] | None:
    """The rows each source of ``job``'s pipeline holds (None where not known: a generator),
    by operator id; None for a job not submitted from this process (its pipeline is not
    here). Reads the sources' metadata (Parquet footers): call it off the event loop."""
    if job.plan is None:
        return None
    plan = Stream.from_graph(job.plan).optimize()
    return source_totals(plan.graph, plan.output)


def _result_rows(stages: Mapping[str, Mapping[str, int]], snapshot: JobSnapshot) -> int:
    """Rows out of the job's final stage (the last one that ran when it is not known)."""
    final = snapshot.final_stage
    if final is None:
        final = max(map(int, stages), default=0)
    return stages.get(str(final), {}).get("rows_out", 0)


def view_of(job: Job) -> dict[str, Any]:
    """The :func:`job_view` of ``job`` now (blocking calls to the JobManager), without
    throughput: what a static rendering of the job shows."""
    snapshot = job_snapshot(job)
    return job_view(snapshot, job.checkpoints(), snapshot.planned_tasks, sources=source_sizes(job))


def _count(n: float) -> str:
    return f"{n:,.0f}"


def _figures(view: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """(label, CSS class, value) of each figure the job's views show, in order."""
    rows = [("rows out, all stages", "sabot-job-rows-all", _count(view["rows_all_stages"]))]
    if view["rows_read"] is not None:
        rows.insert(0, ("rows read", "sabot-job-rows-read", _count(view["rows_read"])))
    if view["throughput"]:
        figure = f"{_count(view['throughput'][-1])} rows/s"
        rows.append(("throughput", "sabot-job-throughput", figure))
    if view["latency_s"] is not None:
        rows.append(("latency", "sabot-job-latency", f"{view['latency_s']:.2f} s"))
    rows.append(("backpressure", "sabot-job-backpressure", f"{view['backpressure']:.0%}"))
    if view["checkpoint"] is not None:
        c = view["checkpoint"]
        size = "" if c["last_bytes"] is None else f", {_count(c['last_bytes'])} B"
        rows.append(
            ("checkpoint", "sabot-job-checkpoint", f"#{c['last']} ({c['completed']} done{size})")
        )
    rows.append(("attempts", "sabot-job-attempts", str(view["attempts"])))
    return rows


def _headline(view: Mapping[str, Any]) -> str:
    progress = view["progress"]
    done = f", {progress['text']}" if progress else ""
    return f"{_count(view['rows'])} rows out{done}"


def job_text(view: Mapping[str, Any]) -> str:
    """A job's view as text (see the module docstring)."""
    figures = " · ".join(f"{label} {value}" for label, _, value in _figures(view))
    text = f"Job {view['job_id']} {view['state']}: {_headline(view)}\n  {figures}"
    text += f"\n{view['error']}" if view["error"] else ""
    failure = view.get("failure")
    if failure:
        text += f"\n{_failure_heading(failure)}"
        text += f"\n{failure['error']}" if failure["error"] not in view["error"] else ""
        text += "".join(f"\n  {line}" for line in failure["log"])
    return text


def _failure_heading(failure: Mapping[str, Any]) -> str:
    return f"task {failure['task_id']} failed on {failure['agent']}; the last of its log:"


def _failure_html(view: Mapping[str, Any]) -> str:
    """The failed task's heading, its error (unless the job's error holds it) and its log's
    tail, as HTML."""
    failure = view.get("failure")
    if not failure:
        return ""
    error = (
        f'<pre class="sabot-job-task-error">{html.escape(failure["error"])}</pre>'
        if failure["error"] not in view["error"]
        else ""
    )
    return (
        f'<div class="sabot-job-failure"><div>{html.escape(_failure_heading(failure))}</div>'
        f'{error}<pre class="sabot-job-log">{html.escape(chr(10).join(failure["log"]))}</pre></div>'
    )


def job_html(view: Mapping[str, Any]) -> str:
    """A job's view as HTML with the widget's classes and stylesheet: the job's state, rows,
    progress, figures, sparkline and error, without the Cancel button."""
    state = html.escape(view["state"])
    progress = view["progress"]
    bar = ""
    if progress:
        bar = (
            f'<div class="sabot-job-progress"><progress value="{progress["done"]}" '
            f'max="{progress["total"]}"></progress> '
            f'<span class="sabot-job-tasks">{html.escape(progress["text"])}</span></div>'
        )
    cells = "".join(
        f'<tr><th>{label}</th><td class="{cls}">{html.escape(value)}</td></tr>'
        for label, cls, value in _figures(view)
    )
    width, height = SPARKLINE_SIZE
    spark = (
        f'<svg class="sabot-sparkline" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}"><polyline points="{view["sparkline"]}"/></svg>'
        if view["sparkline"]
        else ""
    )
    error = (
        f'<pre class="sabot-job-error">{html.escape(view["error"])}</pre>' if view["error"] else ""
    )
    return (
        f"<style>{static_style()}</style>"
        f'<div class="sabot-widget sabot-job" data-job-id="{html.escape(view["job_id"])}">'
        f'<div class="sabot-job-header"><b>Job</b> <code>{html.escape(view["job_id"])}</code> '
        f'<span class="sabot-job-state sabot-state-{state.lower()}">{state}</span> '
        f'<span class="sabot-job-rows">{_count(view["rows"])}</span> rows out</div>'
        f'{bar}<table class="sabot-figures">{cells}</table>{spark}{error}{_failure_html(view)}'
        "</div>"
    )
