"""Fixtures shared by the test modules: the databases a JobManager can run on, a Kafka broker, TPC-H files."""

from __future__ import annotations

from collections.abc import Generator, Iterator
from pathlib import Path

import pytest

from sabot_lab.examples.tpch import generate as generate_tpch
from tests.support.kafka_broker import Broker
from tests.support.postgres import PostgresServer

DATABASES = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session."""
    server = PostgresServer()
    yield server
    server.stop()


def _database(request: pytest.FixtureRequest) -> str | None:
    if request.param == "sqlite":
        return None  # the JobManager's default: SQLite files in its work directory
    server: PostgresServer = request.getfixturevalue("postgres_server")
    return server.new_database()


@pytest.fixture(params=DATABASES)
def database_url(request: pytest.FixtureRequest) -> str | None:
    """A fresh database for one test: ``None`` (SQLite) or a new PostgreSQL database."""
    return _database(request)


@pytest.fixture(scope="module", params=DATABASES)
def module_database_url(request: pytest.FixtureRequest) -> str | None:
    """:func:`database_url` shared by a module's tests."""
    return _database(request)


@pytest.fixture(scope="session")
def kafka() -> Iterator[Broker]:
    """A Kafka-protocol broker for the session (tansu, or ``SABOT_KAFKA_BOOTSTRAP``)."""
    broker = Broker()
    yield broker
    broker.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A failed test that used the session's broker says so when that broker has died."""
    report = yield
    broker = getattr(item, "funcargs", {}).get("kafka")
    if report.failed and isinstance(broker, Broker):
        death = broker.death()
        if death is not None:
            report.sections.append(("Kafka broker", death))
    return report


@pytest.fixture(scope="session")
def tpch_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The eight TPC-H tables at scale factor 0.01 as ``tpchgen-cli`` writes them
    (``<table>.parquet``), generated once per session."""
    return generate_tpch(tmp_path_factory.mktemp("tpch"))
