"""Fixtures of the multi-host tests: a virtual cluster of network namespaces (see
``cluster/netns``) with a JobManager in ``jm1`` (on its embedded SQLite), three agents in
``agent1..3`` started as the README's "Remote clusters" commands start them (``--host
0.0.0.0``, tokens from the environment, the JobManager's URI; plain ``grpc://`` with
``--insecure``), and a ``client`` host the tests run their client commands in
(:mod:`tests.multihost.client_commands`).

They need root (network namespaces): CI runs as root. Without it they fail saying so rather
than skip. Every namespace and process of a test's cluster is gone after it, also after a
failure (checked)."""

from __future__ import annotations

import json
import secrets
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cluster.netns.ha_deployment import HEARTBEAT, HTTP_PORT, JOBMANAGER_PORT
from cluster.netns.host_process import HostProcess
from cluster.netns.virtual_hosts import (
    VirtualCluster,
    cluster_hosts,
    namespaces,
    require_root,
)

__all__ = ["HEARTBEAT", "HTTP_PORT", "JOBMANAGER_PORT", "Cluster", "hosts", "remote_cluster"]


@dataclass
class Cluster:
    """A JobManager and agents on the virtual hosts: where they are, their tokens."""

    hosts: VirtualCluster
    uri: str
    tokens: dict[str, str]
    jobmanager: HostProcess
    agents: dict[str, HostProcess]

    def agent_args(self, *extra: str) -> list[str]:
        """``sabot-lab agent`` as the README starts one, toward this JobManager."""
        return ["agent", "--host", "0.0.0.0", "--jobmanager", self.uri, "--slots", "2",
                "--insecure", *extra]  # fmt: skip

    def agent_env(self) -> dict[str, str]:
        """An agent's environment: the cluster token only."""
        return {"SABOT_CLUSTER_TOKEN": self.tokens["SABOT_CLUSTER_TOKEN"], **HEARTBEAT}

    def client(self, *args: str, timeout: float = 300.0) -> Any:
        """Run a client command in the ``client`` host; its JSON reply."""
        argv = [sys.executable, "-m", "tests.multihost.client_commands", args[0], self.uri]
        done = self.hosts.run(
            "client",
            [*argv, *args[1:]],
            env={"SABOT_TOKEN": self.tokens["SABOT_TOKEN"]},
            timeout=timeout,
        )
        assert done.returncode == 0, done.stderr[-3000:]
        return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def hosts() -> Iterator[VirtualCluster]:
    """The hosts ``jm1``, ``agent1..3`` and ``client``; none of their namespaces is left
    after the module's tests."""
    try:
        require_root()
    except PermissionError as exc:
        pytest.fail(str(exc), pytrace=False)
    made = VirtualCluster(cluster_hosts(3, db=False, jobmanagers=1))
    with made:
        yield made
    assert made.existing() == [], "namespaces left behind"
    leftovers = [n for n in namespaces() if n.startswith(f"slab-{made.run_id}-")]
    assert leftovers == []


@pytest.fixture(scope="module")
def remote_cluster(hosts: VirtualCluster, tmp_path_factory: pytest.TempPathFactory) -> Cluster:
    """A JobManager in ``jm1`` and an agent in each of ``agent1..3``, started as the README
    says, once the three registered."""
    tokens = {
        "SABOT_TOKEN": secrets.token_urlsafe(32),
        "SABOT_READ_TOKEN": secrets.token_urlsafe(32),
        "SABOT_CLUSTER_TOKEN": secrets.token_urlsafe(32),
    }
    workdir = tmp_path_factory.mktemp("jobmanager")
    jobmanager = hosts.sabot_lab(
        "jm1",
        *("jobmanager", "--host", "0.0.0.0", "--port", str(JOBMANAGER_PORT)),
        *("--http-port", str(HTTP_PORT), "--workdir", str(workdir), "--insecure"),
        env={**tokens, **HEARTBEAT},
        ready="sabot-lab jobmanager ready ",
    )
    uri = jobmanager.wait_for_line("sabot-lab jobmanager ready ").split()[-1]
    made = Cluster(hosts, uri, tokens, jobmanager, {})
    for host in ("agent1", "agent2", "agent3"):
        made.agents[host] = hosts.sabot_lab(
            host, *made.agent_args(), env=made.agent_env(), ready="sabot-lab agent ready "
        )
    agents = made.client("agents", "3")
    assert sorted(a["state"] for a in agents) == ["ACTIVE"] * 3, agents
    return made


def ready_uri(process: HostProcess) -> str:
    """The URI a server's ready line names."""
    return process.wait_for_line("sabot-lab ").split()[-1]


def log_records(process: HostProcess) -> list[dict[str, Any]]:
    """The JSON records a server logged to its standard error so far."""
    text = Path(process.log).read_text(errors="replace")
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]
