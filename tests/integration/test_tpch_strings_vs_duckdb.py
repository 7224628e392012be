"""String-heavy queries over TPC-H Parquet exactly as ``tpchgen-cli`` writes it (``string_view``
text, non-null fields with ``PARQUET:field_id`` metadata), written with the Stream API and in
SQL, on the non-decimal columns, against DuckDB over the same files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.examples.tpch import TABLES
from tests.support.reference import assert_same_rows, collect_all_ways, duckdb_table


def scan(tpch: Path, name: str) -> sl.Stream:
    return sl.from_parquet(tpch / f"{name}.parquet")


def europe_suppliers(t: Callable[[str], sl.Stream]) -> sl.Stream:
    return (
        t("supplier")
        .join(t("nation"), left_on="s_nationkey", right_on="n_nationkey")
        .join(
            t("region").filter(col("r_name") == "EUROPE"),
            left_on="n_regionkey",
            right_on="r_regionkey",
        )
        .group_by("n_name")
        .agg(suppliers=sl.count(), first_name=col("s_name").min())
    )


# (id, the query over t(name), DuckDB's SQL over the files, ordered)
STREAMS: list[tuple[str, Callable[[Callable[[str], sl.Stream]], sl.Stream], str, bool]] = [
    (
        "q1_flags",
        lambda t: (
            t("lineitem")
            .group_by("l_returnflag", "l_linestatus")
            .agg(n=sl.count(), qty_rows=col("l_orderkey").n_unique())
            .sort(["l_returnflag", "l_linestatus"])
        ),
        "SELECT l_returnflag, l_linestatus, count(*) AS n, count(DISTINCT l_orderkey) AS qty_rows "
        "FROM lineitem GROUP BY ALL ORDER BY ALL",
        True,
    ),
    (
        "europe_suppliers",
        europe_suppliers,
        "SELECT n_name, count(*) AS suppliers, min(s_name) AS first_name FROM supplier "
        "JOIN nation ON s_nationkey = n_nationkey JOIN region ON n_regionkey = r_regionkey "
        "WHERE r_name = 'EUROPE' GROUP BY n_name",
        False,
    ),
    (
        "ship_modes",
        lambda t: (
            t("lineitem")
            .filter(
                col("l_shipmode").is_in(["MAIL", "SHIP"]),
                col("l_shipinstruct").str.contains("PERSON"),
            )
            .select("l_orderkey", "l_shipmode", "l_shipinstruct")
            .distinct()
        ),
        "SELECT DISTINCT l_orderkey, l_shipmode, l_shipinstruct FROM lineitem "
        "WHERE l_shipmode IN ('MAIL', 'SHIP') AND contains(l_shipinstruct, 'PERSON')",
        False,
    ),
    (
        "customers_by_segment_and_nation",
        lambda t: (
            t("customer")
            .join(t("nation"), left_on="c_nationkey", right_on="n_nationkey")
            .filter(col("n_name").str.starts_with("U"))
            .group_by("c_mktsegment", "n_name")
            .agg(n=sl.count(), top=col("c_name").max())
        ),
        "SELECT c_mktsegment, n_name, count(*) AS n, max(c_name) AS top FROM customer "
        "JOIN nation ON c_nationkey = n_nationkey WHERE starts_with(n_name, 'U') GROUP BY ALL",
        False,
    ),
    (
        "parts_by_brand",
        lambda t: (
            t("part")
            .filter(col("p_type").str.ends_with("BRASS"), col("p_container") != "JUMBO PKG")
            .select("p_brand", "p_type", "p_container")
            .sort(["p_brand", "p_type", "p_container"])
            .limit(20)
        ),
        "SELECT p_brand, p_type, p_container FROM part WHERE ends_with(p_type, 'BRASS') "
        "AND p_container <> 'JUMBO PKG' ORDER BY ALL LIMIT 20",
        True,
    ),
]

SQL = [
    "SELECT l_returnflag, l_linestatus, count(*) AS count_order FROM lineitem "
    "GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus",
    "SELECT n.n_name, r.r_name FROM nation n JOIN region r ON n.n_regionkey = r.r_regionkey "
    "WHERE r.r_name IN ('ASIA', 'EUROPE') AND n.n_name LIKE '%A%' ORDER BY n.n_name",
    "SELECT s_name, n_name FROM supplier JOIN nation ON s_nationkey = n_nationkey "
    "WHERE n_name = 'GERMANY' ORDER BY s_name",
    "SELECT o_orderpriority, count(*) AS n FROM orders WHERE o_orderstatus <> 'F' "
    "GROUP BY o_orderpriority ORDER BY o_orderpriority",
]


def duckdb_over_files(sql: str, tpch: Path) -> pa.Table:
    """DuckDB's answer to ``sql`` with each TPC-H table a view over its file."""
    con = duckdb.connect()
    for name in TABLES:
        con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet('{tpch}/{name}.parquet')")
    return con.sql(sql).to_arrow_table()


def test_the_generated_files_are_as_other_tools_write_them(tpch_dir: Path) -> None:
    field = pq.read_schema(tpch_dir / "nation.parquet").field("n_name")
    assert field.type == pa.string_view() and not field.nullable
    assert field.metadata == {b"PARQUET:field_id": b"2"}


@pytest.mark.parametrize(("case", "build", "sql", "ordered"), STREAMS, ids=[c[0] for c in STREAMS])
def test_stream_queries_over_tpch_files_match_duckdb(
    tpch_dir: Path,
    case: str,
    build: Callable[[Callable[[str], sl.Stream]], sl.Stream],
    sql: str,
    ordered: bool,
) -> None:
    stream = build(lambda name: scan(tpch_dir, name))
    expected = duckdb_over_files(sql, tpch_dir)
    for result in collect_all_ways(stream, engine_settings=[{"batch_size": 997}]):
        assert_same_rows(result, expected, ordered=ordered)


@pytest.mark.parametrize("sql", SQL, ids=range(len(SQL)))
def test_sql_over_tpch_files_matches_duckdb(tpch_dir: Path, sql: str) -> None:
    tables = {n: scan(tpch_dir, n) for n in ("lineitem", "nation", "region", "supplier", "orders")}
    result = sl.sql(sql, **tables).collect()
    assert_same_rows(result, duckdb_over_files(sql, tpch_dir), ordered=True)


def test_a_tpch_union_with_an_arrow_table_and_a_parquet_sink(
    tpch_dir: Path, tmp_path: Path
) -> None:
    """Non-null fields with field metadata meet nullable fields without it."""
    extra = pa.table({"r_regionkey": [9], "r_name": ["ATLANTIS"], "r_comment": [None]})
    stream = scan(tpch_dir, "region").union(sl.from_arrow(extra)).filter(col("r_name") != "ASIA")
    stream.to_parquet(tmp_path / "regions.parquet")
    expected = duckdb_table(
        f"SELECT * FROM (SELECT * FROM read_parquet('{tpch_dir}/region.parquet') UNION ALL "
        "SELECT * FROM extra) WHERE r_name <> 'ASIA'",
        extra=extra,
    )
    assert_same_rows(pq.read_table(tmp_path / "regions.parquet"), expected)


def test_a_join_and_group_over_tpch_files_on_a_two_agent_cluster(
    tpch_dir: Path, tmp_path: Path
) -> None:
    """The shuffle (Arrow IPC through Flight) carries the string keys of view-typed files."""
    stream = europe_suppliers(lambda name: scan(tpch_dir, name))
    expected = duckdb_over_files(STREAMS[1][2], tpch_dir)
    with sl.LocalCluster(agents=2, slots=2, workdir=tmp_path / "cluster") as cluster:
        result = stream.submit(cluster, name="tpch strings", partitions=2).result(timeout=120)
    assert_same_rows(result, expected)
