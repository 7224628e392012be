"""Runs a physical plan on agents, stage after stage: deploy each stage's tasks round-robin,
wait for them, point the next stage at the agents holding its input rows, fetch the result.

This is the data path the JobManager's durable job workflow drives; on its own it is a
synchronous, in-memory scheduler (no retries).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Executor
from typing import Any

import pyarrow as pa

from sabot_lab.errors import ClusterError
from sabot_lab.physical import PhysicalPlan, TaskSpec, attempt_scope
from sabot_lab.physical.ids import RESULT
from sabot_lab.runtime.agent.server import fetch_rows
from sabot_lab.runtime.protocol import ENDED, TaskState
from sabot_lab.runtime.transport import ANONYMOUS, Credentials, call

__all__ = ["due_for_poll", "poll_tasks", "result_batches", "run_on_agents"]


def run_on_agents(
    plan: PhysicalPlan,
    agents: Sequence[str],
    job_id: str,
    auth: Credentials = ANONYMOUS,
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
                spec = TaskSpec.of(plan, stage, partition, job_id, held)
                call(uri, "deploy", spec.to_dict(), auth)
                tasks[spec.task_id] = uri
                placed[stage.stage_id, partition] = uri
            _wait(tasks, auth, poll_s, timeout_s)
            held[stage.stage_id] = tuple(sorted(set(tasks.values())))
        final = {p: placed[plan.final.stage_id, p] for p in range(plan.final.partitions)}
        batches = result_batches(plan, final, attempt_scope(job_id, 0), auth)
        return pa.Table.from_batches(list(batches), schema=plan.output_schema)
    finally:
        for uri in set(placed.values()):
            with contextlib.suppress(ClusterError):  # an agent gone away holds nothing now
                call(uri, "drop_job", {"job_id": job_id}, auth)


def due_for_poll(
    agents: Iterable[str],
    heard: Mapping[str, float],
    polled: Mapping[str, float],
    now: float,
    every: float,
) -> list[str]:
    """Those of ``agents`` to ask for their tasks now (sorted): each heard from (its last
    heartbeat arrived at ``heard[uri]``) since it was last ``polled``, or not polled for
    ``every`` seconds. An agent sends a heartbeat as soon as a task of it ends, so the
    others have nothing new: a job on 50 agents asks one or two at a heartbeat, not all 50.

    >>> polled = {"a": 4.0, "b": 4.0, "c": 4.0}
    >>> due_for_poll(["c", "b", "a"], {"a": 4.2, "b": 3.9}, polled, now=4.5, every=1.0)
    ['a']
    >>> due_for_poll(["c", "b", "a"], {"a": 4.2, "b": 3.9}, polled, now=5.5, every=1.0)
    ['a', 'b', 'c']
    """
    return sorted(
        uri
        for uri in set(agents)
        if uri not in polled or heard.get(uri, 0.0) >= polled[uri] or now - polled[uri] >= every
    )


def poll_tasks(
    pending: dict[str, str],
    auth: Credentials,
    on_logs: Callable[[str, dict[str, Any]], None] | None = None,
    timeout: float = 10.0,
    executor: Executor | None = None,
) -> tuple[list[tuple[str, dict[str, Any]]], dict[str, ClusterError]]:
    """Ask each agent running a task of ``pending`` (task id -> agent) for its tasks, once,
    waiting up to ``timeout`` seconds for each; with ``on_logs``, also for the records those
    tasks logged since the last poll, which ``on_logs`` gets (agent, task id -> records)
    before the tasks that ended are returned. With ``executor``, the agents are asked at
    once on its threads (a stage on 50 agents waits for the slowest answer, not for their
    sum); their answers are taken in the agents' order all the same.

    Returns the ``(agent, task)`` pairs of tasks that ended (removed from ``pending``) and the
    errors of agents that did not answer.
    """
    ended: list[tuple[str, dict[str, Any]]] = []
    errors: dict[str, ClusterError] = {}
    asked = {
        uri: sorted(t for t, agent in pending.items() if agent == uri)
        for uri in set(pending.values())
    }
    uris = sorted(asked)

    def ask(uri: str) -> Any:
        logs_of = {"logs_of": asked[uri]} if on_logs else None
        return call(uri, "status", logs_of, auth, timeout=timeout)

    asking = {uri: executor.submit(ask, uri) for uri in uris} if executor and len(uris) > 1 else {}
    for uri in uris:
        try:
            status = asking[uri].result() if uri in asking else ask(uri)
        except ClusterError as exc:
            errors[uri] = exc
            continue
        if on_logs is not None and status.get("logs"):
            on_logs(uri, status["logs"])
        for task in status["tasks"]:
            if task["task_id"] in pending and task["state"] in ENDED:
                del pending[task["task_id"]]
                ended.append((uri, task))
    return ended, errors


def result_batches(
    plan: PhysicalPlan,
    agents: Mapping[int, str],
    scope: str,
    auth: Credentials,
    exchange: str = RESULT,
) -> Iterator[pa.RecordBatch]:
    """The job's result rows, partition by partition, from the agents (partition -> agent)
    that ran its last stage (``exchange``: the rows of one checkpoint epoch,
    ``result/<n>``)."""
    for partition in range(plan.final.partitions):
        yield from fetch_rows(
            agents[partition], scope, exchange, partition, plan.output_schema, auth
        )


def _wait(tasks: dict[str, str], auth: Credentials, poll_s: float, timeout_s: float) -> None:
    """Block until every task finished; raise with the remote error if one failed."""
    deadline = time.monotonic() + timeout_s
    pending = dict(tasks)
    while pending:
        ended, errors = poll_tasks(pending, auth)
        if errors:
            raise next(iter(errors.values()))
        for uri, task in ended:
            if task["state"] != TaskState.FINISHED:
                raise ClusterError(
                    f"task {task['task_id']} on {uri} {task['state'].lower()}: {task['error']}"
                )
        if pending:
            if time.monotonic() > deadline:
                raise ClusterError(f"tasks not finished after {timeout_s:g} s: {sorted(pending)}")
            time.sleep(poll_s)
