"""A connection to a JobManager: ``connect``, and the ``Cluster`` that submits pipelines and
lists jobs and agents.

May import: the wire layer (:mod:`sabot_lab.runtime.transport`, :mod:`sabot_lab.runtime.protocol`),
:mod:`sabot_lab.client.job`, :mod:`sabot_lab.client.plan_submission`, :mod:`sabot_lab.display`,
:mod:`sabot_lab.errors`, :mod:`sabot_lab.observability`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
import weakref
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from sabot_lab.client.job import Job
from sabot_lab.client.plan_submission import submit_plan
from sabot_lab.connectors.uploaded_tables import new_upload_id
from sabot_lab.display import Displayed
from sabot_lab.errors import ClusterError
from sabot_lab.observability.tracing import configure_tracing, span
from sabot_lab.runtime.leader_calls import LeaderCalls
from sabot_lab.runtime.protocol import JOBS_PAGE, Assignment, EndedBefore, JobRequest, JobsPage
from sabot_lab.runtime.transport import ANONYMOUS, Credentials, put_table

if TYPE_CHECKING:
    from sabot_lab.connectors.sink import CommitSink
    from sabot_lab.logical import JobGraph
    from sabot_lab.stream import Stream

__all__ = ["Cluster", "connect"]


class Cluster(Displayed):
    """A connection to a JobManager at ``uri`` (``grpc://host:port``, or ``grpc+tls://``),
    or to the leader of several sharing one database (their addresses separated by commas,
    or a list: calls, and the handles of its jobs, follow the leader across a takeover;
    :attr:`uri` is the one that answered last).

    Its ``repr`` says what is known here (no network call); :meth:`agents` and :meth:`jobs`
    ask the JobManager, and so does its notebook display.

    >>> Cluster("grpc://127.0.0.1:1")
    <Cluster grpc://127.0.0.1:1>
    """

    display_kind = "cluster"

    def __init__(self, uri: str | Sequence[str], auth: Credentials = ANONYMOUS) -> None:
        self.auth = auth
        self._leader: LeaderCalls | None = None
        self.uri = uri
        self._uploads: dict[int, tuple[weakref.ref[pa.Table], str]] = {}
        """The id of each table uploaded from here, by the table's ``id()`` (see
        :meth:`upload_table`)."""
        self._takes_uploads: bool | None = None

    @property
    def uri(self) -> str:
        """The JobManager's address (of several: the leader's, as last seen)."""
        return "" if self._leader is None else self._leader.uri

    @uri.setter
    def uri(self, value: str | Sequence[str]) -> None:
        self._leader = LeaderCalls(value, self.auth) if value else None

    @property
    def token(self) -> str | None:
        """The bearer token this client presents."""
        return self.auth.token

    def _call(self, name: str, payload: Any = None, timeout: float = 30.0) -> Any:
        if self._leader is None:
            raise ClusterError(f"{self!r} has no JobManager address yet")
        return self._leader.call(name, payload, timeout)

    def submit(
        self,
        stream: Stream,
        name: str | None = None,
        partitions: int | None = None,
        assignment: Assignment = "round_robin",
        checkpoint_interval: float | None = None,
        sink: CommitSink | None = None,
        from_savepoint: str | None = None,
    ) -> Job:
        """Submit a pipeline; returns as soon as the JobManager has durably accepted it.

        ``partitions``: tasks per stage (default: the agents' slots, fewer for a bounded job
        over few rows: see ``Config.cluster.task_rows``); ``assignment``:
        ``round_robin`` or ``resource_aware`` placement of tasks on agents;
        ``checkpoint_interval``: seconds between checkpoints (:meth:`Job.checkpoints` lists
        them; a job that takes them runs all its stages at once); ``sink``: a
        :class:`~sabot_lab.connectors.sink.CommitSink` (``PostgresSink``, ``ParquetSink``,
        ``PartitionedFileSink``, ``KafkaSink``)
        the job's rows are written to, one commit per checkpoint (or one at the end without
        checkpoints);
        ``from_savepoint``: a path from :meth:`Job.savepoint` or :meth:`Job.stop` of the same
        pipeline: the job's state and source positions start from there.
        """
        return stream.submit(
            self, name, partitions, assignment, checkpoint_interval, sink, from_savepoint
        )

    def submit_job(
        self,
        graph: JobGraph,
        name: str | None = None,
        partitions: int | None = None,
        assignment: Assignment = "round_robin",
        checkpoint_interval: float | None = None,
        sink: CommitSink | None = None,
        from_savepoint: str | None = None,
    ) -> Job:
        """Submit a plan: a hand-built :class:`~sabot_lab.logical.JobGraph`, the result of
        ``PlanOptimizer().optimize(graph)``, or a stream's ``graph``. It is validated here
        (an operator missing a parameter, or left unconnected, is refused before anything is
        sent); a graph that ends in a sink node writes its rows there. ``name`` defaults to
        the graph's ``job_name``; the other arguments are those of :meth:`submit`.
        :meth:`Job.tasks` names the operators each task runs.
        """
        return submit_plan(
            self,
            graph,
            graph.job_name if name is None else name,
            partitions,
            assignment,
            checkpoint_interval,
            sink,
            from_savepoint,
        )

    def submit_request(self, request: JobRequest) -> Job:
        """Submit a :class:`~sabot_lab.runtime.protocol.JobRequest` (what
        :meth:`~sabot_lab.stream.Stream.submit` builds); returns as soon as the JobManager
        has durably accepted it. The call is the ``submit`` span, the root of the job's
        trace (see :mod:`sabot_lab.observability.tracing`: exported as the ``OTEL_*``
        variables ask, unless the process installed its own tracer provider)."""
        configure_tracing("sabot-lab-client")
        if request.job_id is None:  # so a submit retried at another JobManager is the same job
            request = dataclasses.replace(request, job_id=uuid.uuid4().hex[:16])
        with span("submit", name=request.name, job_id=request.job_id) as current:
            reply = self._call("submit", request.to_dict())
            current.set_attribute("sabot.job_id", reply["job_id"])
        return Job(self, reply["job_id"])

    def upload_table(self, table: pa.Table) -> str:
        """Upload an in-memory table for the jobs to come; return its id, which a plan
        names it by (:class:`~sabot_lab.connectors.UploadedTable`). :meth:`submit` calls it
        for each table of ``from_arrow``, ``from_pandas``, ``from_pydict`` or a
        ``from_iterable`` list of at least ``inline_table_bytes``
        (:class:`~sabot_lab.config.ClusterConfig`) when the cluster :meth:`takes_uploads`:
        the rows go to the cluster once, as Arrow, never inside the plan. A table uploaded before (the same
        object, still kept on the cluster) is not sent again. The JobManager keeps an upload
        as long as a job that read it is kept (``result_ttl``)."""
        known = self._uploads.get(id(table))
        if known is not None and known[0]() is table and self._still_kept(known[1]):
            return known[1]
        upload = new_upload_id()
        self._send_upload(upload, table)
        key = id(table)
        self._uploads[key] = (weakref.ref(table, lambda _: self._uploads.pop(key, None)), upload)
        return upload

    async def upload_table_async(self, table: pa.Table) -> str:
        """:meth:`upload_table` for ``await``: sends on a worker thread."""
        return await asyncio.to_thread(self.upload_table, table)

    def takes_uploads(self) -> bool:
        """Whether :meth:`submit` uploads in-memory tables here rather than putting them in
        the plan: a remote JobManager says whether its agents share its uploads (a
        ``checkpoint_location`` of shared storage); asked once."""
        if self._takes_uploads is None:
            self._takes_uploads = bool(self._call("ping").get("uploads"))
        return self._takes_uploads

    def _send_upload(self, upload: str, table: pa.Table) -> None:
        """Send ``table`` as upload ``upload``: to the JobManager, over Flight."""
        if self._leader is None:
            raise ClusterError(f"{self!r} has no JobManager address yet")
        put_table(self.uri, upload, table, self.auth)

    def _still_kept(self, upload: str) -> bool:
        """Whether upload ``upload`` is still on the cluster, as far as can be told without
        a call (a remote cluster's is taken to be gone: the table is sent again)."""
        return False

    def job(self, job_id: str) -> Job:
        """The handle of a job submitted earlier (from this or another process)."""
        self._call("status", {"job_id": job_id})
        return Job(self, job_id)

    def jobs(self, limit: int = JOBS_PAGE, before: str | None = None) -> list[dict[str, Any]]:
        """A page of the jobs the JobManager knows, newest first: at most ``limit``, those
        submitted before job ``before`` (the last of the previous page). Deleted jobs (see
        :meth:`Job.delete`) are gone from it."""
        return list(self._call("jobs", JobsPage(limit, before).to_dict()))

    def delete_ended(self, seconds: float) -> list[str]:
        """Delete the jobs that ended ``seconds`` ago or earlier, as :meth:`Job.delete` does;
        return their ids."""
        return list(self._call("delete_ended", EndedBefore(seconds).to_dict())["deleted"])

    def agents(self) -> list[dict[str, Any]]:
        """Every agent that registered, with its state and last heartbeat."""
        return list(self._call("agents"))

    @property
    def dashboard_link(self) -> str:
        """A one-time link to the JobManager's HTTP status page: opened within a minute, it
        gives the browser a session cookie; each read makes a new link (it carries no token,
        so a saved notebook or the browser's history holds only a dead code)."""
        return str(self._call("dashboard_code")["link"])

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.uri}>"


def connect(
    uri: str | Sequence[str],
    token: str | None = None,
    tls_ca: str | None = None,
    insecure: bool = False,
    tls_cert: str | None = None,
    tls_key: str | None = None,
) -> Cluster:
    """Connect to a running JobManager, or to the leader of several (``uri``: their
    addresses separated by commas, or a list; see :class:`Cluster`).

    ``token`` defaults to ``SABOT_TOKEN``: the submit token, or a read-only one
    (``SABOT_READ_TOKEN`` on the JobManager) that lists jobs and agents, follows jobs and
    fetches their results but cannot submit or cancel. ``tls_ca`` (the PEM file of
    certificates to trust for a ``grpc+tls://`` JobManager) defaults to ``SABOT_TLS_CA``, else
    the system's roots. ``tls_cert`` and ``tls_key`` (PEM files, default ``SABOT_TLS_CERT``
    and ``SABOT_TLS_KEY``) are this client's certificate, for a JobManager that requires one
    (mutual TLS, ``--tls-verify-client``). A plain ``grpc://`` JobManager that is not on loopback would receive
    the token in clear: it is refused unless ``insecure``. Raises
    :class:`~sabot_lab.errors.ClusterError` when it is refused, unreachable or refuses the
    token.

    >>> connect("grpc://192.0.2.1:8815", token="t")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: grpc://192.0.2.1:8815 is plain grpc:// to a host that is not loopback: ...
    """
    credentials = Credentials.from_env(token, tls_ca, insecure, tls_cert=tls_cert, tls_key=tls_key)
    cluster = Cluster(uri, credentials)
    cluster._takes_uploads = bool(cluster._call("ping", timeout=10).get("uploads"))
    return cluster
