"""A top-N of an unbounded stream with checkpoints: stopped at any moment and restored from its
last complete checkpoint, its changelog (the rows released before that checkpoint, then the
restored run's) ends in DuckDB's top-N, on both state backends; and on a two-agent cluster, a
job stopped at a savepoint and resumed in a new job upserts into PostgreSQL, by partition and
row number, exactly DuckDB's top-N: the resumed job ranks against the rows the first one
kept."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import psycopg
import pyarrow as pa
import pytest

import sabot_lab as sl
from tests.support.polling import wait_for
from tests.support.postgres import PostgresServer, query
from tests.support.restores import crash_and_restore
from tests.support.stream_join_cases import duck

QUERY = (
    "SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY k ORDER BY v DESC NULLS LAST, id) "
    "AS rn FROM l) WHERE rn <= 3"
)


def _rows(seed: int, n: int) -> pa.Table:
    """A key ``k`` (never null: it keys the PostgreSQL table), a value ``v`` (sometimes null)
    and ``id``, unique, which breaks the ties of the order."""
    rng = np.random.default_rng(seed)
    return pa.table(
        {
            "k": pa.array(rng.integers(0, 20, n)),
            "v": pa.array(rng.integers(0, 100_000, n), mask=rng.random(n) < 0.05),
            "id": pa.array(np.arange(n)),
        }
    )


ROWS = _rows(31, 4_000)


def _pieces(size: int, forever: bool = False) -> Callable[[int], pa.Table | None]:
    """ROWS in slices of ``size``; then the end, or (``forever``) no rows, now and then."""

    def piece(i: int) -> pa.Table | None:
        if i * size < ROWS.num_rows:
            return ROWS.slice(i * size, size)
        if not forever:
            return None
        time.sleep(0.05)  # an idle live feed
        return ROWS.slice(0, 0)

    return piece


def _top(fn: Callable[[int], pa.Table | None], rows_per_second: float | None = None) -> sl.Stream:
    return sl.sql(QUERY, l=sl.from_generator(fn, rows_per_second, schema=ROWS.schema))


def _final(changes: pa.Table) -> list[tuple[object, ...]]:
    """The rows of the upsert changelog applied by (k, rn), the latest winning."""
    state = {(r["k"], r["rn"]): (r["k"], r["rn"], r["v"], r["id"]) for r in changes.to_pylist()}
    return sorted(state.values(), key=repr)


def _expected() -> list[tuple[object, ...]]:
    rows = duck(QUERY, l=ROWS).to_pylist()
    return sorted(((r["k"], r["rn"], r["v"], r["id"]) for r in rows), key=repr)


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
def test_a_top_n_restored_from_its_last_checkpoint_ends_in_duckdbs_rows(
    tmp_path: Path, backend: str
) -> None:
    rows, restored = crash_and_restore(
        lambda: _top(_pieces(40)), tmp_path, backend, requests=(5, 20)
    )
    assert restored  # the restored run goes on ranking
    assert _final(rows) == _expected()


def _committed(database: str, job_id: str) -> int:
    """Rows the job committed to the database so far (0 before its first commit)."""
    sql = "SELECT coalesce(sum(rows), 0) FROM sabot_commits WHERE job_id = %s"
    try:
        return int(query(database, sql, job_id)[0][0])  # type: ignore[call-overload]
    except psycopg.errors.UndefinedTable:
        return 0


@pytest.fixture(scope="module")
def database(postgres_server: PostgresServer) -> str:
    return postgres_server.new_database()


@pytest.mark.slow
def test_a_top_n_resumed_from_a_savepoint_on_two_agents_upserts_duckdbs_rows(
    tmp_path: Path, database: str
) -> None:
    sink = sl.PostgresSink(database, "top3", key=["k", "rn"])
    with sl.LocalCluster(
        agents=2, slots=4, workdir=tmp_path, heartbeat_timeout=2, heartbeat_interval=0.2
    ) as cluster:
        # the first job's feed goes idle instead of ending: however slow the stop, it stops
        # a running job, and the second has rows left to rank
        first = _top(_pieces(50, forever=True), 2_000).submit(
            cluster, partitions=2, checkpoint_interval=0.2, sink=sink
        )
        wait_for(lambda: _committed(database, first.job_id) > 0, timeout=60)
        savepoint = first.stop()
        second = _top(_pieces(50)).submit(
            cluster, partitions=2, checkpoint_interval=0.2, sink=sink, from_savepoint=savepoint
        )
        second.result(timeout=180)
    stored = query(database, "SELECT k, rn, v, id FROM top3")
    assert sorted(stored, key=repr) == _expected()
