"""The address a server hands out (:mod:`sabot_lab.runtime.addresses`): never a wildcard,
the route's source address toward its JobManager, the interfaces' as the last resort."""

from __future__ import annotations

import socket

import psutil
import pytest

from sabot_lab.errors import ClusterError
from sabot_lab.runtime.addresses import (
    advertised_host,
    host_of,
    interface_addresses,
    routable_address,
    server_uri,
)
from sabot_lab.runtime.agent import AgentServer
from sabot_lab.runtime.transport import Credentials

TOKEN = "addresses-test-token-of-128-bits"


@pytest.mark.parametrize("wildcard", ["0.0.0.0", "", "::", "[::]"])
def test_a_wildcard_is_never_advertised(wildcard: str) -> None:
    toward = "::1" if ":" in wildcard else "127.0.0.1"
    assert advertised_host(wildcard, toward=toward) == toward  # the route's source there
    found = advertised_host(wildcard) if ":" not in wildcard else None
    assert found is None or found in interface_addresses()
    with pytest.raises(ClusterError, match=r"--advertise-host .* is a wildcard"):
        advertised_host("127.0.0.1", wildcard if wildcard else " 0.0.0.0 ")


def test_the_route_source_is_the_interface_address_that_reaches_the_target() -> None:
    ours = interface_addresses()
    if not ours:
        pytest.skip("this host has no interface but loopback")  # (CI hosts have one)
    assert routable_address(ours[0]) == ours[0]
    assert routable_address() in ours  # the default route's source, else the first one
    assert not any(a.startswith("127.") for a in ours)
    known = {
        a.address
        for addresses in psutil.net_if_addrs().values()
        for a in addresses
        if a.family == socket.AF_INET
    }
    assert set(ours) <= known


def test_a_name_to_route_toward_is_resolved() -> None:
    assert routable_address("localhost") in ("127.0.0.1", "::1")


def test_uris_bracket_ipv6_hosts_and_give_them_back_without() -> None:
    uri = server_uri("grpc", "fd00::2", 8815)
    assert uri == "grpc://[fd00::2]:8815" and host_of(uri) == "fd00::2"


def test_an_agent_on_every_interface_has_a_uri_on_the_route_toward_its_jobmanager() -> None:
    # (no JobManager answers at port 9: the agent keeps trying to register, which is fine)
    agent = AgentServer(
        "0.0.0.0", 0, 1, Credentials(TOKEN), jobmanager="grpc://127.0.0.1:9", insecure=True
    )
    try:
        assert agent.uri == f"grpc://127.0.0.1:{agent.port}"
    finally:
        agent.shutdown()
