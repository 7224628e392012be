"""The README's example query, as written, on Parquet and on Arrow, equals DuckDB's answer."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.examples.datasets import SECTORS, quotes, securities
from tests.support.reference import assert_same_rows, collect_all_ways, duckdb_table

REFERENCE_SQL = """
    SELECT s.sector, sum(q.price * q.size) AS total, count(*) AS n
    FROM quotes q JOIN secs s ON q.security_id = s.id
    WHERE q.price > 100 AND q.rating >= 3
    GROUP BY s.sector
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[pa.Table, pa.Table, Path]:
    quotes_table = quotes(60_000, n_securities=2_000, seed=7)
    path = tmp_path_factory.mktemp("fintech") / "quotes.parquet"
    pq.write_table(quotes_table, path, row_group_size=10_000)
    return quotes_table, securities(2_000, seed=7), path


def example(quotes: sl.Stream, secs: sl.Stream) -> sl.Stream:
    return (
        quotes.filter((sl.col("price") > 100) & (sl.col("rating") >= 3))
        .join(secs, left_on="security_id", right_on="id", how="inner")
        .with_columns((sl.col("price") * sl.col("size")).alias("notional"))
        .group_by("sector")
        .agg(sl.col("notional").sum().alias("total"), sl.count().alias("n"))
    )


@pytest.mark.parametrize("source", ["parquet", "arrow"])
def test_example_equals_duckdb(source: str, data: tuple[pa.Table, pa.Table, Path]) -> None:
    quotes_table, secs_table, path = data
    quotes_stream = sl.from_parquet(path) if source == "parquet" else sl.from_arrow(quotes_table)
    out = example(quotes_stream, sl.from_arrow(secs_table))
    expected = duckdb_table(REFERENCE_SQL, quotes=quotes_table, secs=secs_table)
    assert expected.num_rows == len(SECTORS)
    settings = [{"batch_size": 4_096, "threads": 1}, {"batch_size": 3_000, "threads": 2}]
    for result in [*collect_all_ways(out, engine_settings=settings), out.collect(optimize=False)]:
        assert result.schema.names == ["sector", "total", "n"]
        assert_same_rows(result, expected)


def test_every_way_to_consume_the_result(
    data: tuple[pa.Table, pa.Table, Path], tmp_path: Path
) -> None:
    quotes_table, secs_table, path = data
    out = example(sl.from_parquet(path), sl.from_arrow(secs_table))
    expected = duckdb_table(REFERENCE_SQL, quotes=quotes_table, secs=secs_table)

    assert_same_rows(pa.Table.from_batches(list(out.iter_batches())), expected)
    assert_same_rows(pa.Table.from_pandas(out.to_pandas(), preserve_index=False), expected)
    target = tmp_path / "out.parquet"
    assert out.to_parquet(target) == expected.num_rows
    assert_same_rows(pq.read_table(target), expected)

    plan = str(out.explain())
    for operator in ("source", "filter", "inner_join", "group_by", '.sum().alias("total")'):
        assert operator in plan, f"{operator!r} missing from plan:\n{plan}"
