"""A cluster across hosts (network namespaces on a bridge, see ``cluster/netns``), started as
the README's "Remote clusters" commands start one: servers on ``--host 0.0.0.0`` hand out
their own addresses, a shuffle job across the three agent hosts equals DuckDB, and an agent
that gives an address the JobManager cannot reach is refused when it registers."""

from __future__ import annotations

import pytest

from sabot_lab.runtime.addresses import host_of
from tests.multihost.conftest import JOBMANAGER_PORT, Cluster, log_records, ready_uri
from tests.multihost.shuffle_case import ShuffleCase

AGENT_HOSTS = ("agent1", "agent2", "agent3")


def test_servers_on_every_interface_hand_out_their_own_addresses(
    remote_cluster: Cluster,
) -> None:
    hosts = remote_cluster.hosts
    assert remote_cluster.uri == f"grpc://{hosts.addresses['jm1']}:{JOBMANAGER_PORT}"
    agents = remote_cluster.client("agents", "3")
    registered = sorted(host_of(a["uri"]) for a in agents)
    assert registered == sorted(hosts.addresses[h] for h in AGENT_HOSTS)
    printed = {host: ready_uri(p) for host, p in remote_cluster.agents.items()}
    assert {host: host_of(uri) for host, uri in printed.items()} == {
        h: hosts.addresses[h] for h in AGENT_HOSTS
    }
    assert sorted(a["uri"] for a in agents) == sorted(printed.values())


def test_a_shuffle_job_across_three_agent_hosts_equals_duckdb(
    remote_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory
) -> None:
    case = ShuffleCase(tmp_path_factory.mktemp("shared"), rows=60_000, row_group=10_000)
    ran = remote_cluster.client("shuffle", *case.args())
    assert ran["state"] == "FINISHED"
    assert {host_of(uri) for uri in ran["agents"]} == {
        remote_cluster.hosts.addresses[h] for h in AGENT_HOSTS
    }
    case.check()


def test_an_agent_advertising_an_unreachable_address_is_refused_at_registration(
    remote_cluster: Cluster,
) -> None:
    hosts = remote_cluster.hosts
    nowhere = f"{hosts.addresses['jm1'].rsplit('.', 1)[0]}.250"  # no host has it
    agent = hosts.sabot_lab(
        "agent3",
        *remote_cluster.agent_args("--advertise-host", nowhere),
        env=remote_cluster.agent_env(),
        ready="sabot-lab agent ready ",
    )
    uri = ready_uri(agent)
    assert host_of(uri) == nowhere
    code = agent.popen.wait(timeout=60)
    assert code != 0
    error = agent.log_tail(1)
    assert error.startswith(
        f"sabot-lab agent: error: the JobManager cannot reach this agent back at {uri} ("
    ), agent.log_tail()
    assert "--advertise-host" in error
    refusals = [
        r
        for r in log_records(remote_cluster.jobmanager)
        if r.get("event", "").startswith(f"refused to register agent {uri}")
    ]
    assert refusals and "--advertise-host" in refusals[0]["event"]
    agents = remote_cluster.client("agents", "3")
    assert uri not in {a["uri"] for a in agents} and len(agents) == 3
