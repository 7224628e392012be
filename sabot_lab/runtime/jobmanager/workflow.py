"""A job's durable workflow on DBOS: its steps, and the JobManager of this process that
carries them out.

``submit_job`` runs a job from its plan to its stored result:

1. accept the job: validate the plan again, optimize it, cut it into stages and record the
   job with its physical plan, in one transaction;
2. for each stage: place its tasks on agents, deploy them (idempotent by task id) and wait
   for them (a job that runs all its stages at once has one such step);
3. fetch the result into the work directory and finish.

A JobManager killed at any point resumes the workflow when it starts again: finished steps
are not repeated, and the step in flight runs again without duplicating tasks (deploys are
idempotent, task rows are written once). An attempt whose agent was lost is followed by
another, up to :data:`MAX_ATTEMPTS`.

The workflow is the job's span (a child of the client's ``submit``), and each step a span in
it (see :mod:`sabot_lab.observability.tracing`); the JobManager times each step
(``/metrics``: ``sabot_workflow_step_seconds``).

May import DBOS, ``runtime.protocol``, the scheduler's outcomes, ``observability``; the
JobManager registers itself with :func:`serve_workflows`.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import structlog
from dbos import DBOS
from dbos._error import DBOSException

from sabot_lab.errors import ClusterError
from sabot_lab.observability.tracing import span
from sabot_lab.runtime.jobmanager.scheduler import Outcome
from sabot_lab.runtime.protocol import JobRequest

if TYPE_CHECKING:
    from sabot_lab.runtime.jobmanager.server import JobManager

__all__ = [
    "MAX_ATTEMPTS",
    "accept_step",
    "fail_step",
    "finish_step",
    "serve_workflows",
    "stage_step",
    "submit_job",
]

MAX_ATTEMPTS = 3
"""Attempts of a job (all its stages) before it fails for lack of healthy agents."""

_manager: JobManager | None = None


def serve_workflows(manager: JobManager) -> None:
    """Make ``manager`` the JobManager that carries out this process's workflow steps."""
    global _manager
    _manager = manager


def _jm() -> JobManager:
    if _manager is None:
        raise ClusterError("no JobManager runs in this process")
    return _manager


@DBOS.workflow()
def submit_job(job_id: str, request: JobRequest) -> str:
    """Run a job from its plan to its stored result (and its sink), starting from its
    savepoint when it has one; returns the job's final state. A step that raises ends the
    job FAILED with the error, rather than leaving it running."""
    with (
        span("job", request.trace, job_id=job_id, name=request.name) as current,
        structlog.contextvars.bound_contextvars(job_id=job_id),  # on its records
    ):
        try:
            state = _run_job(job_id, request)
        except DBOSException:
            raise  # DBOS's own failure: DBOS recovers the workflow
        except Exception as exc:  # anything else a step raised is the job's error
            state = fail_step(job_id, f"{type(exc).__name__}: {exc}")
        current.set_attribute("sabot.state", state)
        return state


@contextlib.contextmanager
def _step(name: str, job_id: str, **attributes: int) -> Iterator[None]:
    """A step of a job's workflow: its span, and its time in the JobManager's figures."""
    started = time.perf_counter()
    try:
        with span(name, job_id=job_id, **attributes):
            yield
    finally:
        _jm().step_latency.observe(name, time.perf_counter() - started)


def _run_job(job_id: str, request: JobRequest) -> str:
    steps = accept_step(job_id, request)
    if steps == 0:
        return "failed"  # the plan was refused: recorded with the job
    for attempt in range(MAX_ATTEMPTS):
        outcome = Outcome.OK
        for stage in range(steps):
            outcome = Outcome(stage_step(job_id, stage, attempt, request))
            if outcome != Outcome.OK:
                break
        if outcome == Outcome.OK:
            ended = finish_step(job_id, attempt, request)
            if ended != Outcome.AGENT_FAILED.value:
                return ended
            continue  # an agent holding result rows died before they were read
        if outcome != Outcome.AGENT_FAILED:
            return outcome.value  # failed or cancelled: recorded by the step
    return fail_step(job_id, f"agents kept failing: gave up after {MAX_ATTEMPTS} attempts")


@DBOS.step()
def accept_step(job_id: str, request: JobRequest) -> int:
    """Validate, optimize and cut the plan into stages; record the job with its physical plan
    (SCHEDULED), and the savepoint it starts from as its first checkpoint; place and deploy
    the first stage's tasks. Returns the number of stage steps, 0 for a plan refused (the
    job FAILED)."""
    with _step("accept", job_id):
        return _jm().accept(job_id, request)


@DBOS.step()
def stage_step(job_id: str, stage_index: int, attempt: int, request: JobRequest) -> str:
    """Place, deploy and wait for one stage's tasks: an :class:`Outcome` value."""
    with (
        _step("stage", job_id, stage=stage_index, attempt=attempt),
        structlog.contextvars.bound_contextvars(stage=stage_index, attempt=attempt),
    ):
        return _jm().run_stage(job_id, stage_index, attempt, request).value


@DBOS.step()
def finish_step(job_id: str, attempt: int, request: JobRequest) -> str:
    """Fetch the result into the work directory (and the sink), free the agents' rows, mark
    FINISHED; ``agent_failed`` when an agent holding result rows is gone."""
    with _step("finish", job_id, attempt=attempt):
        return _jm().finish(job_id, attempt, request)


@DBOS.step()
def fail_step(job_id: str, error: str) -> str:
    """Mark the job FAILED with ``error``."""
    with _step("fail", job_id):
        _jm().fail(job_id, error)
    return "failed"
