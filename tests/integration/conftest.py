"""Fixtures of the integration tests: the chaos job's three-agent cluster and its PostgreSQL
database (module-scoped, shared by the chaos and broker-restart tests; a module that defines
its own ``cluster`` fixture uses that one), and a two-agent cluster on each JobManager
database (``two_agents``)."""

from collections.abc import Iterator

import pytest

import sabot_lab as sl
from tests.support.chaos import cluster, database

__all__ = ["cluster", "database", "two_agents"]


@pytest.fixture(scope="module")
def two_agents(module_database_url: str | None) -> Iterator[sl.LocalCluster]:
    """Two agents of two slots with quick heartbeats, on SQLite and on PostgreSQL, shared by
    a module's tests."""
    with sl.LocalCluster(
        agents=2,
        slots=2,
        heartbeat_timeout=3,
        heartbeat_interval=0.3,
        database_url=module_database_url,
    ) as c:
        yield c
