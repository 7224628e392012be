"""The agent: a Flight server that runs tasks on worker threads and serves their shuffle output.

Actions (JSON in, JSON out; every call carries the cluster credential, ``SABOT_CLUSTER_TOKEN``:
an agent accepts no other token):

- ``deploy`` (a :class:`~sabot_lab.physical.TaskSpec`): start the task; deploying a task id
  already known does nothing, so a JobManager that retries a deploy never runs it twice;
- ``status``: the agent's state, slots, and every task's state, error and metrics; with
  ``logs_of`` (task ids), also the records those tasks logged since they were last asked for
  (``logs``: task id -> records, see :class:`~sabot_lab.observability.task_logs.TaskLogs`);
- ``cancel`` (``task_id``): stop a task between batches;
- ``drop_job`` (``job_id``): stop a job's tasks, free its shuffle rows (all attempts) and records;
  a task still stopping keeps its slot, counted in ``running`` and listed in ``draining``
  (the reply's ``draining``: how many), until its thread ends;
- ``ping``.

``do_exchange`` streams the rows a task wrote to one partition of an exchange (descriptor:
JSON with ``job`` (the task's :attr:`~sabot_lab.physical.TaskSpec.scope`), ``exchange``,
``partition``, ``schema``); consuming tasks on other agents pull them this way, and clients
fetch results (exchange ``result``) the same way. The stream is credit-based: the consumer
grants credits (``{"credit": n}`` metadata messages), the agent sends one batch per credit,
and the consumer grants one more each time it takes a batch. A slow consumer therefore holds
at most its window of batches in flight (:data:`CREDIT_WINDOW`), however large the partition.

Tasks of an unbounded job (``streaming``) run at once: their exchanges are
:class:`~sabot_lab.runtime.agent.channels.Channels`, one bounded queue per producing task and
partition, and a descriptor with a ``producer`` follows that queue as the producer fills it.
Watermarks travel as ``{"watermark": microseconds}`` metadata messages between the batches,
checkpoint barriers as ``{"barrier": n}``. ``checkpoint`` (``job_id``, ``checkpoint``) asks
the job's tasks here for checkpoint ``n``; a task reports (``checkpoint`` in its status and
heartbeats) the last one whose barrier left all its outputs.
"""

from __future__ import annotations

import contextvars
import functools
import itertools
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.dataset  # loaded as the agent starts: a first job's file reads would wait 0.3 s
import pyarrow.flight as flight
import structlog

from sabot_lab.config import Config, get_config
from sabot_lab.engine.checkpoints import Checkpoints
from sabot_lab.engine.items import Barrier, Watermark, is_marker
from sabot_lab.engine.merge import merge_streams
from sabot_lab.engine.operator_rows import OperatorRows
from sabot_lab.errors import (
    AuthenticationError,
    ClusterError,
    RegistrationRefusedError,
    SabotError,
    TlsError,
)
from sabot_lab.observability.consumer_lag import CONSUMER_LAGS
from sabot_lab.observability.resources import ResourceSampler
from sabot_lab.observability.task_logs import TaskLogs
from sabot_lab.observability.tracing import failed, span
from sabot_lab.physical import TaskSpec, run_task
from sabot_lab.physical.ids import TaskId, in_job, is_result_exchange, result_exchange
from sabot_lab.runtime.addresses import host_of
from sabot_lab.runtime.agent.channels import Channels
from sabot_lab.runtime.agent.store import ShuffleStore, ipc_options
from sabot_lab.runtime.error_reports import failures_reported, reported
from sabot_lab.runtime.leader_calls import LeaderCalls, jobmanager_addresses
from sabot_lab.runtime.protocol import (
    AgentState,
    CheckpointRequest,
    Heartbeat,
    JobRef,
    RowsRequest,
    TaskRef,
    TaskReport,
    TaskState,
)
from sabot_lab.runtime.server_token import check_in_clear
from sabot_lab.runtime.transport import (
    ANONYMOUS,
    ClusterServer,
    Credentials,
    ServerTls,
    dispatch,
)

__all__ = [
    "CREDIT_WINDOW",
    "REGISTRATION_TIMEOUT",
    "AgentServer",
    "TaskRecord",
    "fetch_rows",
    "rows_descriptor",
]

_log = logging.getLogger("sabot_lab.agent")

CREDIT_WINDOW = 8
"""Batches a consumer of a shuffle stream lets the agent send ahead of what it has taken."""
REGISTRATION_TIMEOUT = 15.0
"""Seconds an agent waits for the reply to its first heartbeat (the JobManager first checks
that it reaches the agent back, see :mod:`sabot_lab.runtime.jobmanager.registration`)."""


class TaskCancelled(Exception):
    """Raised inside a task's thread when the task is cancelled."""


@dataclass
class TaskRecord:
    """State and metrics of one task on this agent."""

    task_id: str
    state: TaskState = TaskState.SCHEDULED
    error: str | None = None
    rows_in: int = 0
    rows_out: int = 0
    batches_out: int = 0
    bytes_out: int = 0
    backpressure_s: float = 0.0
    checkpoint: int = 0  # the last checkpoint whose barrier left all the task's outputs
    state_bytes: int | None = None  # the size of its part of that checkpoint
    watermark: int | None = None  # the last watermark it read or wrote (microseconds)
    started: float | None = None
    finished: float | None = None
    thread_ended: bool = False  # its thread returned: it holds no slot any more
    cancel: threading.Event = field(default_factory=threading.Event)
    checkpoints: Checkpoints | None = None
    operators: OperatorRows = field(init=False)  # rows out per operator; a cancel stops it

    def __post_init__(self) -> None:
        self.operators = OperatorRows(check=self.stop_if_cancelled)

    def stop_if_cancelled(self) -> None:
        """Raise :class:`TaskCancelled` once the task was cancelled (its job dropped)."""
        if self.cancel.is_set():
            raise TaskCancelled

    def to_dict(self) -> dict[str, Any]:
        busy = (self.finished or time.time()) - self.started if self.started else 0.0
        return {
            "task_id": self.task_id,
            "state": self.state.value,
            "error": self.error,
            "rows_in": self.rows_in,
            "rows_out": self.rows_out,
            "batches_out": self.batches_out,
            "bytes_out": self.bytes_out,
            "busy_s": round(busy, 6),
            "backpressure_s": round(self.backpressure_s, 6),
            "checkpoint": self.checkpoint,
            "state_bytes": self.state_bytes,
            "watermark": self.watermark,
            "operators": self.operators.snapshot(),
            "operator_seconds": self.operators.seconds(),
        }

    def saw(self, watermark: Watermark) -> None:
        """Note a watermark the task read or wrote."""
        self.watermark = max(self.watermark or watermark.time, watermark.time)


def rows_descriptor(
    job: str, exchange: str, partition: int, schema: pa.Schema, producer: str | None = None
) -> flight.FlightDescriptor:
    """The ``do_exchange`` descriptor for the rows of one exchange partition (with a
    ``producer``: what that task streams to it, as it comes)."""
    request = RowsRequest(job, exchange, partition, schema, producer)
    return flight.FlightDescriptor.for_command(request.to_json())


def _json(message: dict[str, Any]) -> pa.Buffer:
    return pa.py_buffer(json.dumps(message).encode())


def _credit(n: int) -> pa.Buffer:
    return _json({"credit": n})


_END = _json({"end": True})


def fetch_rows(
    uri: str,
    job: str,
    exchange: str,
    partition: int,
    schema: pa.Schema,
    auth: Credentials,
    window: int = CREDIT_WINDOW,
    producer: str | None = None,
) -> Iterator[Any]:
    """Stream the rows of one exchange partition kept by the agent at ``uri``, granting the
    agent ``window`` batches of credit ahead of what the caller has taken; with a
    ``producer``, follow what that task streams (watermarks included) until it ends.

    The connection to ``uri`` is shared (see :meth:`.Credentials.client`) and may have gone
    stale (a network partition that healed, an agent restarted on its port): a read of kept
    rows that fails on the transport (``UNAVAILABLE``, such as "Stream removed") before it
    gave the caller anything is read again once, on a new connection. A streaming read is
    not: the items the agent took off the producer's queue for the lost stream cannot be
    sent again, so the task fails (a job with checkpoints restarts from its last one)."""
    retries = 1 if producer is None else 0
    while True:
        received = False
        try:
            for item in _exchange(uri, job, exchange, partition, schema, auth, window, producer):
                received = True
                yield item
            return
        except flight.FlightError as exc:
            auth.forget(uri)
            unavailable = isinstance(exc, flight.FlightUnavailableError)
            if unavailable and not received and retries:
                retries -= 1
                _log.warning(
                    "reading %s[%d] of job %s from %s again on a new connection: %s",
                    exchange, partition, job, uri, exc,
                )  # fmt: skip
                continue
            tls = auth.tls_failure(uri) if unavailable else None
            raise tls or ClusterError(
                f"cannot read {exchange}[{partition}] of job {job} from {uri}: {exc}"
            ) from None


def _exchange(
    uri: str,
    job: str,
    exchange: str,
    partition: int,
    schema: pa.Schema,
    auth: Credentials,
    window: int,
    producer: str | None,
) -> Iterator[Any]:
    """The items of one ``do_exchange`` stream (see :func:`fetch_rows`), Flight errors
    raised as they come."""
    writer, reader = auth.client(uri).do_exchange(
        rows_descriptor(job, exchange, partition, schema, producer), auth.options()
    )
    try:
        writer.write_metadata(_credit(window))
        for chunk in reader:
            if chunk.data is None:
                message = json.loads(chunk.app_metadata.to_pybytes())
                if "watermark" in message:
                    yield Watermark(message["watermark"])
                elif "barrier" in message:
                    yield Barrier(message["barrier"])
                else:
                    break  # the end of the partition's rows
                continue
            if chunk.data.num_rows:
                yield chunk.data
            writer.write_metadata(_credit(1))  # the caller wants the next batch
    finally:
        writer.close()


class AgentServer(ClusterServer):
    """Runs tasks with ``slots`` worker threads; serves their exchange rows over Flight.

    ``auth``: the cluster credential (``SABOT_CLUSTER_TOKEN``, the only token it accepts, and
    the one it presents to the JobManager and other agents) and the certificates trusted for
    TLS; ``tls``: this server's certificate and key (it then serves ``grpc+tls://``). Without a
    strong token it starts only ``insecure`` on a loopback ``host``, and a plain ``grpc://``
    ``jobmanager`` off loopback needs ``insecure`` too (see
    :class:`~sabot_lab.runtime.transport.ClusterServer`). ``slots``, ``heartbeat_interval``,
    ``drain_timeout``, ``shuffle_memory`` and ``compression`` default to the process's
    :class:`~sabot_lab.config.ClusterConfig` (``agent_slots``, ..., ``shuffle_compression``);
    ``config`` to the process's with one thread.

    Shuffle rows stay in memory up to ``shuffle_memory`` bytes and spill to disk beyond (under
    ``workdir/spill``, at most ``spill_limit`` bytes; see
    :class:`~sabot_lab.runtime.agent.store.ShuffleStore`); they travel (and spill) with the IPC
    ``compression`` of :data:`~sabot_lab.config.COMPRESSIONS`.
    Consumers pull them with credit-based ``do_exchange`` streams (see the module's text), so
    a slow consumer holds back the stream instead of piling batches in memory.

    ``jobmanager``: the JobManager's address, or those of several sharing one database
    (separated by commas, or a list): its heartbeats go to the leader. It remembers the
    highest fencing epoch a leader's order or heartbeat reply carried, and refuses orders
    (``deploy``, ``checkpoint``, ``cancel``, ``drop_job``) of an older one: a deposed
    leader's. The tasks a heartbeat's reply names (``cancel``: the JobManager recorded them
    as ended, their attempt given up while this agent was cut off) are cancelled.

    Its state: STARTING until the JobManager has its first heartbeat, then ACTIVE (BUSY while
    every slot runs a task); :meth:`shutdown` drains it (DRAINING: no new tasks, running ones
    finish within ``drain_timeout`` seconds) and then it is STOPPED. A JobManager that refuses
    its token while it registers, or cannot reach it back at :attr:`uri`, shuts it down, with
    the reason in :attr:`failure`. :attr:`uri` is on ``advertise_host`` when given; on a
    wildcard ``host`` (``0.0.0.0``) without it, at its address on the route toward the
    JobManager (see :mod:`sabot_lab.runtime.addresses`).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        slots: int | None = None,
        auth: Credentials = ANONYMOUS,
        config: Config | None = None,
        jobmanager: str | Sequence[str] | None = None,
        memory_bytes: int | None = None,
        heartbeat_interval: float | None = None,
        tls: ServerTls | None = None,
        drain_timeout: float | None = None,
        shuffle_memory: int | None = None,
        compression: str | None = None,
        insecure: bool = False,
        workdir: str | os.PathLike[str] | None = None,
        spill_limit: int | None = None,
        advertise_host: str | None = None,
    ) -> None:
        if jobmanager is not None:  # before listening: a refused agent holds no port
            for address in jobmanager_addresses(jobmanager):
                check_in_clear(address, insecure or auth.insecure)
        toward = None if jobmanager is None else host_of(jobmanager_addresses(jobmanager)[0])
        super().__init__(
            host, port, auth, tls, insecure, advertise_host=advertise_host, toward=toward
        )
        cluster = get_config().cluster
        self.slots = cluster.agent_slots if slots is None else slots
        self.memory_bytes = memory_bytes
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self.config = config or get_config().replace(threads=1)
        compression = cluster.shuffle_compression if compression is None else compression
        spill_root = None if workdir is None else Path(workdir) / "spill"  # cleaned as it starts
        self.store = ShuffleStore(shuffle_memory, spill_root, compression, spill_limit)
        self.channels = Channels()
        self._ipc = ipc_options(compression)
        self.state = AgentState.ACTIVE if jobmanager is None else AgentState.STARTING
        self.jobmanager = None if jobmanager is None else LeaderCalls(jobmanager, self.auth, 0)
        """The JobManager(s) its heartbeats go to."""
        self.epoch = 0
        """The highest fencing epoch of a leading JobManager seen."""
        self.drain_timeout = cluster.drain_timeout if drain_timeout is None else drain_timeout
        self._tasks: dict[str, TaskRecord] = {}
        self._draining: list[TaskRecord] = []  # tasks of dropped jobs whose threads still run
        self._streams: dict[int, dict[str, Any]] = {}  # open shuffle streams, for status
        self._stream_ids = itertools.count()
        self._sent_bytes = 0  # shuffle bytes sent to consumers
        self._credit_wait_s = 0.0  # seconds the streams waited for their consumers' credits
        self._resources = ResourceSampler()
        self._lock = threading.Lock()
        self._beating = threading.Lock()  # one heartbeat at a time: a later one never overtakes
        self._pool = ThreadPoolExecutor(self.slots, thread_name_prefix="sabot-task")
        self.task_logs = TaskLogs(self.uri, cluster.task_log_records, cluster.log_level.upper())
        """The records of its tasks, until the JobManager takes them (``status``)."""
        logging.getLogger().addHandler(self.task_logs)
        if jobmanager is not None:
            threading.Thread(
                target=self._heartbeats,
                args=(
                    cluster.heartbeat_interval
                    if heartbeat_interval is None
                    else heartbeat_interval,
                ),
                name="sabot-heartbeat",
                daemon=True,
            ).start()

    # -- actions ----------------------------------------------------------------------
    def do_action(
        self, context: flight.ServerCallContext, action: flight.Action
    ) -> Iterator[flight.Result]:
        handlers = {
            "deploy": self._fenced(self._deploy),
            "status": self._status,
            "cancel": self._fenced(self._cancel),
            "drop_job": self._fenced(self._drop_job),
            "checkpoint": self._fenced(self._checkpoint),
            "ping": lambda _: {"uri": self.uri, "state": self.state.value},
        }
        return dispatch(action, handlers, context)

    def _fenced(self, order: Callable[[dict[str, Any]], Any]) -> Callable[[dict[str, Any]], Any]:
        """``order`` refused when its body carries an ``epoch`` older than the highest seen."""

        def checked(body: dict[str, Any]) -> Any:
            epoch = body.get("epoch") if isinstance(body, dict) else None
            if isinstance(epoch, int):
                self._saw_epoch(epoch)
                if epoch < self.epoch:
                    raise ClusterError(
                        f"agent {self.uri} refuses an order of epoch {epoch}: a JobManager "
                        f"leads at epoch {self.epoch} (the sender was deposed)"
                    )
            return order(body)

        return checked

    def _saw_epoch(self, epoch: int) -> None:
        with self._lock:
            self.epoch = max(self.epoch, epoch)

    def list_actions(self, context: flight.ServerCallContext) -> list[tuple[str, str]]:
        return [
            ("deploy", "start a task (idempotent by task id)"),
            ("status", "agent state and task states"),
            ("cancel", "stop a task"),
            ("drop_job", "free a job's rows"),
            ("checkpoint", "ask a job's tasks for a checkpoint"),
            ("ping", "liveness"),
        ]

    def _deploy(self, body: dict[str, Any]) -> dict[str, Any]:
        if self.state in (AgentState.DRAINING, AgentState.STOPPED):
            raise ClusterError(f"agent {self.uri} is {self.state.value.lower()}: no new tasks")
        try:
            spec = TaskSpec.from_dict(body)
        except (KeyError, IndexError, TypeError, ValueError, AttributeError, RecursionError) as exc:
            raise ClusterError(f"deploy: not a task ({type(exc).__name__}: {exc})") from None
        with self._lock:
            if spec.task_id in self._tasks:
                return {"task_id": spec.task_id, "deployed": False}
            record = self._tasks[spec.task_id] = TaskRecord(spec.task_id)
        # the task's span is a child of the deploy call's (see observability.tracing)
        self._pool.submit(contextvars.copy_context().run, self._run, spec, record)
        return {"task_id": spec.task_id, "deployed": True}

    def _status(self, body: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            tasks = [t.to_dict() for t in self._tasks.values()]
            draining = [t.task_id for t in self._draining]
            streams = [dict(x) for x in self._streams.values()]
        running = sum(t["state"] == TaskState.RUNNING for t in tasks) + len(draining)
        busy = self.state == AgentState.ACTIVE and running >= self.slots
        state = AgentState.BUSY if busy else self.state
        logs = _task_ids(body.get("logs_of") if isinstance(body, dict) else None)
        return {
            **({"logs": self.task_logs.take(logs)} if logs else {}),
            "uri": self.uri,
            "state": state.value,
            "slots": self.slots,
            "running": running,
            "draining": draining,
            "shuffle_bytes": self.store.nbytes(),
            "streaming_queued": self.channels.queued(),
            "spilled_bytes": self.store.spilled_bytes,
            "spill_bytes": self.store.spill_bytes(),
            "shuffle_sent_bytes": self._sent_bytes,
            "credit_wait_s": round(self._credit_wait_s, 6),
            "tasks": tasks,
            "streams": streams,
        }

    def _cancel(self, body: dict[str, Any]) -> dict[str, Any]:
        task_id = TaskRef.from_dict(body).task_id
        record = self._tasks.get(task_id)
        if record is not None:
            record.cancel.set()
        return {"task_id": task_id, "known": record is not None}

    def _checkpoint(self, body: dict[str, Any]) -> dict[str, Any]:
        request = CheckpointRequest.from_dict(body)
        with self._lock:
            records = [
                t
                for i, t in self._tasks.items()
                if in_job(i, request.job_id) and request.attempt in (None, TaskId.parse(i).attempt)
            ]
        asked = [r for r in records if r.checkpoints is not None and r.state == TaskState.RUNNING]
        for record in asked:
            assert record.checkpoints is not None
            record.checkpoints.request(upto=request.checkpoint)
        return {"tasks": len(asked)}

    def _drop_job(self, body: dict[str, Any]) -> dict[str, Any]:
        job = JobRef.from_dict(body, "drop_job").job_id
        with self._lock:
            dropped = [t for t in self._tasks if in_job(t, job)]
            for task_id in dropped:
                record = self._tasks.pop(task_id)
                record.cancel.set()
                if not record.thread_ended:  # (it holds its slot until its thread ends)
                    self._draining.append(record)
            draining = len(self._draining)
        self.task_logs.drop(dropped)
        self.channels.drop_job(job)
        freed = self.store.drop_job(job)
        return {"job_id": job, "freed_batches": freed, "draining": draining}

    def _heartbeats(self, interval: float) -> None:
        """Report state and load to the JobManager every ``interval`` seconds (registering
        with the first report); keep trying while the JobManager is away, but shut down if it
        refuses the token to register with, cannot reach this agent at :attr:`uri`, or the
        TLS handshake with it fails then."""
        while not self._stopping.is_set():
            try:
                arrived = self._beat()
            except AuthenticationError as exc:
                self.failure = (
                    f"the JobManager refused this agent's token ({exc}); "
                    "set SABOT_CLUSTER_TOKEN to the JobManager's cluster token"
                )
                self.shutdown()
                return
            except RegistrationRefusedError as exc:
                self.failure = str(exc).split(": heartbeat failed: ", 1)[-1]  # (the JM's words)
                self.state = AgentState.STOPPED  # never registered: nothing to drain or say
                self.shutdown()
                return
            except TlsError as exc:
                self.failure = f"cannot register with the JobManager: {exc}"
                self.shutdown()
                return
            if arrived and self.state == AgentState.STARTING:
                self.state = AgentState.ACTIVE  # registered: say so at once
                continue
            self._wake.wait(interval)  # a task that ended wakes it early
            self._wake.clear()

    def _beat(self) -> bool:
        """Send one heartbeat with the running tasks' metrics; whether it arrived. Raises
        :class:`~sabot_lab.errors.AuthenticationError` if the JobManager refuses the token of
        an agent registering (STARTING),
        :class:`~sabot_lab.errors.RegistrationRefusedError` if it cannot reach it back, and
        :class:`~sabot_lab.errors.TlsError` if its TLS handshake fails then."""
        if self.jobmanager is None:
            return False
        with self._beating:  # (the state read and sent in turn: a drain's last beat is last)
            return self._send_beat(self.jobmanager)

    def _send_beat(self, jobmanager: LeaderCalls) -> bool:
        status = self._status({})
        beat = Heartbeat(
            status["uri"],
            status["state"],
            status["slots"],
            self.memory_bytes,
            status["running"],
            tuple(
                TaskReport.from_dict(t) for t in status["tasks"] if t["state"] == TaskState.RUNNING
            ),
            self._resources.sample() | {
                "shuffle_bytes": status["shuffle_bytes"], "spilled_bytes": status["spilled_bytes"],
                "shuffle_sent_bytes": status["shuffle_sent_bytes"],
                "credit_wait_s": status["credit_wait_s"],
            },
            tuple(CONSUMER_LAGS.snapshot()),
            len(status["draining"]),
        )  # fmt: skip
        try:
            # registering, the JobManager pings this agent back before it answers
            timeout = REGISTRATION_TIMEOUT if self.state == AgentState.STARTING else 5
            reply = jobmanager.call("heartbeat", beat.to_dict(), timeout=timeout)
        except (AuthenticationError, RegistrationRefusedError, TlsError):
            if self.state == AgentState.STARTING:
                raise
            return False
        except ClusterError:
            return False
        if isinstance(reply, dict):
            epoch = reply.get("epoch")
            if isinstance(epoch, int):
                self._saw_epoch(epoch)
            if not isinstance(epoch, int) or epoch >= self.epoch:  # (not a deposed leader's)
                self._cancel_stale(reply.get("cancel"))
        return True

    def _cancel_stale(self, task_ids: Any) -> None:
        """Cancel the tasks a heartbeat's reply names: the JobManager recorded them as ended
        (their attempt failed while this agent was cut off from it), so what they would
        still produce is never read."""
        if not isinstance(task_ids, list):
            return
        for task_id in task_ids:
            record = self._tasks.get(task_id) if isinstance(task_id, str) else None
            if record is not None and not record.cancel.is_set():
                _log.warning("task %s cancelled: the JobManager gave up its attempt", task_id)
                record.cancel.set()

    def drain(self) -> None:
        """Take no new tasks, let running ones finish (up to ``drain_timeout`` seconds), and
        tell the JobManager at each step."""
        self.state = AgentState.DRAINING
        self._beat()
        deadline = time.monotonic() + self.drain_timeout
        while time.monotonic() < deadline and (
            self._draining or any(not t.state.ended for t in list(self._tasks.values()))
        ):
            time.sleep(0.05)
        self.state = AgentState.STOPPED
        self._beat()

    # -- shuffle reads ----------------------------------------------------------------
    def do_exchange(
        self,
        context: flight.ServerCallContext,
        descriptor: flight.FlightDescriptor,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.MetadataRecordBatchWriter,
    ) -> None:
        with failures_reported("an exchange stream", _log):
            request = RowsRequest.from_json(descriptor.command)
            self._stream(request, reader, writer, context.is_cancelled)

    def _stream(
        self,
        key: RowsRequest,
        reader: flight.MetadataRecordBatchReader,
        writer: flight.MetadataRecordBatchWriter,
        gone: Callable[[], bool],
    ) -> None:
        """Send what ``key`` asks for; a streaming read ends early once ``gone()`` (its
        caller gave up waiting for a producer that never came)."""
        stream: dict[str, Any] = {"exchange": key.exchange, "partition": key.partition, "sent": 0}
        stream_id = next(self._stream_ids)
        with self._lock:
            self._streams[stream_id] = stream
        where = (key.job, key.exchange, key.partition)
        items = (
            self.store.get(*where)
            if key.producer is None
            else self.channels.get((*where, key.producer), gone)
        )
        try:
            writer.begin(key.schema, options=self._ipc)
            credits = 0
            for item in items:
                if isinstance(item, Watermark):
                    writer.write_metadata(_json({"watermark": item.time}))
                    continue
                if isinstance(item, Barrier):
                    writer.write_metadata(_json({"barrier": item.checkpoint}))
                    continue
                if credits == 0:
                    waited = time.perf_counter()
                    while credits == 0:  # wait for the consumer to take a batch
                        chunk = reader.read_chunk()  # StopIteration: the consumer went away
                        credits += json.loads(chunk.app_metadata.to_pybytes())["credit"]
                    with self._lock:
                        self._credit_wait_s += time.perf_counter() - waited
                writer.write_batch(item)
                credits -= 1
                stream["sent"] += 1
                with self._lock:
                    self._sent_bytes += item.nbytes
            # The end: the consumer closes its side when it sees this, and the stream ends
            # only then (ending it first could cut off batches still in flight).
            writer.write_metadata(_END)
            while True:
                reader.read_chunk()  # until the consumer closes its side: StopIteration
        except StopIteration:
            pass  # the consumer closed its side
        finally:
            with self._lock:
                del self._streams[stream_id]

    # -- running tasks ----------------------------------------------------------------
    def _run(self, spec: TaskSpec, record: TaskRecord) -> None:
        """Run the task ``spec`` in its span (a child of its deploy's), its records bound to
        its ids (see :mod:`sabot_lab.observability.logs`); those of a task whose job was
        dropped go, and so does the task, whose slot is free now."""
        with (
            span("task", job_id=spec.job_id, task_id=spec.task_id, agent=self.uri) as current,
            structlog.contextvars.bound_contextvars(
                job_id=spec.job_id, task_id=spec.task_id, attempt=spec.attempt,
                stage=spec.stage.stage_id, agent_id=self.uri,
            ),
        ):  # fmt: skip
            self._run_task(spec, record)
            if record.state == TaskState.FAILED:
                failed(current, record.error)
        with self._lock:
            record.thread_ended = True
            dropped = any(r is record for r in self._draining)
            self._draining = [r for r in self._draining if r is not record]
        if dropped:  # (it logged after its job was dropped)
            self.task_logs.drop([spec.task_id])
            self._wake.set()  # its slot is free: tell the JobManager now

    def _run_task(self, spec: TaskSpec, record: TaskRecord) -> None:
        if record.cancel.is_set():  # cancelled (its job dropped) while it waited for a slot
            record.state, record.finished = TaskState.CANCELLED, time.time()
            return
        record.state, record.started = TaskState.RUNNING, time.time()
        _log.info("task started")
        job = spec.scope
        self.store.start_producer(job, spec.producer)

        def rows_of(uri: str, exchange_id: str, partition: int, producer: str | None) -> Any:
            if uri != self.uri:
                schema = spec.exchanges[exchange_id].schema
                return fetch_rows(
                    uri, job, exchange_id, partition, schema, self.auth, producer=producer
                )
            if producer is None:
                return self.store.get(job, exchange_id, partition)
            return self.channels.get((job, exchange_id, partition, producer))

        def read(exchange_id: str, partition: int) -> Iterator[Any]:
            uris = spec.inputs.get(exchange_id, ())
            if spec.streaming:  # each producer on its own, watermarks merged
                producers = [
                    functools.partial(rows_of, uri, exchange_id, partition, producer)
                    for uri, producer in zip(uris, spec.producers(exchange_id), strict=True)
                ]
                idle = [spec.idle_timeout(exchange_id)] * len(producers)
                items: Iterator[Any] = merge_streams(producers, idle)
            else:
                items = itertools.chain.from_iterable(
                    rows_of(uri, exchange_id, partition, None) for uri in uris
                )
            for item in items:
                if isinstance(item, pa.RecordBatch):
                    record.rows_in += item.num_rows
                elif isinstance(item, Watermark):
                    record.saw(item)
                yield item

        def write(exchange_id: str, partition: int, item: Any) -> None:
            record.stop_if_cancelled()
            if is_marker(item) and not spec.streaming:
                return  # stage after stage: the next one reads all its input anyway
            if isinstance(item, Watermark):
                record.saw(item)
            blocked = time.perf_counter()
            if spec.streaming and not is_result_exchange(exchange_id):
                key = (job, exchange_id, partition, spec.producer)
                if not self.channels.put(key, item, record.cancel):
                    raise TaskCancelled
            else:
                self.store.put(job, exchange_id, partition, spec.producer, item)
            record.backpressure_s += time.perf_counter() - blocked
            if isinstance(item, pa.RecordBatch):
                record.rows_out += item.num_rows
                record.batches_out += 1
                record.bytes_out += item.nbytes

        def passed(checkpoint: int) -> None:
            record.checkpoint = max(record.checkpoint, checkpoint)
            if record.checkpoints is not None:
                record.state_bytes = record.checkpoints.part_bytes(checkpoint)

        if spec.checkpoints is not None:
            record.checkpoints = Checkpoints(spec.checkpoints, spec.producer, spec.restore)
            record.checkpoint = spec.restore or 0
        try:
            for batch in run_task(
                spec.stage, spec.partition, spec.exchanges, read, write, self.config,
                record.checkpoints, passed, record.operators,
            ):  # fmt: skip
                # with checkpoints, rows after barrier n are kept apart until n+1 completes
                epoch = result_exchange(record.checkpoint + 1 if record.checkpoints else None)
                write(epoch, spec.partition, batch)
            _log.info("task finished: %d rows in, %d rows out", record.rows_in, record.rows_out)
            record.state = TaskState.FINISHED  # (after its records: a report reads them all)
        except TaskCancelled:
            _log.info("task cancelled")
            record.state = TaskState.CANCELLED
        except Exception as exc:  # reported to the JobManager: the message and an error id
            record.error = reported(exc, f"task {spec.task_id}", _log)
            if isinstance(exc, SabotError):  # (``reported`` logged the others' tracebacks)
                _log.error("task %s failed", spec.task_id, extra={"error": record.error})
            record.state = TaskState.FAILED  # (after the error: a report reads both)
        finally:
            if spec.streaming:  # the consumers end after what was sent
                for exchange_id in spec.stage.writes:
                    for partition in range(spec.exchanges[exchange_id].partitions):
                        self.channels.close((job, exchange_id, partition, spec.producer))
            record.finished = time.time()
            self._wake.set()  # tell the JobManager now, not at the next heartbeat

    def shutdown(self) -> None:
        """Drain, then stop serving and stop the task threads."""
        if self.state != AgentState.STOPPED:
            self.drain()
        self._stopping.set()
        self._wake.set()
        for record in list(self._tasks.values()):
            record.cancel.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.store.close()
        logging.getLogger().removeHandler(self.task_logs)
        super().shutdown()


def _task_ids(value: Any) -> list[str]:
    """The task ids a ``status`` call asks for the records of (``logs_of``)."""
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
        raise ClusterError(f"status: logs_of must be a list of task ids, got {value!r}")
    return value
