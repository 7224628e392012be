"""Clusters from the client side: ``connect`` to a JobManager, ``LocalCluster`` to start one with
agents on this machine, and the ``Job`` handle a submission returns.

Calls are plain blocking Flight calls (never ``asyncio.run``), so they work in a notebook;
``await job`` (or :meth:`Job.result_async`) waits without blocking the kernel's event loop.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Generator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.flight as flight

from sabot_lab.errors import ClusterError
from sabot_lab.runtime.jobmanager.http import status_link
from sabot_lab.runtime.protocol import ENDED, JobRequest
from sabot_lab.runtime.transport import ANONYMOUS, Credentials, call

if TYPE_CHECKING:
    from sabot_lab.connectors.sink import CommitSink
    from sabot_lab.notebook.cluster_widget import ClusterWidget
    from sabot_lab.notebook.job_widget import JobWidget
    from sabot_lab.stream import Stream

__all__ = ["Cluster", "Job", "LocalCluster", "connect"]


class _ShownLive:
    """In a notebook, shown as its live widget, with its static HTML and text kept in the
    output (see :mod:`sabot_lab.notebook.display`)."""

    def _repr_mimebundle_(self, **kwargs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        from sabot_lab.notebook.display import mimebundle

        return mimebundle(self)  # type: ignore[arg-type]

    def _ipython_display_(self) -> None:
        from sabot_lab.notebook.display import show

        show(self)  # type: ignore[arg-type]


class Cluster(_ShownLive):
    """A connection to a JobManager at ``uri`` (``grpc://host:port``, or ``grpc+tls://``)."""

    def __init__(self, uri: str, auth: Credentials = ANONYMOUS) -> None:
        self.uri = uri
        self.auth = auth

    @property
    def token(self) -> str | None:
        """The bearer token this client presents."""
        return self.auth.token

    def _call(self, name: str, payload: Any = None, timeout: float = 30.0) -> Any:
        return call(self.uri, name, payload, self.auth, timeout)

    def submit(
        self,
        stream: Stream,
        name: str | None = None,
        partitions: int | None = None,
        assignment: str = "round_robin",
        checkpoint_interval: float | None = None,
        sink: CommitSink | None = None,
        from_savepoint: str | None = None,
    ) -> Job:
        """Submit a pipeline; returns as soon as the JobManager has durably accepted it.

        ``partitions``: tasks per stage (default: the agents' slots); ``assignment``:
        ``round_robin`` or ``resource_aware`` placement of tasks on agents;
        ``checkpoint_interval``: seconds between checkpoints (:meth:`Job.checkpoints` lists
        them; a job that takes them runs all its stages at once); ``sink``: a
        :class:`~sabot_lab.connectors.sink.CommitSink` (``PostgresSink``, ``ParquetSink``,
        ``KafkaSink``)
        the job's rows are written to, one commit per checkpoint (or one at the end without
        checkpoints);
        ``from_savepoint``: a path from :meth:`Job.savepoint` or :meth:`Job.stop` of the same
        pipeline: the job's state and source positions start from there.
        """
        return stream.submit(
            self, name, partitions, assignment, checkpoint_interval, sink, from_savepoint
        )

    def submit_request(self, request: JobRequest) -> Job:
        """Submit a :class:`~sabot_lab.runtime.protocol.JobRequest` (what
        :meth:`~sabot_lab.stream.Stream.submit` builds); returns as soon as the JobManager
        has durably accepted it."""
        reply = self._call("submit", request.to_dict())
        return Job(self, reply["job_id"])

    def job(self, job_id: str) -> Job:
        """The handle of a job submitted earlier (from this or another process)."""
        self._call("status", {"job_id": job_id})
        return Job(self, job_id)

    def jobs(self) -> list[dict[str, Any]]:
        """Every job the JobManager knows, newest first."""
        return list(self._call("jobs"))

    def agents(self) -> list[dict[str, Any]]:
        """Every agent that registered, with its state and last heartbeat."""
        return list(self._call("agents"))

    @property
    def dashboard_link(self) -> str:
        """The JobManager's HTTP status page, with the token for a browser."""
        return status_link(str(self._call("ping")["http"]), self.token)

    def __repr__(self) -> str:
        agents = self.agents()
        active = sum(a["state"] in ("ACTIVE", "BUSY") for a in agents)
        return f"<{type(self).__name__} {self.uri}: {active} of {len(agents)} agents active>"

    def widget(self) -> ClusterWidget:
        """A live view of the cluster in a notebook: agents, jobs, scale buttons
        (:class:`~sabot_lab.notebook.cluster_widget.ClusterWidget`)."""
        from sabot_lab.notebook.cluster_widget import ClusterWidget

        return ClusterWidget(self)

    def _repr_html_(self) -> str:
        from sabot_lab.notebook.cluster_view import cluster_html, view_of

        return cluster_html(view_of(self))


def connect(uri: str, token: str | None = None, tls_ca: str | None = None) -> Cluster:
    """Connect to a running JobManager.

    ``token`` defaults to ``SABOT_TOKEN``; ``tls_ca`` (the PEM file of certificates to trust
    for a ``grpc+tls://`` JobManager) to ``SABOT_TLS_CA``, else the system's roots. Raises
    :class:`~sabot_lab.errors.ClusterError` when it is unreachable or refuses the token.
    """
    cluster = Cluster(uri, Credentials.from_env(token, tls_ca))
    cluster._call("ping", timeout=10)
    return cluster


class Job(_ShownLive):
    """A submitted job: its state, its result, cancellation."""

    def __init__(self, cluster: Cluster, job_id: str) -> None:
        self.cluster = cluster
        self.job_id = job_id

    def info(self) -> dict[str, Any]:
        """The job's row: state, error, timestamps, partitions."""
        return dict(self.cluster._call("status", {"job_id": self.job_id}))

    def status(self) -> str:
        """PENDING, SCHEDULED, RUNNING, FINISHED, FAILED or CANCELLED."""
        return str(self.info()["state"])

    def tasks(self) -> list[dict[str, Any]]:
        """The job's tasks: stage, partition, attempt, agent, state, rows out."""
        return list(self.cluster._call("tasks", {"job_id": self.job_id}))

    def checkpoints(self) -> list[dict[str, Any]]:
        """The job's checkpoints: id, state (PENDING, COMPLETE), location, times."""
        return list(self.cluster._call("checkpoints", {"job_id": self.job_id}))

    def metrics(self) -> dict[str, Any]:
        """Tasks by state; rows in and out, batches, bytes, busy and backpressure seconds
        summed over tasks (running tasks report with their agents' heartbeats); attempts so
        far; rows out per stage."""
        return dict(self.cluster._call("metrics", {"job_id": self.job_id}))

    def wait(self, timeout: float | None = None) -> str:
        """Block until the job ends; return its final state."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 10.0 if deadline is None else min(10.0, deadline - time.monotonic())
            state = self._wait_once(max(left, 0.0))
            if state in ENDED:
                return state
            if deadline is not None and time.monotonic() >= deadline:
                raise ClusterError(f"job {self.job_id} still {state} after {timeout:g} s")

    def _wait_once(self, seconds: float) -> str:
        """The job's state once it ended, or after ``seconds`` (the JobManager answers as
        soon as the job ends)."""
        reply = self.cluster._call(
            "wait", {"job_id": self.job_id, "timeout": seconds}, timeout=seconds + 30
        )
        return str(reply["state"])

    def result(self, timeout: float | None = None) -> pa.Table:
        """Wait for the job and return its rows (raises if it failed or was cancelled)."""
        self.wait(timeout)
        return self._fetch()

    async def result_async(self) -> pa.Table:
        """:meth:`result` for ``await``: waits on a worker thread (in slices of a second),
        so the event loop stays free."""
        while (await asyncio.to_thread(self._wait_once, 1.0)) not in ENDED:
            pass
        return await asyncio.to_thread(self._fetch)

    def __await__(self) -> Generator[Any, None, pa.Table]:
        return self.result_async().__await__()

    def _fetch(self) -> pa.Table:
        info = self.info()
        if info["state"] != "FINISHED":
            raise ClusterError(f"job {self.job_id} {info['state'].lower()}: {info.get('error')}")
        auth = self.cluster.auth
        try:
            ticket = flight.Ticket(json.dumps({"job_id": self.job_id}).encode())
            return auth.client(self.cluster.uri).do_get(ticket, auth.options()).read_all()
        except flight.FlightError as exc:
            auth.forget(self.cluster.uri)
            raise ClusterError(f"cannot fetch the result of job {self.job_id}: {exc}") from None

    def cancel(self) -> str:
        """Cancel the job (its tasks stop); return its state."""
        return str(self.cluster._call("cancel", {"job_id": self.job_id})["state"])

    def savepoint(self, timeout: float = 60.0) -> str:
        """Take a checkpoint now and keep it as a savepoint (never discarded); return its
        path, for ``submit(..., from_savepoint=path)``. The job must take checkpoints
        (``checkpoint_interval``) and be running."""
        body = {"job_id": self.job_id, "timeout": timeout}
        return str(self.cluster._call("savepoint", body, timeout=timeout + 10)["path"])

    def stop(self, timeout: float = 60.0) -> str:
        """Take a savepoint, then cancel the job; return the savepoint's path. A job
        submitted with ``from_savepoint=`` that path goes on where this one stopped: its rows
        are those this job had not committed."""
        path = self.savepoint(timeout)
        self.cancel()
        return path

    async def savepoint_async(self, timeout: float = 60.0) -> str:
        """:meth:`savepoint` for ``await``: waits on a worker thread, so the event loop (a
        notebook's kernel) stays free."""
        return await asyncio.to_thread(self.savepoint, timeout)

    async def stop_async(self, timeout: float = 60.0) -> str:
        """:meth:`stop` for ``await`` (see :meth:`savepoint_async`)."""
        return await asyncio.to_thread(self.stop, timeout)

    def widget(self) -> JobWidget:
        """A live view of the job in a notebook: state, progress, throughput, Cancel
        (:class:`~sabot_lab.notebook.job_widget.JobWidget`)."""
        from sabot_lab.notebook.job_widget import JobWidget

        return JobWidget(self)

    def __repr__(self) -> str:
        from sabot_lab.notebook.job_view import job_text, view_of

        return job_text(view_of(self))

    def _repr_html_(self) -> str:
        from sabot_lab.notebook.job_view import job_html, view_of

        return job_html(view_of(self))


class LocalCluster(Cluster):
    """A JobManager and ``agents`` agent processes on this machine (loopback), with a fresh
    token; stop them with :meth:`close` or a ``with`` block.

    The JobManager keeps its databases as SQLite files in ``workdir``, or in PostgreSQL when
    ``database_url`` is a ``postgresql://`` URL. With ``tls_cert`` and ``tls_key`` (PEM files;
    the certificate is also the one clients trust) every server speaks TLS. ``agent_args`` go
    to every ``sabot-lab agent`` command line (e.g. ``["--compression", "zstd"]``).

    Each agent has ``slots`` task slots; by default this machine's cores are shared out among
    the agents (at least one slot each), so the tasks of a stage never outnumber the cores.

    Process logs are in ``workdir`` (``jobmanager.log``, ``agent-N.log``). Checkpoints and
    savepoints are kept there too, or under ``checkpoint_location`` (a directory or a
    ``pyarrow.fs`` URI, see :class:`~sabot_lab.config.Config`).
    """

    def __init__(
        self,
        agents: int = 2,
        slots: int | None = None,
        workdir: str | os.PathLike[str] | None = None,
        heartbeat_timeout: float = 10.0,
        heartbeat_interval: float = 2.0,
        startup_timeout: float = 60.0,
        database_url: str | None = None,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        agent_args: Sequence[str] = (),
        checkpoint_location: str | os.PathLike[str] | None = None,
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ClusterError("TLS needs both tls_cert and tls_key")
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="sabot-cluster-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.slots = slots or max(1, (os.cpu_count() or 1) // max(1, agents))
        self.heartbeat_timeout = heartbeat_timeout
        self.heartbeat_interval = heartbeat_interval
        self.startup_timeout = startup_timeout
        self.database_url = database_url
        self.agent_args = list(agent_args)
        self.checkpoint_location = None if checkpoint_location is None else str(checkpoint_location)
        self.tls_files = [str(tls_cert), str(tls_key)] if tls_cert and tls_key else []
        self.port = self.http_port = 0
        """The JobManager's Flight and HTTP ports: 0 until its first start lets it choose free
        ones (no other process can take them in between); a restart binds the same ones."""
        auth = Credentials(
            secrets.token_urlsafe(24), Path(tls_cert).read_bytes() if tls_cert else None
        )
        super().__init__("", auth)
        self.agent_processes: list[subprocess.Popen[str]] = []
        self.agent_uris: list[str] = []
        """The URI of each of :attr:`agent_processes`."""
        self.jobmanager_process: subprocess.Popen[str] | None = None
        try:
            self.start_jobmanager()
            self.scale(agents)
        except BaseException:
            self.close()
            raise

    # -- processes ------------------------------------------------------------------------
    def _spawn(self, args: list[str], log: str) -> tuple[subprocess.Popen[str], str]:
        env = {**os.environ, "SABOT_TOKEN": self.token or ""}
        if self.checkpoint_location is not None:
            env["SABOT_CHECKPOINT_LOCATION"] = self.checkpoint_location
        if self.tls_files:
            env["SABOT_TLS_CA"] = self.tls_files[0]
            args = [*args, "--tls-cert", self.tls_files[0], "--tls-key", self.tls_files[1]]
        with open(self.workdir / log, "a") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "sabot_lab.cli", *args],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=env,
            )
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], self.startup_timeout)
        line = process.stdout.readline() if ready else ""
        if " ready " not in line:
            process.kill()
            tail = (self.workdir / log).read_text()[-2000:]
            raise ClusterError(f"sabot-lab {args[0]} did not start: {line.strip()}\n{tail}")
        return process, line.split()[-1]

    def start_jobmanager(self) -> None:
        """Start (or restart, on the same port and work directory) the JobManager."""
        database = ["--db", self.database_url] if self.database_url else []
        self.jobmanager_process, self.uri = self._spawn(
            [
                "jobmanager",
                "--workdir",
                str(self.workdir),
                "--port",
                str(self.port),
                "--heartbeat-timeout",
                str(self.heartbeat_timeout),
                "--http-port",
                str(self.http_port),
                *database,
            ],
            "jobmanager.log",
        )
        if not self.port:
            self.port = int(self.uri.rsplit(":", 1)[1])
            self.http_port = urlsplit(self._call("ping")["http"]).port or 0

    def start_agent(self, slots: int | None = None) -> str:
        """Start one more agent (with ``slots`` task slots, default the cluster's); return its
        URI once it is registered."""
        index = len(self.agent_processes)
        process, uri = self._spawn(
            [
                "agent",
                "--jobmanager",
                self.uri,
                "--slots",
                str(slots or self.slots),
                "--heartbeat-interval",
                str(self.heartbeat_interval),
                *self.agent_args,
            ],
            f"agent-{index}.log",
        )
        self.agent_processes.append(process)
        self.agent_uris.append(uri)
        self._until(
            lambda: any(a["uri"] == uri and a["state"] in ("ACTIVE", "BUSY") for a in self.agents())
        )
        return uri

    def scale(self, agents: int) -> None:
        """Run ``agents`` agents: start more, or stop the newest ones."""
        while len(self._running()) < agents:
            self.start_agent()
        while len(running := self._running()) > agents:
            running[-1].terminate()
            running[-1].wait(timeout=10)

    def _running(self) -> list[subprocess.Popen[str]]:
        return [p for p in self.agent_processes if p.poll() is None]

    def _until(self, condition: Any, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.startup_timeout)
        while not condition():
            if time.monotonic() > deadline:
                raise ClusterError("the local cluster did not come up in time")
            time.sleep(0.05)

    def close(self) -> None:
        """Stop every agent, then the JobManager."""
        for process in [*self.agent_processes, self.jobmanager_process]:
            stop_process(process)
            if process is not None and process.stdout is not None:
                process.stdout.close()

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def stop_process(process: subprocess.Popen[Any] | None, timeout: float = 15.0) -> None:
    """Stop ``process`` with SIGTERM, SIGKILL if it lingers ``timeout`` seconds, and wait.

    >>> p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    >>> stop_process(p); p.returncode
    -15
    """
    if process is None or process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
