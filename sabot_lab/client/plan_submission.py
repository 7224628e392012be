"""Submitting a plan: a :class:`~sabot_lab.logical.JobGraph` (hand-built, optimized, or a
stream's) becomes the JobManager's :class:`~sabot_lab.runtime.protocol.JobRequest`; its sink
node, when it ends in one, becomes the request's sink.

May import: :mod:`sabot_lab.logical`, the wire layer (:mod:`sabot_lab.runtime.protocol`),
:mod:`sabot_lab.client.job`, :mod:`sabot_lab.client.code_places`,
:mod:`sabot_lab.client.table_uploads`, :mod:`sabot_lab.errors`, the
check of a changelog against its sink (:mod:`sabot_lab.connectors.changelog_sinks`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sabot_lab.client.code_places import code_files
from sabot_lab.client.job import Job
from sabot_lab.client.table_uploads import upload_tables
from sabot_lab.connectors.changelog_sinks import target_for
from sabot_lab.errors import PlanError
from sabot_lab.logical import JobGraph
from sabot_lab.runtime.protocol import Assignment, JobRequest

if TYPE_CHECKING:
    from sabot_lab.client.cluster import Cluster
    from sabot_lab.connectors.sink import CommitSink

__all__ = ["job_request", "submit_plan"]


def job_request(
    graph: JobGraph,
    name: str | None = None,
    partitions: int | None = None,
    assignment: Assignment = "round_robin",
    checkpoint_interval: float | None = None,
    sink: CommitSink | None = None,
    from_savepoint: str | None = None,
) -> tuple[JobRequest, JobGraph]:
    """The request submitting ``graph``, and the plan it runs (the graph validated, without
    its sink): a graph ending in a sink node has its rows written there, as ``sink=`` does.

    >>> import sabot_lab as sl
    >>> from sabot_lab.logical import OperatorType, StreamOperatorNode
    >>> graph = sl.from_pydict({"x": [1]}).graph.copy()
    >>> out = graph.add_operator(StreamOperatorNode(operator_type=OperatorType.SINK, name="out", parameters={"path": "/tmp/out"}))
    >>> graph.connect(graph.sources()[0].operator_id, out)
    >>> request, plan = job_request(graph)
    >>> request.sink, [n.name for n in plan]
    ({'kind': 'parquet', 'location': '/tmp/out'}, ['source'])
    """
    plan, sink_node = graph.resolved().without_sink()
    plan.output()  # a job has one output
    target: dict[str, Any] | None = None if sink is None else sink.to_dict()
    if sink_node is not None:
        if sink is not None:
            raise PlanError(
                f"job graph {graph.job_name!r} ends in sink {sink_node.name!r} and sink= was "
                "given too: give one of them"
            )
        target = dict(sink_node.op.parameters()["target"])
    target = target_for(plan, plan.output(), target)  # an upsert changelog needs an upsert sink
    request = JobRequest(
        plan=plan.to_json(),
        name=name,
        partitions=partitions,
        assignment=assignment,
        checkpoint_interval=checkpoint_interval,
        sink=target,
        from_savepoint=None if from_savepoint is None else str(from_savepoint),
    )
    return request, plan


def submit_plan(
    cluster: Cluster,
    graph: JobGraph,
    name: str | None = None,
    partitions: int | None = None,
    assignment: Assignment = "round_robin",
    checkpoint_interval: float | None = None,
    sink: CommitSink | None = None,
    from_savepoint: str | None = None,
) -> Job:
    """Submit ``graph`` to ``cluster`` (see :func:`job_request`), its large in-memory tables
    uploaded first (see :func:`~sabot_lab.client.table_uploads.upload_tables`); the returned
    :class:`~sabot_lab.client.job.Job` knows the plan, to name the operators of its tasks."""
    request, plan = job_request(
        upload_tables(cluster, graph),
        name,
        partitions,
        assignment,
        checkpoint_interval,
        sink,
        from_savepoint,
    )
    job = cluster.submit_request(request)
    job.code_files = code_files(node.op for node in plan)  # to name them in its error
    job.plan = plan
    return job
