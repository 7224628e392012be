"""Flink SQL's definitions refused clearly: an unknown connector or option names the supported
ones, a Java function is refused, an INSERT INTO that cannot run says what to do instead."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.logical import Watermark

SINK = "CREATE TABLE out (x BIGINT) WITH ('connector' = 'blackhole');"


def _error(script: str, ctx: sl.SQLContext | None = None) -> sl.SQLError:
    with pytest.raises(sl.SQLError) as caught:
        (ctx or sl.SQLContext()).execute(script)
    return caught.value


def test_an_unknown_connector_names_the_supported_ones() -> None:
    err = _error("CREATE TABLE t (x INT) WITH ('connector' = 'jdbcx', 'url' = 'x')")
    assert str(err).startswith(
        "line 1, column 30: unknown connector 'jdbcx' in CREATE TABLE t; sabot-lab's are kafka, "
        "filesystem, nexmark, datagen, jdbc, blackhole, print"
    )


def test_an_unknown_option_names_the_connectors_options() -> None:
    err = _error(
        "CREATE TABLE t (x INT) WITH (\n  'connector' = 'kafka', 'topic' = 't',\n"
        "  'properties.bootstrap.servers' = 'h:9092', 'scan.topic-partition-discovery' = '1')"
    )
    assert (err.line, err.column) == (3, 46)
    assert (
        "the kafka connector has no option 'scan.topic-partition-discovery'; it takes topic, "
        in str(err)
    )
    assert "scan.startup.mode" in str(err)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ("'connector' = 'kafka', 'topic' = 't'", "the kafka connector needs the option 'properties.bootstrap.servers'"),
        ("'connector' = 'kafka', 'topic' = 't', 'properties.bootstrap.servers' = 'h:1', 'format' = 'raw'",
         "'format' = 'raw' is not supported by the kafka connector; use one of json, avro"),
        ("'connector' = 'filesystem', 'path' = '/x'", "the filesystem connector needs the option 'format'"),
        ("'connector' = 'nexmark', 'events.num' = '${EVENTS_NUM}'", "option 'events.num' = '${EVENTS_NUM}' holds a placeholder"),
        ("'connector' = 'nexmark', 'bid.proportion' = '10'", "'bid.proportion' = '10' (the generator's proportions are person 1, auction 3, bid 46) is not supported"),
        ("'connector' = 'nexmark', 'first-event.rate' = '10', 'next-event.rate' = '20'", "a next-event.rate other than the first-event.rate"),
        ("'connector' = 'nexmark', 'max-emit-speed' = 'slow'", "'max-emit-speed' = 'slow': use 'true' or 'false'"),
        ("'format' = 'json'", "CREATE TABLE t needs 'connector' = ... in WITH: one of kafka, filesystem"),
        ("'connector.type' = 'filesystem', 'connector.path' = '/x', 'format.type' = 'orc'", "'format' = 'orc' is not supported by the filesystem connector"),
    ],
)  # fmt: skip
def test_missing_and_bad_options_are_named(options: str, message: str) -> None:
    assert message in str(_error(f"CREATE TABLE t (x INT) WITH ({options})"))


def test_bad_columns_and_watermarks_are_named() -> None:
    base = "WITH ('connector' = 'blackhole')"
    err = _error(f"CREATE TABLE t (x INT, WATERMARK FOR ts AS ts - INTERVAL '1' SECOND) {base}")
    assert "WATERMARK FOR names 'ts', not a column of the table (x)" in str(err)
    err = _error(f"CREATE TABLE t (ts TIMESTAMP(3), WATERMARK FOR ts AS ts + 1) {base}")
    assert "the watermark ts + 1 (write WATERMARK FOR ts AS ts - INTERVAL 'n' SECOND" in str(err)
    err = _error(f"CREATE TABLE t (x INT, y AS z + 1) {base}")
    assert "column 'z' not found" in str(err)
    assert "needs WITH ('connector' = ...)" in str(_error("CREATE TABLE t (x INT)"))
    assert "is declared twice" in str(_error(f"CREATE TABLE t (x INT, X BIGINT) {base}"))


def test_a_table_name_is_taken_once_unless_if_not_exists() -> None:
    ctx = sl.SQLContext(t=pa.table({"x": [1]}))
    assert "a table or view named 't' exists" in str(_error(SINK.replace("out", "t"), ctx))
    ctx.execute(SINK.replace("CREATE TABLE", "CREATE TEMPORARY TABLE"))
    ctx.execute(SINK.replace("CREATE TABLE", "CREATE TABLE IF NOT EXISTS"))
    assert "a table or view named 'out' exists" in str(_error(SINK, ctx))
    ctx.execute("DROP TABLE out; DROP TABLE IF EXISTS out")
    assert ctx.tables() == ["t"]
    assert "there is no table 't' made by CREATE TABLE" in str(_error("DROP TABLE t", ctx))


def test_sinks_are_written_not_read_and_sources_read_not_written() -> None:
    ctx = sl.SQLContext()
    ctx.execute(SINK + "CREATE TABLE gen (event_type INT) WITH ('connector' = 'nexmark')")
    assert "table 'out' is a blackhole sink: INSERT INTO writes it" in str(
        _error("SELECT * FROM out", ctx)
    )
    assert "table 'gen' is a nexmark source: queries read it, INSERT INTO cannot write it" in str(
        _error("INSERT INTO gen SELECT 1 AS x", ctx)
    )


def test_insert_into_names_what_does_not_fit() -> None:
    ctx = sl.SQLContext(t=pa.table({"x": [1], "y": [2]}))
    ctx.execute(SINK + "CREATE VIEW v AS SELECT x FROM t")
    err = _error("INSERT INTO out SELECT x, y FROM t", ctx)
    assert str(err).startswith(
        "line 1, column 24: INSERT INTO out: the query gives 2 columns (x, y) and the table "
        "takes 1 (x)"
    )
    assert "'v' is a view. Such tables: out" in str(_error("INSERT INTO v SELECT 1", ctx))
    assert "'t' is a table given as a Python object" in str(_error("INSERT INTO t SELECT 1", ctx))
    assert "'nope' is no table" in str(_error("INSERT INTO nope SELECT 1", ctx))
    assert "'z' is not a column of the table (x)" in str(
        _error("INSERT INTO out (z) SELECT 1", ctx)
    )
    assert "INSERT OVERWRITE is not supported" in str(_error("INSERT OVERWRITE out SELECT 1", ctx))
    assert ctx.execute("INSERT INTO out (x) SELECT y FROM t") == 1


def test_an_unbounded_insert_needs_a_cluster() -> None:
    ctx = sl.SQLContext()
    err = _error(
        "CREATE TABLE gen (event_type INT) WITH ('connector' = 'nexmark');" + SINK
        + "INSERT INTO out SELECT event_type FROM gen",
        ctx,
    )  # fmt: skip
    assert "INSERT INTO out reads an unbounded stream, so running it here would never end: " in str(
        err
    )
    assert "cluster=" in str(err)


def test_sl_sql_refuses_insert_into_before_running_it(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(sl.SQLError, match=r"run INSERT INTO with sl.SQLContext\(\).execute"):
        sl.sql(
            "CREATE TABLE out (x BIGINT) WITH ('connector' = 'print'); "
            "INSERT INTO out SELECT x FROM t",
            t=pa.table({"x": [1]}),
        )
    assert capsys.readouterr().out == ""


def test_sinks_a_cluster_cannot_take_are_refused_before_submitting(tmp_path: Path) -> None:
    ctx = sl.SQLContext(t=pa.table({"x": [1]}))
    ctx.execute(
        "CREATE TABLE shown (x BIGINT) WITH ('connector' = 'print');"
        f"CREATE TABLE lines (x BIGINT) WITH ('connector' = 'filesystem', 'path' = '{tmp_path}', "
        "'format' = 'csv')"
    )
    for table in ("shown", "lines"):
        with pytest.raises(sl.SQLError, match=f"INSERT INTO {table} on a cluster: a job writes"):
            ctx.execute(f"INSERT INTO {table} SELECT x FROM t", cluster=object())  # type: ignore[arg-type]


def test_create_function_takes_python_functions_made_with_udf() -> None:
    ctx = sl.SQLContext(t=pa.table({"s": ["cc", None, "abc"]}))
    ctx.execute(
        "CREATE TEMPORARY FUNCTION count_char AS 'tests.support.sql_functions.count_char' LANGUAGE PYTHON"
    )
    result = ctx.execute("SELECT count_char(s, 'c') AS n FROM t")
    assert isinstance(result, sl.Stream)
    assert result.collect().to_pydict() == {"n": [2, None, 1]}
    ctx.execute("CREATE FUNCTION IF NOT EXISTS count_char AS 'tests.support.sql_functions.nothing'")
    assert "function 'count_char' exists already" in str(
        _error("CREATE FUNCTION count_char AS 'tests.support.sql_functions.count_char'", ctx)
    )


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("'com.github.nexmark.flink.udf.CountChar'", "is not a Python module's function (a Java class?); sabot-lab runs Python functions: write it with @sl.udf"),
        ("'tests.support.sql_functions.count_char' LANGUAGE JAVA", "(LANGUAGE JAVA); sabot-lab runs Python functions"),
        ("'tests.support.sql_functions.undecorated'", "is a function, not a function made with @sl.udf(return_dtype=...) or @sl.udaf(...)"),
        ("'tests.support.no_such_module.f'", "cannot import module 'tests.support.no_such_module'"),
        ("'tests.support.sql_functions.nothing'", "module 'tests.support.sql_functions' has no function 'nothing'"),
        ("'count_char'", "'count_char' names no module: write 'module.function'"),
    ],
)  # fmt: skip
def test_create_function_refuses_what_it_cannot_call(target: str, message: str) -> None:
    assert message in str(_error(f"CREATE FUNCTION f AS {target}"))


def test_create_function_refuses_a_builtin_name() -> None:
    err = _error("CREATE FUNCTION sqrt AS 'tests.support.sql_functions.count_char'")
    assert "SQL already has a function of that name" in str(err)


def test_cumulate_sizes_must_be_whole_steps() -> None:
    t = sl.from_pydict({"t": [pa.scalar(0, pa.timestamp("ms")).as_py()], "x": [1]})
    with pytest.raises(
        sl.SQLError, match=r"CUMULATE's size \(10s\) must be a whole number of steps \(3s\)"
    ):
        sl.sql(
            "SELECT COUNT(*) FROM TABLE(CUMULATE(TABLE t, DESCRIPTOR(t), INTERVAL '3' SECOND, "
            "INTERVAL '10' SECOND)) GROUP BY window_start, window_end",
            t=t,
        )


def test_a_row_column_must_be_declared_as_the_source_gives_it() -> None:
    ctx = sl.SQLContext()
    ctx.execute(
        "CREATE TABLE gen (event_type INT, bid ROW<auction BIGINT, price BIGINT>) "
        "WITH ('connector' = 'nexmark', 'events.num' = '10')"
    )
    err = _error("SELECT bid.price FROM gen", ctx)
    assert (
        "table 'gen': column 'bid' is declared struct<auction: int64, price: int64>, and its "
        in str(err)
    )
    assert "declare it as the source gives it" in str(err)


@pytest.mark.parametrize("events", [None, 10])
def test_processing_time_windows_of_an_unbounded_stream_are_cut_on_the_wall_clock(
    events: int | None,
) -> None:
    # unbounded: the clock stamps p_time where the windows are cut; bounded: grouped at the end
    bids = sl.nexmark(events=events).bids
    windows = sl.sql(
        "WITH B AS (SELECT *, PROCTIME() AS p_time FROM bids) "
        "SELECT bidder, COUNT(*) FROM TABLE(TUMBLE(TABLE B, DESCRIPTOR(p_time), INTERVAL '10' SECOND)) "
        "GROUP BY bidder, window_start, window_end",
        bids=bids,
    )
    graph = windows.graph
    clocks = [n.op.column for n in graph if isinstance(n.op, Watermark) and n.op.processing_time]
    assert clocks == ([] if events else ["p_time"])


def test_a_jdbc_table_takes_a_postgresql_url_and_a_plain_table_name() -> None:
    err = _error(
        "CREATE TABLE t (x INT) WITH ('connector' = 'jdbc', 'url' = 'jdbc:mysql://h/d', "
        "'table-name' = 't')"
    )
    assert "'url' = 'jdbc:mysql://h/d': the jdbc connector writes PostgreSQL" in str(err)
    err = _error(
        "CREATE TABLE t (x INT) WITH ('connector' = 'jdbc', 'url' = 'jdbc:postgresql://h/d', "
        "'table-name' = 'a;b')"
    )
    assert "'table-name': table must be a plain (schema.)name, got 'a;b'" in str(err)
    err = _error("CREATE TABLE t (x INT) WITH ('connector' = 'jdbc', 'table-name' = 't')")
    assert "the jdbc connector needs the option 'url'" in str(err)


def test_a_jdbc_table_is_written_as_a_postgres_sink_upserting_on_its_primary_key() -> None:
    from sabot_lab.sql.catalog import Catalog
    from sabot_lab.sql.script import run_script

    catalog = Catalog({})
    run_script(
        "CREATE TABLE t (k BIGINT, v VARCHAR, PRIMARY KEY (k) NOT ENFORCED) WITH ("
        "'connector' = 'jdbc', 'url' = 'jdbc:postgresql://h:5432/d?sslmode=disable', "
        "'table-name' = 'totals', 'username' = 'u', 'password' = 'p w')",
        catalog,
    )
    sink = catalog.connectors["t"].commit_sink()
    assert isinstance(sink, sl.PostgresSink)
    assert (sink.url, sink.table, sink.key) == (
        "postgresql://h:5432/d?sslmode=disable&user=u&password=p+w", "totals", ["k"],
    )  # fmt: skip
