"""The 22 TPC-H queries (:mod:`sabot_lab.examples.tpch`), in DuckDB's texts and in the
specification's wording (``date '…' + interval '…'``, Q15's view), over Parquet exactly as
``tpchgen-cli`` writes it at scale factor 0.1, each equal to DuckDB running the same text:
decimals exact and of DuckDB's types, floats to 1e-9 relative, rows in order where the query
orders them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import sabot_lab as sl
from sabot_lab.examples.tpch import (
    TABLES,
    WORDINGS,
    compare,
    duckdb_answer,
    duckdb_connection,
    generate,
    is_ordered,
    queries,
)


@pytest.fixture(scope="module")
def tpch_sf01(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The eight tables at scale factor 0.1, as ``tpchgen-cli`` writes them."""
    return generate(tmp_path_factory.mktemp("tpch01"), scale=0.1)


@pytest.fixture(scope="module")
def duck(tpch_sf01: Path) -> duckdb.DuckDBPyConnection:
    return duckdb_connection(tpch_sf01)


@pytest.mark.parametrize("wording", WORDINGS)
@pytest.mark.parametrize("number", range(1, 23), ids=lambda n: f"q{n:02d}")
def test_tpch_query_equals_duckdb(
    number: int, wording: str, tpch_sf01: Path, duck: duckdb.DuckDBPyConnection
) -> None:
    script = queries(wording)[number]
    expected = duckdb_answer(script, duck)
    tables = {t: sl.from_parquet(tpch_sf01 / f"{t}.parquet") for t in TABLES}
    got = sl.sql(script, tables).collect()

    assert expected.num_rows > 0
    compare(got, expected, ordered=is_ordered(script))
