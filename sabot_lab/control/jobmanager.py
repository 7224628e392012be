"""The JobManager: durable jobs on DBOS, the agent registry, and the Flight API.

``submit`` validates the plan, then starts the durable ``submit_job`` workflow and answers as
soon as DBOS has recorded it (a job accepted is a job that runs, even across a crash). The
workflow's steps are:

1. accept the job: validate the plan again, optimize it, cut it into stages and record the job
with its physical plan, in one transaction, 2. for each stage: place its tasks on agents,
deploy them (idempotent by task id) and wait for them, 3. fetch the result into the work
directory and finish.

An unbounded job (a source that never ends) has one step 2 for all its stages: every task
runs at once, exchanges streaming between them (so the job needs as many free slots as it has
tasks; without ``partitions`` it takes the widest plan that fits). It finishes when its last
stage does (e.g. a ``head(n)`` has its rows); the other tasks are then cancelled. Otherwise it
runs until cancelled.

A JobManager killed at any point resumes the workflow when it starts again: finished steps are
not repeated, and the step in flight runs again without duplicating tasks (deploys are
idempotent, task rows are written once). An agent that misses heartbeats for
``heartbeat_timeout`` seconds is marked FAILED; the job then runs all its stages again (a new
attempt) on the remaining agents, since the failed agent held shuffle rows of earlier stages.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import functools
import itertools
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight
from dbos import DBOS, SetWorkflowID

from sabot_lab.agent.server import RESULT
from sabot_lab.config import get_config
from sabot_lab.connectors.sink import CommitSink, sink_from_dict
from sabot_lab.control.driver import poll_tasks, result_batches
from sabot_lab.control.http import StatusHttpServer
from sabot_lab.control.metrics import job_metrics, prometheus_text
from sabot_lab.control.states import ENDED
from sabot_lab.control.tables import JobStore, create_engine
from sabot_lab.engine.checkpoints import (
    SHARED,
    Checkpoints,
    checkpoint_bytes,
    checkpoint_path,
    remove_unshared,
    shared_files,
)
from sabot_lab.engine.executor import checkpoint_names
from sabot_lab.errors import ClusterError, SabotError
from sabot_lab.location import Location
from sabot_lab.logical import JobGraph
from sabot_lab.logical.sources import ReplayableSource
from sabot_lab.optimizer import PlanOptimizer
from sabot_lab.physical import PhysicalPlan, TaskSpec, attempt_scope, plan_stages
from sabot_lab.transport import (
    ANONYMOUS,
    ClusterServer,
    Credentials,
    ServerTls,
    call,
    dispatch,
)

__all__ = ["ASSIGNMENTS", "MAX_ATTEMPTS", "JobManager", "assign"]

MAX_ATTEMPTS = 3
"""Attempts of a job (all its stages) before it fails for lack of healthy agents."""
ASSIGNMENTS = ("round_robin", "resource_aware")
SAVEPOINT_FILE = "savepoint.json"
"""The file that makes a directory a savepoint: the job and checkpoint it was taken from."""
SLOTS_TIMEOUT = 30.0
"""Seconds a new attempt of a job that runs all its tasks at once waits for enough slots
(an agent replacing the one lost), before the job fails for lack of them."""
STOP_TIMEOUT = 30.0
"""Seconds the JobManager waits for cancelled tasks to say they stopped."""

_manager: JobManager | None = None
_log = logging.getLogger("sabot_lab.jobmanager")


def _jm() -> JobManager:
    if _manager is None:
        raise ClusterError("no JobManager runs in this process")
    return _manager


# -- placement ---------------------------------------------------------------------------


def assign(strategy: str, agents: list[dict[str, Any]], tasks: int, offset: int = 0) -> list[str]:
    """Agents (URIs) for ``tasks`` tasks.

    ``round_robin`` deals tasks out in turn. ``resource_aware`` gives each task to the agent
    with the most free slots, counting running tasks and those placed already, and then the
    most memory.

    >>> a = [{"uri": "a", "slots": 4, "running": 0, "memory_bytes": 8}, {"uri": "b", "slots": 1, "running": 0, "memory_bytes": 8}]
    >>> assign("round_robin", a, 4), assign("resource_aware", a, 4)
    (['a', 'b', 'a', 'b'], ['a', 'a', 'a', 'b'])
    """
    if not agents:
        raise ClusterError("no active agents")
    if strategy == "round_robin":
        return [agents[(offset + i) % len(agents)]["uri"] for i in range(tasks)]
    if strategy != "resource_aware":
        raise ClusterError(f"unknown assignment {strategy!r}; use one of {', '.join(ASSIGNMENTS)}")
    load = {a["uri"]: a["running"] for a in agents}
    out = []
    for _ in range(tasks):
        best = max(
            agents, key=lambda a: (a["slots"] - load[a["uri"]], a["memory_bytes"] or 0, a["uri"])
        )
        load[best["uri"]] += 1
        out.append(best["uri"])
    return out


class _CheckpointTrigger:
    """Asks a running job's tasks for a checkpoint every ``interval`` seconds (recorded
    PENDING), and marks each COMPLETE once every task still running reported its barrier
    past all its outputs. The job's result rows before a checkpoint's barrier are committed
    (kept by the JobManager) when it completes. Numbers go on from the checkpoints an earlier
    attempt asked for.

    A task that ended before a checkpoint's barrier reached it (its sources were read) is
    marked finished in that checkpoint: restored from it, the task reads nothing again."""

    def __init__(
        self,
        manager: JobManager,
        job_id: str,
        tasks: dict[str, str],
        interval: float,
        commit: Callable[[int], None],
    ) -> None:
        self.manager, self.job_id, self.tasks, self.interval = manager, job_id, tasks, interval
        self.commit = commit
        self.savepoints = manager.savepoint_requests.setdefault(job_id, {})
        """Savepoints asked for, by checkpoint (0: not asked of the tasks yet)."""
        taken = manager.store.checkpoints(job_id)
        self.asked = max((c["checkpoint_id"] for c in taken), default=0)
        self.completed = self.asked
        self._last = time.monotonic()

    def __call__(self, running: set[str]) -> None:
        manager = self.manager
        acked = all(manager.acks.get(t, 0) >= self.asked for t in running)
        if self.asked > self.completed and acked:
            self.commit(self.asked)
            self.completed = self.asked
            directory = manager.checkpoint_dir(self.job_id)
            for task_id in self.tasks.keys() - running:
                if manager.acks.get(task_id, 0) < self.asked:
                    producer = task_id.split("/")[1]
                    Checkpoints(directory, producer).mark_finished(self.asked)
            location = checkpoint_path(directory, self.asked)
            manager.store.complete_checkpoint(self.job_id, self.asked, checkpoint_bytes(location))
            manager.commit_sources(self.job_id, self.asked)
            manager.discard_checkpoints(self.job_id)
        if self.asked == self.completed and self.asked in self.savepoints:
            manager.keep_savepoint(self.job_id, self.asked, self.savepoints.pop(self.asked))
        wanted = self.savepoints.get(0) is not None and self.asked == self.completed
        if time.monotonic() - self._last < self.interval and not wanted:
            return
        self._last = time.monotonic()
        if self.asked == self.completed:
            self.asked += 1
            location = checkpoint_path(manager.checkpoint_dir(self.job_id), self.asked)
            manager.store.add_checkpoint(self.job_id, self.asked, str(location))
            if wanted:  # this checkpoint is the savepoint asked for
                self.savepoints[self.asked] = self.savepoints.pop(0)
        # (again while it is not complete: a task that was starting may have missed it)
        for uri in set(self.tasks.values()):
            with contextlib.suppress(ClusterError):  # a lost agent fails the job's wait
                call(uri, "checkpoint", {"job_id": self.job_id, "checkpoint": self.asked},
                     manager.auth, timeout=10)  # fmt: skip


def _commit_source(source: ReplayableSource, position: Any) -> None:
    try:
        source.commit(position)
    except SabotError as exc:  # the next checkpoint commits again; the job goes on
        _log.warning("%s", exc)


def _last_complete(checkpoints: list[dict[str, Any]]) -> int:
    """The number of the last COMPLETE checkpoint (0: none)."""
    return max((c["checkpoint_id"] for c in checkpoints if c["state"] == "COMPLETE"), default=0)


def _write_rows(path: Path, schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> None:
    """Write rows to an Arrow IPC file, in full or not at all (through a ``.partial`` file)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with pa.OSFile(str(partial), "wb") as sink, pa.ipc.new_file(sink, schema) as writer:
        for batch in batches:
            writer.write_batch(batch)
    partial.replace(path)


def _read_table(path: Path, schema: pa.Schema) -> pa.Table:
    return pa.Table.from_batches(_read_rows(path), schema)


def _read_rows(path: Path) -> Iterator[pa.RecordBatch]:
    with pa.memory_map(str(path)) as source:
        reader = pa.ipc.open_file(source)
        for i in range(reader.num_record_batches):
            yield reader.get_batch(i)


def _pipelined(plan: PhysicalPlan, checkpoint_interval: float | None) -> bool:
    """Whether a job runs all its stages at once, exchanges streaming: an unbounded one, or
    one that takes checkpoints (they need every task running to pass barriers)."""
    return not plan.bounded or checkpoint_interval is not None


def _steps(plan: PhysicalPlan, checkpoint_interval: float | None) -> int:
    """Stage steps of a job's workflow: one per stage, or one for all of a pipelined job."""
    return 1 if _pipelined(plan, checkpoint_interval) else len(plan.stages)


# -- the durable workflow ------------------------------------------------------------------


@DBOS.workflow()
def submit_job(
    job_id: str,
    name: str,
    plan_json: str,
    partitions: int | None,
    assignment: str,
    checkpoint_interval: float | None = None,
    sink: dict[str, Any] | None = None,
    savepoint: str | None = None,
) -> str:
    """Run a job from its plan to its stored result (and ``sink``), starting from
    ``savepoint`` when given; returns the job's final state."""
    steps = accept_step(
        job_id, name, plan_json, partitions, assignment, checkpoint_interval, savepoint
    )
    if steps == 0:
        return "failed"  # the plan was refused: recorded with the job
    for attempt in range(MAX_ATTEMPTS):
        outcome = "ok"
        for stage in range(steps):
            outcome = stage_step(
                job_id, stage, attempt, assignment, checkpoint_interval, sink, savepoint
            )
            if outcome != "ok":
                break
        if outcome == "ok":
            return finish_step(job_id, attempt, sink, checkpoint_interval)
        if outcome != "agent_failed":
            return outcome  # failed or cancelled: recorded by the step
    return fail_step(job_id, f"agents kept failing: gave up after {MAX_ATTEMPTS} attempts")


@DBOS.step()
def accept_step(
    job_id: str,
    name: str,
    plan_json: str,
    partitions: int | None,
    assignment: str,
    checkpoint_interval: float | None = None,
    savepoint: str | None = None,
) -> int:
    """Validate, optimize and cut the plan into stages; record the job with its physical plan
    (SCHEDULED), and the ``savepoint`` it starts from as its first checkpoint; place and
    deploy the first stage's tasks. Returns the number of stage steps (see :func:`_steps`),
    0 for a plan refused (the job FAILED)."""
    return _jm().accept(
        job_id, name, plan_json, partitions, assignment, checkpoint_interval, savepoint
    )


@DBOS.step()
def stage_step(
    job_id: str,
    stage_index: int,
    attempt: int,
    assignment: str,
    checkpoint_interval: float | None = None,
    sink: dict[str, Any] | None = None,
    savepoint: str | None = None,
) -> str:
    """Place, deploy and wait for one stage's tasks: ``ok``, ``agent_failed``, ``failed``
    or ``cancelled``."""
    _jm().add_sink(job_id, sink)
    return _jm().run_stage(job_id, stage_index, attempt, assignment, checkpoint_interval, savepoint)


@DBOS.step()
def finish_step(
    job_id: str,
    attempt: int,
    sink: dict[str, Any] | None = None,
    checkpoint_interval: float | None = None,
) -> str:
    """Fetch the result into the work directory (and the sink), free the agents' rows, mark
    FINISHED."""
    _jm().add_sink(job_id, sink)
    return _jm().finish(job_id, attempt, checkpointed=checkpoint_interval is not None)


@DBOS.step()
def fail_step(job_id: str, error: str) -> str:
    """Mark the job FAILED with ``error``."""
    _jm().end_job(job_id, "FAILED", error)
    return "failed"


# -- the server ---------------------------------------------------------------------------


class JobManager(ClusterServer):
    """Serves the Flight API of a cluster; runs job workflows on DBOS.

    ``database_url``: a ``postgresql://`` URL for the DBOS system database and the job tables;
    by default both are SQLite files in ``workdir``. ``auth``: the cluster's token (required of
    every caller, presented to agents) and the certificates trusted for TLS; ``tls``: this
    server's certificate and key (Flight then serves ``grpc+tls://``, and the HTTP status
    endpoint on ``http_port`` serves HTTPS).
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int = 0,
        auth: Credentials = ANONYMOUS,
        database_url: str | None = None,
        heartbeat_timeout: float = 10.0,
        tls: ServerTls | None = None,
        http_port: int = 0,
    ) -> None:
        global _manager
        super().__init__(host, port, auth, tls)
        self.workdir = Path(workdir)
        self.checkpoints_retained = get_config().checkpoints_retained
        self.kept = Location.of(get_config().checkpoint_location or self.workdir)
        """Where checkpoints (``checkpoints/<job>``) and savepoints (``savepoints/<job>``) go."""
        (self.workdir / "results").mkdir(parents=True, exist_ok=True)
        self.heartbeat_timeout = heartbeat_timeout
        system_url, tables_url = _database_urls(self.workdir, database_url)
        self.store = JobStore(tables_url)
        _manager = self
        DBOS(
            config={
                "name": "sabot-jobmanager",
                "system_database_url": system_url,
                "system_database_engine": create_engine(system_url),
                "log_level": "WARNING",
            }
        )
        self._stop = threading.Event()
        self._started = time.time()
        self._plans: dict[str, PhysicalPlan] = {}
        self._ended: set[str] = set()  # jobs that ended while this JobManager ran
        # where each running job's tasks are: (stage, partition, attempt) -> agent
        self._placed: dict[str, dict[tuple[int, int, int], str]] = {}
        self._sent: dict[str, set[str]] = {}  # tasks deployed by this run, by job
        self._checkpointing: dict[str, float] = {}  # job -> seconds between checkpoints
        self._sinks: dict[str, CommitSink] = {}  # job -> where its committed rows go too
        self._restores: dict[str, int | None] = {}  # job -> checkpoint its attempt starts at
        self._planned: dict[str, tuple[int, bool]] = {}  # job -> tasks of an attempt, bounded
        self.savepoint_requests: dict[str, dict[int, Future[str]]] = {}
        """Savepoints asked of running jobs: job -> checkpoint -> its path, once kept."""
        self.acks: dict[str, int] = {}
        """Each running task's last checkpoint whose barrier left all its outputs."""
        self._deployer = ThreadPoolExecutor(16, thread_name_prefix="sabot-deploy")
        self._source_commits = ThreadPoolExecutor(1, thread_name_prefix="sabot-source-commit")
        self._news = threading.Condition()
        threading.Thread(target=self._monitor, name="sabot-heartbeats", daemon=True).start()
        self.http = StatusHttpServer(self, host, http_port, auth.token, tls)
        DBOS.launch()  # resumes the workflows of jobs that were running

    # -- agents ---------------------------------------------------------------------------
    def active_agents(self) -> list[dict[str, Any]]:
        """Agents in good standing (ACTIVE or BUSY, heard from within the timeout)."""
        now = time.time()
        return [
            a
            for a in self.store.agents()
            if a["state"] in ("ACTIVE", "BUSY")
            and now - a["last_heartbeat"] <= self.heartbeat_timeout
        ]

    def _gone(self, agents: set[str]) -> bool:
        """Whether one of ``agents`` does not answer now (then marked FAILED): a task that
        failed while another agent of its job died failed because of it."""
        gone = False
        for uri in agents:
            try:
                call(uri, "ping", None, self.auth, timeout=2)
            except ClusterError:
                self.store.set_agent_state(uri, "FAILED")  # its next heartbeat revives it
                gone = True
        return gone

    def _lost_agents(self) -> set[str]:
        """Agents that failed or stopped: the rows they held are gone."""
        return {a["uri"] for a in self.store.agents() if a["state"] in ("FAILED", "STOPPED")}

    def _monitor(self) -> None:
        while not self._stop.wait(min(0.5, self.heartbeat_timeout / 4)):
            now = time.time()
            for agent in self.store.agents():
                # agents get a full timeout after a (re)start to report in
                late = now - max(agent["last_heartbeat"], self._started) > self.heartbeat_timeout
                if agent["state"] in ("STARTING", "ACTIVE", "BUSY", "DRAINING") and late:
                    self.store.set_agent_state(agent["uri"], "FAILED")

    # -- running jobs ---------------------------------------------------------------------
    def accept(
        self,
        job_id: str,
        name: str,
        plan_json: str,
        partitions: int | None,
        assignment: str,
        checkpoint_interval: float | None = None,
        savepoint: str | None = None,
    ) -> int:
        """Plan a job, record it and start its first stage (see :func:`accept_step`); safe
        to run again. The job's ``created_at`` is when this began, so it counts the planning.

        The first stage's tasks go out here rather than in its stage step: a job starts
        running one durable step (a few milliseconds) sooner."""
        started = time.time()
        try:
            optimized = PlanOptimizer().optimize(JobGraph.from_json(plan_json))
            slots = sum(a["slots"] for a in self.active_agents())
            width = partitions or max(1, slots)
            physical = plan_stages(optimized.graph, width, optimized.estimated_rows)
            while _pipelined(physical, checkpoint_interval) and partitions is None and width > 1:
                if len(physical.tasks()) <= slots:
                    break  # every task of the unbounded job has a slot
                width -= 1
                physical = plan_stages(optimized.graph, width, optimized.estimated_rows)
        except (SabotError, ValueError, KeyError) as exc:
            self.store.create_job(job_id, name, plan_json, started, state="FAILED", error=str(exc))
            self._ended.add(job_id)
            return 0
        new = self.store.create_job(
            job_id, name, plan_json, started, (physical.to_json(), width), state="SCHEDULED"
        )
        if new:
            self._plans[job_id] = physical
            if checkpoint_interval is not None:
                self._checkpointing[job_id] = checkpoint_interval
            if savepoint is not None:
                self._restores[job_id] = self._adopt(job_id, savepoint)
            if self.active_agents():  # else its stage step waits for agents
                self._deploy(job_id, 0, 0, assignment)  # the stage step waits for the tasks
            return _steps(physical, checkpoint_interval)
        job = self.store.job(job_id)  # recorded before the JobManager restarted
        if not job["physical"]:
            return 0
        return _steps(PhysicalPlan.from_json(job["physical"]), checkpoint_interval)

    def run_stage(
        self,
        job_id: str,
        stage_index: int,
        attempt: int,
        assignment: str,
        checkpoint_interval: float | None = None,
        savepoint: str | None = None,
    ) -> str:
        """Place, deploy and wait for one stage's tasks (safe to run again after a crash):
        ``ok``, ``agent_failed``, ``failed`` or ``cancelled``. For an unbounded job, all its
        stages at once: wait for the last one (taking a checkpoint every
        ``checkpoint_interval`` seconds), then cancel the others. ``savepoint``: the job's
        first attempt starts from it (adopted as its first checkpoint)."""
        if checkpoint_interval is not None:
            self._checkpointing[job_id] = checkpoint_interval
            if attempt > 0:  # a new attempt: its tasks start from the last complete checkpoint
                self._restores[job_id] = self._restore(job_id)
            elif savepoint is not None:  # (adopted when accepted; again after a restart)
                self._restores[job_id] = self._adopt(job_id, savepoint)
        deployed = self._deploy(job_id, stage_index, attempt, assignment)
        if isinstance(deployed, str):
            return deployed
        plan = self._plans[job_id]
        if not _pipelined(plan, self._checkpointing.get(job_id)):
            return self._wait_for_tasks(job_id, deployed)
        final = set(deployed)
        for index in range(1, len(plan.stages)):
            more = self._deploy(job_id, index, attempt, assignment)
            if isinstance(more, str):
                return more
            deployed |= more
            final = set(more)
        tick = None
        if job_id in self._checkpointing:
            interval = self._checkpointing[job_id]
            commit = functools.partial(self._commit, job_id, attempt)
            tick = _CheckpointTrigger(self, job_id, deployed, interval, commit)
        outcome = self._wait_for_tasks(job_id, deployed, until=final, tick=tick)
        if outcome in ("ok", "agent_failed"):  # the others never end by themselves
            rest = {t: uri for t, uri in deployed.items() if t not in final or outcome != "ok"}
            live = {t: uri for t, uri in rest.items() if uri not in self._lost_agents()}
            for task_id, uri in live.items():
                with contextlib.suppress(ClusterError):  # it may be gone or done
                    call(uri, "cancel", {"task_id": task_id}, self.auth, timeout=10)
            self._wait_for_tasks(job_id, live, stopping=True)
        return outcome

    def _deploy(
        self, job_id: str, stage_index: int, attempt: int, assignment: str
    ) -> dict[str, str] | str:
        """Place one stage's tasks and deploy them (once per run of this JobManager; again
        after a restart: deploys are idempotent). Returns the tasks' agents by task id, or
        the stage's outcome if it cannot run: ``agent_failed`` or ``cancelled``."""
        plan = self._plans.get(job_id)
        if plan is None:  # the JobManager restarted: the job's row has its state and plan
            job = self.store.job(job_id)
            if job["state"] in ENDED:
                return "cancelled"
            plan = self._plans[job_id] = PhysicalPlan.from_json(job["physical"])
            self._placed[job_id] = {
                (t["stage"], t["partition"], t["attempt"]): t["agent"]
                for t in self.store.tasks(job_id)
            }
        if job_id in self._ended:
            return "cancelled"
        stage = plan.stages[stage_index]
        placements = self._placed.setdefault(job_id, {})
        placed = {(s, p): uri for (s, p, a), uri in placements.items() if a == attempt}
        agents = self._wait_for_agents()
        if agents is None:
            return "agent_failed"
        lost = self._lost_agents()
        producers = {plan.exchanges[x].producer for x in stage.reads}
        checkpointing = self._checkpointing.get(job_id)
        if not _pipelined(plan, checkpointing):
            targets = assign(assignment, agents, stage.partitions, offset=stage_index)
            held = {
                s: tuple(sorted({uri for (ts, _), uri in placed.items() if ts == s}))
                for s in producers
            }
        else:  # all stages at once: each task needs a slot, and reads each producer
            needed = len(plan.tasks())
            if stage_index == 0 and attempt > 0:  # a lost agent may be replaced meanwhile
                agents = self._wait_for_slots(needed, SLOTS_TIMEOUT)
            if stage_index == 0 and needed > sum(a["slots"] for a in agents):
                error = (
                    f"this job runs all its {needed} tasks at once, and the agents "
                    f"have {sum(a['slots'] for a in agents)} slots: add agents or slots, or "
                    "submit it with fewer partitions"
                )
                self.end_job(job_id, "FAILED", error)
                return "failed"
            # what the JobManager knows runs on each agent (this attempt's tasks placed so
            # far, other jobs', an old attempt's that did not stop), not the last heartbeat's
            # count: a task beyond an agent's slots would wait for one, and hold up the job
            unended = self.store.unended_tasks_by_agent()
            busy = [{**a, "running": unended.get(a["uri"], 0)} for a in agents]
            targets = assign("resource_aware", busy, stage.partitions)
            held = {
                s: tuple(placed[s, p] for p in range(plan.stages[s].partitions)) for s in producers
            }
        if any(uri in lost for uris in held.values() for uri in uris):
            return "agent_failed"  # an agent holding this stage's input rows is gone
        specs = {}
        checkpoints, restore = None, None
        if checkpointing is not None:
            checkpoints, restore = str(self.checkpoint_dir(job_id)), self._restores.get(job_id)
        for partition in range(stage.partitions):
            uri = placed.get((stage_index, partition), targets[partition])
            spec = TaskSpec.of(plan, stage, partition, job_id, held, attempt, checkpoints, restore)
            specs[partition] = (spec, uri)
        self.store.add_tasks(
            job_id, stage_index, attempt, {p: (s.task_id, uri) for p, (s, uri) in specs.items()}
        )
        placements.update({(stage_index, p, attempt): uri for p, (_, uri) in specs.items()})
        tasks = {spec.task_id: uri for spec, uri in specs.values()}
        sent = self._sent.setdefault(job_id, set())
        deploys = [
            (uri, self._deployer.submit(call, uri, "deploy", spec.to_dict(), self.auth, 10))
            for spec, uri in specs.values()
            if spec.task_id not in sent
        ]
        for uri, deployed in deploys:
            try:
                deployed.result()
            except ClusterError:
                self.store.set_agent_state(uri, "FAILED")  # its next heartbeat, if any, revives it
                return "agent_failed"
        sent.update(tasks)
        return tasks

    def end_job(self, job_id: str, state: str, error: str | None = None) -> None:
        """Record that a job ended and forget what is kept of it in memory."""
        self.store.set_job_state(job_id, state, error)
        self._ended.add(job_id)
        self._plans.pop(job_id, None)
        self._placed.pop(job_id, None)
        self._sent.pop(job_id, None)
        self._checkpointing.pop(job_id, None)
        self._sinks.pop(job_id, None)
        self._restores.pop(job_id, None)
        for waiting in self.savepoint_requests.pop(job_id, {}).values():
            if not waiting.done():
                waiting.set_exception(ClusterError(f"job {job_id} ended before its savepoint"))
        for task_id in [t for t in list(self.acks) if t.startswith(f"{job_id}/")]:
            del self.acks[task_id]
        self._notify()

    def _notify(self) -> None:
        """Wake whoever waits for news: a heartbeat arrived, a job ended."""
        with self._news:
            self._news.notify_all()

    def _wait_for_news(self, timeout: float) -> None:
        with self._news:
            self._news.wait(timeout)

    def _wait_for_agents(self, timeout: float = 60.0) -> list[dict[str, Any]] | None:
        deadline = time.monotonic() + timeout
        while not (agents := self.active_agents()):
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)
        return agents

    def _wait_for_slots(self, slots: int, timeout: float) -> list[dict[str, Any]]:
        """The active agents, once they have ``slots`` slots in all or ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        agents = self.active_agents()
        while sum(a["slots"] for a in agents) < slots and time.monotonic() < deadline:
            self._wait_for_news(0.1)
            agents = self.active_agents()
        return agents

    def _wait_for_tasks(
        self,
        job_id: str,
        deployed: dict[str, str],
        until: set[str] | None = None,
        stopping: bool = False,
        tick: Callable[[set[str]], None] | None = None,
    ) -> str:
        """Wait until the tasks ``until`` (default: all deployed) finished, recording how each
        ended; ``ok``, or ``failed`` / ``agent_failed`` / ``cancelled`` as soon as any task
        says so. ``stopping``: the tasks were cancelled (the job's result is complete, or its
        attempt failed), so one that fails does not fail the job, and after
        :data:`STOP_TIMEOUT` seconds the wait ends; ``tick``: called at every poll with the
        tasks still running."""
        pending = dict(deployed)
        waiting = set(deployed) if until is None else until
        deadline = time.monotonic() + STOP_TIMEOUT
        while waiting & pending.keys():
            if job_id in self._ended:
                return "cancelled"
            if stopping and time.monotonic() > deadline:
                return "ok"
            lost = sorted(set(pending.values()) & self._lost_agents())
            if lost:
                for task_id in [t for t, u in pending.items() if u == lost[0]]:
                    self.store.set_task_state(task_id, "FAILED", f"agent {lost[0]} is gone")
                return "agent_failed"
            # an agent that does not answer: the heartbeat monitor decides whether it is gone
            ended, _ = poll_tasks(pending, self.auth)
            for uri, task in ended:
                task_id = task["task_id"]
                self.store.set_task_state(task_id, task["state"], task["error"], task)
                self.acks[task_id] = max(self.acks.get(task_id, 0), task.get("checkpoint", 0))
                if task["state"] == "FAILED" and not stopping:
                    if self._gone(set(deployed.values())):
                        return "agent_failed"  # it failed reading from an agent that died
                    self.end_job(
                        job_id, "FAILED", f"task {task_id} failed on {uri}: {task['error']}"
                    )
                    return "failed"
            if tick is not None:
                try:
                    tick(set(pending))
                except ClusterError:  # an agent holding rows to commit is gone
                    return "agent_failed"
            if waiting & pending.keys():
                self._wait_for_news(0.05)  # agents report ended tasks at once
        return "ok"

    def commit_sources(self, job_id: str, checkpoint: int) -> None:
        """Hand each replayable source of a job the positions its tasks saved in
        ``checkpoint``, now complete (Kafka commits them as its group's offsets); in the
        background, one after another, so a slow system does not hold the job back."""
        plan = self._plans.get(job_id)
        for stage in plan.stages if plan is not None else ():
            names = checkpoint_names(stage.graph)
            for node in stage.graph.sources():
                source = node.parameters["source"]
                if not isinstance(source, ReplayableSource):
                    continue
                for partition in range(stage.partitions):
                    scope = f"{stage.stage_id}.{partition}"  # (a task's producer name)
                    saved = Checkpoints(self.checkpoint_dir(job_id), scope, restore=checkpoint)
                    position = saved.load(names[node.operator_id])
                    if position is not None:  # (None: the task had ended by then)
                        self._source_commits.submit(_commit_source, source, position)

    def keep_savepoint(self, job_id: str, checkpoint: int, kept: Future[str]) -> None:
        """Copy a complete checkpoint to the job's savepoints (never discarded) and give
        ``kept`` its path."""
        target = self.kept / "savepoints" / job_id / f"savepoint-{checkpoint}"
        taken = checkpoint_path(self.checkpoint_dir(job_id), checkpoint)
        taken.copy_to(target)
        shared = self.checkpoint_dir(job_id) / SHARED
        for name in shared_files(taken):  # self-contained: with the shared files it uses
            (shared / name).copy_to(target / SHARED / name)
        (target / SAVEPOINT_FILE).write_text(
            json.dumps({"job_id": job_id, "checkpoint": checkpoint})
        )
        kept.set_result(str(target))

    def _adopt(self, job_id: str, savepoint: str) -> int:
        """Copy a savepoint into a new job's checkpoints as its first, COMPLETE one (again
        changes nothing); return its number (the job's tasks start from it, its next
        checkpoint is the one after)."""
        kept = Location.of(savepoint)
        number = int(json.loads((kept / SAVEPOINT_FILE).read_text())["checkpoint"])
        target = checkpoint_path(self.checkpoint_dir(job_id), number)
        for part in kept.children():
            if part.name == SHARED:
                part.copy_to(self.checkpoint_dir(job_id) / SHARED)
            else:
                part.copy_to(target / part.name)
        self.store.add_checkpoint(job_id, number, str(target))
        self.store.complete_checkpoint(job_id, number, checkpoint_bytes(target))
        return number

    def discard_checkpoints(self, job_id: str) -> None:
        """Remove the parts of a job's COMPLETE checkpoints but the last
        ``checkpoints_retained`` (:class:`~sabot_lab.config.Config`), marking them DISCARDED,
        those of older checkpoints that never completed (tasks of a lost attempt may write
        them after it ended), and the shared files no checkpoint left uses. Called when a
        checkpoint completed, before the next is asked for."""
        complete = [c for c in self.store.checkpoints(job_id) if c["state"] == "COMPLETE"]
        for c in complete[: -self.checkpoints_retained]:
            Location.of(c["location"]).delete()
            self.store.discard_checkpoint(job_id, c["checkpoint_id"])
        kept = {c["checkpoint_id"] for c in complete[-self.checkpoints_retained :]}
        for taken in self.checkpoint_dir(job_id).children():  # and what a lost attempt left
            number = taken.name.removeprefix("chk-")
            if number.isdigit() and int(number) < max(kept, default=0) and int(number) not in kept:
                taken.delete()
        remove_unshared(self.checkpoint_dir(job_id))

    def _restore(self, job_id: str) -> int | None:
        """The checkpoint a new attempt of a job starts from: its last COMPLETE one (None:
        the beginning); the parts of later ones, never completed, are removed."""
        taken = self.store.checkpoints(job_id)
        done = _last_complete(taken)
        for c in taken:
            if c["checkpoint_id"] > done:
                Location.of(c["location"]).delete()
        return done or None

    def _final_placement(self, job_id: str, attempt: int) -> tuple[PhysicalPlan, dict[int, str]]:
        """The job's plan and the agents of its last stage's tasks in ``attempt``."""
        plan = self._plans.get(job_id) or PhysicalPlan.from_json(self.store.job(job_id)["physical"])
        placed = {
            t["partition"]: t["agent"]
            for t in self.store.tasks(job_id)
            if t["attempt"] == attempt and t["stage"] == plan.final.stage_id
        }
        return plan, placed

    def _epochs(self, job_id: str, attempt: int, first: int, last: int) -> Iterator[pa.RecordBatch]:
        """The result rows of epochs ``first`` to ``last`` (those after barrier ``n - 1`` and
        before barrier ``n`` form epoch ``n``) from the last stage's tasks of ``attempt``."""
        plan, placed = self._final_placement(job_id, attempt)
        scope = attempt_scope(job_id, attempt)
        for epoch in range(first, last + 1):
            yield from result_batches(plan, placed, scope, self.auth, f"{RESULT}/{epoch}")

    def add_sink(self, job_id: str, sink: dict[str, Any] | None) -> None:
        """Where a job's committed rows also go (a :class:`CommitSink` as a dict)."""
        if sink is not None:
            self._sinks[job_id] = sink_from_dict(sink)

    def _commit(self, job_id: str, attempt: int, checkpoint: int) -> None:
        """Keep the result rows that came before ``checkpoint``'s barrier (the epochs since
        the last commit) in the work directory: they are the job's, whatever happens next."""
        first = _last_complete(self.store.checkpoints(job_id)) + 1
        self._keep_epochs(job_id, attempt, first, checkpoint)

    def _keep_epochs(self, job_id: str, attempt: int, first: int, last: int) -> None:
        """Write epochs ``first`` to ``last`` of ``attempt`` to the work directory, then hand
        each to the job's sink as a commit of its own (numbered by the epoch): all of them are
        fetched before the sink gets any, so an agent lost meanwhile commits nothing."""
        plan = self._final_placement(job_id, attempt)[0]
        epochs = range(first, last + 1)
        for epoch in epochs:
            path = self._epoch_path(job_id, epoch)
            _write_rows(path, plan.output_schema, self._epochs(job_id, attempt, epoch, epoch))
        sink = self._sinks.get(job_id)
        if sink is not None:
            for epoch in epochs:
                rows = _read_table(self._epoch_path(job_id, epoch), plan.output_schema)
                sink.commit(rows, job_id, epoch)

    def _epoch_path(self, job_id: str, epoch: int) -> Path:
        return self.workdir / "results" / job_id / f"epoch-{epoch}.arrow"

    def finish(self, job_id: str, attempt: int, checkpointed: bool = False) -> str:
        """Store the result rows as an Arrow IPC file and mark the job FINISHED. A job that
        takes checkpoints: the rows committed with them, then those of the last attempt after
        its last one."""
        plan, placed = self._final_placement(job_id, attempt)
        taken = self.store.checkpoints(job_id)
        path = self.result_path(job_id)
        if checkpointed:
            done = _last_complete(taken)
            last = max((c["checkpoint_id"] for c in taken), default=0) + 1  # after the last
            self._keep_epochs(job_id, attempt, done + 1, last)
            # a job started from a savepoint has no epochs up to it
            paths = [self._epoch_path(job_id, e) for e in range(1, last + 1)]
            epochs = (_read_rows(path) for path in paths if path.exists())
            _write_rows(path, plan.output_schema, itertools.chain.from_iterable(epochs))
        else:
            scope = attempt_scope(job_id, attempt)
            _write_rows(path, plan.output_schema, result_batches(plan, placed, scope, self.auth))
            if job_id in self._sinks:
                self._sinks[job_id].commit(_read_table(path, plan.output_schema), job_id, 0)
        self._drop(job_id, {t["agent"] for t in self.store.tasks(job_id)})
        self.end_job(job_id, "FINISHED")
        return "finished"

    def checkpoint_dir(self, job_id: str) -> Location:
        """Where a job's checkpoints are kept (its agents write there)."""
        return self.kept / "checkpoints" / job_id

    def result_path(self, job_id: str) -> Path:
        """Where a finished job's result rows are kept."""
        return self.workdir / "results" / f"{job_id}.arrow"

    # -- what clients see (Flight actions and the HTTP endpoint) --------------------------
    def jobs(self) -> list[dict[str, Any]]:
        """Every job, newest first."""
        return self.store.jobs()

    def agents(self) -> list[dict[str, Any]]:
        """Every agent that registered."""
        return self.store.agents()

    def job_metrics(self, job_id: str) -> dict[str, Any]:
        """A job's figures: tasks by state, rows, bytes, busy time, attempts, checkpoints."""
        return job_metrics(self.store.tasks(job_id), self.store.checkpoints(job_id))

    def job_view(self, job_id: str) -> dict[str, Any]:
        """A job's row with its tasks and metrics."""
        return {**self._job_status(job_id), "metrics": self.job_metrics(job_id),
                "tasks": self.store.tasks(job_id)}  # fmt: skip

    def metrics_text(self) -> str:
        """The cluster in the Prometheus text format."""
        return prometheus_text(
            self.store.jobs(),
            self.store.agents(),
            self.store.task_totals(),
            time.time(),
            self.store.last_checkpoints(),
        )

    # -- the Flight API -------------------------------------------------------------------
    def do_action(
        self, context: flight.ServerCallContext, action: flight.Action
    ) -> Iterator[flight.Result]:
        handlers = {
            "heartbeat": self._heartbeat,
            "submit": self._submit,
            "status": lambda b: self._job_status(b["job_id"]),
            "wait": lambda b: self._wait_for_job(b["job_id"], float(b.get("timeout", 10.0))),
            "tasks": lambda b: self.store.tasks(b["job_id"]),
            "checkpoints": lambda b: self.store.checkpoints(b["job_id"]),
            "metrics": lambda b: self.job_metrics(b["job_id"]),
            "jobs": lambda b: self.jobs(),
            "agents": lambda b: self.agents(),
            "cancel": self._cancel,
            "savepoint": self._savepoint,
            "ping": lambda b: {"uri": self.uri, "http": self.http.url},
        }
        return dispatch(action, handlers)

    def _heartbeat(self, body: dict[str, Any]) -> dict[str, Any]:
        state = body.get("state", "ACTIVE")
        known = {a["uri"]: a["state"] for a in self.store.agents()}
        if known.get(body["uri"]) == "FAILED" and state in ("ACTIVE", "BUSY"):
            state = "ACTIVE"  # a restarted agent rejoins
        self.store.upsert_agent(
            body["uri"], state, body["slots"], body.get("memory_bytes"), body.get("running", 0)
        )
        self.store.record_running_tasks(body.get("tasks", ()))
        self.acks.update({t["task_id"]: t.get("checkpoint", 0) for t in body.get("tasks", ())})
        self._notify()
        return {"ok": True}

    def _submit(self, body: dict[str, Any]) -> dict[str, Any]:
        plan_json = body["plan"]
        try:
            JobGraph.from_json(plan_json).validate()
        except (SabotError, ValueError, KeyError) as exc:
            raise ClusterError(f"the submitted plan is not valid: {exc}") from None
        assignment = body.get("assignment", "round_robin")
        if assignment not in ASSIGNMENTS:
            raise ClusterError(
                f"unknown assignment {assignment!r}; use one of {', '.join(ASSIGNMENTS)}"
            )
        job_id = body.get("job_id") or uuid.uuid4().hex[:16]
        interval = body.get("checkpoint_interval")
        if interval is not None and interval <= 0:
            raise ClusterError(
                f"checkpoint_interval must be a positive number of seconds, got {interval}"
            )
        savepoint = body.get("from_savepoint")
        if savepoint is not None and not (Location.of(savepoint) / SAVEPOINT_FILE).exists():
            raise ClusterError(f"{savepoint} is not a savepoint (Job.savepoint() makes them)")
        if savepoint is not None and interval is None:
            raise ClusterError("a job started from a savepoint needs a checkpoint_interval")
        with SetWorkflowID(job_id):
            DBOS.start_workflow(
                submit_job,
                job_id,
                body.get("name") or job_id,
                plan_json,
                body.get("partitions"),
                assignment,
                interval,
                body.get("sink"),
                savepoint,
            )
        return {"job_id": job_id}

    def _savepoint(self, body: dict[str, Any]) -> dict[str, Any]:
        job_id, timeout = body["job_id"], float(body.get("timeout", 60.0))
        job = self.store.job(job_id)
        if job["state"] != "RUNNING" or job_id not in self._checkpointing:
            raise ClusterError(
                f"job {job_id} is {job['state']}: a savepoint is taken of a running job that "
                "takes checkpoints (submit it with checkpoint_interval=)"
            )
        kept = self.savepoint_requests.setdefault(job_id, {}).setdefault(0, Future())
        try:
            return {"path": kept.result(timeout=timeout)}
        except concurrent.futures.TimeoutError:  # (not TimeoutError before Python 3.11)
            raise ClusterError(
                f"the savepoint of job {job_id} did not complete in {timeout:g} s"
            ) from None

    def _cancel(self, body: dict[str, Any]) -> dict[str, Any]:
        job_id = body["job_id"]
        self.store.job(job_id)
        self.end_job(job_id, "CANCELLED")
        self._drop(job_id, {a["uri"] for a in self.active_agents()})
        return self._public(self.store.job(job_id))

    def _drop(self, job_id: str, agents: set[str]) -> None:
        """Stop the job's tasks and free its rows on ``agents``."""
        for uri in agents:
            with contextlib.suppress(ClusterError):  # a vanished agent holds nothing any more
                call(uri, "drop_job", {"job_id": job_id}, self.auth, timeout=10)

    def _wait_for_job(self, job_id: str, timeout: float) -> dict[str, Any]:
        """The job's status once it ended, or after ``timeout`` seconds (a long poll)."""
        deadline = time.monotonic() + min(timeout, 60.0)
        while (status := self._job_status(job_id))["state"] not in ENDED:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self._wait_for_news(min(left, 0.5))
        return status

    def _job_status(self, job_id: str) -> dict[str, Any]:
        """A job's row; PENDING for a job accepted whose workflow has not written it yet."""
        try:
            return self._public(self.store.job(job_id))
        except ClusterError:
            if DBOS.get_workflow_status(job_id) is None:
                raise
            return {"job_id": job_id, "state": "PENDING", "error": None}

    def _public(self, job: dict[str, Any]) -> dict[str, Any]:
        """A job's row for clients: without its plans, with the number of tasks an attempt
        runs (``planned_tasks``) and whether its sources end (``bounded``); both None before
        the job is planned."""
        job_id, physical = job["job_id"], job.get("physical")
        if job_id not in self._planned and physical:
            plan = PhysicalPlan.from_json(physical)
            self._planned[job_id] = (len(plan.tasks()), plan.bounded)
        planned, bounded = self._planned.get(job_id, (None, None))
        return {
            **{k: v for k, v in job.items() if k not in ("plan", "physical")},
            "planned_tasks": planned,
            "bounded": bounded,
        }

    def do_get(
        self, context: flight.ServerCallContext, ticket: flight.Ticket
    ) -> flight.RecordBatchStream:
        job_id = json.loads(ticket.ticket)["job_id"]
        path = self.result_path(job_id)
        if not path.exists():
            raise flight.FlightServerError(
                f"job {job_id} has no result (state {self.store.job(job_id)['state']})"
            )
        return flight.RecordBatchStream(pa.ipc.open_file(pa.memory_map(str(path))).read_all())

    def shutdown(self) -> None:
        """Stop serving, the heartbeat monitor and DBOS."""
        self._stop.set()
        self._deployer.shutdown(wait=False)
        self._source_commits.shutdown(wait=False)
        self.http.shutdown()
        super().shutdown()
        DBOS.destroy()


def _database_urls(workdir: Path, database_url: str | None) -> tuple[str, str]:
    """(DBOS system database, job tables) URLs."""
    if database_url is None:
        return f"sqlite:///{workdir / 'dbos.sqlite'}", f"sqlite:///{workdir / 'jobs.sqlite'}"
    if database_url.startswith(("postgresql://", "postgres://")):
        return database_url, database_url
    raise ClusterError(f"unsupported database URL {database_url!r}: use postgresql://...")
