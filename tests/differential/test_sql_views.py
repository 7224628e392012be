"""SQL scripts with views against DuckDB running the same script statement by statement over
the same random tables (with nulls): sl.sql() gives the last query's rows, or an SQLError where
DuckDB raises; sl.SQLContext keeps views between scripts as a DuckDB connection does."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings

import sabot_lab as sl
from tests.support.reference import assert_same_rows, collect_all_ways
from tests.support.strategies import tables

RIGHT = pa.schema([("i", pa.int64()), ("j", pa.int64()), ("s", pa.string())])
SETTINGS = settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def duckdb_with(**inputs: pa.Table) -> duckdb.DuckDBPyConnection:
    """A new DuckDB database holding ``inputs`` as tables (not views: a view cannot take a
    table's name, as in sl.sql())."""
    con = duckdb.connect()
    for name, table in inputs.items():
        con.register("_input", table)
        con.execute(f"CREATE TABLE {name} AS SELECT * FROM _input")
        con.unregister("_input")
    return con


def duckdb_script(con: duckdb.DuckDBPyConnection, script: str) -> pa.Table | None:
    """Run ``script``'s statements in order; the rows of the last query, None without one."""
    result = None
    for statement in duckdb.extract_statements(script):
        rows = con.sql(statement.query)
        if statement.type == duckdb.StatementType.SELECT and rows is not None:
            result = rows.to_arrow_table()
    return result


def positional(table: pa.Table) -> pa.Table:
    """Columns renamed by position: DuckDB may repeat a name that sabot-lab makes unique."""
    return table.rename_columns([f"c{k}" for k in range(table.num_columns)])


def check(script: str, ordered: bool = False, **inputs: pa.Table) -> None:
    expected = duckdb_script(duckdb_with(**inputs), script)
    assert expected is not None
    stream = sl.sql(script, **inputs)
    for result in collect_all_ways(stream):
        assert_same_rows(positional(result), positional(expected), ordered=ordered)


# (id, script over t (columns i j f s b t) and r (i j s), its last query's row order is defined)
SCRIPTS: list[tuple[str, str, bool]] = [
    (
        "view_then_query",
        "CREATE VIEW pos AS SELECT i, j FROM t WHERE j > 0;\n"
        "SELECT i, SUM(j) AS s, COUNT(*) AS n FROM pos GROUP BY i",
        False,
    ),
    (
        "q15_shape",  # the TPC-H specification's Q15, the scalar subquery written as a join
        "create view revenue0 (supplier_no, total_revenue) as\n"
        "  select i, sum(j * i) from t where t >= timestamp '2024-06-01' group by i;\n"
        "select r.i, r.s, total_revenue\n"
        "from r, revenue0, (select max(total_revenue) as top from revenue0) as best\n"
        "where r.i = supplier_no and total_revenue = best.top\n"
        "order by r.i, r.s;\n"
        "drop view revenue0;",
        False,
    ),
    (
        "view_of_a_view_sees_its_replacement",
        "CREATE VIEW a AS SELECT i, j FROM t;\n"
        "CREATE VIEW b AS SELECT i, j + 1 AS k FROM a;\n"
        "CREATE OR REPLACE VIEW a AS SELECT i, -j AS j FROM t WHERE i > 0;\n"
        "SELECT * FROM b",
        False,
    ),
    (
        "temp_view_and_if_not_exists",
        "CREATE TEMP VIEW v AS SELECT s FROM r;\n"
        "CREATE VIEW IF NOT EXISTS v AS SELECT i FROM t;\n"
        "SELECT * FROM v",
        False,
    ),
    (
        "names_ignore_case_and_a_cte_hides_a_view",
        "CREATE VIEW Big AS SELECT * FROM t WHERE j > 100;\n"
        "WITH big AS (SELECT i FROM r) SELECT * FROM big;\n"
        "SELECT BIG.i, big.s FROM big",
        False,
    ),
    (
        "fewer_names_than_columns",
        "CREATE VIEW v (x) AS SELECT i, j, s FROM r; SELECT x, j, s FROM v WHERE x IS NOT NULL",
        False,
    ),
    (
        "set_operation_view_joined_to_itself",
        "CREATE VIEW keys AS (SELECT i FROM t UNION SELECT i FROM r);\n"
        "SELECT a.i FROM keys AS a JOIN keys AS b ON a.i = b.i + 1",
        False,
    ),
    (
        "last_query_wins_and_later_drops_run",
        "CREATE VIEW v AS SELECT i FROM r; SELECT * FROM t;\n"
        "SELECT i, COUNT(*) AS n FROM v GROUP BY i ORDER BY i NULLS FIRST;\n"
        "DROP VIEW v; DROP VIEW IF EXISTS nothing",
        True,
    ),
]


@pytest.mark.parametrize(
    ("script", "ordered"), [q[1:] for q in SCRIPTS], ids=[q[0] for q in SCRIPTS]
)
@SETTINGS
@given(left=tables(max_rows=30), right=tables(max_rows=12, schema=RIGHT))
def test_script_equals_duckdb(script: str, ordered: bool, left: pa.Table, right: pa.Table) -> None:
    check(script, ordered, t=left, r=right)


T = pa.table({"i": [1, 2, None], "j": [10, -5, 7]})
R = pa.table({"i": [1, 3], "s": ["a", None]})

# (id, script that DuckDB refuses, (line, column) sl.sql() points at, words of its message)
REFUSED: list[tuple[str, str, tuple[int, int], str]] = [
    ("view_over_a_table", "CREATE VIEW t AS SELECT * FROM r", (1, 13), "a table named 't'"),
    (
        "replacing_a_table",
        "SELECT 1 AS x FROM r;\nCREATE OR REPLACE VIEW T AS SELECT * FROM r",
        (2, 24),
        "a table named 't'",
    ),
    (
        "view_twice",
        "CREATE VIEW v AS SELECT * FROM r;\nCREATE VIEW v AS SELECT * FROM t",
        (2, 13),
        "view 'v' already exists",
    ),
    (
        "unknown_table_at_create",
        "CREATE VIEW v AS\n  SELECT * FROM nope;\nSELECT 1 AS x FROM t",
        (2, 17),
        "unknown table 'nope'",
    ),
    (
        "unknown_column_at_create",
        "CREATE VIEW v AS SELECT i, zz FROM t",
        (1, 28),
        "column 'zz' not found",
    ),
    (
        "more_names_than_columns",
        "CREATE VIEW w (x, y, z) AS SELECT i, j FROM t",
        (1, 13),
        "names 3 columns but its query has 2",
    ),
    ("drop_missing_view", "DROP VIEW v", (1, 11), "there is no view 'v'"),
    ("drop_a_table", "DROP VIEW t", (1, 11), "'t' is a table, not a view"),
    (
        "read_after_drop",
        "CREATE VIEW v AS SELECT * FROM t;\nDROP VIEW v;\nSELECT * FROM v",
        (3, 15),
        "unknown table 'v'",
    ),
    (
        "view_whose_view_was_dropped",
        "CREATE VIEW a AS SELECT * FROM t;\nCREATE VIEW b AS SELECT * FROM a;\n"
        "DROP VIEW a;\nSELECT * FROM b",
        (2, 32),
        "unknown table 'a'",
    ),
    (
        "view_reading_itself",
        "CREATE VIEW a AS SELECT * FROM t;\nCREATE VIEW b AS SELECT * FROM a;\n"
        "CREATE OR REPLACE VIEW a AS SELECT * FROM b;\nSELECT * FROM a",
        (2, 32),
        "view 'a' reads itself (a → b → a)",
    ),
]


@pytest.mark.parametrize(
    ("script", "where", "words"), [q[1:] for q in REFUSED], ids=[q[0] for q in REFUSED]
)
def test_what_duckdb_refuses_is_an_error_at_its_place(
    script: str, where: tuple[int, int], words: str
) -> None:
    with pytest.raises(duckdb.Error):
        duckdb_script(duckdb_with(t=T, r=R), f"{script};\nSELECT * FROM t")
    with pytest.raises(sl.SQLError) as info:
        sl.sql(f"{script};\nSELECT * FROM t", t=T, r=R)
    assert (info.value.line, info.value.column) == where
    assert words in info.value.message


def test_a_script_without_a_query_is_an_error() -> None:
    with pytest.raises(sl.SQLError, match="the script has no query"):
        sl.sql("CREATE VIEW v AS SELECT * FROM t; DROP VIEW v", t=T)


def test_create_table_as_is_refused_naming_create_view() -> None:
    with pytest.raises(sl.SQLError, match=r"CREATE TABLE \.\.\. AS is not supported") as info:
        sl.sql("SELECT * FROM t;\nCREATE TABLE c AS SELECT * FROM t", t=T)
    assert (info.value.line, info.value.column) == (2, 14)
    assert "CREATE VIEW" in info.value.message


def test_views_last_as_long_as_the_call() -> None:
    sl.sql("CREATE VIEW v AS SELECT * FROM t; SELECT * FROM v", t=T)
    with pytest.raises(sl.SQLError, match="unknown table 'v'"):
        sl.sql("SELECT * FROM v", t=T)


def test_a_context_keeps_views_between_scripts_as_a_duckdb_connection() -> None:
    con = duckdb_with(t=T, r=R)
    ctx = sl.SQLContext(t=T, r=R)
    steps = [
        "CREATE VIEW a AS SELECT i, j * 2 AS j2 FROM t",
        "CREATE VIEW b (k, total) AS SELECT i, SUM(j2) FROM a GROUP BY i",
        "SELECT b.k, b.total, r.s FROM b LEFT JOIN r ON b.k = r.i",
        "CREATE OR REPLACE VIEW a AS SELECT i, j AS j2 FROM t WHERE j > 0",
        "SELECT * FROM b",
        "DROP VIEW b; SELECT * FROM a",
    ]
    for step in steps:
        expected = duckdb_script(con, step)
        stream = ctx.execute(step)
        if expected is None:
            assert stream is None
        else:
            assert stream is not None
            assert_same_rows(positional(stream.collect()), positional(expected))
    assert ctx.tables() == ["a", "r", "t"]
    with pytest.raises(sl.SQLError, match="unknown table 'b'"):
        ctx.execute("SELECT * FROM b")


def test_a_view_reads_the_table_registered_under_its_name_now() -> None:
    ctx = sl.SQLContext(t=T)
    ctx.execute("CREATE VIEW v AS SELECT SUM(j) AS total FROM t")
    ctx.register("t", pa.table({"i": [1], "j": [100]}))
    stream = ctx.execute("SELECT * FROM v")
    assert stream is not None and stream.collect().to_pydict() == {"total": [100]}
