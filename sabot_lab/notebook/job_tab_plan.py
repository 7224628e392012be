"""The live physical plan of a cluster job as the JupyterLab job tab shows it: the same drawing
as the plan widget's static SVG (:func:`~sabot_lab.notebook.plan_svg.plan_svg` of
:func:`~sabot_lab.notebook.plan_views.physical_view`, with
:func:`~sabot_lab.notebook.plan_live.live_numbers` on it), made from the plan the job was
submitted with (:meth:`~sabot_lab.client.Job.submitted_plan`), so any process that holds the
cluster's submit token draws it, with no kernel.

The JupyterLab server extension (:mod:`sabot_lab.lab.job_detail`) is its only user besides
the tests: it imports this module alone of the notebook plug-in (an exception of the import
contracts in ``pyproject.toml``), inside the call, so the Jupyter server loads the plan code
only once a job tab opens.

May import: everything (as the rest of the notebook plug-in).

>>> import sabot_lab as sl
>>> s = sl.from_pydict({"k": [1, 2], "x": [3, 4]}).group_by("k").agg(sl.col("x").sum())
>>> drawing = JobPlanDrawing(s.graph, partitions=2)
>>> svg = drawing.svg("j1", "PENDING", [])
>>> svg.startswith("<svg"), svg.count('class="sabot-group"') >= 2
(True, True)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sabot_lab.notebook.live import JobSnapshot, ReportHistory
from sabot_lab.notebook.plan_live import live_numbers
from sabot_lab.notebook.plan_svg import plan_svg
from sabot_lab.notebook.plan_views import physical_view
from sabot_lab.optimizer import PlanOptimizer
from sabot_lab.physical import PhysicalPlan

if TYPE_CHECKING:
    from sabot_lab.logical import JobGraph

__all__ = ["JobPlanDrawing"]


class JobPlanDrawing:
    """The physical plan of a job (the ``physical`` plan it runs, JSON, when it was read
    while it ran; else its submitted ``graph``, optimized as the JobManager does, cut into stages of
    ``partitions`` tasks) and the task reports seen so far, which give the rates of its
    running stages (between each task's own reports)."""

    def __init__(self, graph: JobGraph, partitions: int, physical: str | None = None) -> None:
        optimized = PlanOptimizer().optimize(graph)
        plan = None if physical is None else PhysicalPlan.from_json(physical)
        self.view: dict[str, Any] = physical_view(optimized, partitions, None, plan)
        self._history = ReportHistory()

    def svg(self, job_id: str, state: str, tasks: list[dict[str, Any]]) -> str:
        """The plan with the numbers of job ``job_id`` (in ``state``, its ``tasks`` as
        :meth:`~sabot_lab.client.Job.tasks` lists them) on its stages, operators and edges
        (see :func:`~sabot_lab.notebook.plan_live.live_numbers`)."""
        self._history.add(tasks)
        snapshot = JobSnapshot(job_id, state, None, tasks, {})
        return plan_svg(self.view, live_numbers(snapshot, self.view, self._history))
