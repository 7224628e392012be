"""A highly available sabot-lab cluster deployed on the virtual hosts (see
:mod:`cluster.netns.virtual_hosts`) as the architecture's multi-host cluster is: PostgreSQL on
``db`` (SSL, SCRAM, as the ``postgres`` user), two JobManagers in ``jm1`` and ``jm2`` on it
(``sslmode=verify-full``), agents in ``agent1..N`` given both JobManagers' addresses, a
``client`` host; every process with a certificate of the cluster CA made by ``sabot-lab
certs``, the servers requiring their clients' (``--tls-verify-client``).

:func:`ha_hosts` builds the hosts, the certificates and PostgreSQL; :meth:`HaHosts.deploy`
starts the JobManagers and agents on a fresh database; :meth:`HaCluster.stop` stops them.
The ``client`` host runs the commands of a module (:attr:`HaHosts.commands`, by default
:mod:`cluster.netns.ha_commands`) to ask the cluster what it needs. ``make cluster-demo``
(:mod:`cluster.netns.demo`) and ``tests/multihost`` deploy it.

May import the standard library and the other modules of :mod:`cluster.netns` only (it
starts sabot-lab as the command line does).

>>> hosts = VirtualCluster(cluster_hosts(3, db=True, jobmanagers=2))
>>> f"grpc+tls://{hosts.addresses['jm2']}:{JOBMANAGER_PORT}"
'grpc+tls://10.77.0.3:8815'
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cluster.netns.host_certificates import HostCertificates, make_certificates
from cluster.netns.host_process import HostProcess
from cluster.netns.postgres_host import PostgresHost
from cluster.netns.virtual_hosts import VirtualCluster, cluster_hosts

__all__ = [
    "COMMANDS",
    "HEARTBEAT",
    "HTTP_PORT",
    "JOBMANAGERS",
    "JOBMANAGER_PORT",
    "HaCluster",
    "HaHosts",
    "ha_hosts",
]

JOBMANAGER_PORT = 8815
HTTP_PORT = 8080
HEARTBEAT = {"SABOT_HEARTBEAT_INTERVAL": "0.5", "SABOT_HEARTBEAT_TIMEOUT": "4"}
"""Quick heartbeats (an agent cut off is FAILED 4 s after its last one)."""
JOBMANAGERS = ("jm1", "jm2")
READY = "sabot-lab {} ready "
COMMANDS = "cluster.netns.ha_commands"
"""The module of the commands the ``client`` host runs for a deployment."""


@dataclass
class HaHosts:
    """The hosts, their certificates and PostgreSQL on ``db``."""

    hosts: VirtualCluster
    pki: HostCertificates
    postgres: PostgresHost
    root: Path
    """A directory every host reads and writes (the JobManagers' shared work directory)."""
    commands: str = COMMANDS
    """The module whose commands the ``client`` host runs (it has at least ``agents`` and
    ``roles``, as :mod:`cluster.netns.ha_commands`)."""
    deployed: int = 0

    def deploy(self, agents: int = 3) -> HaCluster:
        """Start ``jm1`` (it leads), then ``jm2`` (standby), on a new database, and
        ``agents`` agents; return once they are ACTIVE."""
        self.deployed += 1
        name = self.postgres.create_database(f"sabot_{self.deployed}")
        made = HaCluster(self, self.postgres.url(self.pki.ca, name), self.root / name)
        try:
            made.start_jobmanager("jm1")
            made.wait_for_leader("jm1")
            made.start_jobmanager("jm2")
            for n in range(1, agents + 1):
                made.start_agent(f"agent{n}")
            active = made.client("agents", str(agents))
            if sorted(a["state"] for a in active) != ["ACTIVE"] * agents:
                raise RuntimeError(f"the {agents} agents did not all register: {active}")
        except BaseException:
            made.stop()
            raise
        return made


@dataclass
class HaCluster:
    """JobManagers and agents deployed on :class:`HaHosts` with the database at
    ``database_url`` (``sslmode=verify-full``)."""

    on: HaHosts
    database_url: str
    workdir: Path
    tokens: dict[str, str] = field(
        default_factory=lambda: {
            "SABOT_TOKEN": secrets.token_urlsafe(32),
            "SABOT_CLUSTER_TOKEN": secrets.token_urlsafe(32),
        }
    )
    jobmanagers: dict[str, HostProcess] = field(default_factory=dict)
    agents: dict[str, HostProcess] = field(default_factory=dict)

    @property
    def hosts(self) -> VirtualCluster:
        return self.on.hosts

    def uri(self, host: str) -> str:
        """The address of the JobManager on ``host``."""
        return f"grpc+tls://{self.hosts.addresses[host]}:{JOBMANAGER_PORT}"

    @property
    def uris(self) -> str:
        """Every JobManager's address, separated by commas (what agents and clients get)."""
        return ",".join(self.uri(h) for h in JOBMANAGERS)

    def tls(self, host: str) -> dict[str, str]:
        """A process's TLS variables on ``host``: the CA, ``host``'s certificate."""
        return self.on.pki.environment(host)

    def client_env(self) -> dict[str, str]:
        """The environment of a client on the ``client`` host: the submit token, its TLS."""
        return {"SABOT_TOKEN": self.tokens["SABOT_TOKEN"], **self.tls("client")}

    def start_jobmanager(self, host: str) -> HostProcess:
        """Start the JobManager of ``host`` (mutual TLS, on the database); it serves (as a
        leader or a standby) when this returns."""
        pki = self.on.pki
        args = ["jobmanager", "--host", "0.0.0.0", "--port", str(JOBMANAGER_PORT),
                "--http-port", str(HTTP_PORT), "--workdir", str(self.workdir),
                "--tls-cert", str(pki.cert(host)), "--tls-key", str(pki.key(host)),
                "--tls-verify-client"]  # fmt: skip
        env = {**self.tokens, **HEARTBEAT, **self.tls(host),
               "SABOT_DATABASE_URL": self.database_url}  # fmt: skip
        env.pop("SABOT_TLS_CERT")  # (given as arguments, as the README does)
        env.pop("SABOT_TLS_KEY")
        process = self.hosts.sabot_lab(host, *args, env=env, ready=READY.format("jobmanager"))
        self.jobmanagers[host] = process
        return process

    def roles(self) -> dict[str, Any]:
        """What each JobManager host says of its role (see :mod:`cluster.netns.ha_commands`),
        by host."""
        said = self.client("roles")
        return {host: said[self.uri(host)] for host in JOBMANAGERS}

    def wait_for_leader(self, host: str, timeout: float = 60.0) -> dict[str, Any]:
        """The roles once ``host`` says it leads (and its ``/health`` agrees)."""
        deadline = time.monotonic() + timeout
        while True:
            roles = self.roles()
            said = roles[host]
            if said.get("role") == "leader" and said["health"]["status"] == 200:
                return roles
            if time.monotonic() > deadline:
                logs = {h: p.log_tail() for h, p in self.jobmanagers.items()}
                raise TimeoutError(f"{host} did not lead within {timeout:g} s: {roles} {logs}")

    def start_agent(
        self, host: str, certificates: HostCertificates | None = None, ready: bool = True
    ) -> HostProcess:
        """Start an agent on ``host`` with its certificate from ``certificates`` (default:
        the cluster's), trusting the cluster CA, given both JobManagers' addresses; once it
        says it is ready, if ``ready``."""
        pki = self.on.pki
        mine = certificates or pki
        args = ["agent", "--host", "0.0.0.0", "--jobmanager", self.uris, "--slots", "2",
                "--tls-cert", str(mine.cert(host)), "--tls-key", str(mine.key(host)),
                "--tls-verify-client"]  # fmt: skip
        variables = {"SABOT_CLUSTER_TOKEN": self.tokens["SABOT_CLUSTER_TOKEN"], **HEARTBEAT,
                     "SABOT_TLS_CA": str(pki.ca)}  # fmt: skip
        process = self.hosts.sabot_lab(
            host, *args, env=variables, ready=READY.format("agent") if ready else None
        )
        self.agents.setdefault(host, process)
        return process

    def client(self, *args: str, tls: dict[str, str] | None = None, timeout: float = 300.0,
               module: str | None = None) -> Any:  # fmt: skip
        """Run a command of ``module`` (default :attr:`HaHosts.commands`) in the ``client``
        host, given the JobManagers' addresses first (with the client's certificate unless
        ``tls`` says otherwise); its last JSON line."""
        argv = [sys.executable, "-m", module or self.on.commands, args[0], self.uris, *args[1:]]
        env = {
            "SABOT_TOKEN": self.tokens["SABOT_TOKEN"],
            **(self.tls("client") if tls is None else tls),
        }
        done = self.hosts.run("client", argv, env=env, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(
                f"client {' '.join(args)} exited {done.returncode}:\n"
                f"{done.stdout[-1000:]}{done.stderr[-3000:]}"
            )
        return json.loads(done.stdout.strip().splitlines()[-1])

    def start_client(self, *args: str, module: str | None = None) -> HostProcess:
        """Start a command of ``module`` (default :attr:`HaHosts.commands`) in the
        ``client`` host, given the JobManagers' addresses first (it runs on)."""
        return self.hosts.python(
            "client", "-m", module or self.on.commands, args[0], self.uris, *args[1:],
            env=self.client_env(),
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the agents, then the JobManagers (PostgreSQL goes on)."""
        for process in [*self.agents.values(), *self.jobmanagers.values()]:
            with contextlib.suppress(Exception):
                process.stop(timeout=10)


@contextlib.contextmanager
def ha_hosts(root: Path, agents: int = 3, commands: str | None = None) -> Iterator[HaHosts]:
    """The hosts ``db``, ``jm1``, ``jm2``, ``agent1..N`` and ``client``, certificates for
    each in ``root/pki``, PostgreSQL on ``db``, a directory ``root/shared`` every host
    reads; the client host runs the commands of ``commands`` (see :class:`HaHosts`). None
    of their namespaces or processes is left after, also after a failure (raises
    :class:`PermissionError` when not root)."""
    made = VirtualCluster(cluster_hosts(agents, db=True, jobmanagers=len(JOBMANAGERS)))
    with made:
        pki = make_certificates(made, root / "pki")
        postgres = PostgresHost(made, pki.cert("db"), pki.key("db")).start()
        shared = root / "shared"
        shared.mkdir()
        yield HaHosts(made, pki, postgres, shared, commands or COMMANDS)
