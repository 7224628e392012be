"""Fixtures of the integration tests: the chaos job's three-agent cluster and its PostgreSQL
database (module-scoped, shared by the chaos and broker-restart tests; a module that defines
its own ``cluster`` fixture uses that one), and a two-agent cluster on each JobManager
database (``two_agents``), and one on SQLite only (``two_agents_on_sqlite``) for modules that
check query answers, not the JobManager's store."""

from collections.abc import Iterator
from contextlib import contextmanager

import pytest

import sabot_lab as sl
from tests.support.chaos import cluster, database

__all__ = ["cluster", "database", "two_agents", "two_agents_on_sqlite"]


@contextmanager
def _two_agents(database_url: str | None) -> Iterator[sl.LocalCluster]:
    """Two agents of two slots with quick heartbeats, the JobManager on ``database_url``."""
    with sl.LocalCluster(
        agents=2,
        slots=2,
        heartbeat_timeout=3,
        heartbeat_interval=0.3,
        database_url=database_url,
    ) as c:
        yield c


@pytest.fixture(scope="module")
def two_agents(module_database_url: str | None) -> Iterator[sl.LocalCluster]:
    """Two agents, on SQLite and on PostgreSQL, shared by a module's tests."""
    with _two_agents(module_database_url) as c:
        yield c


@pytest.fixture(scope="module")
def two_agents_on_sqlite() -> Iterator[sl.LocalCluster]:
    """Two agents, the JobManager on SQLite, shared by a module's tests."""
    with _two_agents(None) as c:
        yield c
