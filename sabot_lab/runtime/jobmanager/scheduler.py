"""The JobManager's scheduler as a pure state machine: what it knows of each running job (one
:class:`JobRun`), and :func:`transition`, which applies an event to a job's run and returns
the commands that carry it out; and :func:`agents_transition`, which does the same for the
heartbeat monitor's look at the agents. Nothing here does I/O: the JobManager's workflow
steps and Flight calls execute the commands (:mod:`sabot_lab.runtime.jobmanager.server`),
which is what makes recovery testable without processes. An agent is declared FAILED only by
a command of this module (:class:`MarkAgent`): when it misses its heartbeats, refuses a
deploy, or does not answer after a task of its job failed.

May import ``physical``, ``runtime.protocol``, ``runtime.jobmanager.placement``; never DBOS,
Flight or the tables.

>>> run = JobRun("j1", checkpoint_interval=1.0, tasks={"j1/0.0/0": "grpc://a"})
>>> run.progress = CheckpointProgress.resume([], now=0.0)
>>> transition(run, Tick(now=2.0, running=frozenset(run.tasks)))
[StartCheckpoint(checkpoint=1), AskForCheckpoint(checkpoint=1, agents=('grpc://a',))]
>>> run.acks["j1/0.0/0"] = 1
>>> transition(run, Tick(now=2.1, running=frozenset(run.tasks)))[0]
CompleteCheckpoint(checkpoint=1, first_epoch=1, finished=(), discard=())
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from sabot_lab.physical import PhysicalPlan
from sabot_lab.physical.ids import ProducerId, TaskId
from sabot_lab.runtime.jobmanager.placement import missing_slots
from sabot_lab.runtime.protocol import AgentState, JobState, TaskState

__all__ = [
    "AgentLost",
    "AgentSeen",
    "AgentsChecked",
    "AgentsProbed",
    "AskForCheckpoint",
    "CheckpointProgress",
    "Command",
    "CompleteCheckpoint",
    "DeployFailed",
    "DeployRequested",
    "DropJob",
    "EndJob",
    "Event",
    "JobEnding",
    "JobRun",
    "KeepSavepoint",
    "MarkAgent",
    "Outcome",
    "ProbeAgents",
    "RecordTask",
    "Settle",
    "StagePlaced",
    "StartCheckpoint",
    "TaskEnded",
    "Tick",
    "agent_after_heartbeat",
    "agent_is_late",
    "agents_transition",
    "transition",
]


class Outcome(str, Enum):
    """How a stage step of a job's workflow ended (the values are what DBOS records)."""

    OK = "ok"
    AGENT_FAILED = "agent_failed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    def __str__(self) -> str:
        return self.value


# -- the state ----------------------------------------------------------------------------


@dataclass
class CheckpointProgress:
    """Where a running attempt of a job is with its checkpoints: the last one asked for, the
    last one completed by this attempt (equal: none in flight), the COMPLETE ones retained
    (oldest first), and when the last was asked for.

    >>> CheckpointProgress.resume([{"checkpoint_id": 1, "state": "COMPLETE"},
    ...                            {"checkpoint_id": 2, "state": "PENDING"}], now=5.0)
    CheckpointProgress(asked=2, completed=2, complete=[1], last_asked_at=5.0)
    """

    asked: int = 0
    completed: int = 0
    complete: list[int] = field(default_factory=list)
    last_asked_at: float = 0.0

    @staticmethod
    def resume(rows: Iterable[Mapping[str, Any]], now: float) -> CheckpointProgress:
        """The progress of a new attempt from the job's checkpoint rows: numbers go on from
        the last one asked for; none is in flight."""
        rows = list(rows)
        asked = max((r["checkpoint_id"] for r in rows), default=0)
        complete = [r["checkpoint_id"] for r in rows if r["state"] == "COMPLETE"]
        return CheckpointProgress(asked, asked, complete, now)

    @property
    def last_complete(self) -> int:
        """The number of the last COMPLETE checkpoint (0: none)."""
        return max(self.complete, default=0)


@dataclass
class JobRun:
    """What the JobManager knows of one job while it runs here (rebuilt from the tables
    after a restart, see :meth:`resume`).

    ``plan``: the physical plan (a :class:`~sabot_lab.physical.PhysicalPlan`);
    ``placed``: each task's agent by ``(stage, partition, attempt)``; ``sent``: tasks
    deployed by this run of the JobManager; ``tasks``: the current attempt's deployed tasks
    (task id -> agent); ``acks``: each task's last checkpoint whose barrier left all its
    outputs; ``restore``: the checkpoint the attempt starts from; ``sink``: where committed
    rows also go; ``savepoints``: savepoints asked for, by checkpoint (0: not asked of the
    tasks yet), each a future given the savepoint's path; ``ended``: the job ended (nothing
    more is deployed, completed or committed); ``waiting``: what a stage waits for before it
    can be placed (free slots), for the job's status. ``lock`` serializes the commands of one job
    (a cancel waits for a checkpoint's completion and its retention, never sees half).
    """

    job_id: str
    plan: PhysicalPlan | None = None
    checkpoint_interval: float | None = None
    retained: int = 3
    placed: dict[tuple[int, int, int], str] = field(default_factory=dict)
    sent: set[str] = field(default_factory=set)
    tasks: dict[str, str] = field(default_factory=dict)
    acks: dict[str, int] = field(default_factory=dict)
    restore: int | None = None
    sink: Any = None
    savepoints: dict[int, Future[str]] = field(default_factory=dict)
    progress: CheckpointProgress = field(default_factory=CheckpointProgress)
    state: JobState = JobState.SCHEDULED
    error: str | None = None
    waiting: str | None = None
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    @property
    def ended(self) -> bool:
        """Whether the job ended (cancelled, failed or finished)."""
        return self.state.ended

    @staticmethod
    def resume(
        job: Mapping[str, Any], tasks: Iterable[Mapping[str, Any]], plan: PhysicalPlan | None
    ) -> JobRun:
        """The run of a job recorded before this JobManager started (its row, its task rows
        and its physical plan): where its tasks were placed; none sent by this run.

        >>> run = JobRun.resume({"job_id": "j1", "state": "RUNNING"},
        ...     [{"stage": 0, "partition": 0, "attempt": 0, "agent": "grpc://a"}], plan=None)
        >>> run.placed, run.sent, run.ended
        ({(0, 0, 0): 'grpc://a'}, set(), False)
        """
        return JobRun(
            job["job_id"],
            plan,
            placed={(t["stage"], t["partition"], t["attempt"]): t["agent"] for t in tasks},
            state=JobState(job["state"]),
        )

    def tasks_in(self, stages: Iterable[int], attempt: int) -> dict[str, str]:
        """The agents of ``attempt``'s placed tasks of ``stages``, by task id.

        >>> JobRun("j1", placed={(0, 0, 0): "a", (1, 0, 0): "b", (0, 0, 1): "c"}).tasks_in([0], 0)
        {'j1/0.0/0': 'a'}
        """
        wanted = set(stages)
        return {
            str(TaskId(self.job_id, ProducerId(s, p), a)): uri
            for (s, p, a), uri in self.placed.items()
            if s in wanted and a == attempt
        }

    def placed_in(self, attempt: int) -> dict[tuple[int, int], str]:
        """The agents of ``attempt``'s tasks placed so far, by ``(stage, partition)``."""
        return {(s, p): uri for (s, p, a), uri in self.placed.items() if a == attempt}


# -- events -------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeployRequested:
    """A stage step is about to place and deploy tasks."""


@dataclass(frozen=True)
class TaskEnded:
    """An agent reported that a task of the job ended (with its last checkpoint and its
    ``metrics``); ``stopping``: the job's tasks were being cancelled (its result is
    complete, or its attempt failed); ``agents``: those running the tasks waited for."""

    task_id: str
    agent: str
    state: TaskState
    error: str | None = None
    checkpoint: int = 0
    stopping: bool = False
    agents: frozenset[str] = frozenset()
    metrics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class StagePlaced:
    """A stage step looked for agents to place a stage's tasks on: the serving ones have
    ``slots`` in all (0: none came); ``needed``: the tasks of the job that must run at once
    (0: the stage runs on its own); ``lost``: the agents holding the stage's input rows that
    failed or stopped; ``unplaced``: why the stage found no free slots in the time it may
    wait for them."""

    slots: int
    needed: int = 0
    lost: tuple[str, ...] = ()
    unplaced: str | None = None


@dataclass(frozen=True)
class DeployFailed:
    """``agent`` refused a deploy of the job's tasks, or did not answer it; ``tls_error``
    when the TLS handshake with it failed (a certificate not trusted, missing or refused:
    another attempt would fail the same way)."""

    agent: str
    tls_error: str | None = None


@dataclass(frozen=True)
class AgentsProbed:
    """The job's agents were pinged after a task failed (see :class:`ProbeAgents`): those
    ``gone`` (not answering; the task then failed because of them)."""

    gone: tuple[str, ...]
    error: str


@dataclass(frozen=True)
class AgentLost:
    """An agent running ``tasks`` of the job failed or stopped."""

    agent: str
    tasks: tuple[str, ...]


@dataclass(frozen=True)
class JobEnding:
    """The job ends as ``state`` (with ``error``); its tasks stop and its rows are freed on
    ``agents``."""

    state: JobState
    error: str | None = None
    agents: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Tick:
    """A poll of a running job that takes checkpoints, ``running``: its tasks still
    running."""

    now: float
    running: frozenset[str]


Event = (
    DeployRequested | StagePlaced | DeployFailed | TaskEnded | AgentsProbed | AgentLost
    | JobEnding | Tick
)  # fmt: skip


@dataclass(frozen=True)
class AgentSeen:
    """What the JobManager's tables say of an agent: its state and last heartbeat."""

    uri: str
    state: AgentState
    last_heartbeat: float


@dataclass(frozen=True)
class AgentsChecked:
    """The heartbeat monitor looked at the registered ``agents`` at ``now``; ``started``:
    when the JobManager (re)started; ``timeout``: seconds of silence that make an agent
    FAILED."""

    now: float
    started: float
    timeout: float
    agents: tuple[AgentSeen, ...]


# -- commands -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Settle:
    """The stage step ends with ``outcome``."""

    outcome: Outcome


@dataclass(frozen=True)
class RecordTask:
    """Record a task's end (its row, with its final ``metrics``)."""

    task_id: str
    state: TaskState
    error: str | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ProbeAgents:
    """Ping ``agents``; answer with :class:`AgentsProbed` carrying ``error``."""

    agents: tuple[str, ...]
    error: str


@dataclass(frozen=True)
class MarkAgent:
    """Record that ``agent`` is now in ``state`` (a FAILED agent's next heartbeat revives
    it)."""

    agent: str
    state: AgentState


@dataclass(frozen=True)
class EndJob:
    """Record that the job ended, and fail the savepoints still asked for."""

    state: JobState
    error: str | None = None


@dataclass(frozen=True)
class DropJob:
    """Stop the job's tasks and free its rows on ``agents``."""

    agents: tuple[str, ...]


@dataclass(frozen=True)
class StartCheckpoint:
    """Record checkpoint ``checkpoint`` as asked for (PENDING)."""

    checkpoint: int


@dataclass(frozen=True)
class AskForCheckpoint:
    """Ask the job's tasks on ``agents`` for checkpoint ``checkpoint``."""

    checkpoint: int
    agents: tuple[str, ...]


@dataclass(frozen=True)
class CompleteCheckpoint:
    """Every running task has its part of ``checkpoint``: commit the result epochs
    ``first_epoch`` to ``checkpoint``, mark the ``finished`` producers (ended before its
    barrier reached them) finished in it, then in one transaction mark it COMPLETE and the
    ``discard`` ones (beyond the retained) DISCARDED; then remove the discarded parts and
    commit the sources' positions."""

    checkpoint: int
    first_epoch: int
    finished: tuple[ProducerId, ...]
    discard: tuple[int, ...]


@dataclass(frozen=True)
class KeepSavepoint:
    """Copy complete checkpoint ``checkpoint`` to the job's savepoints and hand its path to
    the request waiting for it."""

    checkpoint: int


Command = (
    Settle
    | RecordTask
    | ProbeAgents
    | MarkAgent
    | EndJob
    | DropJob
    | StartCheckpoint
    | AskForCheckpoint
    | CompleteCheckpoint
    | KeepSavepoint
)


# -- transitions --------------------------------------------------------------------------


def transition(run: JobRun, event: Event) -> list[Command]:
    """Apply ``event`` to ``run`` and return the commands that carry it out, in order.

    >>> run = JobRun("j1")
    >>> transition(run, JobEnding(JobState.CANCELLED, agents=frozenset({"grpc://a"})))
    [EndJob(state=<JobState.CANCELLED: 'CANCELLED'>, error=None), DropJob(agents=('grpc://a',))]
    >>> transition(run, DeployRequested())
    [Settle(outcome=<Outcome.CANCELLED: 'cancelled'>)]
    """
    handler = _TRANSITIONS[type(event)]
    return handler(run, event)


def _deploy_requested(run: JobRun, event: DeployRequested) -> list[Command]:
    """An ended job (it has no plan any more) deploys nothing more: a cancel during deploy
    stops the stage."""
    return [Settle(Outcome.CANCELLED)] if run.ended or run.plan is None else []


def _stage_placed(run: JobRun, event: StagePlaced) -> list[Command]:
    """A job whose tasks all run at once fails when the agents lack the slots for them, and
    any job when its stage found no free slots in time; the attempt fails when no agent came,
    or when one holding the stage's input is gone."""
    error = missing_slots(event.needed, event.slots) or event.unplaced
    if error is not None:
        return [*_end(run, JobState.FAILED, error, ()), Settle(Outcome.FAILED)]
    if event.slots == 0 or event.lost:
        return [Settle(Outcome.AGENT_FAILED)]
    return []


def _deploy_failed(run: JobRun, event: DeployFailed) -> list[Command]:
    """An agent that fails a deploy is FAILED; the attempt failed with it. A failed TLS
    handshake fails the job, with its cause: the certificates must be fixed first."""
    if event.tls_error is not None:
        error = f"deploying to agent {event.agent} failed: {event.tls_error}"
        return [*_end(run, JobState.FAILED, error, ()), Settle(Outcome.FAILED)]
    return [MarkAgent(event.agent, AgentState.FAILED), Settle(Outcome.AGENT_FAILED)]


def _task_ended(run: JobRun, event: TaskEnded) -> list[Command]:
    """Record the end; a task that failed (outside a stop) fails the job, unless one of
    its agents is gone (then the attempt failed): the agents are probed first."""
    run.acks[event.task_id] = max(run.acks.get(event.task_id, 0), event.checkpoint)
    commands: list[Command] = [RecordTask(event.task_id, event.state, event.error, event.metrics)]
    if event.state == TaskState.FAILED and not event.stopping:
        error = f"task {event.task_id} failed on {event.agent}: {event.error}"
        commands.append(ProbeAgents(tuple(sorted(event.agents)), error))
    return commands


def _agents_probed(run: JobRun, event: AgentsProbed) -> list[Command]:
    """Agents that do not answer are FAILED, and the task failed reading from them (the
    attempt failed); else the task's failure fails the job."""
    if event.gone:
        gone: list[Command] = [MarkAgent(a, AgentState.FAILED) for a in event.gone]
        return [*gone, Settle(Outcome.AGENT_FAILED)]
    return [*_end(run, JobState.FAILED, event.error, ()), Settle(Outcome.FAILED)]


def _agent_lost(run: JobRun, event: AgentLost) -> list[Command]:
    """The tasks on a lost agent failed with it; the attempt failed."""
    error = f"agent {event.agent} is gone"
    failed: list[Command] = [RecordTask(t, TaskState.FAILED, error) for t in event.tasks]
    return [*failed, Settle(Outcome.AGENT_FAILED)]


def _job_ending(run: JobRun, event: JobEnding) -> list[Command]:
    return _end(run, event.state, event.error, tuple(sorted(event.agents)))


def _end(run: JobRun, state: JobState, error: str | None, agents: tuple[str, ...]) -> list[Command]:
    """End the job (once: a job ended stays as it ended; dropping its rows again is
    harmless) and forget what its run held. Its rows and task records are dropped on
    ``agents``, or else on those its tasks were placed on, at every end."""
    agents = agents or tuple(sorted(set(run.placed.values())))
    commands: list[Command] = [] if run.ended else [EndJob(state, error)]
    if not run.ended:
        run.state, run.error = state, error
        run.plan, run.sink, run.restore = None, None, None
        run.placed.clear()
        run.sent.clear()
        run.acks.clear()
    drop: list[Command] = [DropJob(agents)] if agents else []
    # a finished job's rows are freed before it says so; others say so first
    return [*drop, *commands] if state == JobState.FINISHED else [*commands, *drop]


def _tick(run: JobRun, event: Tick) -> list[Command]:
    """Complete the checkpoint in flight once every running task acknowledged it (with the
    retention of the last ``run.retained`` in the same step), keep a savepoint asked for,
    and ask for the next checkpoint every ``checkpoint_interval`` seconds (at once for a
    savepoint), asking again while one is in flight (a starting task may have missed it)."""
    if run.ended or run.checkpoint_interval is None:
        return []
    progress, commands = run.progress, list[Command]()
    asked = progress.asked
    acked = all(run.acks.get(t, 0) >= asked for t in event.running)
    if asked > progress.completed and acked:
        finished = tuple(
            TaskId.parse(t).producer
            for t in sorted(run.tasks.keys() - event.running)
            if run.acks.get(t, 0) < asked
        )
        first_epoch = progress.last_complete + 1
        kept = [*progress.complete, asked]
        cut = max(len(kept) - run.retained, 0)
        discard, progress.complete = tuple(kept[:cut]), kept[cut:]
        commands.append(CompleteCheckpoint(asked, first_epoch, finished, discard))
        progress.completed = asked
    if 0 < asked == progress.completed and asked in run.savepoints:
        commands.append(KeepSavepoint(asked))
    wanted = run.savepoints.get(0) is not None and progress.asked == progress.completed
    if event.now - progress.last_asked_at < run.checkpoint_interval and not wanted:
        return commands
    progress.last_asked_at = event.now
    if progress.asked == progress.completed:
        progress.asked += 1
        commands.append(StartCheckpoint(progress.asked))
        if wanted:  # this checkpoint is the savepoint asked for
            run.savepoints[progress.asked] = run.savepoints.pop(0)
    commands.append(AskForCheckpoint(progress.asked, tuple(sorted(set(run.tasks.values())))))
    return commands


_TRANSITIONS: dict[type, Any] = {
    DeployRequested: _deploy_requested,
    StagePlaced: _stage_placed,
    DeployFailed: _deploy_failed,
    TaskEnded: _task_ended,
    AgentsProbed: _agents_probed,
    AgentLost: _agent_lost,
    JobEnding: _job_ending,
    Tick: _tick,
}


# -- agents -------------------------------------------------------------------------------


def agents_transition(event: AgentsChecked) -> list[MarkAgent]:
    """The commands the heartbeat monitor's look at the agents calls for: each agent late
    with its heartbeats (see :func:`agent_is_late`) is FAILED.

    >>> seen = (AgentSeen("grpc://a", AgentState.ACTIVE, 0.0), AgentSeen("grpc://b", AgentState.BUSY, 9.0))
    >>> agents_transition(AgentsChecked(now=11.0, started=0.0, timeout=10.0, agents=seen))
    [MarkAgent(agent='grpc://a', state=<AgentState.FAILED: 'FAILED'>)]
    """
    return [
        MarkAgent(a.uri, AgentState.FAILED)
        for a in event.agents
        if agent_is_late(a.state, a.last_heartbeat, event.started, event.now, event.timeout)
    ]


def agent_after_heartbeat(reported: AgentState, known: AgentState | None) -> AgentState:
    """An agent's state once its heartbeat arrived: as reported, except that a FAILED agent
    that reports serving again is ACTIVE (a restarted agent rejoins), and a STOPPED one stays
    STOPPED whatever it reported but STARTING (a beat of its drain that came late; an agent
    started again registers STARTING).

    >>> agent_after_heartbeat(AgentState.BUSY, AgentState.FAILED)
    <AgentState.ACTIVE: 'ACTIVE'>
    >>> agent_after_heartbeat(AgentState.DRAINING, AgentState.STOPPED)
    <AgentState.STOPPED: 'STOPPED'>
    """
    if known == AgentState.FAILED and reported.serving:
        return AgentState.ACTIVE
    if known == AgentState.STOPPED and reported != AgentState.STARTING:
        return AgentState.STOPPED
    return reported


def agent_is_late(
    state: AgentState, last_heartbeat: float, started: float, now: float, timeout: float
) -> bool:
    """Whether an agent that has not ended missed its heartbeats for ``timeout`` seconds (then
    FAILED); every agent gets a full timeout after the JobManager (re)started.

    >>> agent_is_late(AgentState.ACTIVE, 0.0, started=0.0, now=11.0, timeout=10.0)
    True
    >>> agent_is_late(AgentState.ACTIVE, 0.0, started=5.0, now=11.0, timeout=10.0)
    False
    """
    alive = state in (AgentState.STARTING, AgentState.ACTIVE, AgentState.BUSY,
                      AgentState.DRAINING)  # fmt: skip
    return alive and now - max(last_heartbeat, started) > timeout
