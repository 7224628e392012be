"""SQL joins of unbounded streams with checkpoints: a symmetric hash join stopped at any moment
and restored from its last complete checkpoint gives, with the rows released before that
checkpoint, each pair once (the same rows DuckDB computes), on both state backends; and on a
two-agent cluster, Nexmark q3 and q4's join in Flink's text run unbounded, checkpointed, with
the rows of the bounded run over the same events."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

import sabot_lab as sl
from sabot_lab.examples.nexmark_queries import DUCKDB_SQL
from tests.support.polling import wait_for
from tests.support.reference import timed_rows
from tests.support.restores import crash_and_restore
from tests.support.stream_join_cases import (
    Q3,
    Q4_JOIN,
    Q4_JOIN_DUCKDB,
    REGULAR,
    SELECT,
    duck,
    endless,
    nexmark_tables,
    side,
    until_side,
)

QUERY = SELECT + REGULAR["freed by a column of each side"][0]
LEFT, RIGHT = until_side(21, 3_000, "v"), side(22, 1_200, "w")


def joined() -> sl.Stream:
    """The join over the same rows, built anew as a restarted process would."""
    return sl.sql(QUERY, l=endless(LEFT, 60), r=endless(RIGHT, 25))


@pytest.mark.parametrize("backend", ["memory", "rocksdb"])
def test_a_symmetric_join_restored_from_its_last_checkpoint_gives_each_pair_once(
    tmp_path: Path, backend: str
) -> None:
    rows, _ = crash_and_restore(joined, tmp_path, backend, requests=(3, 10))
    expected = duck(QUERY, l=LEFT, r=RIGHT)
    assert rows.num_rows == expected.num_rows > 0
    assert timed_rows(rows) == timed_rows(expected)


RATE = 5_000
PREFIX = 600_000  # events the reference covers: 120 s of event time


@pytest.fixture(scope="module")
def cluster() -> Iterator[sl.LocalCluster]:
    """Two agents with slots for every task of a join of two sources at once."""
    with sl.LocalCluster(agents=2, slots=6, heartbeat_timeout=5, heartbeat_interval=0.3) as c:
        yield c


@pytest.fixture(scope="module")
def reference() -> duckdb.DuckDBPyConnection:
    gen = sl.nexmark(events=PREFIX, event_rate=RATE, seed=13)
    con = duckdb.connect()
    for kind in ("persons", "auctions", "bids"):
        con.register(kind, getattr(gen, kind).collect())
    return con


@pytest.mark.slow
def test_regular_joins_of_never_ending_streams_run_checkpointed_on_two_agents(
    cluster: sl.LocalCluster, reference: duckdb.DuckDBPyConnection
) -> None:
    def tables() -> dict[str, sl.Stream]:
        return nexmark_tables(sl.nexmark(events=None, event_rate=RATE, seed=13))

    for text, duckdb_text, rows in ((Q3, DUCKDB_SQL["q3"], 30), (Q4_JOIN, Q4_JOIN_DUCKDB, 400)):
        stream = sl.sql(text, tables()).head(rows)
        result = stream.submit(cluster, partitions=2, checkpoint_interval=0.3).result(120)
        assert result.num_rows == rows
        expected = set(timed_rows(reference.sql(duckdb_text).to_arrow_table()))
        assert set(timed_rows(result)) <= expected

    job = sl.sql(Q4_JOIN, tables()).submit(
        cluster, name="q4 join, endless", partitions=2, checkpoint_interval=0.3
    )

    def complete() -> list[dict[str, object]]:
        return [c for c in job.checkpoints() if c["state"] == "COMPLETE"]

    try:
        wait_for(lambda: len(complete()) >= 2, timeout=60)
        assert job.status() == "RUNNING"
        parts = {p.name for p in Path(str(complete()[-1]["location"])).iterdir()}
        joins = [p for p in parts if "-symmetric_join@" in p]
        assert len(joins) == 2  # each task snapshot its part of the join's state
    finally:
        job.cancel()
