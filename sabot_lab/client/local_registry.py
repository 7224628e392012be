"""The registry of the local clusters running on this machine: every ``LocalCluster`` keeps
one record while it lives (removed at its close), so that any process of the same user finds
it. Those kept alive (``LocalCluster(keep_alive=True)``) are listed (:func:`local_clusters`),
re-attached to (:func:`attach`) and stopped (:meth:`AttachedCluster.close`); all of them,
kept alive or not, are what :func:`running_clusters` gives the JupyterLab server extension.

Records are JSON files in a directory of the user's own (see :func:`clusters_dir`), made with
mode 0700, each file 0600: a record holds the cluster's tokens, which re-attaching needs; they
never leave it (no ``repr`` or display shows them). A record also names the cluster's processes
with their command lines: a process counts as the cluster's only while ``/proc/<pid>/cmdline``
(Linux) is still the recorded one, so a pid the system gave to another process since is never
taken for it, nor stopped.

May import: :mod:`sabot_lab.client.cluster`, the wire layer (:mod:`sabot_lab.runtime.transport`,
:mod:`sabot_lab.runtime.protocol`), :mod:`sabot_lab.errors`.
"""

from __future__ import annotations

import html
import json
import os
import shutil
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from sabot_lab.client.cluster import Cluster
from sabot_lab.errors import ClusterError
from sabot_lab.runtime.protocol import Role
from sabot_lab.runtime.transport import Credentials

__all__ = [
    "AttachedCluster",
    "ClusterRecord",
    "LocalClusterInfo",
    "RecordedProcess",
    "attach",
    "clusters_dir",
    "local_clusters",
    "running_clusters",
]


def clusters_dir() -> Path:
    """The directory of the records: ``$XDG_RUNTIME_DIR/sabot-lab/clusters`` (the user's
    private runtime directory), else ``~/.cache/sabot-lab/clusters``.

    >>> clusters_dir().parts[-2:]
    ('sabot-lab', 'clusters')
    """
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    base = Path(runtime) if runtime else Path.home() / ".cache"
    return base / "sabot-lab" / "clusters"


def command_line(pid: int) -> tuple[str, ...]:
    """The command line of process ``pid``; empty when there is no such process (or it has
    exited and waits to be reaped).

    >>> command_line(os.getpid())[0] != ""
    True
    >>> command_line(2**22 + 1)
    ()
    """
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ()
    return tuple(part.decode(errors="replace") for part in raw.split(b"\0")[:-1])


@dataclass(frozen=True)
class RecordedProcess:
    """A process of a cluster: its pid and the command line it was started with.

    >>> me = RecordedProcess.of(os.getpid())
    >>> me.running(), RecordedProcess(me.pid, ("sabot-lab", "agent")).running()
    (True, False)
    """

    pid: int
    cmdline: tuple[str, ...]

    @classmethod
    def of(cls, pid: int) -> RecordedProcess:
        """Process ``pid`` as it runs now."""
        return cls(pid, command_line(pid))

    def running(self) -> bool:
        """Whether the process still runs (a pid reused by another process does not count)."""
        return bool(self.cmdline) and command_line(self.pid) == self.cmdline

    def stop(self, timeout: float = 15.0) -> None:
        """Stop it with SIGTERM, SIGKILL if it still runs after ``timeout`` seconds; wait until
        it is gone. A process that is not this one (any more) is left alone."""
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 60.0)):
            if not self.running():
                return
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while self.running() and time.monotonic() < deadline:
                time.sleep(0.05)


@dataclass(frozen=True)
class ClusterRecord:
    """What the registry keeps of a running local cluster: ``key`` names its file;
    ``processes`` are its JobManager then its agents; ``temporary``: its work directory was
    made for it, and closing it removes the directory; ``tokens``: the token of each
    :class:`~sabot_lab.runtime.protocol.Role`'s variable; ``tls_ca``: the certificate file
    its servers present, if they speak TLS; ``kept_alive``: it was started with
    ``keep_alive=True`` (else it ends with the process that started it)."""

    key: str
    name: str
    uri: str
    http: str
    workdir: str
    temporary: bool
    processes: tuple[RecordedProcess, ...]
    created: float
    tokens: Mapping[str, str] = field(repr=False)
    tls_ca: str | None = None
    kept_alive: bool = True

    @property
    def path(self) -> Path:
        """Its file."""
        return self.path_of(self.key)

    @staticmethod
    def path_of(key: str) -> Path:
        """The file of the record ``key``.

        >>> ClusterRecord.path_of("1a2b").name
        '1a2b.json'
        """
        return clusters_dir() / f"{key}.json"

    def save(self) -> None:
        """Write (or rewrite) its file, readable by its user alone."""
        directory = clusters_dir()
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        if directory.stat().st_uid != os.getuid():
            raise ClusterError(f"{directory} belongs to another user: no cluster is recorded there")
        body = {
            **{k: getattr(self, k) for k in ("name", "uri", "http", "workdir", "temporary")},
            "processes": [[p.pid, list(p.cmdline)] for p in self.processes],
            "created": self.created,
            "tokens": dict(self.tokens),
            "tls_ca": self.tls_ca,
            "kept_alive": self.kept_alive,
        }
        draft = directory / f".{self.key}.{os.getpid()}.tmp"
        with open(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            json.dump(body, out)
        os.replace(draft, self.path)  # a reader never sees half a record

    def remove(self) -> None:
        """Remove its file."""
        self.path.unlink(missing_ok=True)

    def forget(self) -> None:
        """Remove its file and, when it was made for the cluster (``temporary``), its work
        directory: what a cluster leaves whose processes ended without its ``close`` (the
        kernel that made it killed)."""
        self.remove()
        workdir = Path(self.workdir)
        if self.temporary and workdir.name.startswith("sabot-cluster-"):
            shutil.rmtree(workdir, ignore_errors=True)

    @classmethod
    def load(cls, path: Path) -> ClusterRecord:
        """The record in file ``path``."""
        body = json.loads(path.read_text())
        return cls(
            key=path.stem,
            name=str(body["name"]),
            uri=str(body["uri"]),
            http=str(body["http"]),
            workdir=str(body["workdir"]),
            temporary=bool(body["temporary"]),
            processes=tuple(RecordedProcess(int(p), tuple(c)) for p, c in body["processes"]),
            created=float(body["created"]),
            tokens={str(k): str(v) for k, v in body["tokens"].items()},
            tls_ca=body.get("tls_ca"),
            kept_alive=bool(body.get("kept_alive", True)),
        )

    @property
    def alive(self) -> bool:
        """Whether its JobManager still runs."""
        return self.processes[0].running()

    def info(self) -> LocalClusterInfo:
        """What may be shown of it (no token)."""
        return LocalClusterInfo(
            self.name,
            self.uri,
            Path(self.workdir),
            tuple(p.pid for p in self.processes),
            datetime.fromtimestamp(self.created, timezone.utc),
            self.alive,
        )


def running_clusters() -> list[ClusterRecord]:
    """The records of this user's local clusters whose JobManager runs, kept alive or not,
    oldest first; those whose processes all ended are forgotten (:meth:`ClusterRecord.forget`:
    the record, and the work directory made for the cluster). They hold the clusters'
    tokens: what is shown of one is its :meth:`~ClusterRecord.info`.

    >>> all(record.alive for record in running_clusters())
    True
    """
    directory = clusters_dir()
    live = []
    for path in sorted(directory.glob("*.json")) if directory.is_dir() else []:
        try:
            record = ClusterRecord.load(path)
        except (OSError, ValueError, KeyError, TypeError):
            path.unlink(missing_ok=True)  # unreadable: no cluster can be found from it
            continue
        if record.alive:
            live.append(record)
        elif not any(process.running() for process in record.processes):
            record.forget()
    return sorted(live, key=lambda r: r.created)


@dataclass(frozen=True)
class LocalClusterInfo:
    """A local cluster kept alive, as :func:`local_clusters` lists it: its ``name``, the
    JobManager's ``uri``, its ``workdir`` (logs, results), the ``pids`` of its JobManager and
    agents, when it was ``created`` and whether its JobManager was ``alive`` then. It holds
    no token: :meth:`attach` reads them from the registry.

    >>> info = LocalClusterInfo("etl", "grpc://127.0.0.1:41234", Path("/tmp/sabot-cluster-x"),
    ...     (101, 102, 103), datetime(2026, 1, 2, 3, 4, tzinfo=timezone.utc), True)
    >>> info
    <LocalClusterInfo 'etl' grpc://127.0.0.1:41234, JobManager and 2 agents, running since 2026-01-02 03:04 UTC: sl.LocalCluster.attach('etl')>
    """

    name: str
    uri: str
    workdir: Path
    pids: tuple[int, ...]
    created: datetime
    alive: bool

    def attach(self) -> AttachedCluster:
        """Connect to this cluster (see :func:`attach`)."""
        return attach(self.uri)

    @property
    def _since(self) -> str:
        return f"{self.created:%Y-%m-%d %H:%M} UTC"

    def __repr__(self) -> str:
        state = "running since" if self.alive else "stopped, started"
        return (
            f"<LocalClusterInfo {self.name!r} {self.uri}, JobManager and {len(self.pids) - 1} "
            f"agents, {state} {self._since}: sl.LocalCluster.attach({self.name!r})>"
        )

    def _repr_html_(self) -> str:
        rows = {
            "JobManager": self.uri,
            "agents": str(len(self.pids) - 1),
            "state": "running" if self.alive else "stopped",
            "since": self._since,
            "workdir": str(self.workdir),
            "pids": " ".join(map(str, self.pids)),
            "attach": f"sl.LocalCluster.attach({self.name!r})",
        }
        cells = "".join(
            f"<tr><th style='text-align:left'>{k}</th><td><code>{html.escape(v)}</code></td></tr>"
            for k, v in rows.items()
        )
        return f"<b>Local cluster {html.escape(self.name)}</b><table>{cells}</table>"


def local_clusters() -> list[LocalClusterInfo]:
    """The local clusters kept alive (``LocalCluster(keep_alive=True)``) by this user whose
    JobManager runs, oldest first; the records of those that ended are dropped.

    >>> import sabot_lab as sl
    >>> all(info.alive for info in sl.local_clusters())
    True
    """
    return [record.info() for record in running_clusters() if record.kept_alive]


def attach(name_or_uri: str) -> AttachedCluster:
    """The running local cluster kept alive whose name or JobManager URI is ``name_or_uri``,
    connected with the tokens of its record. Raises
    :class:`~sabot_lab.errors.ClusterError` when there is none.

    >>> attach("no-such-cluster")
    Traceback (most recent call last):
    ...
    sabot_lab.errors.ClusterError: no running local cluster kept alive is named or at 'no-such-cluster' ...
    """
    records = [record for record in running_clusters() if record.kept_alive]
    for record in records:
        if name_or_uri in (record.name, record.uri):
            return AttachedCluster(record)
    known = ", ".join(repr(r.name) for r in records) or "none"
    raise ClusterError(
        f"no running local cluster kept alive is named or at {name_or_uri!r} (running: {known}); "
        "sl.local_clusters() lists them"
    )


class AttachedCluster(Cluster):
    """A connection to a local cluster kept alive, made from its record (see :func:`attach`):
    it submits and lists jobs like any :class:`~sabot_lab.client.Cluster`, and :meth:`close`
    stops the cluster's processes.

    :attr:`read_token` is the cluster's read-only token; neither its ``repr`` nor its display
    shows a token.
    """

    def __init__(self, record: ClusterRecord) -> None:
        trusted = Path(record.tls_ca).read_bytes() if record.tls_ca else None
        super().__init__(record.uri, Credentials(record.tokens[Role.SUBMIT.variable], trusted))
        self.record = record
        self.name = record.name
        self.workdir = Path(record.workdir)
        self.read_token = record.tokens[Role.READ.variable]

    def close(self, timeout: float = 15.0) -> None:
        """Stop its agents, then its JobManager (SIGTERM, SIGKILL after ``timeout`` seconds),
        drop its record and remove its work directory if the cluster made it."""
        jobmanager, *agents = self.record.processes
        for process in [*agents, jobmanager]:
            process.stop(timeout)
        self.record.remove()
        if self.record.temporary:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __repr__(self) -> str:
        running = sum(p.running() for p in self.record.processes)
        return f"<AttachedCluster {self.name!r} {self.uri}: {running} processes running>"
