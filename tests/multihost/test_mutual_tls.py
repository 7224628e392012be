"""Mutual TLS across hosts (network namespaces, see ``cluster/netns``): the cluster of
:mod:`.ha_cluster` (certificates from ``sabot-lab certs`` naming each host's address, every
server with ``--tls-verify-client``) runs a shuffle job across the three agent hosts equal to
DuckDB; an agent whose certificate another CA signed is refused and says why on its standard
error; a client without a certificate (or with another CA's) is refused, told which setting
fixes it, by the library and by the command line."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import pytest

from cluster.netns.host_certificates import HostCertificates, make_certificates
from sabot_lab.runtime.addresses import host_of
from tests.multihost.ha_cluster import HaCluster, HaHosts, ha_hosts
from tests.multihost.shuffle_case import ShuffleCase

AGENT_HOSTS = ("agent1", "agent2", "agent3")


@pytest.fixture(scope="module")
def on(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HaHosts]:
    with ha_hosts(tmp_path_factory.mktemp("mtls")) as made:
        yield made


@pytest.fixture(scope="module")
def cluster(on: HaHosts) -> Iterator[HaCluster]:
    made = on.deploy()
    yield made
    made.stop()


@pytest.fixture(scope="module")
def stranger(on: HaHosts) -> HostCertificates:
    """Another CA, and certificates it signed for ``agent3`` and ``client`` (their right
    names and addresses: only the CA is wrong)."""
    return make_certificates(on.hosts, on.root.parent / "stranger", names=["agent3", "client"])


def test_a_job_runs_across_the_agent_hosts_with_mutual_tls_and_equals_duckdb(
    cluster: HaCluster,
) -> None:
    case = ShuffleCase(cluster.on.root / "tls-shuffle", rows=60_000, row_group=10_000)
    ran = cluster.client("shuffle", *case.args())
    assert ran["state"] == "FINISHED"
    assert all(uri.startswith("grpc+tls://") for uri in ran["agents"])
    hosts = cluster.hosts
    assert {host_of(uri) for uri in ran["agents"]} == {hosts.addresses[h] for h in AGENT_HOSTS}
    case.check()


def test_an_agent_with_a_certificate_of_another_ca_is_refused_saying_why(
    cluster: HaCluster, stranger: HostCertificates
) -> None:
    agent = cluster.start_agent("agent3", certificates=stranger, ready=False)
    assert agent.popen.wait(timeout=120) != 0
    errors = [line for line in agent.log.read_text().splitlines() if "error" in line]
    assert errors == [errors[-1]] and errors[-1].startswith(
        f"sabot-lab agent: error: cannot register with the JobManager: {cluster.uri('jm1')}: "
        "TLS handshake failed: the server refused this process's client certificate"
    ), agent.log_tail()
    agents = cluster.client("agents", "3")
    assert sorted(host_of(a["uri"]) for a in agents) == sorted(
        cluster.hosts.addresses[h] for h in AGENT_HOSTS
    )  # the three of the cluster, nobody else


def test_a_client_without_a_certificate_of_the_cluster_is_refused(
    cluster: HaCluster, stranger: HostCertificates
) -> None:
    ca_only = {"SABOT_TLS_CA": str(cluster.on.pki.ca)}
    refused = cluster.client("connect", tls=ca_only)
    assert refused["kind"] == "TlsError"
    assert "requires a client certificate" in refused["error"]
    assert "SABOT_TLS_CERT" in refused["error"]
    other_ca = {**stranger.environment("client"), **ca_only}
    refused = cluster.client("connect", tls=other_ca)
    assert refused["kind"] == "TlsError"
    assert "refused this process's client certificate" in refused["error"]
    assert cluster.client("connect")["ok"] in cluster.uris.split(",")  # with its own: in

    listed = cluster.hosts.run(
        "client",
        [sys.executable, "-m", "sabot_lab.cli", "jobs", "--jobmanager", cluster.uris],
        env={"SABOT_TOKEN": cluster.tokens["SABOT_TOKEN"], **ca_only},
        timeout=120,
    )
    assert listed.returncode == 1
    lines = listed.stderr.strip().splitlines()
    assert len(lines) == 1, listed.stderr  # one line: gRPC's own log lines stay quiet
    assert lines[0].startswith(f"sabot-lab jobs: error: {cluster.uri('jm1')}: TLS handshake failed")
    assert "SABOT_TLS_CERT" in lines[0]
