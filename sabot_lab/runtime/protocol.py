"""The cluster's wire protocol: the states of jobs, tasks and agents, the credentials and what
each may call (:class:`Role`, :data:`JOBMANAGER_ACTIONS`), and the body of every Flight action
between clients, the JobManager and agents as a typed object. Each body has
``to_dict`` (what travels, JSON) and ``from_dict`` (what a server receives), which checks
every field's type, so a malformed call fails with a message naming the field rather than
deep inside a handler. Ids are formatted and parsed by :mod:`sabot_lab.physical.ids`.

May import ``errors``, ``config``, ``physical.ids``; clients import it without loading the JobManager,
DBOS or the agent server.

>>> request = JobRequest(plan="{}", name="q1", partitions=2)
>>> JobRequest.from_dict(request.to_dict()) == request
True
>>> JobRequest.from_dict({"plan": "{}", "partitions": "two"})
Traceback (most recent call last):
...
sabot_lab.errors.ClusterError: submit: partitions must be an integer or null, got 'two'
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal, TypeAlias, get_args

import pyarrow as pa

from sabot_lab.config import LOG_LEVELS
from sabot_lab.errors import ClusterError
from sabot_lab.logical.codec import schema_from_b64, schema_to_b64

__all__ = [
    "AGENT_RESOURCES",
    "AGENT_STATES",
    "ASSIGNMENTS",
    "ENDED",
    "JOBMANAGER_ACTIONS",
    "JOBS_PAGE",
    "MAX_SLOTS",
    "STATES",
    "TASK_FIGURES",
    "TASK_METRICS",
    "AgentState",
    "CheckpointRequest",
    "EndedBefore",
    "Heartbeat",
    "JobRef",
    "JobRequest",
    "JobState",
    "JobsPage",
    "LogsRequest",
    "Role",
    "RowsRequest",
    "TaskRef",
    "TaskReport",
    "TaskState",
    "job_id",
    "refusal",
    "seconds",
]


class JobState(str, Enum):
    """The states of a job, and of each of its tasks (:data:`TaskState`); the values are what
    the tables and the wire carry.

    >>> JobState("RUNNING").ended, JobState.CANCELLED.ended, str(JobState.FAILED)
    (False, True, 'FAILED')
    """

    PENDING = "PENDING"
    SCHEDULED = "SCHEDULED"
    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    def __str__(self) -> str:
        return self.value

    @property
    def ended(self) -> bool:
        """Whether a job or task in this state never leaves it."""
        return self.value in ENDED


TaskState = JobState
"""The states of a task: those of jobs (one enum, each state defined once).

>>> TaskState("FINISHED").ended, TaskState.RUNNING.ended, TaskState.FAILED is JobState.FAILED
(True, False, True)
"""


class AgentState(str, Enum):
    """The states of an agent.

    >>> AgentState("BUSY").serving, AgentState.FAILED.serving
    (True, False)
    """

    STARTING = "STARTING"
    ACTIVE = "ACTIVE"
    BUSY = "BUSY"
    DRAINING = "DRAINING"
    FAILED = "FAILED"
    STOPPED = "STOPPED"

    def __str__(self) -> str:
        return self.value

    @property
    def serving(self) -> bool:
        """Whether an agent in this state takes tasks (ACTIVE or BUSY)."""
        return self in (AgentState.ACTIVE, AgentState.BUSY)


STATES = tuple(s.value for s in JobState)
"""States of jobs and tasks, as the tables and the wire carry them."""
ENDED = tuple(s.value for s in (JobState.FINISHED, JobState.FAILED, JobState.CANCELLED))
"""States a job or task never leaves."""
AGENT_STATES = tuple(s.value for s in AgentState)
"""States of agents."""
TASK_METRICS = ("rows_in", "rows_out", "batches_out", "bytes_out", "busy_s", "backpressure_s")
"""What agents report about each task (with heartbeats, and when it ends)."""
TASK_FIGURES = ("state_bytes", "watermark")
"""What agents report about a task as it stands, when they know it: the size of its part of
its last checkpoint (bytes), and its last watermark (microseconds of event time)."""
AGENT_RESOURCES = ("cpu_percent", "memory_percent", "rss_bytes", "read_bytes", "write_bytes",
                   "shuffle_bytes", "spilled_bytes", "shuffle_sent_bytes", "credit_wait_s")  # fmt: skip
"""What agents report about their resources with heartbeats: the host's CPU and memory in use
(percent), the agent's resident memory and bytes read and written (since it started), the
shuffle rows it holds in memory, has spilled, and has sent, and the seconds its shuffle
streams waited for their consumers' credits."""
_TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")
Assignment: TypeAlias = Literal["round_robin", "resource_aware"]
"""How the JobManager may place a job's tasks on agents."""
ASSIGNMENTS: tuple[Assignment, ...] = get_args(Assignment)


# -- credentials and what each may call --------------------------------------------------


class Role(str, Enum):
    """What a credential allows; each role has its own token, from its environment variable
    (:attr:`variable`).

    - ``read``: status, job info, metrics, listings and results; never anything that decodes
      or runs a plan;
    - ``submit``: what ``read`` allows, and submit, cancel and savepoints. Plans carry
      cloudpickled code: holding it is running code on the JobManager and every agent;
    - ``cluster``: what ``read`` allows, and the calls between the JobManager and agents
      (heartbeats; agents accept no other credential), but not submitting.

    >>> Role.READ.variable, Role.SUBMIT.may(Role.READ), Role.CLUSTER.may(Role.SUBMIT)
    ('SABOT_READ_TOKEN', True, False)
    """

    READ = "read"
    SUBMIT = "submit"
    CLUSTER = "cluster"

    def __str__(self) -> str:
        return self.value

    @property
    def variable(self) -> str:
        """The environment variable holding this role's token."""
        return _VARIABLES[self]

    def may(self, needed: Role) -> bool:
        """Whether a caller holding this role may make a call that needs ``needed``."""
        return needed is self or needed is Role.READ


_VARIABLES = {
    Role.READ: "SABOT_READ_TOKEN",
    Role.SUBMIT: "SABOT_TOKEN",
    Role.CLUSTER: "SABOT_CLUSTER_TOKEN",
}

JOBMANAGER_ACTIONS: Mapping[str, Role] = {
    "ping": Role.READ,  # the JobManager's URIs (Flight and HTTP), role, whether it takes uploads
    "status": Role.READ,  # a job's row
    "wait": Role.READ,  # a job's row once it ended (a long poll)
    "tasks": Role.READ,  # a job's tasks
    "checkpoints": Role.READ,  # a job's checkpoints
    "metrics": Role.READ,  # a job's figures
    "logs": Role.READ,  # a job's log records (its tasks', collected from the agents)
    "jobs": Role.READ,  # every job
    "agents": Role.READ,  # every agent
    "result": Role.READ,  # (``do_get``) a finished job's result rows: data a dashboard shows
    "dashboard_code": Role.READ,  # a one-time link to the status page (opens a session)
    "submit": Role.SUBMIT,  # run a plan: code execution on the cluster
    "upload": Role.SUBMIT,  # (``do_put``) store an in-memory table a plan will name by id
    "cancel": Role.SUBMIT,  # stop a job
    "savepoint": Role.SUBMIT,  # keep a checkpoint of a running job
    "delete": Role.SUBMIT,  # delete an ended job: its result, checkpoints and records
    "delete_ended": Role.SUBMIT,  # delete the jobs that ended before a time
    "plan": Role.SUBMIT,  # the plan a job was submitted with: it carries the job's code
    "heartbeat": Role.CLUSTER,  # an agent registers and reports
}
"""Every call the JobManager serves, with the role it needs; a call not listed is refused."""


def refusal(action: str, role: Role) -> str | None:
    """Why a caller holding ``role`` may not call the JobManager's ``action`` (an unknown one
    included), or None when it may.

    >>> refusal("jobs", Role.READ) is None
    True
    >>> refusal("submit", Role.READ)
    'this credential may only read; submitting needs the submit token (SABOT_TOKEN)'
    """
    needed = JOBMANAGER_ACTIONS.get(action)
    if needed is None:
        return f"unknown action {action!r}"
    if role.may(needed):
        return None
    if needed is Role.CLUSTER:
        return f"{action!r} is for agents: it needs the cluster token ({needed.variable})"
    doing = "submitting" if action in ("submit", "upload") else f"{action!r}"
    holder = "may only read" if role is Role.READ else "is the cluster's, for agents"
    return f"this credential {holder}; {doing} needs the submit token ({needed.variable})"


# -- checking what arrives ---------------------------------------------------------------

MAX_SLOTS = 1024
"""The most task slots an agent may report."""
_AGENT_URI = re.compile(
    r"grpc(\+tls)?://([A-Za-z0-9.\-]{1,253}|\[[0-9A-Fa-f:.]{2,45}\]):[0-9]{1,5}"
)
_TASK_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}(/[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}){1,3}")
_JOB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}")
_PRODUCER = re.compile(r"[0-9]{1,9}\.[0-9]{1,9}")  # stage.partition
_TASK_ATTEMPT = re.compile(rf"{_JOB_ID.pattern}/{_PRODUCER.pattern}/[0-9]{{1,9}}")
_ATTEMPT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_\-]{0,63}/[0-9]{1,9}")
_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,256}")  # any printable text: ids are the user's


def _count(value: Any, action: str, name: str) -> Any:
    """``value`` checked not to be negative."""
    if value < 0:
        raise ClusterError(f"{action}: {name} must not be negative, got {value!r}")
    return value


def _name(value: str, action: str) -> str:
    """``value`` checked to be an operator id: 1 to 256 characters, no control characters
    (views escape it)."""
    if not _NAME.fullmatch(value):
        raise ClusterError(f"{action}: {value!r} is not an operator id")
    return value


_KINDS: dict[type, str] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    dict: "an object",
    list: "a list",
}


def _get(data: Mapping[str, Any], action: str, name: str, kind: type, default: Any = ...) -> Any:
    """Field ``name`` of ``action``'s body, checked to be a ``kind`` (or null, when the
    ``default`` is None); a missing field takes ``default`` (required when there is none)."""
    if not isinstance(data, Mapping):
        raise ClusterError(f"{action}: the body must be an object, got {data!r}")
    if name not in data:
        if default is ...:
            raise ClusterError(f"{action}: {name} is missing")
        return default
    value: Any = data[name]
    if value is None and default is None:
        return value
    if not _is(value, kind):
        nullable = " or null" if default is None else ""
        raise ClusterError(f"{action}: {name} must be {_KINDS[kind]}{nullable}, got {value!r}")
    if kind is float and not math.isfinite(value):
        raise ClusterError(f"{action}: {name} must be a finite number, got {value!r}")
    if kind is int and not -(2**63) <= value < 2**63:  # (what the tables can hold)
        raise ClusterError(f"{action}: {name} must fit in 64 bits, got {value!r}")
    return float(value) if kind is float else value  # (an int sent for a float)


def _is(value: Any, kind: type) -> bool:
    """Whether ``value`` is a ``kind`` as JSON means it (a bool is no number; an int is a
    float)."""
    accepted: tuple[type, ...] = (int, float) if kind is float else (kind,)
    return isinstance(value, accepted) and (kind is bool or not isinstance(value, bool))


def _plain(body: Any) -> dict[str, Any]:
    return {f.name: getattr(body, f.name) for f in dataclasses.fields(body)}


# -- client -> JobManager -----------------------------------------------------------------


@dataclass(frozen=True)
class JobRequest:
    """A job to run: the ``submit`` action's body, and the input of the job's durable
    workflow. ``plan``: the logical plan as JSON; ``partitions``: tasks per stage (None: the
    agents' slots); ``assignment``: one of :data:`ASSIGNMENTS`; ``checkpoint_interval``:
    seconds between checkpoints (None: none); ``sink``: a commit sink as a dict;
    ``from_savepoint``: the savepoint the job starts from; ``job_id``: chosen by the client,
    or by the JobManager when None; ``trace``: the span of the ``submit`` call (a W3C
    ``traceparent``), which the JobManager takes from the call's headers: the job's spans
    are its children.

    >>> JobRequest(plan="{}", assignment="nearest")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: submit: unknown assignment 'nearest'; use one of round_robin, resource_aware
    """

    plan: str
    name: str | None = None
    partitions: int | None = None
    assignment: str = "round_robin"
    checkpoint_interval: float | None = None
    sink: dict[str, Any] | None = None
    from_savepoint: str | None = None
    job_id: str | None = None
    trace: str | None = None

    def __post_init__(self) -> None:
        if self.job_id is not None:
            job_id(self.job_id, "submit")
        if self.trace is not None and not _TRACEPARENT.fullmatch(self.trace):
            raise ClusterError(f"submit: trace {self.trace!r} is not a W3C traceparent")
        if self.partitions is not None and self.partitions < 1:
            raise ClusterError(f"submit: partitions must be at least 1, got {self.partitions}")
        if self.assignment not in ASSIGNMENTS:
            raise ClusterError(
                f"submit: unknown assignment {self.assignment!r}; "
                f"use one of {', '.join(ASSIGNMENTS)}"
            )
        interval = self.checkpoint_interval
        if interval is not None and interval <= 0:
            raise ClusterError(
                f"checkpoint_interval must be a positive number of seconds, got {interval}"
            )
        if self.from_savepoint is not None and interval is None:
            raise ClusterError("a job started from a savepoint needs a checkpoint_interval")

    def to_dict(self) -> dict[str, Any]:
        """The ``submit`` action's body."""
        return _plain(self)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> JobRequest:
        """The request a ``submit`` body describes, its fields checked."""
        a = "submit"
        return JobRequest(
            plan=_get(data, a, "plan", str),
            name=_get(data, a, "name", str, None),
            partitions=_get(data, a, "partitions", int, None),
            assignment=_get(data, a, "assignment", str, "round_robin"),
            checkpoint_interval=_get(data, a, "checkpoint_interval", float, None),
            sink=_get(data, a, "sink", dict, None),
            from_savepoint=_get(data, a, "from_savepoint", str, None),
            job_id=_get(data, a, "job_id", str, None) or None,
            trace=_get(data, a, "trace", str, None),
        )


@dataclass(frozen=True)
class JobRef:
    """The body of the actions about one job (``status``, ``wait``, ``tasks``,
    ``checkpoints``, ``metrics``, ``cancel``, ``savepoint``, ``delete``); ``timeout`` for those
    that wait.

    >>> JobRef.from_dict({"job_id": "j1", "timeout": 2}, "wait")
    JobRef(job_id='j1', timeout=2.0)
    >>> JobRef.from_dict({}, "status")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: status: job_id is missing
    """

    job_id: str
    timeout: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The action's body."""
        body: dict[str, Any] = {"job_id": self.job_id}
        if self.timeout is not None:
            body["timeout"] = self.timeout
        return body

    @staticmethod
    def from_dict(data: Mapping[str, Any], action: str = "job") -> JobRef:
        """The reference a body holds, checked (``action`` names the call in errors)."""
        return JobRef(
            job_id(_get(data, action, "job_id", str), action),
            seconds(_get(data, action, "timeout", float, None)),
        )


@dataclass(frozen=True)
class LogsRequest:
    """The body of ``logs``: a job's records at ``level`` or more severe (all: None), of one
    ``task`` (a task id ``job/stage.partition/attempt``, or ``stage.partition`` for all its
    attempts; all: None), the last ``tail`` of them (all: None).

    >>> LogsRequest.from_dict(LogsRequest("j1", "error", "0.1", 20).to_dict())
    LogsRequest(job_id='j1', level='error', task='0.1', tail=20)
    >>> LogsRequest.from_dict({"job_id": "j1", "level": "loud"})
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: logs: level 'loud' is none of DEBUG, INFO, WARNING, ERROR, CRITICAL
    """

    job_id: str
    level: str | None = None
    task: str | None = None
    tail: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The action's body."""
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> LogsRequest:
        """A request as received, checked."""
        level = _get(data, "logs", "level", str, None)
        if level is not None and level.upper() not in LOG_LEVELS:
            raise ClusterError(f"logs: level {level!r} is none of {', '.join(LOG_LEVELS)}")
        task = _get(data, "logs", "task", str, None)
        if task is not None and not (_TASK_ATTEMPT.fullmatch(task) or _PRODUCER.fullmatch(task)):
            raise ClusterError(
                f"logs: task {task!r} is neither a task id (job/stage.partition/attempt) "
                "nor stage.partition"
            )
        tail = _get(data, "logs", "tail", int, None)
        if tail is not None and tail < 0:
            raise ClusterError(f"logs: tail must be >= 0, got {tail}")
        return LogsRequest(job_id(_get(data, "logs", "job_id", str), "logs"), level, task, tail)


def job_id(value: str, action: str = "job") -> str:
    """``value`` checked to be a job id: 1 to 64 letters, digits, ``_`` or ``-``, starting
    with a letter or digit. Ids name files and directories, so nothing else may reach a path.

    >>> job_id("j-1")
    'j-1'
    >>> job_id("../x", "cancel")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: cancel: job_id '../x' must be 1 to 64 letters, digits, _ or -
    """
    if not _JOB_ID.fullmatch(value):
        raise ClusterError(f"{action}: job_id {value!r} must be 1 to 64 letters, digits, _ or -")
    return value


JOBS_PAGE = 100
"""Jobs a listing returns unless asked for another number (at most ten times as many)."""


@dataclass(frozen=True)
class JobsPage:
    """The body of ``jobs``: at most ``limit`` jobs, newest first, those recorded before job
    ``before`` (the last one of the previous page; None: from the newest).

    >>> JobsPage.from_dict({"limit": 20, "before": "j9"}).fields()
    (20, 'j9')
    >>> JobsPage.from_dict({"limit": -1})
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: jobs: limit must be 1 to 1000, got -1
    """

    limit: int = JOBS_PAGE
    before: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= 10 * JOBS_PAGE:
            raise ClusterError(f"jobs: limit must be 1 to {10 * JOBS_PAGE}, got {self.limit}")

    def fields(self) -> tuple[int, str | None]:
        """``(limit, before)``."""
        return self.limit, self.before

    def to_dict(self) -> dict[str, Any]:
        """The action's body."""
        return _plain(self)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> JobsPage:
        """The page a body asks for, checked."""
        return JobsPage(
            _get(data, "jobs", "limit", int, JOBS_PAGE), _get(data, "jobs", "before", str, None)
        )


@dataclass(frozen=True)
class EndedBefore:
    """The body of ``delete_ended``: delete the jobs that ended ``seconds`` ago or earlier.

    >>> EndedBefore.from_dict({"seconds": 3600})
    EndedBefore(seconds=3600.0)
    """

    seconds: float

    def __post_init__(self) -> None:
        seconds(self.seconds, "delete_ended: seconds")

    def to_dict(self) -> dict[str, Any]:
        """The action's body."""
        return _plain(self)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> EndedBefore:
        """The age a body names, checked."""
        return EndedBefore(_get(data, "delete_ended", "seconds", float))


def seconds(timeout: float | None, what: str = "timeout") -> float | None:
    """``timeout`` checked to be None (no limit) or a finite number of seconds, not negative.

    >>> seconds(2)
    2
    >>> seconds(float("nan"))
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: timeout must be None or a finite number of seconds >= 0, got nan
    """
    bad = isinstance(timeout, bool) or not isinstance(timeout, int | float)
    if timeout is not None and (bad or not math.isfinite(timeout) or timeout < 0):
        raise ClusterError(
            f"{what} must be None or a finite number of seconds >= 0, got {timeout!r}"
        )
    return timeout


# -- agent -> agent -------------------------------------------------------------------------


@dataclass(frozen=True)
class RowsRequest:
    """What a consumer asks of an agent's ``do_exchange``: the rows of ``partition`` of
    ``exchange`` in the attempt ``job`` (a job id and attempt, ``j1/0``), as ``schema``; with a
    ``producer``, what that task streams there as it comes.

    >>> import pyarrow as pa
    >>> request = RowsRequest("j1/0", "x_2", 3, pa.schema([("a", pa.int64())]), "0.1")
    >>> RowsRequest.from_json(request.to_json()) == request
    True
    >>> RowsRequest.from_json(b'{"job": "../j", "exchange": "x", "partition": 0, "schema": ""}')
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: do_exchange: '../j' is not a job attempt
    """

    job: str
    exchange: str
    partition: int
    schema: pa.Schema
    producer: str | None = None

    def to_json(self) -> bytes:
        """The descriptor's command."""
        return json.dumps({"job": self.job, "exchange": self.exchange,
                           "partition": self.partition, "schema": schema_to_b64(self.schema),
                           "producer": self.producer}).encode()  # fmt: skip

    @staticmethod
    def from_json(command: bytes) -> RowsRequest:
        """A request as received, checked."""
        action = "do_exchange"
        try:
            data = json.loads(command)
        except (ValueError, RecursionError) as exc:  # (RecursionError: nested too deep)
            raise ClusterError(f"{action}: the descriptor is not JSON ({exc})") from None
        job = _get(data, action, "job", str)
        if not _ATTEMPT.fullmatch(job):
            raise ClusterError(f"{action}: {job!r} is not a job attempt")
        producer = _get(data, action, "producer", str, None)
        if producer is not None and not _PRODUCER.fullmatch(producer):
            raise ClusterError(f"{action}: {producer!r} is not a producer (stage.partition)")
        try:
            schema = schema_from_b64(_get(data, action, "schema", str))
        except (ValueError, pa.ArrowException) as exc:
            raise ClusterError(f"{action}: the schema cannot be read ({exc})") from None
        return RowsRequest(
            job,
            _name(_get(data, action, "exchange", str), action),
            _count(_get(data, action, "partition", int), action, "partition"),
            schema,
            producer,
        )


# -- agent -> JobManager -------------------------------------------------------------------


@dataclass(frozen=True)
class TaskReport:
    """What an agent says about one of its tasks: its state, error, the last checkpoint
    whose barrier left all its outputs, and its metrics (:data:`TASK_METRICS`,
    :data:`TASK_FIGURES`, ``operators``: rows out by operator id, ``operator_seconds``:
    seconds spent making them)."""

    task_id: str
    state: str
    error: str | None = None
    checkpoint: int = 0
    metrics: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The report as it travels: its metrics beside its other fields."""
        return {"task_id": self.task_id, "state": self.state, "error": self.error,
                "checkpoint": self.checkpoint, **self.metrics}  # fmt: skip

    @staticmethod
    def from_dict(data: Mapping[str, Any], action: str = "status") -> TaskReport:
        """A report as received, checked.

        >>> TaskReport.from_dict({"task_id": "j/0.0/0", "state": "DONE"})
        Traceback (most recent call last):
        ...
        sabot_lab.errors.ClusterError: status: unknown task state 'DONE'
        """
        state = _get(data, action, "state", str)
        if state not in STATES:
            raise ClusterError(f"{action}: unknown task state {state!r}")
        task_id = _get(data, action, "task_id", str)
        if not _TASK_ID.fullmatch(task_id):
            raise ClusterError(f"{action}: {task_id!r} is not a task id")
        metrics: dict[str, Any] = {
            k: _count(_get(data, action, k, float), action, k) for k in TASK_METRICS if k in data
        }
        for k in TASK_FIGURES:
            if data.get(k) is not None:
                metrics[k] = _count(_get(data, action, k, int), action, k)
        operators = _get(data, action, "operators", dict, None)
        if operators is not None:
            metrics["operators"] = {
                _name(name, action): int(_count(_get(operators, action, name, int), action, name))
                for name in operators
            }
        seconds_by = _get(data, action, "operator_seconds", dict, None)
        if seconds_by is not None:
            metrics["operator_seconds"] = {
                _name(name, action): _count(_get(seconds_by, action, name, float), action, name)
                for name in seconds_by
            }
        return TaskReport(
            task_id,
            state,
            _get(data, action, "error", str, None),
            _count(_get(data, action, "checkpoint", int, 0), action, "checkpoint"),
            metrics,
        )


@dataclass(frozen=True)
class Heartbeat:
    """An agent's report to the JobManager: its state, slots, memory, running tasks, the
    resources it uses (:data:`AGENT_RESOURCES`), the lag of the Kafka consumers of its
    tasks (``consumer_lag``: ``{"topic", "group", "partition", "lag"}`` each, ``lag`` in
    records), and ``draining``: how many tasks of jobs dropped there are still stopping
    (counted in ``running`` too; the JobManager no longer counts them, their jobs ended).

    >>> beat = Heartbeat("grpc://a:1", "ACTIVE", slots=2, resources={"cpu_percent": 12.5})
    >>> Heartbeat.from_dict(beat.to_dict()) == beat
    True
    >>> Heartbeat.from_dict({**beat.to_dict(), "resources": {"cpu_percent": -1}})
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: heartbeat: cpu_percent must not be negative, got -1.0
    """

    uri: str
    state: str = "ACTIVE"
    slots: int = 1
    memory_bytes: int | None = None
    running: int = 0
    tasks: tuple[TaskReport, ...] = ()
    resources: dict[str, float] = field(default_factory=dict)
    consumer_lag: tuple[dict[str, Any], ...] = ()
    draining: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The ``heartbeat`` action's body."""
        return {**_plain(self), "tasks": [t.to_dict() for t in self.tasks],
                "consumer_lag": list(self.consumer_lag)}  # fmt: skip

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> Heartbeat:
        """A heartbeat as received, checked."""
        a = "heartbeat"
        state = _get(data, a, "state", str, "ACTIVE")
        if state not in AGENT_STATES:
            raise ClusterError(f"{a}: unknown agent state {state!r}")
        uri = _get(data, a, "uri", str)
        if not _AGENT_URI.fullmatch(uri):
            raise ClusterError(f"{a}: {uri!r} is not an agent URI (grpc://host:port)")
        slots = _get(data, a, "slots", int)
        if not 1 <= slots <= MAX_SLOTS:
            raise ClusterError(f"{a}: slots must be 1 to {MAX_SLOTS}, got {slots}")
        memory = _get(data, a, "memory_bytes", int, None)
        resources = _get(data, a, "resources", dict, {})
        return Heartbeat(
            uri,
            state,
            slots,
            None if memory is None else int(_count(memory, a, "memory_bytes")),
            int(_count(_get(data, a, "running", int, 0), a, "running")),
            tuple(TaskReport.from_dict(t, a) for t in _get(data, a, "tasks", list, [])),
            {
                k: _count(_get(resources, a, k, float), a, k)
                for k in AGENT_RESOURCES
                if k in resources
            },
            tuple(_consumer_lag(x) for x in _get(data, a, "consumer_lag", list, [])),
            int(_count(_get(data, a, "draining", int, 0), a, "draining")),
        )


def _consumer_lag(data: Any) -> dict[str, Any]:
    """One consumer lag of a heartbeat, checked."""
    a = "heartbeat"
    return {
        "topic": _name(_get(data, a, "topic", str), a),
        "group": _get(data, a, "group", str, None),
        "partition": _name(_get(data, a, "partition", str), a),
        "lag": _count(_get(data, a, "lag", int), a, "lag"),
    }


# -- JobManager -> agent ---------------------------------------------------------------------


@dataclass(frozen=True)
class CheckpointRequest:
    """The ``checkpoint`` action's body: take checkpoint ``checkpoint`` of job ``job_id``, in
    the tasks of ``attempt`` (None: every attempt's). A task of an earlier attempt that has not
    stopped yet must not write the parts the new attempt's task of the same producer writes.

    >>> CheckpointRequest.from_dict({"job_id": "j1", "checkpoint": 3, "attempt": 1})
    CheckpointRequest(job_id='j1', checkpoint=3, attempt=1)
    """

    job_id: str
    checkpoint: int
    attempt: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The action's body."""
        return _plain(self)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> CheckpointRequest:
        """A request as received, checked."""
        a = "checkpoint"
        return CheckpointRequest(
            _get(data, a, "job_id", str),
            _get(data, a, "checkpoint", int),
            _get(data, a, "attempt", int, None),
        )


@dataclass(frozen=True)
class TaskRef:
    """The ``cancel`` action's body (to an agent): the task to stop.

    >>> TaskRef.from_dict({"task_id": 7})
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: cancel: task_id must be a string, got 7
    """

    task_id: str

    def to_dict(self) -> dict[str, Any]:
        """The action's body."""
        return _plain(self)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> TaskRef:
        """A reference as received, checked."""
        return TaskRef(_get(data, "cancel", "task_id", str))
