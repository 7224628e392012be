"""Window functions over event time on never-ending streams, with checkpoints: a run stopped
at any moment and restored from its last complete checkpoint gives, with the rows released
before that checkpoint, each row once with DuckDB's values, on both state backends; and on a
cluster running the windows in two tasks, an agent killed after a checkpoint gives an attempt
that restores it, each row once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import sabot_lab as sl
from tests.support.agent_kills import kill_an_agent_running
from tests.support.over_window_cases import QUERIES, events
from tests.support.polling import wait_for
from tests.support.reference import assert_same_rows, duckdb_table
from tests.support.restores import crash_and_restore
from tests.support.stream_join_cases import DELAY, pieces

QUERY = (
    "SELECT k, t, x, y, "
    + ", ".join(QUERIES[q] for q in ("running aggregates", "lag", "ranks by time"))
    + ", AVG(x) OVER (PARTITION BY k ORDER BY t ROWS BETWEEN 10 PRECEDING AND CURRENT ROW) AS a10"
    " FROM s"
)
PARTITIONED = (
    "SELECT k, t, x, y, SUM(x) OVER w AS s, AVG(y) OVER w AS a, COUNT(*) OVER w AS c, "
    "LAG(x, 2) OVER w AS p, ROW_NUMBER() OVER w AS rn, RANK() OVER w AS r, MAX(y) OVER "
    "(PARTITION BY k ORDER BY t ROWS BETWEEN 5 PRECEDING AND CURRENT ROW) AS m5 FROM s "
    "WINDOW w AS (PARTITION BY k ORDER BY t)"
)
"""Windows each partitioned by ``k``: a cluster runs them in parallel, hashed by ``k``."""
EVENTS = events(31, 3_000)


def windowed(rows_per_second: float | None = None, query: str = QUERY) -> sl.Stream:
    """The query over the events, built anew as a restarted process would."""
    source = sl.from_generator(pieces(EVENTS, 50), rows_per_second, schema=EVENTS.schema)
    return sl.sql(query, s=source.with_watermark("t", DELAY))


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
def test_windows_restored_from_the_last_checkpoint_give_each_row_once(
    tmp_path: Path, backend: str
) -> None:
    rows, _ = crash_and_restore(windowed, tmp_path, backend, requests=(5, 15))
    assert_same_rows(rows, duckdb_table(QUERY, s=EVENTS), rel=1e-6)


@pytest.fixture(scope="module")
def cluster() -> Iterator[sl.LocalCluster]:
    """Three agents, as the chaos tests start: the two left after a kill run the restored
    attempt, and a second agent's missed heartbeat on a loaded machine does not starve it."""
    with sl.LocalCluster(agents=3, slots=4, heartbeat_timeout=10, heartbeat_interval=0.5) as c:
        yield c


@pytest.mark.slow
def test_an_agent_killed_after_a_checkpoint_restores_the_windows_each_row_once(
    cluster: sl.LocalCluster,
) -> None:
    stream = windowed(rows_per_second=300, query=PARTITIONED)  # 10 s: a kill lands mid-job
    job = stream.submit(cluster, partitions=2, checkpoint_interval=0.2)
    wait_for(lambda: any(c["state"] == "COMPLETE" for c in job.checkpoints()), timeout=60)
    assert job.status() == "RUNNING", job.status()
    kill_an_agent_running(job, cluster)
    try:
        result = job.result(timeout=180)
    except sl.ClusterError as failed:
        errors = [t["error"] for t in job.tasks() if t["error"]]
        raise AssertionError(f"the job failed: {errors}") from failed
    assert job.metrics()["attempts"] >= 2  # (a loaded machine may miss a heartbeat more)
    cluster.scale(3)
    windows = [
        t for t in job.tasks() if any(o.startswith("over_window") for o in t["operators"] or {})
    ]
    assert {t["partition"] for t in windows} == {0, 1}  # hashed by k over two tasks
    assert_same_rows(result, duckdb_table(PARTITIONED, s=EVENTS), rel=1e-6)
