"""A cluster on this machine: ``LocalCluster`` starts a JobManager and agents as processes
through the command line (``python -m sabot_lab.cli``), and ``stop_processes`` stops them
(``stop_process`` one). Each is recorded in :mod:`sabot_lab.client.local_registry` while it runs.

It never imports the runtime (JobManager, agent server): the processes do.

May import: :mod:`sabot_lab.client.cluster`, :mod:`sabot_lab.client.local_registry`, the wire
layer (:mod:`sabot_lab.runtime.transport`, :mod:`sabot_lab.runtime.protocol`),
:mod:`sabot_lab.errors`.
"""

from __future__ import annotations

import os
import secrets
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from sabot_lab import display
from sabot_lab.client.cluster import Cluster
from sabot_lab.client.local_registry import (
    AttachedCluster,
    ClusterRecord,
    RecordedProcess,
    attach,
    local_clusters,
    running_clusters,
)
from sabot_lab.config import get_config
from sabot_lab.connectors.uploaded_tables import upload_location, uploads_root, write_upload
from sabot_lab.errors import ClusterError
from sabot_lab.location import Location
from sabot_lab.runtime.protocol import Role
from sabot_lab.runtime.transport import PARENT_PID, Credentials

__all__ = ["LocalCluster", "stop_process", "stop_processes"]


class LocalCluster(Cluster):
    """A JobManager and ``agents`` agent processes on this machine (loopback), with fresh
    tokens; stop them with :meth:`close` or a ``with`` block.

    It makes one token per role (see :class:`~sabot_lab.runtime.protocol.Role`): it submits
    with the submit token (:attr:`token`), :attr:`read_token` is for dashboards and others
    that only read, and :attr:`cluster_auth` is what its JobManager and agents present to
    each other. Neither its ``repr`` nor its display shows them.

    The JobManager keeps its databases as SQLite files in ``workdir``, or in PostgreSQL when
    ``database_url`` is a ``postgresql://`` URL. With ``tls_cert`` and ``tls_key`` (PEM files)
    every server speaks TLS, and presents them when it calls another; every process trusts
    ``tls_ca`` (the cluster CA, ``sabot-lab certs ca``; by default the certificate itself), and
    with ``tls_verify_client`` every server requires a client certificate signed by it (mutual
    TLS: the cluster's own client presents ``tls_cert``). ``agent_args`` go
    to every ``sabot-lab agent`` command line (e.g. ``["--compression", "zstd"]``).

    Each agent has ``slots`` task slots; by default this machine's cores are shared out among
    the agents (at least one slot each), so the tasks of a stage never outnumber the cores.

    Process logs are in ``workdir``: ``jobmanager.log`` and ``agent-N.log``, one JSON record a
    line, rotated (see :class:`~sabot_lab.config.ClusterConfig`'s ``log_*`` settings), and
    ``jobmanager.stderr``, ``agent-N.stderr`` for what a process writes but does not log
    (e.g. a crash of native code). Checkpoints and
    savepoints are kept there too, or under ``checkpoint_location`` (a directory or a
    ``pyarrow.fs`` URI, see :class:`~sabot_lab.config.ClusterConfig`). ``heartbeat_timeout``
    and ``heartbeat_interval`` default to the process's :class:`~sabot_lab.config.ClusterConfig`.
    Without ``workdir`` it makes a temporary one, which :meth:`close` removes with all it holds
    (results, checkpoints, logs) unless ``keep_workdir``.

    Its processes end with the process that made it (e.g. a notebook's kernel), however that
    ends (the next ``LocalCluster`` removes the temporary work directory of one whose kernel
    was killed before its :meth:`close`); they run in a session of their own, so interrupting the kernel (Ctrl-C, JupyterLab's
    Interrupt) stops only the call it waits in. With ``keep_alive`` they run on until
    :meth:`close` (leaving a ``with`` block does not stop them), and it keeps its work
    directory until then. Such a
    cluster is listed under ``name`` (by default its work directory's name, unique among
    those kept alive) by :func:`~sabot_lab.client.local_registry.local_clusters`, and
    :meth:`attach` reconnects to it from another process.

    Every local cluster, kept alive or not, is recorded while it runs (its record goes at
    :meth:`close`), so that the JupyterLab server extension lists it, with its agents and
    jobs, and stops it or cancels its jobs; the record holds its tokens (a file only its user
    can read, see :mod:`~sabot_lab.client.local_registry`).
    """

    def __init__(
        self,
        agents: int = 2,
        slots: int | None = None,
        workdir: str | os.PathLike[str] | None = None,
        heartbeat_timeout: float | None = None,
        heartbeat_interval: float | None = None,
        startup_timeout: float = 60.0,
        database_url: str | None = None,
        tls_cert: str | os.PathLike[str] | None = None,
        tls_key: str | os.PathLike[str] | None = None,
        tls_ca: str | os.PathLike[str] | None = None,
        tls_verify_client: bool = False,
        agent_args: Sequence[str] = (),
        checkpoint_location: str | os.PathLike[str] | None = None,
        keep_workdir: bool = False,
        keep_alive: bool = False,
        name: str | None = None,
    ) -> None:
        if (tls_cert is None) != (tls_key is None):
            raise ClusterError("TLS needs both tls_cert and tls_key")
        if tls_verify_client and tls_cert is None:
            raise ClusterError("tls_verify_client (mutual TLS) needs tls_cert and tls_key")
        if keep_alive and name and name in {info.name for info in local_clusters()}:
            raise ClusterError(
                f"a local cluster named {name!r} is running: sl.LocalCluster.attach({name!r}) "
                "reconnects to it (and .close() stops it), or choose another name"
            )
        running_clusters()  # (forgets those that ended unclosed: their temporary directories)
        self.keep_alive = keep_alive
        self.closed = False
        """Whether :meth:`close` was called (its processes are stopped or stopping)."""
        self._remove_workdir = workdir is None and not keep_workdir
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="sabot-cluster-"))
        self.workdir.mkdir(mode=0o700, parents=True, exist_ok=True)  # its user's alone
        self.name = name or self.workdir.name
        """The name a cluster kept alive is listed and attached by."""
        self._record_key = secrets.token_hex(6)
        self._created = time.time()
        self.slots = slots or max(1, (os.cpu_count() or 1) // max(1, agents))
        cluster = get_config().cluster
        self.heartbeat_timeout = (
            cluster.heartbeat_timeout if heartbeat_timeout is None else heartbeat_timeout
        )
        self.heartbeat_interval = (
            cluster.heartbeat_interval if heartbeat_interval is None else heartbeat_interval
        )
        self.startup_timeout = startup_timeout
        self.database_url = database_url
        self.agent_args = list(agent_args)
        self.checkpoint_location = None if checkpoint_location is None else str(checkpoint_location)
        self.tls_files = [str(tls_cert), str(tls_key)] if tls_cert and tls_key else []
        self.tls_ca = str(tls_ca or tls_cert) if self.tls_files else None
        self.tls_verify_client = tls_verify_client
        self.port = self.http_port = 0
        """The JobManager's Flight and HTTP ports: 0 until its first start lets it choose free
        ones (no other process can take them in between); a restart binds the same ones."""
        tls = [Path(f).read_bytes() for f in (self.tls_ca, *self.tls_files) if f]
        trusted, cert, key = tls or (None, None, None)
        super().__init__("", Credentials(secrets.token_urlsafe(32), trusted, False, cert, key))
        self.read_token = secrets.token_urlsafe(32)
        """A token that lists, follows and fetches jobs but cannot submit or cancel."""
        self.cluster_auth = Credentials(secrets.token_urlsafe(32), trusted, False, cert, key)
        """The credential of the JobManager and agents between themselves."""
        self.agent_processes: list[subprocess.Popen[str]] = []
        self.agent_uris: list[str] = []
        """The URI of each of :attr:`agent_processes`."""
        self.jobmanager_process: subprocess.Popen[str] | None = None
        try:  # the agents start while the JobManager does, and learn its URI when it serves
            with display.progress("cluster") as step:
                self._start(agents, step or (lambda text: None))
        except BaseException:
            self.close()
            raise

    # -- processes ------------------------------------------------------------------------
    def _start(self, agents: int, step: Callable[[str], None]) -> None:
        """Start the JobManager and ``agents`` agents, telling ``step`` what is up."""
        began = time.monotonic()
        step(f"LocalCluster: starting the JobManager and {agents} agents")
        launched = self._launch_agents(agents)
        self.start_jobmanager()
        step(f"LocalCluster: JobManager up ({time.monotonic() - began:.1f} s), agents starting")
        self._join_agents(launched, step)
        step(
            f"LocalCluster ready: JobManager and {agents} agents at {self.uri} "
            f"({time.monotonic() - began:.1f} s)"
        )

    def _spawn(
        self, args: list[str], log: str, private_env: Mapping[str, str] | None = None
    ) -> tuple[subprocess.Popen[str], str]:
        """Start ``sabot-lab <args>`` logging to ``log`` and wait until it serves; returns
        the process and its URI."""
        process = self._launch(args, log, private_env)
        return process, self._ready(process, args[0], log)

    def _launch(
        self,
        args: list[str],
        log: str,
        private_env: Mapping[str, str] | None = None,
        stdin: int | None = None,
    ) -> subprocess.Popen[str]:
        """Start ``sabot-lab <args>`` logging to ``log`` (its standard error to the file of
        :func:`_stderr_of` it); ``private_env`` (its tokens, ...) goes in its environment, not
        on its command line (which every user sees in ``ps``)."""
        tokens = {role.variable for role in Role}
        env = {k: v for k, v in os.environ.items() if k not in tokens}
        env.update(private_env or {})
        if not self.keep_alive:
            env[PARENT_PID] = str(os.getpid())  # the servers end with this process
        if self.checkpoint_location is not None:
            env["SABOT_CHECKPOINT_LOCATION"] = self.checkpoint_location
        env["SABOT_LOG_FILE"] = str(self.workdir / log)
        if self.tls_ca is not None:
            env["SABOT_TLS_CA"] = self.tls_ca
            args = [*args, "--tls-cert", self.tls_files[0], "--tls-key", self.tls_files[1]]
            args += ["--tls-verify-client"] if self.tls_verify_client else []
        stderr_file = self.workdir / _stderr_of(log)
        private = os.open(stderr_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with open(private, "a") as stderr:
            process = subprocess.Popen(
                [sys.executable, "-m", "sabot_lab.cli", *args],
                stdin=stdin,
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=env,
                # in a session of their own, always: a notebook's Interrupt signals the
                # kernel's whole process group, and must only interrupt the kernel's wait
                start_new_session=True,
            )
        return process

    def _ready(self, process: subprocess.Popen[str], what: str, log: str) -> str:
        """The URI ``process`` prints once it serves; :class:`ClusterError` with its log's
        tail if it does not within the startup timeout."""
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], self.startup_timeout)
        line = process.stdout.readline() if ready else ""
        if " ready " not in line:
            process.kill()
            files = [self.workdir / _stderr_of(log), self.workdir / log]
            tail = "".join(f.read_text()[-2000:] for f in files if f.exists())
            raise ClusterError(f"sabot-lab {what} did not start: {line.strip()}\n{tail}")
        return line.split()[-1]

    def _send_upload(self, upload: str, table: Any) -> None:
        """Write the upload's file straight into the cluster's uploads directory (the
        JobManager's, on this host or in the shared checkpoint location): no row passes
        through the JobManager, and agents memory-map the file."""
        write_upload(upload_location(self._uploads_root, upload), table.schema, table.to_batches())

    def _still_kept(self, upload: str) -> bool:
        return upload_location(self._uploads_root, upload).exists()

    def takes_uploads(self) -> bool:
        """Always: its agents read its uploads directory (see :meth:`_send_upload`)."""
        return True

    @property
    def _uploads_root(self) -> Location:
        where = self.checkpoint_location or get_config().cluster.checkpoint_location
        return uploads_root(self.workdir, where)

    def start_jobmanager(self) -> None:
        """Start (or restart, on the same port and work directory) the JobManager."""
        private = {
            Role.SUBMIT.variable: self.token or "",
            Role.READ.variable: self.read_token,
            Role.CLUSTER.variable: self.cluster_auth.token or "",
        }
        if self.database_url:
            private["SABOT_DATABASE_URL"] = self.database_url
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
            ],
            "jobmanager.log",
            private,
        )
        if not self.port:
            self.port = int(self.uri.rsplit(":", 1)[1])
            self.http_port = urlsplit(self._call("ping")["http"]).port or 0
        self._save_record()

    def start_agent(self, slots: int | None = None) -> str:
        """Start one more agent (with ``slots`` task slots, default the cluster's); return its
        URI once it is registered."""
        return self._join_agents(self._launch_agents(1, slots))[0]

    def _launch_agents(
        self, count: int, slots: int | None = None
    ) -> list[tuple[subprocess.Popen[str], str]]:
        """Start ``count`` agent processes (with their logs' names); each waits for the
        JobManager's URI on its standard input (:meth:`_join_agents` sends it)."""
        launched = []
        for _ in range(count):
            log = f"agent-{len(self.agent_processes)}.log"
            args = [
                "agent",
                "--jobmanager",
                "-",
                "--slots",
                str(slots or self.slots),
                "--heartbeat-interval",
                str(self.heartbeat_interval),
                "--workdir",  # shared: an agent starting removes the spill files of dead ones
                str(self.workdir / "agents"),
                *self.agent_args,
            ]
            private = {Role.CLUSTER.variable: self.cluster_auth.token or ""}
            process = self._launch(args, log, private, stdin=subprocess.PIPE)
            self.agent_processes.append(process)  # (close() stops it, whatever happens next)
            launched.append((process, log))
        return launched

    def _join_agents(
        self,
        launched: list[tuple[subprocess.Popen[str], str]],
        step: Callable[[str], None] | None = None,
    ) -> list[str]:
        """Tell the ``launched`` agents the JobManager's URI; their URIs once they serve and
        are registered (``step`` hears of each one up)."""
        for process, _ in launched:
            assert process.stdin is not None
            process.stdin.write(self.uri + "\n")
            process.stdin.close()
        uris = []
        for process, log in launched:
            uris.append(self._ready(process, "agent", log))
            if step is not None:
                step(f"LocalCluster: JobManager up, agents {len(uris)} of {len(launched)} up")
        self.agent_uris += uris
        self._save_record()

        def registered() -> bool:
            active = {a["uri"] for a in self.agents() if a["state"] in ("ACTIVE", "BUSY")}
            return active.issuperset(uris)

        self._until(registered)
        return uris

    def scale(self, agents: int) -> None:
        """Run ``agents`` agents: start more (together), or stop the newest ones."""
        missing = agents - len(self._running())
        if missing > 0:
            self._join_agents(self._launch_agents(missing))
        while len(running := self._running()) > agents:
            running[-1].terminate()
            running[-1].wait(timeout=10)
            self._save_record()

    def _running(self) -> list[subprocess.Popen[str]]:
        return [p for p in self.agent_processes if p.poll() is None]

    def _save_record(self) -> None:
        """Record the cluster as it runs now (its processes, its tokens)."""
        if self.jobmanager_process is None:
            return
        tokens = {
            Role.SUBMIT.variable: self.token or "",
            Role.READ.variable: self.read_token,
            Role.CLUSTER.variable: self.cluster_auth.token or "",
        }
        ClusterRecord(
            key=self._record_key,
            name=self.name,
            uri=self.uri,
            http=f"{'https' if self.tls_files else 'http'}://127.0.0.1:{self.http_port}",
            workdir=str(self.workdir),
            temporary=self._remove_workdir,
            processes=tuple(
                RecordedProcess.of(p.pid) for p in [self.jobmanager_process, *self._running()]
            ),
            created=self._created,
            tokens=tokens,
            tls_ca=self.tls_ca,
            kept_alive=self.keep_alive,
        ).save()

    @staticmethod
    def attach(name_or_uri: str) -> AttachedCluster:
        """Reconnect to a cluster kept alive (``keep_alive=True``), maybe made by another
        process, by its name or URI (see :func:`~sabot_lab.client.local_registry.attach`)."""
        return attach(name_or_uri)

    def __repr__(self) -> str:
        return f"<LocalCluster {self.uri}: {len(self._running())} agent processes running>"

    def _until(self, condition: Any, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (timeout or self.startup_timeout)
        while not condition():
            if time.monotonic() > deadline:
                raise ClusterError("the local cluster did not come up in time")
            time.sleep(0.05)

    def close(self) -> None:
        """Stop every agent, then the JobManager; remove the temporary work directory it
        made (see the class docstring) and its record."""
        self.closed = True
        stop_processes(self.agent_processes)  # together: 50 agents drain at once
        stop_process(self.jobmanager_process)
        for process in [*self.agent_processes, self.jobmanager_process]:
            if process is not None and process.stdout is not None:
                process.stdout.close()
        ClusterRecord.path_of(self._record_key).unlink(missing_ok=True)
        if self._remove_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> LocalCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        if not self.keep_alive:
            self.close()


def _stderr_of(log: str) -> str:
    """The file a process's standard error goes to, beside its log file ``log``.

    >>> _stderr_of("agent-0.log")
    'agent-0.stderr'
    """
    return str(Path(log).with_suffix(".stderr"))


def stop_process(process: subprocess.Popen[Any] | None, timeout: float = 15.0) -> None:
    """Stop ``process`` with SIGTERM, SIGKILL if it lingers ``timeout`` seconds, and wait.

    >>> p = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    >>> stop_process(p); p.returncode
    -15
    """
    stop_processes([] if process is None else [process], timeout)


def stop_processes(processes: Sequence[subprocess.Popen[Any]], timeout: float = 15.0) -> None:
    """Stop ``processes`` together: SIGTERM to all, then wait for each, SIGKILL to those
    still running ``timeout`` seconds after.

    >>> ps = [subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) for _ in "ab"]
    >>> stop_processes(ps); [p.returncode for p in ps]
    [-15, -15]
    """
    running = [p for p in processes if p.poll() is None]
    for process in running:
        process.terminate()
    deadline = time.monotonic() + timeout
    for process in running:
        try:
            process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
