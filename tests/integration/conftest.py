"""Fixtures of the integration tests: the chaos job's three-agent cluster and its PostgreSQL
database (module-scoped, shared by the chaos and broker-restart tests; a module that defines
its own ``cluster`` fixture uses that one)."""

from tests.support.chaos import cluster, database

__all__ = ["cluster", "database"]
