"""The chaos job shared by the chaos and broker-restart tests: a three-agent LocalCluster
(module fixture), a PostgreSQL database (module fixture), and ``run`` that sends q5 into a
PostgreSQL table and returns the table's rows."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

import sabot_lab as sl
from tests.support.postgres import PostgresServer, query
from tests.support.reference import timed_rows

EVENTS = 500_000  # 50 s of event time: about 2 s of work for the cluster


KEY = ["auction", "window_start"]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sl.LocalCluster]:
    with sl.LocalCluster(
        agents=3,
        slots=4,
        workdir=tmp_path_factory.mktemp("chaos"),
        heartbeat_timeout=2,
        heartbeat_interval=0.2,
    ) as c:
        yield c


@pytest.fixture(scope="module")
def database(postgres_server: PostgresServer) -> str:
    return postgres_server.new_database()


def timed(row: dict[str, object]) -> tuple[object, ...]:
    return tuple(int(v.timestamp() * 1000) if hasattr(v, "timestamp") else v for v in row.values())


def run(
    cluster: sl.LocalCluster,
    stream: sl.Stream,
    database: str,
    table: str,
    disturb: Callable[[sl.Job], None] | None = None,
) -> list[tuple[object, ...]]:
    """Run the job into a PostgreSQL table (``disturb(job)`` while it runs) and return the
    table's rows, sorted; the job's own result must hold the same rows."""
    sink = sl.PostgresSink(database, table, key=KEY)
    job = stream.submit(cluster, name=table, partitions=2, checkpoint_interval=0.2, sink=sink)
    if disturb is not None:
        disturb(job)
    result = job.result(timeout=180)
    stored = sorted(
        timed(dict(zip(("auction", "num", "window_start", "window_end"), r, strict=True)))
        for r in query(database, f"SELECT auction, num, window_start, window_end FROM {table}")
    )
    assert stored == sorted(timed_rows(result))
    return stored
