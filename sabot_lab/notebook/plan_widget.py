"""``PlanWidget``: a stream's plan as an interactive DAG in the notebook, and the rich display
of a :class:`~sabot_lab.stream.Stream` (the widget in a kernel, static SVG and text elsewhere).

The layout is computed in Python (:mod:`sabot_lab.notebook.plan_layout`); the widget's
traitlets carry the laid-out views as plain JSON (:mod:`sabot_lab.notebook.plan_views`) and
``static/plan.js`` draws them: a toggle between the logical, optimized and physical plan, a
click on an operator opens its details (schema, expressions, parameters, the optimizer rules
behind it). :meth:`PlanWidget.follow` overlays a running cluster job's live numbers.

>>> import sabot_lab as sl
>>> w = PlanWidget(sl.from_pydict({"x": [1, 2]}).filter(sl.col("x") > 1), partitions=2)
>>> sorted(w.views), w.view, len(w.views["optimized"]["nodes"])
(['logical', 'optimized', 'physical'], 'optimized', 2)
>>> 'class="sabot-node"' in w.static_html()
True
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import traitlets

from sabot_lab.errors import PlanError
from sabot_lab.explain import render_plan
from sabot_lab.notebook.display import LiveWidget
from sabot_lab.notebook.frontend import STATIC, UPDATE_INTERVAL, in_kernel
from sabot_lab.notebook.live import JobSnapshot, ReportHistory, follow_job
from sabot_lab.notebook.plan_live import live_numbers
from sabot_lab.notebook.plan_svg import plan_html
from sabot_lab.notebook.plan_views import VIEWS, optimized_view, physical_view, plan_views
from sabot_lab.notebook.snapshot import PLAN_MIME
from sabot_lab.optimizer import OptimizedPlan

if TYPE_CHECKING:
    from sabot_lab.client import Job
    from sabot_lab.stream import Stream

__all__ = ["PlanWidget", "plan_text", "stream_html", "stream_mimebundle"]


class PlanWidget(LiveWidget):
    """The plan of ``stream`` as an interactive DAG (``stream.show_plan()`` returns one).

    ``partitions``: tasks per stage of the physical view (default: the configured
    ``threads``; :meth:`follow` switches to the job's own).

    Synced state: ``views`` (the laid-out logical, optimized and physical views), ``view``
    (the one shown), ``selected`` (the operator whose details are open, "" for none) and
    ``live`` (a followed job's numbers, see :func:`~sabot_lab.notebook.plan_live.live_numbers`).

    >>> import sabot_lab as sl
    >>> w = PlanWidget(sl.from_pydict({"x": [1]}).head(1))
    >>> w.view = "logical"; w.selected = w.views["logical"]["nodes"][0]["id"]
    >>> w.view = "cost"
    Traceback (most recent call last):
    ...
    sabot_lab.errors.PlanError: PlanWidget has no view 'cost': choose logical, optimized or physical
    """

    _esm = STATIC / "plan.js"
    _css = STATIC / "plan.css"
    snapshot_mime = PLAN_MIME
    views = traitlets.Dict().tag(sync=True)
    view = traitlets.Unicode("optimized").tag(sync=True)
    selected = traitlets.Unicode("").tag(sync=True)
    live = traitlets.Dict().tag(sync=True)

    def __init__(self, stream: Stream, partitions: int | None = None, **kwargs: Any) -> None:
        self._plan = stream.optimize()
        self._text = plan_text(self._plan)
        self._drawn = (partitions, False)  # the physical view's tasks per stage, from a job
        self._following: asyncio.Task[JobSnapshot] | None = None
        super().__init__(views=plan_views(stream, partitions, self._plan), **kwargs)

    @property
    def plan(self) -> OptimizedPlan:
        """The optimized plan the views show (its trace is where the rules come from)."""
        return self._plan

    @traitlets.validate("view")
    def _check_view(self, proposal: dict[str, Any]) -> str:
        value = str(proposal["value"])
        if value not in VIEWS:
            raise PlanError(
                f"PlanWidget has no view {value!r}: choose {', '.join(VIEWS[:-1])} or {VIEWS[-1]}"
            )
        return value

    def follow(self, job: Job, interval: float = UPDATE_INTERVAL) -> asyncio.Task[JobSnapshot]:
        """Show ``job``'s live numbers (rows in and out and rows/s per operator and edge; busy
        and backpressure per stage) on the physical view, updated every ``interval`` seconds
        from an asyncio task on the running event loop (the kernel's), until the job ends; the final numbers stay, also in the
        static HTML of the outputs showing the widget. Returns the task (its result: the last
        :class:`~sabot_lab.notebook.live.JobSnapshot`). Following another job stops
        following the first.

        >>> import sabot_lab as sl
        >>> w = sl.from_pydict({"x": [1]}).show_plan()
        >>> with sl.LocalCluster(agents=1, slots=1) as cluster:  # doctest: +SKIP
        ...     job = cluster.submit(sl.from_pydict({"x": [1]}))
        ...     task = w.follow(job)  # in a notebook cell: the kernel's loop runs it
        """
        if self._following is not None:
            self._following.cancel()
        history = ReportHistory()

        def update(snapshot: JobSnapshot) -> None:
            drawn = (snapshot.partitions, snapshot.physical is not None)
            if snapshot.partitions and drawn != self._drawn:
                self._drawn = drawn
                physical = physical_view(self._plan, snapshot.partitions, None, snapshot.physical)
                self.views = {**self.views, "physical": physical}
            history.add(snapshot.tasks)
            self.live = live_numbers(snapshot, self.views["physical"], history)
            if snapshot.ended:
                self.refresh_outputs()

        self.view = "physical"
        self._following = self.keep(follow_job(job, update, interval, physical=True))
        return self._following

    def snapshot_state(self) -> dict[str, Any]:
        """The laid-out views, the one shown and a followed job's numbers (no operator
        selected)."""
        return {"views": self.views, "view": self.view, "selected": "", "live": self.live}

    def static_html(self) -> str:
        """The shown view as static HTML: inline SVG (with a followed job's numbers on the
        physical view) and the plan as text."""
        live = self.live if self.view == "physical" else None
        return plan_html(self.views[self.view], self._text, live)

    def static_text(self) -> str:
        """The optimized plan as text."""
        return self._text


def stream_html(stream: Stream) -> str:
    """A stream's static HTML: its optimized plan as inline SVG, and as text.

    >>> import sabot_lab as sl
    >>> stream_html(sl.from_pydict({"x": [1]})).count('class="sabot-node"')
    1
    """
    plan = stream.optimize()
    return plan_html(optimized_view(plan), plan_text(plan))


def plan_text(plan: OptimizedPlan) -> str:
    """The optimized plan as text (as :meth:`~sabot_lab.stream.Stream.explain` prints it).

    >>> import sabot_lab as sl
    >>> print(plan_text(sl.from_pydict({"x": [1]}).optimize()).splitlines()[-1])
      P1: source
    """
    return render_plan(plan.graph, plan.output, plan.estimated_rows)


def stream_mimebundle(stream: Stream) -> tuple[dict[str, Any], dict[str, Any]]:
    """A stream's rich display: in a kernel, the :class:`PlanWidget` view with static HTML
    and text for frontends without widgets; elsewhere the static HTML and text.

    >>> import sabot_lab as sl
    >>> data, metadata = stream_mimebundle(sl.from_pydict({"x": [1]}))
    >>> sorted(data), metadata
    (['text/html', 'text/plain'], {})
    """
    if in_kernel():
        return PlanWidget(stream)._repr_mimebundle_()
    return {"text/plain": repr(stream), "text/html": stream_html(stream)}, {}
