"""The JobManager server: the Flight API of a cluster, the agent registry, and the I/O that
carries out the scheduler's commands for the job workflows (:mod:`.workflow`).

``submit`` validates the plan, then starts the durable ``submit_job`` workflow and answers as
soon as DBOS has recorded it (a job accepted is a job that runs, even across a crash).

An unbounded job (a source that never ends) has one stage step for all its stages: every
task runs at once, exchanges streaming between them (so the job needs as many free slots as
it has tasks; without ``partitions`` it takes the widest plan that fits). It finishes when
its last stage does (e.g. a ``head(n)`` has its rows); the other tasks are then cancelled.
Otherwise it runs until cancelled. A bounded job without ``partitions`` runs as wide as the
slots allow, narrower when its input is small (:mod:`.job_width`).

What the JobManager knows of a running job is one :class:`~.scheduler.JobRun`; every change
to it goes through :func:`~.scheduler.transition`, whose commands this module executes
(tables, Flight calls, files); the heartbeat monitor's through
:func:`~.scheduler.agents_transition`. An agent that misses heartbeats for
``heartbeat_timeout`` seconds is marked FAILED; the job then runs all its stages again (a new
attempt) on the remaining agents, since the failed agent held shuffle rows of earlier stages.
When such an agent comes back (a network partition healed), the reply to its heartbeat names
the tasks it still runs that the tables record as ended, and it cancels them; their reports
change nothing here.

May import everything of ``runtime``, ``physical``, ``optimizer``, ``plan``, ``engine``
(checkpoint layout), ``connectors`` (sinks), ``observability``, DBOS.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import contextvars
import dataclasses
import json
import logging
import os
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any, ClassVar

import pyarrow as pa
import pyarrow.flight as flight
from dbos import DBOS, SetWorkflowID

from sabot_lab.config import get_config
from sabot_lab.connectors.sink import sink_from_dict
from sabot_lab.connectors.uploaded_tables import check_upload_id, uploads_root
from sabot_lab.errors import ClusterError, NotLeaderError, SabotError, TlsError
from sabot_lab.location import Location
from sabot_lab.logical import JobGraph
from sabot_lab.observability.tracing import span, traceparent
from sabot_lab.optimizer import PlanOptimizer
from sabot_lab.physical import PhysicalPlan, TaskId, TaskSpec, plan_stages
from sabot_lab.runtime.addresses import host_of
from sabot_lab.runtime.error_reports import failures_reported
from sabot_lab.runtime.jobmanager.checkpoints import SAVEPOINT_FILE, CheckpointFiles, commit_source
from sabot_lab.runtime.jobmanager.driver import due_for_poll, poll_tasks
from sabot_lab.runtime.jobmanager.http import StatusHttpServer
from sabot_lab.runtime.jobmanager.job_logs import JobLogs
from sabot_lab.runtime.jobmanager.job_width import input_width
from sabot_lab.runtime.jobmanager.leadership import Leadership, lock_workdir
from sabot_lab.runtime.jobmanager.metrics import (
    StepLatency,
    job_metrics,
    prometheus_text,
    series_since,
)
from sabot_lab.runtime.jobmanager.news import SLOTS, News
from sabot_lab.runtime.jobmanager.placement import (
    assign,
    held_inputs,
    missing_slots,
    pipelined,
    stage_steps,
    waiting_for_slots,
    with_free_slots,
    with_unended,
)
from sabot_lab.runtime.jobmanager.registration import check_registration
from sabot_lab.runtime.jobmanager.results import ResultFiles
from sabot_lab.runtime.jobmanager.retention import Retention
from sabot_lab.runtime.jobmanager.scheduler import (
    AgentLost,
    AgentsChecked,
    AgentSeen,
    AgentsProbed,
    AskForCheckpoint,
    CheckpointProgress,
    Command,
    CompleteCheckpoint,
    DeployFailed,
    DeployRequested,
    DropJob,
    EndJob,
    JobEnding,
    JobRun,
    KeepSavepoint,
    MarkAgent,
    Outcome,
    ProbeAgents,
    RecordTask,
    Settle,
    StagePlaced,
    StartCheckpoint,
    TaskEnded,
    Tick,
    agent_after_heartbeat,
    agents_transition,
    transition,
)
from sabot_lab.runtime.jobmanager.sqlite_turns import writes_first
from sabot_lab.runtime.jobmanager.store import JobStore, Planned, create_engine
from sabot_lab.runtime.jobmanager.uploads import Uploads
from sabot_lab.runtime.jobmanager.workflow import serve_workflows, submit_job
from sabot_lab.runtime.protocol import (
    ENDED,
    JOBS_PAGE,
    AgentState,
    CheckpointRequest,
    EndedBefore,
    Heartbeat,
    JobRef,
    JobRequest,
    JobsPage,
    JobState,
    LogsRequest,
    Role,
    TaskRef,
    TaskReport,
    TaskState,
)
from sabot_lab.runtime.transport import (
    ANONYMOUS,
    ClusterServer,
    Credentials,
    ServerTls,
    authorize,
    call,
    dispatch,
)

__all__ = ["SLOTS_TIMEOUT", "STOP_TIMEOUT", "JobManager"]

_log = logging.getLogger("sabot_lab.jobmanager")

SLOTS_TIMEOUT = 30.0
"""Seconds a new attempt of a job that runs all its tasks at once waits for enough slots
(an agent replacing the one lost), before the job fails for lack of them."""
STOP_TIMEOUT = 30.0
"""Seconds the JobManager waits for cancelled tasks to say they stopped."""
POLL_INTERVAL = 1.0
"""Seconds after which the JobManager asks an agent for its tasks of a job it waits for even
if no heartbeat came from it since it last asked (one that ends a task sends one at once)."""


class JobManager(ClusterServer):
    """Serves the Flight API of a cluster; runs job workflows on DBOS.

    ``database_url``: a ``postgresql://`` URL for the DBOS system database and the job tables;
    by default both are SQLite files in ``workdir``. ``auth``: the cluster credential
    (``SABOT_CLUSTER_TOKEN``: accepted from agents, presented to them) and the certificates
    trusted for TLS; ``submit_token`` (``SABOT_TOKEN``) and ``read_token``
    (``SABOT_READ_TOKEN``, optional): the clients' tokens. Each call is allowed to the roles
    :data:`~sabot_lab.runtime.protocol.JOBMANAGER_ACTIONS` says; the HTTP endpoint accepts the
    read and submit tokens. ``tls``: this server's certificate and key (Flight then serves
    ``grpc+tls://``, and the HTTP status endpoint on ``http_port`` serves HTTPS). Without
    strong tokens it starts only ``insecure`` on a loopback ``host`` (see
    :class:`~sabot_lab.runtime.transport.ClusterServer`). Its URI (and its HTTP endpoint's)
    is on ``advertise_host`` when given, never on a wildcard ``host`` (see
    :mod:`sabot_lab.runtime.addresses`); an agent registering must answer a ping at its own
    URI (see :mod:`.registration`).
    ``heartbeat_timeout`` defaults to :class:`~sabot_lab.config.ClusterConfig`'s.

    On PostgreSQL, several JobManagers (sharing a work directory, or a
    ``checkpoint_location``) make one cluster: the one holding the leader lease
    (:mod:`.leadership`) runs the jobs; the others are standbys that refuse calls with
    :class:`~sabot_lab.errors.NotLeaderError` naming the leader, and take over (recovering
    its workflows) when its lease expires. Every order to an agent carries the leader's
    fencing epoch; a leader that lost its lease (or may have) ends its process. On SQLite it
    is the only one (a second is refused).
    """

    def __init__(
        self,
        workdir: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int = 0,
        auth: Credentials = ANONYMOUS,
        database_url: str | None = None,
        heartbeat_timeout: float | None = None,
        tls: ServerTls | None = None,
        http_port: int = 0,
        insecure: bool = False,
        submit_token: str | None = None,
        read_token: str | None = None,
        database_schema: str | None = None,
        advertise_host: str | None = None,
    ) -> None:
        tokens = {Role.SUBMIT: submit_token, Role.CLUSTER: auth.token, Role.READ: read_token}
        super().__init__(host, port, auth, tls, insecure, tokens, advertise_host=advertise_host)
        self.workdir = Path(workdir)
        self._workdir_lock = lock_workdir(self.workdir) if database_url is None else None
        self.executor_id = "local" if database_url is None else f"jm-{uuid.uuid4().hex[:12]}"
        """This JobManager's DBOS executor id (the workflows it runs are recorded with it)."""
        self.checkpoints_retained = get_config().cluster.checkpoints_retained
        self.results = ResultFiles(self.workdir, self.auth)
        self.heartbeat_timeout = (
            get_config().cluster.heartbeat_timeout
            if heartbeat_timeout is None
            else heartbeat_timeout
        )
        system_url, tables_url = _database_urls(self.workdir, database_url)
        self.store = JobStore(tables_url, database_schema)
        self.job_logs = JobLogs(self.store, get_config().cluster.task_log_records)
        """The log records of the jobs' tasks, collected as their tasks are polled."""
        kept = Location.of(get_config().cluster.checkpoint_location or self.workdir)
        self.files = CheckpointFiles(kept, self.store)
        """Where checkpoints (``checkpoints/<job>``) and savepoints (``savepoints/<job>``) go."""
        self.uploads = Uploads(uploads_root(self.workdir, get_config().cluster.checkpoint_location))
        """The in-memory tables clients uploaded for their jobs (``uploads/``, beside them)."""
        self.uploads_shared = get_config().cluster.checkpoint_location is not None
        """Whether agents on other hosts read the uploads (they share the checkpoint
        location): remote clients upload their tables only then (a ``LocalCluster``'s agents
        share its work directory)."""
        serve_workflows(self)
        DBOS(
            config={
                "name": "sabot-jobmanager",
                "system_database_url": system_url,
                "system_database_engine": create_engine(system_url),
                "log_level": "WARNING",
                "executor_id": self.executor_id,
            }
        )
        self._stop = threading.Event()
        self._started = time.time()
        self._runs: dict[str, JobRun] = {}
        """What this JobManager knows of each job it ran or touched (see :meth:`_run`)."""
        self._runs_lock = threading.Lock()
        self._reports: dict[str, dict[str, Any]] = {}
        """What each agent's last heartbeat said of its resources and consumers' lag."""
        self.step_latency = StepLatency()
        """The time the steps of the job workflows took."""
        self._deployer = ThreadPoolExecutor(16, thread_name_prefix="sabot-deploy")
        self._source_commits = ThreadPoolExecutor(1, thread_name_prefix="sabot-source-commit")
        self._poller = ThreadPoolExecutor(16, thread_name_prefix="sabot-poll")
        """Asks a stage's agents for their tasks at once (see :func:`.driver.poll_tasks`)."""
        self._news = News()
        """What the waits below wake on: a heartbeat arrived, a job ended."""
        threading.Thread(target=self._monitor, name="sabot-heartbeats", daemon=True).start()
        readers = [t for t in (read_token, submit_token) if t]
        self.http = StatusHttpServer(
            self, host, http_port, tokens=readers, tls=tls, advertise_host=host_of(self.uri)
        )
        cluster = get_config().cluster
        self.retention = Retention(self.store, self.results, self.files, cluster.result_ttl,
                                   self._forget, self.uploads)  # fmt: skip
        self._leading = threading.Event()
        """Set while this JobManager runs the jobs (DBOS launched)."""
        self.leadership: Leadership | None = None
        if database_url is None:
            self._lead()
        else:
            self.leadership = Leadership(self.store.engine, self.executor_id, self.uri,
                                         self._take_over, self._step_down)  # fmt: skip
            self.leadership.start()

    # -- leading the cluster --------------------------------------------------------------
    def _lead(self) -> None:
        """Run the jobs: launch DBOS (it resumes this executor's workflows of jobs that were
        running) and sweep ended jobs."""
        DBOS.launch()
        interval = get_config().cluster.retention_interval
        threading.Thread(target=self.retention.run, args=(self._stop, interval),
                         name="sabot-retention", daemon=True).start()  # fmt: skip
        self._leading.set()

    def _take_over(self, epoch: int) -> None:
        """Lead at ``epoch`` (the lease taken): fence the store's deciding writes by it, read
        the agents the previous leader heard from (each gets a full heartbeat timeout to
        find this one), then run the jobs, the previous leaders' workflows too."""
        assert self.leadership is not None
        self.store.fence = self.leadership.lease.fence
        self.store.reload_agents()
        self._started = time.time()
        self._lead()
        pending = DBOS.list_workflows(status="PENDING", load_input=False, load_output=False)
        others = sorted({w.executor_id for w in pending if w.executor_id} - {self.executor_id})
        if others:
            _log.info("recovering the workflows of %s", ", ".join(others))
            DBOS._recover_pending_workflows(others)

    def _step_down(self, reason: str) -> None:
        """Stop deciding at once (the lease is lost or may expire) and end the process
        (its job workflows would go on deciding, refused at every write): restarted, by
        its service manager, it serves as a standby."""
        self._leading.clear()
        self.failure = f"stepped down as the cluster's leader: {reason}"
        print(f"sabot-lab jobmanager: {self.failure}", file=sys.stderr, flush=True)
        stopping = threading.Thread(target=self.shutdown, name="sabot-step-down", daemon=True)
        stopping.start()
        stopping.join(STOP_TIMEOUT / 6)
        os._exit(1)

    def role(self) -> dict[str, Any]:
        """Whether this JobManager leads (``leader``), waits as a ``standby``, or is the only
        one (``single``, SQLite), with the leader's ``epoch`` and address (``leader``)."""
        if self.leadership is None:
            return {"role": "single", "epoch": None, "leader": self.uri}
        row = self.leadership.lease.current()
        leading = self._leading.is_set() and self.leadership.leading
        leader = row["address"] if row["valid"] else None
        return {"role": "leader" if leading else "standby", "epoch": row["epoch"], "leader": leader}

    def _check_leading(self, action: str) -> None:
        """Refuse a call a standby cannot answer (only ``ping`` it can): the leader decides,
        and the job tables it reads may be behind."""
        if self.leadership is None or action == "ping":
            return
        if self.leadership.leading and self._leading.wait(60):  # (a takeover under way)
            return
        refusal = self.leadership.refusal(self.uri)
        raise flight.FlightServerError(str(refusal), extra_info=type(refusal).__name__.encode())

    def _order(self, uri: str, name: str, body: dict[str, Any], timeout: float = 10) -> Any:
        """Send an agent an order (``deploy``, ``checkpoint``, ``cancel``, ``drop_job``) with
        this leader's fencing epoch: an agent that saw a newer leader's refuses it."""
        epoch = None if self.leadership is None else self.leadership.epoch
        sent = body if epoch is None else {**body, "epoch": epoch}
        return call(uri, name, sent, self.auth, timeout=timeout)

    # -- agents ---------------------------------------------------------------------------
    def active_agents(self) -> list[dict[str, Any]]:
        """Agents in good standing (ACTIVE or BUSY, heard from within the timeout), with
        the resources they reported."""
        now = time.time()
        return [
            a
            for a in self.agents()
            if AgentState(a["state"]).serving
            and now - a["last_heartbeat"] <= self.heartbeat_timeout
        ]

    def _unreachable(self, agents: tuple[str, ...]) -> tuple[str, ...]:
        """Those of ``agents`` that do not answer a ping now."""
        gone = []
        for uri in agents:
            try:
                call(uri, "ping", None, self.auth, timeout=2)
            except ClusterError:
                gone.append(uri)
        return tuple(gone)

    def _lost_agents(self) -> set[str]:
        """Agents that failed or stopped: the rows they held are gone."""
        lost = (AgentState.FAILED, AgentState.STOPPED)
        return {a["uri"] for a in self.store.agents() if a["state"] in lost}

    def _monitor(self) -> None:
        while not self._stop.wait(min(0.5, self.heartbeat_timeout / 4)):
            if not self._leading.is_set():
                continue
            seen = tuple(
                AgentSeen(a["uri"], AgentState(a["state"]), a["last_heartbeat"])
                for a in self.store.agents()
            )
            checked = AgentsChecked(time.time(), self._started, self.heartbeat_timeout, seen)
            for command in agents_transition(checked):
                self._mark_agent(None, command, 0)

    # -- the runs of jobs -----------------------------------------------------------------
    def _run(self, job_id: str, plan: PhysicalPlan | None = None) -> JobRun:
        """The run of a job: the one in memory, else rebuilt from the job's rows (a job
        recorded before this JobManager started, or one that ended)."""
        with self._runs_lock:
            run = self._runs.get(job_id)
            if run is None:
                job = self.store.job(job_id)
                ended = job["state"] in ENDED
                if plan is None and job["physical"] and not ended:
                    plan = PhysicalPlan.from_json(job["physical"])
                tasks = [] if ended else self.store.tasks(job_id)
                run = self._runs[job_id] = JobRun.resume(job, tasks, plan)
                run.retained = self.checkpoints_retained
            return run

    def _forget(self, job_id: str) -> None:
        """Drop the run of a job deleted."""
        with self._runs_lock:
            self._runs.pop(job_id, None)

    def _new_run(self, job_id: str, plan: PhysicalPlan) -> JobRun:
        """The run of a job just recorded with ``plan``: nothing placed yet, so nothing to
        read back from its rows (a cancel that came first made one from them: that one)."""
        with self._runs_lock:
            fresh = JobRun(job_id, plan, retained=self.checkpoints_retained)
            return self._runs.setdefault(job_id, fresh)

    def _apply(self, run: JobRun, commands: list[Command], attempt: int = 0) -> Outcome | None:
        """Carry out the scheduler's ``commands`` for ``run`` (of ``attempt``), in order; the
        outcome of the stage step they settle, if any."""
        for command in commands:
            outcome = self._executors[type(command)](self, run, command, attempt)
            if outcome is not None:
                return outcome
        return None

    def _settle(self, run: JobRun, command: Settle, attempt: int) -> Outcome:
        return command.outcome

    def _record_task(self, run: JobRun, command: RecordTask, attempt: int) -> None:
        self._record_tasks([command])

    def _probe_agents(self, run: JobRun, command: ProbeAgents, attempt: int) -> Outcome | None:
        probed = AgentsProbed(self._unreachable(command.agents), command.error)
        return self._apply(run, transition(run, probed), attempt)

    def _mark_agent(self, run: JobRun | None, command: MarkAgent, attempt: int) -> None:
        self.store.set_agent_state(command.agent, command.state.value)

    def _record_end(self, run: JobRun, command: EndJob, attempt: int) -> None:
        """Record the job's end; fail the savepoints still asked for; wake the waiters. A
        finished job's checkpoints go (a cancelled or failed one's stay until it is deleted)."""
        self.job_logs.flush()  # its tasks' records, before those waiting for its end wake
        self.store.set_job_state(run.job_id, command.state.value, command.error)
        error = {"error": command.error} if command.error else {}
        _log.info("job %s %s", run.job_id, command.state.value.lower(),
                  extra={"job_id": run.job_id, **error})  # fmt: skip
        if command.state == JobState.FINISHED:
            self.files.drop(run.job_id)
        for waiting in run.savepoints.values():
            if not waiting.done():
                waiting.set_exception(ClusterError(f"job {run.job_id} ended before its savepoint"))
        run.savepoints.clear()
        self._news.announce(run.job_id, SLOTS)

    def _drop_job(self, run: JobRun, command: DropJob, attempt: int) -> None:
        self._drop(run.job_id, set(command.agents))

    def _start_checkpoint(self, run: JobRun, command: StartCheckpoint, attempt: int) -> None:
        location = self.files.location(run.job_id, command.checkpoint)
        self.store.add_checkpoint(run.job_id, command.checkpoint, str(location))

    def _ask_for_checkpoint(self, run: JobRun, command: AskForCheckpoint, attempt: int) -> None:
        body = CheckpointRequest(run.job_id, command.checkpoint, attempt).to_dict()
        for uri in command.agents:
            with contextlib.suppress(ClusterError):  # a lost agent fails the job's wait
                self._order(uri, "checkpoint", body)

    def _keep_savepoint(self, run: JobRun, command: KeepSavepoint, attempt: int) -> None:
        path = self.files.keep_savepoint(run.job_id, command.checkpoint)
        run.savepoints.pop(command.checkpoint).set_result(path)

    def _complete_checkpoint(self, run: JobRun, command: CompleteCheckpoint, attempt: int) -> None:
        """Commit the result rows before the checkpoint's barrier (the job's, whatever happens
        next), then mark it COMPLETE together with the discarded ones, remove the parts of
        those, and hand the sources their positions (in the background, one after another,
        so a slow system does not hold the job back)."""
        job_id, number = run.job_id, command.checkpoint
        with span("checkpoint", job_id=job_id, checkpoint=number, attempt=attempt) as current:
            plan, placed = self._final_placement(run, attempt)
            epochs = range(command.first_epoch, number + 1)
            self.results.keep_epochs(plan, placed, job_id, attempt, epochs, run.sink)
            self.files.mark_finished(job_id, number, command.finished)
            size = self.files.size(job_id, number)
            current.set_attribute("sabot.bytes", size)
            self.store.complete_checkpoint(job_id, number, size, command.discard)
            for source, position in self.files.source_positions(job_id, plan, number):
                self._source_commits.submit(commit_source, source, position)
            self.files.remove(job_id, command.discard)

    _executors: ClassVar[dict[type, Callable[..., Outcome | None]]] = {
        Settle: _settle,
        RecordTask: _record_task,
        ProbeAgents: _probe_agents,
        MarkAgent: _mark_agent,
        EndJob: _record_end,
        DropJob: _drop_job,
        StartCheckpoint: _start_checkpoint,
        AskForCheckpoint: _ask_for_checkpoint,
        CompleteCheckpoint: _complete_checkpoint,
        KeepSavepoint: _keep_savepoint,
    }
    """How each command of the scheduler is carried out."""

    def end_job(self, job_id: str, state: JobState, error: str | None = None) -> None:
        """End a job (once) and free what its run held."""
        run = self._run(job_id)
        with run.lock:
            self._apply(run, transition(run, JobEnding(state, error)))

    def fail(self, job_id: str, error: str) -> None:
        """Mark a job FAILED with ``error``."""
        self.end_job(job_id, JobState.FAILED, error)

    # -- running jobs ---------------------------------------------------------------------
    def accept(self, job_id: str, request: JobRequest) -> int:
        """Plan a job, record it and start its first stage (see
        :func:`~.workflow.accept_step`); safe to run again. The job's ``created_at`` is when
        this began, so it counts the planning.

        The first stage's tasks go out here rather than in its stage step: a job starts
        running one durable step (a few milliseconds) sooner."""
        started = time.time()
        name, partitions = request.name or job_id, request.partitions
        interval = request.checkpoint_interval
        try:
            graph = self.uploads.bind(JobGraph.from_json(request.plan), job_id)
            optimized = PlanOptimizer().optimize(graph)
            slots = sum(a["slots"] for a in self.active_agents())
            cluster = get_config().cluster
            width = partitions or max(1, min(slots, cluster.max_parallelism))
            physical = plan_stages(optimized.graph, width, optimized.estimated_rows)
            if partitions is None and physical.bounded and width > 1:
                narrow = input_width(width, optimized.estimated_rows, cluster.task_rows)
                if narrow < width:  # a small input: fewer tasks
                    width = narrow
                    physical = plan_stages(optimized.graph, width, optimized.estimated_rows)
            while pipelined(physical, interval) and partitions is None and width > 1:
                if len(physical.tasks()) <= slots:
                    break  # every task of the unbounded job has a slot
                width -= 1
                physical = plan_stages(optimized.graph, width, optimized.estimated_rows)
        except (SabotError, ValueError, KeyError) as exc:
            failed = JobState.FAILED.value
            self.store.create_job(job_id, name, started, state=failed, error=str(exc))
            self._news.announce(job_id)  # (ended: its waiters wake)
            return 0
        planned = Planned(physical.to_json(), width, len(physical.tasks()), physical.bounded)
        new = self.store.create_job(job_id, name, started, planned, state=JobState.SCHEDULED.value)
        self._news.announce(job_id)  # (a cancel waits for its row)
        if new:
            run = self._new_run(job_id, physical)
            run.checkpoint_interval = interval
            if request.from_savepoint is not None:
                run.restore = self.files.adopt(job_id, request.from_savepoint)
            if self.active_agents():  # else its stage step waits for agents
                self._deploy(run, 0, 0, request.assignment)  # the stage step waits for the tasks
            return stage_steps(physical, interval)
        job = self.store.job(job_id)  # recorded before the JobManager restarted
        if not job["physical"]:
            return 0
        return stage_steps(PhysicalPlan.from_json(job["physical"]), interval)

    def run_stage(
        self, job_id: str, stage_index: int, attempt: int, request: JobRequest
    ) -> Outcome:
        """Place, deploy and wait for one stage's tasks (safe to run again after a crash).
        For a job that runs all its stages at once: wait for the last one (taking a
        checkpoint every ``checkpoint_interval`` seconds), then cancel the others. A job
        started from a savepoint: its first attempt starts from it (adopted as its first
        checkpoint)."""
        run = self._run(job_id)
        interval = request.checkpoint_interval
        if interval is not None:
            run.checkpoint_interval = interval
            if attempt > 0:  # a new attempt: its tasks start from the last complete checkpoint
                run.restore = self.files.restore_point(job_id)
            elif (
                request.from_savepoint is not None
            ):  # (adopted when accepted; again after a restart)
                run.restore = self.files.adopt(job_id, request.from_savepoint)
        if request.sink is not None and not run.ended:
            run.sink = sink_from_dict(request.sink)
        if attempt > 0 and stage_index == 0:  # an earlier attempt's tasks would hold slots
            earlier = self.store.tasks(job_id)
            self._stop_tasks(run, {
                t["task_id"]: t["agent"] for t in earlier
                if t["attempt"] < attempt and t["state"] not in ENDED and t["agent"]
            })  # fmt: skip
        plan = run.plan
        if plan is None or not pipelined(plan, interval):
            outcome = self._deploy(run, stage_index, attempt, request.assignment)
            if outcome != Outcome.OK:
                return outcome
            deployed = run.tasks_in((stage_index,), attempt)
            outcome = self._wait_for_tasks(run, deployed)
            if outcome == Outcome.AGENT_FAILED:  # the next attempt needs their slots
                self._stop_tasks(run, deployed)
            return outcome
        for index in range(len(plan.stages)):
            outcome = self._deploy(run, index, attempt, request.assignment)
            if outcome != Outcome.OK:
                return outcome
        deployed = run.tasks = run.tasks_in(range(len(plan.stages)), attempt)
        final = set(run.tasks_in((plan.final.stage_id,), attempt))
        if interval is not None:
            run.progress = CheckpointProgress.resume(
                self.store.checkpoints(job_id), time.monotonic()
            )
        ticking = interval is not None
        outcome = self._wait_for_tasks(run, deployed, final, ticking=ticking, attempt=attempt)
        if outcome in (Outcome.OK, Outcome.AGENT_FAILED):  # the others never end by themselves
            rest = {
                t: uri for t, uri in deployed.items() if t not in final or outcome != Outcome.OK
            }
            self._stop_tasks(run, rest)
        return outcome

    def _stop_tasks(self, run: JobRun, tasks: dict[str, str]) -> None:
        """Cancel ``tasks`` (task id -> agent) on the agents still serving, and wait (at most
        :data:`STOP_TIMEOUT` seconds) until they stopped, recording how each ended."""
        live = {t: uri for t, uri in tasks.items() if uri not in self._lost_agents()}
        for task_id, uri in live.items():
            with contextlib.suppress(ClusterError):  # it may be gone or done
                self._order(uri, "cancel", TaskRef(task_id).to_dict())
        self._wait_for_tasks(run, live, stopping=True)

    def _deploy(self, run: JobRun, stage_index: int, attempt: int, assignment: str) -> Outcome:
        """Place one stage's tasks and deploy them (once per run of this JobManager; again
        after a restart: deploys are idempotent); the tasks go into ``run.placed``.
        ``OK``, or the stage's outcome if it cannot run."""
        refused = self._apply(run, transition(run, DeployRequested()))
        job_id, plan = run.job_id, run.plan
        if refused is not None or plan is None:
            return refused or Outcome.CANCELLED
        stage = plan.stages[stage_index]
        placed = run.placed_in(attempt)
        agents = self._wait_for_agents() or []
        lost = self._lost_agents()
        streaming = pipelined(plan, run.checkpoint_interval)  # each task needs a slot
        needed = len(plan.tasks()) if streaming and stage_index == 0 and agents else 0
        if needed and attempt > 0:  # a lost agent may be replaced meanwhile
            agents = self._wait_for_slots(needed, SLOTS_TIMEOUT)
        held = held_inputs(plan, stage, placed, streaming) if agents else {}
        gone = tuple(sorted({uri for uris in held.values() for uri in uris} & lost))
        slots = sum(a["slots"] for a in agents)
        unplaced = None
        if agents and not gone and missing_slots(needed, slots) is None:
            if streaming:  # all the attempt's tasks at once, asked for with its first stage
                wanted = needed - len(placed) if stage_index == 0 else 0
            else:  # a slot to start on (the stage's other tasks may queue behind its own)
                wanted = int(not all((stage_index, p) in placed for p in range(stage.partitions)))
            agents, unplaced = self._wait_for_free_slots(run, wanted)
        with run.lock:
            event = StagePlaced(slots, needed, gone, unplaced)
            refused = self._apply(run, transition(run, event))
        if refused is not None:
            return refused
        if streaming:
            targets = assign("resource_aware", agents, stage.partitions)
        else:
            free = with_free_slots(agents) or agents  # (none free: its tasks were placed)
            targets = assign(assignment, free, stage.partitions, offset=stage_index)
        checkpoints = None
        if run.checkpoint_interval is not None:
            checkpoints = str(self.files.directory(job_id))
        specs = {}
        for partition in range(stage.partitions):
            uri = placed.get((stage_index, partition), targets[partition])
            spec = TaskSpec.of(
                plan, stage, partition, job_id, held, attempt, checkpoints, run.restore
            )
            specs[partition] = (spec, uri)
        with run.lock:  # a cancel comes before (nothing deployed) or after (it drops them all)
            refused = self._apply(run, transition(run, DeployRequested()))
            if refused is not None:
                return refused
            self.store.add_tasks(
                job_id, stage_index, attempt, {p: (s.task_id, u) for p, (s, u) in specs.items()},
                stage.graph.topological_sort()[-1].operator_id,
            )  # fmt: skip
            run.placed.update({(stage_index, p, attempt): u for p, (_, u) in specs.items()})
            deploys = [  # (each in this thread's context: the stage's span)
                (uri, self._deployer.submit(contextvars.copy_context().run, self._order, uri,
                                            "deploy", spec.to_dict()))
                for spec, uri in specs.values()
                if spec.task_id not in run.sent
            ]  # fmt: skip
            for uri, deployed in deploys:
                try:
                    deployed.result()
                except ClusterError as exc:
                    tls_error = str(exc) if isinstance(exc, TlsError) else None
                    failed = transition(run, DeployFailed(uri, tls_error))
                    return self._apply(run, failed) or Outcome.AGENT_FAILED
            run.sent.update(spec.task_id for spec, _ in specs.values())
        return Outcome.OK

    def _wait_for_agents(self, timeout: float = 60.0) -> list[dict[str, Any]] | None:
        deadline = time.monotonic() + timeout
        while not (agents := self.active_agents()):
            if time.monotonic() > deadline:
                return None
            time.sleep(0.1)
        return agents

    def _wait_for_slots(self, slots: int, timeout: float) -> list[dict[str, Any]]:
        """The active agents, once they have ``slots`` slots in all or ``timeout`` passed."""
        return self._news.wait_until(
            [SLOTS],
            self.active_agents,
            lambda agents: sum(a["slots"] for a in agents) >= slots,
            timeout,
            interval=0.1,
        )

    def _wait_for_free_slots(
        self, run: JobRun, needed: int
    ) -> tuple[list[dict[str, Any]], str | None]:
        """The active agents, each with its tasks not ended as ``running``, once they have
        ``needed`` free slots (meanwhile the job's status says what it waits for); and, when
        the job's :attr:`~sabot_lab.config.ClusterConfig.placement_timeout` passed first,
        why it found none."""
        timeout = get_config().cluster.placement_timeout
        deadline = time.monotonic() + timeout
        try:
            with self._news.watching([SLOTS]) as came:
                while True:
                    came.clear()
                    agents = with_unended(
                        self.active_agents(), self.store.unended_tasks_by("agent")
                    )
                    if needed <= 0:
                        return agents, None
                    holders = self.store.unended_tasks_by("job_id")
                    run.waiting = waiting_for_slots(needed, agents, holders)
                    if run.waiting is None or run.ended:
                        return agents, None
                    if time.monotonic() > deadline:
                        return (
                            agents,
                            f"{run.waiting}; gave up after {timeout:g} s (placement_timeout)",
                        )
                    came.wait(0.5)
        finally:
            run.waiting = None

    def _wait_for_tasks(
        self,
        run: JobRun,
        deployed: dict[str, str],
        until: set[str] | None = None,
        stopping: bool = False,
        ticking: bool = False,
        attempt: int = 0,
    ) -> Outcome:
        """Wait until the tasks ``until`` (default: all deployed) finished, recording how each
        ended; ``OK``, or another outcome as soon as a task or agent says so. ``stopping``:
        the tasks were cancelled (the job's result is complete, or its attempt failed), so
        one that fails does not fail the job, and after :data:`STOP_TIMEOUT` seconds the wait
        ends; ``ticking``: the job takes checkpoints, its run ticks at every poll (of
        ``attempt``)."""
        pending = dict(deployed)
        agents = frozenset(deployed.values())
        waiting = set(deployed) if until is None else until
        deadline = time.monotonic() + STOP_TIMEOUT
        polled: dict[str, float] = {}  # when each agent was last asked for its tasks
        with self._news.watching([*agents, run.job_id]) as came:  # (its agents' heartbeats)
            while waiting & pending.keys():
                came.clear()  # (before asking: a task that ends meanwhile wakes the wait)
                if run.ended:
                    return Outcome.CANCELLED
                if stopping and time.monotonic() > deadline:
                    return Outcome.OK
                lost = sorted(set(pending.values()) & self._lost_agents())
                if lost:
                    tasks = tuple(t for t, u in pending.items() if u == lost[0])
                    return (
                        self._apply(run, transition(run, AgentLost(lost[0], tasks)))
                        or Outcome.AGENT_FAILED
                    )
                # an agent that does not answer: the heartbeat monitor decides whether it is gone
                # (asked again soon: one cut off must not hold the job past its FAILED mark)
                patience = min(10.0, max(2.0, self.heartbeat_timeout / 2))
                heard = {a["uri"]: a["last_heartbeat"] for a in self.store.agents()}
                now = time.time()
                due = set(due_for_poll(pending.values(), heard, polled, now, POLL_INTERVAL))
                polled.update(dict.fromkeys(due, now))
                asked = {t: uri for t, uri in pending.items() if uri in due}
                ended, _ = poll_tasks(asked, self.auth, self.job_logs.add, patience, self._poller)
                for _, task in ended:
                    del pending[task["task_id"]]
                outcome = self._tasks_ended(run, ended, stopping, agents)
                if outcome is not None:
                    return outcome
                if ticking:
                    try:
                        with run.lock:  # completion and retention in one step; a cancel waits
                            tick = Tick(time.monotonic(), frozenset(pending))
                            self._apply(run, transition(run, tick), attempt)
                    except ClusterError:  # an agent holding rows to commit is gone
                        return Outcome.AGENT_FAILED
                if waiting & pending.keys():
                    came.wait(0.05)  # agents report ended tasks at once
        return Outcome.OK

    def _tasks_ended(
        self,
        run: JobRun,
        ended: list[tuple[str, dict[str, Any]]],
        stopping: bool,
        agents: frozenset[str],
    ) -> Outcome | None:
        """Apply the ends of the tasks one poll found ((agent, task report) pairs), their
        records written together (in one transaction before any other command); the outcome
        of the stage step, if one settles it."""
        records: list[RecordTask] = []
        for uri, task in ended:
            report = TaskReport.from_dict(task)
            event = TaskEnded(
                report.task_id, uri, TaskState(report.state), report.error,
                report.checkpoint, stopping, agents, report.metrics,
            )  # fmt: skip
            commands = transition(run, event)
            records += [c for c in commands if isinstance(c, RecordTask)]
            others: list[Command] = [c for c in commands if not isinstance(c, RecordTask)]
            if others:
                self._record_tasks(records)
                records = []
                outcome = self._apply(run, others)
                if outcome is not None:
                    return outcome
        self._record_tasks(records)
        return None

    def _record_tasks(self, records: list[RecordTask]) -> None:
        changes = [(r.task_id, r.state.value, r.error, r.metrics) for r in records]
        self.store.set_task_states(changes)

    def _final_placement(self, run: JobRun, attempt: int) -> tuple[PhysicalPlan, dict[int, str]]:
        """The job's plan and the agents of its last stage's tasks in ``attempt``."""
        job_id = run.job_id
        plan = run.plan or PhysicalPlan.from_json(self.store.job(job_id)["physical"])
        placed = {
            t["partition"]: t["agent"]
            for t in self.store.tasks(job_id)
            if t["attempt"] == attempt and t["stage"] == plan.final.stage_id
        }
        return plan, placed

    def finish(self, job_id: str, attempt: int, request: JobRequest) -> str:
        """Store the result rows as an Arrow IPC file and mark the job FINISHED. A job that
        takes checkpoints: the rows committed with them, then those of the last attempt after
        its last one. A JobManager that no longer leads writes nothing (the new leader
        finishes the job). An agent holding result rows that is gone by now fails the attempt
        (``agent_failed``: the workflow runs another), not the job."""
        if self.leadership is not None and not self.leadership.leading:
            raise NotLeaderError(f"{self.uri} no longer leads: job {job_id} is not its to finish")
        run = self._run(job_id)
        sink = sink_from_dict(request.sink) if request.sink is not None else None
        plan, placed = self._final_placement(run, attempt)
        try:
            if request.checkpoint_interval is not None:
                taken = self.store.checkpoints(job_id)
                done = max(
                    (c["checkpoint_id"] for c in taken if c["state"] == "COMPLETE"), default=0
                )
                last = max((c["checkpoint_id"] for c in taken), default=0) + 1  # after the last
                epochs = range(done + 1, last + 1)
                self.results.keep_epochs(plan, placed, job_id, attempt, epochs, sink)
                self.results.join_epochs(plan, job_id, last)
            else:
                self.results.keep_result(plan, placed, job_id, attempt, sink)
        except ClusterError:
            gone = self._unreachable(tuple(sorted(set(placed.values()))))
            if not gone:
                raise
            for uri in gone:
                self._mark_agent(run, MarkAgent(uri, AgentState.FAILED), attempt)
            _log.warning("job %s: result rows lost with agents %s; another attempt", job_id,
                         ", ".join(gone), extra={"job_id": job_id})  # fmt: skip
            return Outcome.AGENT_FAILED.value
        agents = frozenset(t["agent"] for t in self.store.tasks(job_id))
        with run.lock:
            self._apply(run, transition(run, JobEnding(JobState.FINISHED, agents=agents)))
        return "finished"

    def result_path(self, job_id: str) -> Path:
        """Where a finished job's result rows are kept."""
        return self.results.path(job_id)

    # -- what clients see (Flight actions and the HTTP endpoint) --------------------------
    def jobs(self, limit: int = JOBS_PAGE, before: str | None = None) -> list[dict[str, Any]]:
        """A page of jobs, newest first (see :meth:`~.store.JobStore.jobs`)."""
        return self.store.jobs(limit, before)

    def agents(self) -> list[dict[str, Any]]:
        """Every agent that registered, with the resources (see
        :data:`~sabot_lab.runtime.protocol.AGENT_RESOURCES`), the consumers' lag
        (``consumer_lag``) and the tasks of dropped jobs still stopping (``draining``) its
        last heartbeat to this JobManager reported."""
        return [{**a, **self._reports.get(a["uri"], {})} for a in self.store.agents()]

    def job_metrics(self, job_id: str) -> dict[str, Any]:
        """A job's figures: tasks by state, rows, bytes, busy time, attempts, checkpoints."""
        return job_metrics(self.store.tasks(job_id), self.store.checkpoints(job_id))

    def job_view(self, job_id: str) -> dict[str, Any]:
        """A job's row with its tasks and metrics."""
        return {**self._job_status(job_id), "metrics": self.job_metrics(job_id),
                "tasks": self.store.tasks(job_id)}  # fmt: skip

    def metrics_text(self) -> str:
        """The cluster in the Prometheus text format."""
        now = time.time()
        since = series_since(now, self.retention.ttl)
        return prometheus_text(
            self.store.job_counts(),
            self.agents(),
            self.store.task_totals(),
            now,
            self.store.last_checkpoints(since),
            self.store.recent_tasks(since),
            self.step_latency.snapshot(),
        )

    # -- the Flight API -------------------------------------------------------------------
    def do_action(
        self, context: flight.ServerCallContext, action: flight.Action
    ) -> Iterator[flight.Result]:
        def job(name: str) -> Any:
            return lambda body: JobRef.from_dict(body, name)

        handlers = {
            "heartbeat": self._heartbeat,
            "submit": self._submit,
            "status": lambda b: self._job_status(job("status")(b).job_id),
            "wait": lambda b: self._wait_for_job(job("wait")(b)),
            "tasks": lambda b: self.store.tasks(job("tasks")(b).job_id),
            "checkpoints": lambda b: self.store.checkpoints(job("checkpoints")(b).job_id),
            "metrics": lambda b: self.job_metrics(job("metrics")(b).job_id),
            "logs": lambda b: self._logs(LogsRequest.from_dict(b)),
            "jobs": lambda b: self.jobs(*JobsPage.from_dict(b or {}).fields()),
            "delete": lambda b: self.retention.delete(job("delete")(b).job_id),
            "delete_ended": lambda b: self._delete_ended(EndedBefore.from_dict(b)),
            "agents": lambda b: self.agents(),
            "cancel": lambda b: self._cancel(job("cancel")(b).job_id),
            "savepoint": lambda b: self._savepoint(job("savepoint")(b)),
            "plan": lambda b: self._submitted_plan(job("plan")(b).job_id),
            "ping": lambda b: self._ping(),
            "dashboard_code": lambda b: self.http.one_time_link(),
        }
        authorize(context, action.type)
        self._check_leading(action.type)
        return dispatch(action, handlers, context)

    def _ping(self) -> dict[str, Any]:
        """The JobManager's URIs (Flight and HTTP), its :meth:`role`, and whether remote
        clients upload their in-memory tables here (:attr:`uploads_shared`)."""
        return {"uri": self.uri, "http": self.http.url, **self.role(),
                "uploads": self.uploads_shared}  # fmt: skip

    def _heartbeat(self, body: dict[str, Any]) -> dict[str, Any]:
        beat = Heartbeat.from_dict(body)
        recorded = self.store.agent_state(beat.uri)
        known = None if recorded is None else AgentState(recorded)
        check_registration(beat, known, self.auth)
        state = agent_after_heartbeat(AgentState(beat.state), known)
        self.store.upsert_agent(beat.uri, state.value, beat.slots, beat.memory_bytes, beat.running)
        self._reports[beat.uri] = {**beat.resources, "consumer_lag": list(beat.consumer_lag),
                                   "draining": beat.draining}  # fmt: skip
        stale = self.store.ended_tasks(t.task_id for t in beat.tasks)
        if stale:  # (an agent cut off, back: its tasks of the attempt given up with it)
            _log.warning("agent %s runs tasks recorded as ended: cancelling %s", beat.uri,
                         ", ".join(stale), extra={"agent_id": beat.uri})  # fmt: skip
        current = [t for t in beat.tasks if t.task_id not in stale]
        self.store.record_running_tasks([t.to_dict() for t in current])
        for task in current:
            run = self._runs.get(TaskId.parse(task.task_id).job_id)
            if run is not None and not run.ended:
                run.acks[task.task_id] = task.checkpoint
        self._news.announce(beat.uri, SLOTS)
        epoch = None if self.leadership is None else self.leadership.epoch
        return {"ok": True, "epoch": epoch, "cancel": stale}

    def _submit(self, body: dict[str, Any]) -> dict[str, Any]:
        request = JobRequest.from_dict(body)
        if request.trace is None:  # the job's spans are children of the call's
            request = dataclasses.replace(request, trace=traceparent())
        try:
            graph = JobGraph.from_json(request.plan)
            graph.validate()
            self.uploads.bind(graph)  # each table it names by id uploaded, as it says
        except (SabotError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
            raise ClusterError(f"the submitted plan is not valid: {exc}") from None
        limit = get_config().cluster.max_parallelism
        asked = max([request.partitions or 1, *(n.parallelism or 1 for n in graph)])
        if asked > limit:
            raise ClusterError(
                f"{asked} tasks per operator asked for; this cluster runs at most {limit} "
                "(SABOT_MAX_PARALLELISM on the JobManager)"
            )
        job_id = request.job_id or uuid.uuid4().hex[:16]
        savepoint = request.from_savepoint
        if savepoint is not None and not (Location.of(savepoint) / SAVEPOINT_FILE).exists():
            raise ClusterError(f"{savepoint} is not a savepoint (Job.savepoint() makes them)")
        with SetWorkflowID(job_id), writes_first():  # before the running jobs' step records
            DBOS.start_workflow(submit_job, job_id, request)
        return {"job_id": job_id}

    def _logs(self, request: LogsRequest) -> list[dict[str, Any]]:
        """The log records of a job's tasks ``request`` asks for (an unknown job raises)."""
        self._job_status(request.job_id)
        return self.job_logs.records(request)

    def _submitted_plan(self, job_id: str) -> dict[str, Any]:
        """The logical plan (JSON) job ``job_id`` was submitted with, read from its workflow's
        input (kept until the job is deleted), the tasks per stage it was planned with and,
        while it runs, the physical plan (JSON) it runs."""
        try:
            job = self.store.job(job_id)
        except ClusterError:
            job = self._job_status(job_id)  # (accepted, not written yet; else raises)
        found = DBOS.list_workflows(workflow_ids=[job_id], load_output=False)
        if not found or not isinstance(found[0].input, dict):
            raise ClusterError(f"job {job_id} has no plan recorded here")
        request: JobRequest = found[0].input["args"][1]
        return {
            "plan": request.plan,
            "partitions": job.get("partitions"),
            "physical": job.get("physical"),
        }

    def _savepoint(self, ref: JobRef) -> dict[str, Any]:
        job_id = ref.job_id
        timeout = 60.0 if ref.timeout is None else ref.timeout
        job = self.store.job(job_id)
        run = self._runs.get(job_id)
        if job["state"] != JobState.RUNNING or run is None or run.checkpoint_interval is None:
            raise ClusterError(
                f"job {job_id} is {job['state']}: a savepoint is taken of a running job that "
                "takes checkpoints (submit it with checkpoint_interval=)"
            )
        with run.lock:
            kept = run.savepoints.setdefault(0, Future())
        try:
            return {"path": kept.result(timeout=timeout)}
        except concurrent.futures.TimeoutError:  # (not TimeoutError before Python 3.11)
            raise ClusterError(
                f"the savepoint of job {job_id} did not complete in {timeout:g} s"
            ) from None

    def _cancel(self, job_id: str) -> dict[str, Any]:
        self._wait_until_recorded(job_id)
        run = self._run(job_id)
        agents = frozenset(a["uri"] for a in self.active_agents())
        with run.lock:
            self._apply(run, transition(run, JobEnding(JobState.CANCELLED, agents=agents)))
        return self._public(self.store.job(job_id))

    def _delete_ended(self, ended: EndedBefore) -> dict[str, Any]:
        return {"deleted": self.retention.delete_ended_before(time.time() - ended.seconds)}

    def _drop(self, job_id: str, agents: set[str]) -> None:
        """Stop the job's tasks and free its rows on ``agents``; the tasks an agent says
        are still stopping hold their slots (see :func:`.placement.with_unended`) until its
        heartbeats say they stopped."""
        for uri in agents:
            with contextlib.suppress(ClusterError):  # a vanished agent holds nothing any more
                reply = self._order(uri, "drop_job", JobRef(job_id).to_dict())
                if isinstance(reply, dict) and isinstance(reply.get("draining"), int):
                    self._reports.setdefault(uri, {})["draining"] = reply["draining"]

    def _wait_for_job(self, ref: JobRef) -> dict[str, Any]:
        """The job's status once it ended, or after ``timeout`` seconds (a long poll)."""
        timeout = 10.0 if ref.timeout is None else ref.timeout
        return self._news.wait_until(
            [ref.job_id],
            lambda: self._job_status(ref.job_id),
            lambda status: status["state"] in ENDED,
            min(timeout, 60.0),
            interval=0.5,
        )

    def _wait_until_recorded(self, job_id: str, timeout: float = 60.0) -> None:
        """Wait until a job just accepted has its row (its workflow's first step plans and
        records it), so that it can be cancelled; an unknown job raises at once."""
        status = self._news.wait_until(
            [job_id],
            lambda: self._job_status(job_id),
            lambda status: status.get("created_at") is not None,
            timeout,
            interval=0.05,
        )
        if status.get("created_at") is None:
            raise ClusterError(f"job {job_id} was accepted but not planned in {timeout:g} s")

    def _job_status(self, job_id: str) -> dict[str, Any]:
        """A job's row; PENDING for a job accepted whose workflow has not written it yet."""
        try:
            return self._public(self.store.job(job_id))
        except ClusterError:
            if DBOS.get_workflow_status(job_id) is None:
                raise
            return {
                "job_id": job_id,
                "state": JobState.PENDING.value,
                "error": None,
                "waiting": None,
            }

    def _public(self, job: dict[str, Any]) -> dict[str, Any]:
        """A job's row for clients: without its plan, with the number of tasks an attempt
        runs (``planned_tasks``), whether its sources end (``bounded``), both None before
        the job is planned, what its placement waits for (``waiting``), if anything, and,
        while it runs here, the stage producing its result (``final_stage``)."""
        run = self._runs.get(job["job_id"])
        waiting = run.waiting if run is not None else None
        final = run.plan.final.stage_id if run is not None and run.plan is not None else None
        public = {k: v for k, v in job.items() if k != "physical"}
        return {**public, "waiting": waiting, "final_stage": final}

    def do_get(
        self, context: flight.ServerCallContext, ticket: flight.Ticket
    ) -> flight.RecordBatchStream:
        authorize(context, "result")
        self._check_leading("result")
        try:
            job_id = JobRef.from_dict(json.loads(ticket.ticket), "do_get").job_id
        except (ValueError, TypeError, RecursionError, ClusterError) as exc:
            raise flight.FlightServerError(f"not a result ticket: {exc}") from None
        with failures_reported(f"reading the result of job {job_id}", _log):
            path = self.result_path(job_id)
            if not path.exists():
                state = self.store.job(job_id)["state"]
                raise flight.FlightServerError(f"job {job_id} has no result (state {state})")
            stream = pa.ipc.open_stream(pa.memory_map(str(path)))
            return flight.RecordBatchStream(stream.read_all())

    def do_put(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.FlightMetadataWriter,
    ) -> None:
        """Store an in-memory table a client uploads (the descriptor's command: its upload
        id, see :mod:`sabot_lab.connectors.uploaded_tables`) for the plans it will submit."""
        authorize(context, "upload")
        self._check_leading("upload")
        try:
            upload = check_upload_id((descriptor.command or b"").decode(errors="replace"))
        except SabotError as exc:
            raise flight.FlightServerError(f"upload refused: {exc}") from None
        with failures_reported(f"storing upload {upload}", _log):
            batches = (chunk.data for chunk in reader if chunk.data is not None)
            self.uploads.receive(upload, reader.schema, batches)

    def shutdown(self) -> None:
        """Stop serving, the heartbeat monitor and DBOS."""
        self._stop.set()
        if self.leadership is not None:
            self.leadership.stop()
        self._deployer.shutdown(wait=False)
        self._source_commits.shutdown(wait=False)
        self._poller.shutdown(wait=False)
        self.http.shutdown()
        super().shutdown()
        DBOS.destroy()
        if self._workdir_lock is not None:
            self._workdir_lock.close()


def _database_urls(workdir: Path, database_url: str | None) -> tuple[str, str]:
    """(DBOS system database, job tables) URLs."""
    if database_url is None:
        return f"sqlite:///{workdir / 'dbos.sqlite'}", f"sqlite:///{workdir / 'jobs.sqlite'}"
    if database_url.startswith(("postgresql://", "postgres://")):
        return database_url, database_url
    raise ClusterError(f"unsupported database URL {database_url!r}: use postgresql://...")
