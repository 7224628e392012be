"""Runs a physical plan on agents, stage after stage: deploy each stage's tasks round-robin,
wait for them, point the next stage at the agents holding its input rows, fetch the result.

This is the data path the JobManager's durable job workflow drives; on its own it is a
synchronous, in-memory scheduler (no retries).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence

import pyarrow as pa

from sabot_lab.agent.server import RESULT, fetch_rows
from sabot_lab.errors import ClusterError
from sabot_lab.physical import PhysicalPlan, TaskSpec, attempt_scope
from sabot_lab.transport import call

__all__ = ["run_on_agents"]


def run_on_agents(
    plan: PhysicalPlan,
    agents: Sequence[str],
    job_id: str,
    token: str | None = None,
    poll_s: float = 0.005,
    timeout_s: float = 600.0,
) -> pa.Table:
    """Run every task of ``plan`` on ``agents`` (Flight URIs) and return the job's result."""
    if not agents:
        raise ClusterError("no agents to run on")
    held: dict[int, tuple[str, ...]] = {}  # stage -> agents holding its output rows
    placed: dict[tuple[int, int], str] = {}
    try:
        for stage in plan.stages:
            tasks: dict[str, str] = {}
            for partition in range(stage.partitions):
                uri = agents[(stage.stage_id + partition) % len(agents)]
                spec = TaskSpec(
                    job_id,
                    stage,
                    partition,
                    {x: plan.exchanges[x] for x in (*stage.reads, *stage.writes)},
                    {x: held[plan.exchanges[x].producer] for x in stage.reads},
                )
                call(uri, "deploy", spec.to_dict(), token)
                tasks[spec.task_id] = uri
                placed[stage.stage_id, partition] = uri
            _wait(tasks, token, poll_s, timeout_s)
            held[stage.stage_id] = tuple(sorted(set(tasks.values())))
        final = plan.final
        schema = final.graph.node(final.output).output_schema if final.output else None
        assert schema is not None, "the last stage produces the job's output"
        batches = [
            b
            for p in range(final.partitions)
            for b in fetch_rows(
                placed[final.stage_id, p], attempt_scope(job_id, 0), RESULT, p, schema, token
            )
        ]
        return pa.Table.from_batches(batches, schema=schema)
    finally:
        for uri in set(placed.values()):
            with contextlib.suppress(ClusterError):  # an agent gone away holds nothing now
                call(uri, "drop_job", {"job_id": job_id}, token)


def _wait(tasks: dict[str, str], token: str | None, poll_s: float, timeout_s: float) -> None:
    """Block until every task finished; raise with the remote error if one failed."""
    deadline = time.monotonic() + timeout_s
    pending = dict(tasks)
    while pending:
        for uri in set(pending.values()):
            for task in call(uri, "status", None, token)["tasks"]:
                if task["task_id"] not in pending:
                    continue
                if task["state"] == "FINISHED":
                    del pending[task["task_id"]]
                elif task["state"] in ("FAILED", "CANCELLED"):
                    raise ClusterError(
                        f"task {task['task_id']} on {uri} {task['state'].lower()}: {task['error']}"
                    )
        if pending:
            if time.monotonic() > deadline:
                raise ClusterError(f"tasks not finished after {timeout_s:g} s: {sorted(pending)}")
            time.sleep(poll_s)
