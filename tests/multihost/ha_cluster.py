"""The highly available cluster of :mod:`cluster.netns.ha_deployment` for the tests: its
hosts shared by a module's tests, the client host running the tests' commands
(:mod:`tests.multihost.ha_commands`), none of its namespaces or processes left after
(checked); without root the tests fail saying so rather than skip."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from cluster.netns import ha_deployment
from cluster.netns.ha_deployment import HaCluster, HaHosts
from cluster.netns.virtual_hosts import namespaces, require_root

__all__ = ["HaCluster", "HaHosts", "ha_hosts"]


@contextlib.contextmanager
def ha_hosts(root: Path, agents: int = 3) -> Iterator[HaHosts]:
    """:func:`cluster.netns.ha_deployment.ha_hosts` with the tests' client commands; checks
    that nothing of it is left after."""
    try:
        require_root()
    except PermissionError as exc:
        pytest.fail(str(exc), pytrace=False)
    with ha_deployment.ha_hosts(root, agents, commands="tests.multihost.ha_commands") as made:
        yield made
    hosts = made.hosts
    assert hosts.existing() == [], "namespaces left behind"
    assert [n for n in namespaces() if n.startswith(f"slab-{hosts.run_id}-")] == []
    assert hosts.processes == []
