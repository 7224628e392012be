"""Dates, times, timestamps (with and without a zone) and intervals against DuckDB computing the
same SQL: ``DATE + INTERVAL`` clamped to month ends, leap years, nulls, negative intervals,
date arithmetic in days, ``EXTRACT``/``DATE_PART``, ``DATE_DIFF``, interval columns from Arrow,
the Stream API's ``dt.offset_by``/``duration``/``dt.epoch``, constant folding into Parquet scans
and the TPC-H specification's wording of its date filters. DuckDB's session zone is UTC, the
zone sabot-lab takes timestamps with a time zone in."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.predicates import to_arrow_filter
from tests.support.reference import assert_same_rows

D = [
    dt.date(2020, 1, 31), dt.date(2019, 1, 31), dt.date(2020, 2, 29), dt.date(1999, 12, 31),
    dt.date(1969, 12, 31), dt.date(1900, 2, 28), None, dt.date(2024, 3, 31), dt.date(2000, 5, 31),
]  # fmt: skip
E = [
    dt.date(2020, 3, 1), None, dt.date(2019, 2, 28), dt.date(2000, 1, 1), dt.date(1970, 1, 1),
    dt.date(1899, 12, 31), dt.date(2000, 1, 1), dt.date(2023, 2, 28), dt.date(2000, 5, 1),
]  # fmt: skip
TS = [
    dt.datetime(2020, 1, 31, 12, 30, 5, 250), None, dt.datetime(2021, 3, 1),
    dt.datetime(1969, 12, 31, 23, 59, 59, 999999), dt.datetime(2024, 2, 29, 23, 0),
    dt.datetime(2000, 1, 31, 0, 0, 1), dt.datetime(1999, 12, 31, 18), dt.datetime(2023, 5, 31, 6),
    dt.datetime(2004, 10, 31, 1, 2, 3),
]  # fmt: skip
MONTH_DAY_NANO = pa.month_day_nano_interval()
IV = [
    pa.MonthDayNano([1, 0, 0]), pa.MonthDayNano([-13, 2, 0]), None,
    pa.MonthDayNano([0, -1, 3_600_000_000_000]), pa.MonthDayNano([12, 0, -1_000]),
    pa.MonthDayNano([0, 0, 0]), pa.MonthDayNano([2, 31, 0]), pa.MonthDayNano([-1, 0, 0]),
    pa.MonthDayNano([0, 400, 86_399_000_000_000]),
]  # fmt: skip


def _table() -> pa.Table:
    return pa.table(
        {
            "rn": pa.array(range(len(D)), pa.int64()),
            "d": pa.array(D, pa.date32()),
            "e": pa.array(E, pa.date32()),
            "d64": pa.array(D, pa.date64()),
            "ts": pa.array(TS, pa.timestamp("us")),
            "ts_s": pa.array(TS, pa.timestamp("us")).cast(pa.timestamp("s"), safe=False),
            "ts_ms": pa.array(TS, pa.timestamp("us")).cast(pa.timestamp("ms"), safe=False),
            "ts_ns": pa.array(TS, pa.timestamp("ns")),
            "tz": pa.array(TS, pa.timestamp("us", tz="Asia/Tokyo")),
            "tm": pa.array([None if t is None else t.time() for t in TS], pa.time64("us")),
            "iv": pa.array(IV, MONTH_DAY_NANO),
            "n": pa.array([1, -1, 366, None, 0, 29, -365, 1000, 7], pa.int32()),
        }
    )


def _duckdb(sql: str, t: pa.Table) -> pa.Table:
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    con.register("t", t)
    return con.sql(sql).to_arrow_table()


def _same_as_duckdb(expression: str, t: pa.Table, check_type: bool = True) -> None:
    sql = f"SELECT rn, {expression} AS out FROM t ORDER BY rn"
    expected = _duckdb(sql, t)
    stream = sl.sql(sql, t=sl.from_arrow(t))
    got = stream.collect()
    assert_same_rows(got, expected, ordered=True)
    if check_type:
        assert got.schema.field("out").type == expected.schema.field("out").type, expression
        assert stream.schema.field("out").type == got.schema.field("out").type, expression


CASES = [
    "d + INTERVAL '1' MONTH",
    "d + INTERVAL 1 MONTH",
    "d - INTERVAL '1' MONTH",
    "d + INTERVAL '3 months'",
    "d + INTERVAL '1' YEAR",
    "d - INTERVAL '90' DAY",
    "d + INTERVAL '1 year 2 months 3 days'",
    "d + INTERVAL 36 HOUR",
    "d + -INTERVAL '25' MONTH",
    "INTERVAL '1' MONTH + d",
    "d + (INTERVAL '1' YEAR + INTERVAL '2' MONTH)",
    "ts + INTERVAL '1' MONTH",
    "ts - INTERVAL '13' MONTH",
    "ts + INTERVAL '1 day 5 hours'",
    "ts - INTERVAL '90' SECOND",
    "ts_s + INTERVAL 1 MONTH",
    "ts_ms - INTERVAL 1 MONTH",
    "ts_ns + INTERVAL 1 MONTH",
    "d64 + INTERVAL 1 MONTH",
    "d + iv",
    "ts - iv",
    "iv + ts",
    "iv + INTERVAL 1 MONTH",
    "d + n",
    "n + d",
    "d - n",
    "d + 5",
    "d - e",
    "d - INTERVAL 1 MONTH < e",
    "d < TIMESTAMP '2020-01-31 00:00:00'",
    "d = TIMESTAMP '2020-01-31 00:00:00'",
    "d <= DATE '1998-12-01' - INTERVAL '90' DAY",
    "CAST(ts AS DATE)",
    "CAST(d AS TIMESTAMP)",
    "CAST(ts AS TIME)",
    "EXTRACT(hour FROM CAST(ts AS TIME))",
    "CAST(d AS TIMESTAMP) + INTERVAL 1 MONTH = d + INTERVAL 1 MONTH",
    "date_part('year', d)",
    "date_part('epoch', ts)",
]
PARTS = ["year", "quarter", "month", "day", "dow", "isodow", "doy", "week", "epoch"]
TIME_PARTS = ["hour", "minute", "second"]
DIFF_UNITS = ["year", "quarter", "month", "week", "day", "hour", "minute", "second",
              "millisecond", "microsecond"]  # fmt: skip


@pytest.mark.parametrize("expression", CASES)
def test_date_and_interval_arithmetic_matches_duckdb(expression: str) -> None:
    _same_as_duckdb(expression, _table())


@pytest.mark.parametrize("column", ["d", "d64", "ts", "ts_s", "ts_ns"])
@pytest.mark.parametrize("part", PARTS + TIME_PARTS)
def test_extract_matches_duckdb(part: str, column: str) -> None:
    _same_as_duckdb(f"EXTRACT({part} FROM {column})", _table())


@pytest.mark.parametrize("part", PARTS + TIME_PARTS)
def test_extract_from_a_timestamp_with_a_zone_is_in_utc(part: str) -> None:
    _same_as_duckdb(f"EXTRACT({part} FROM tz)", _table())


@pytest.mark.parametrize("part", TIME_PARTS)
def test_extract_from_a_time_matches_duckdb(part: str) -> None:
    _same_as_duckdb(f"EXTRACT({part} FROM tm)", _table())


def test_interval_arithmetic_on_timestamps_with_a_zone_is_in_utc() -> None:
    for expression in ("tz + INTERVAL 1 MONTH", "tz - INTERVAL '1 day 3 hours'", "tz + iv"):
        _same_as_duckdb(expression, _table(), check_type=False)  # DuckDB names the zone UTC


@pytest.mark.parametrize("unit", DIFF_UNITS)
def test_date_diff_matches_duckdb(unit: str) -> None:
    t = _table()
    _same_as_duckdb(f"date_diff('{unit}', e, d)", t)
    _same_as_duckdb(f"datediff('{unit}', ts, CAST(e AS TIMESTAMP))", t)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("d + INTERVAL '1 day 02:00:00'", "the interval"),
        ("d + INTERVAL '1.5' MONTH", "the interval"),
        ("d + INTERVAL '1.5' HOUR", "the interval"),
        ("d * INTERVAL 1 DAY", "can only be added to or subtracted from"),
        ("iv < iv", "compare or aggregate the dates"),
        ("d + 1.5", "does not accept"),
    ],
)
def test_intervals_without_an_exact_meaning_are_refused_where_the_plan_is_built(
    expression: str, message: str
) -> None:
    with pytest.raises(sl.SabotError, match=message):
        sl.sql(f"SELECT {expression} AS out FROM t", t=sl.from_arrow(_table()))


# ----------------------------------------------------------------------------- property test

UNITS = ["YEAR", "MONTH", "DAY", "HOUR", "MINUTE", "SECOND"]
DATES = st.one_of(
    st.dates(dt.date(1890, 1, 1), dt.date(2110, 12, 31)),
    st.builds(  # month ends, leap days
        lambda y, m: dt.date(y + (m == 12), m % 12 + 1, 1) - dt.timedelta(days=1),
        st.integers(1890, 2110),
        st.integers(1, 12),
    ),
)
TIMES = st.builds(
    dt.datetime.combine, DATES, st.times().map(lambda t: t.replace(microsecond=t.microsecond))
)


@st.composite
def _rows(draw: st.DrawFn) -> pa.Table:
    n = draw(st.integers(0, 12))

    def column(values: st.SearchStrategy[object]) -> list[object]:
        return [draw(st.one_of(st.none(), values)) for _ in range(n)]

    return pa.table(
        {
            "rn": pa.array(range(n), pa.int64()),
            "d": pa.array(column(DATES), pa.date32()),
            "e": pa.array(column(DATES), pa.date32()),
            "ts": pa.array(column(TIMES), pa.timestamp("us")),
            "n": pa.array(column(st.integers(-40_000, 40_000)), pa.int32()),
        }
    )


def _interval() -> st.SearchStrategy[str]:
    one = st.builds(
        lambda k, unit: f"INTERVAL '{k}' {unit}", st.integers(-30, 30), st.sampled_from(UNITS)
    )
    text = st.builds(
        lambda y, m, d, h: f"INTERVAL '{y} years {m} months {d} days {h} hours'",
        *(st.integers(-30, 30) for _ in range(4)),
    )
    return st.one_of(one, text, st.builds(lambda i: f"-{i}", one))


def _expressions() -> st.SearchStrategy[str]:
    moment = st.sampled_from(["d", "ts", "CAST(e AS TIMESTAMP)"])
    sign = st.sampled_from(["+", "-"])
    shifted = st.builds(lambda m, s, i: f"({m} {s} {i})", moment, sign, _interval())
    return st.one_of(
        shifted,
        st.builds(lambda s: f"d {s} n", sign),
        st.just("d - e"),
        st.builds(lambda p, m: f"EXTRACT({p} FROM {m})", st.sampled_from(PARTS), shifted),
        st.builds(lambda u, m: f"date_diff('{u}', d, {m})", st.sampled_from(DIFF_UNITS), shifted),
        st.builds(lambda m, c: f"{m} {c} ts", shifted, st.sampled_from(["<", "=", ">="])),
    )


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(table=_rows(), expression=_expressions())
def test_random_date_and_interval_expressions_match_duckdb(
    table: pa.Table, expression: str
) -> None:
    _same_as_duckdb(expression, table)


# ----------------------------------------------------------------------------- Stream API


def test_stream_api_offsets_durations_and_epochs_match_duckdb() -> None:
    t = _table()
    got = (
        sl.from_arrow(t)
        .select(
            "rn",
            a=col("d").dt.offset_by("1mo"),
            b=col("ts").dt.offset_by("-1y2mo3d4h"),
            c=col("ts") + sl.duration(days=3, hours=12),
            e=col("d") + sl.lit(dt.timedelta(days=2)),
            f=col("ts").dt.epoch("ms"),
            g=col("d").dt.epoch("d"),
            h=col("ts").dt.epoch("s"),
            i=col("d").dt.offset_by("3mo").dt.year(),
        )
        .sort("rn")
        .collect()
    )
    expected = _duckdb(
        "SELECT rn, d + INTERVAL 1 MONTH AS a, "
        "ts - INTERVAL '1 year 2 months 3 days 4 hours' AS b, "
        "ts + INTERVAL '3 days 12 hours' AS c, d + INTERVAL 2 DAY AS e, "
        "CAST(floor(epoch_us(ts) / 1000) AS BIGINT) AS f, "  # rounded down, as Polars does
        "CAST(floor(epoch(d) / 86400) AS BIGINT) AS g, CAST(floor(epoch(ts)) AS BIGINT) AS h, "
        "year(d + INTERVAL 3 MONTH) AS i FROM t ORDER BY rn",
        t,
    )
    assert_same_rows(got, expected, ordered=True)


def test_offsets_are_read_as_polars_writes_them() -> None:
    with pytest.raises(ValueError, match="cannot read the offset '3 months'"):
        col("d").dt.offset_by("3 months")
    with pytest.raises(ValueError, match="time_unit"):
        col("d").dt.epoch("h")


def test_interval_expressions_round_trip_through_json_and_sql() -> None:
    e = (col("d").dt.offset_by("1mo") - sl.lit(pa.MonthDayNano([0, 3, 0]))).dt.epoch("us")
    assert sl.Expr.from_dict(e.to_dict()).equals(e)
    t = _table()
    expected = _duckdb(f"SELECT rn, {e.to_sql()} AS out FROM t ORDER BY rn", t)
    got = sl.from_arrow(t).select("rn", out=e).sort("rn").collect()
    assert_same_rows(got, expected, ordered=True)


# ----------------------------------------------------------------------------- plans


def test_a_date_minus_an_interval_folds_into_the_parquet_scan_filter(tmp_path: Path) -> None:
    path = tmp_path / "dates.parquet"
    pq.write_table(_table().select(["rn", "d"]), path)
    query = "SELECT rn FROM t WHERE d <= DATE '2000-03-01' - INTERVAL '90' DAY (3)"
    stream = sl.sql(query, t=sl.from_parquet(path))
    scan = next(line for line in stream.explain().splitlines() if "source parquet" in line)
    assert "filter=" in scan and "datetime.datetime(1999, 12, 2, 0, 0)" in scan, scan
    folded = col("d") <= dt.datetime(1999, 12, 2)
    assert str(to_arrow_filter(folded, pa.schema([("d", pa.date32())]))) == "(d <= 1999-12-02)"
    expected = _duckdb(query.replace(" (3)", ""), _table())
    assert_same_rows(stream.collect(), expected)


def test_constant_dates_and_intervals_fill_every_row_without_the_optimizer() -> None:
    query = "SELECT rn, DATE '2024-01-31' + INTERVAL 1 MONTH - INTERVAL '2' DAY AS out FROM t"
    got = sl.sql(query, t=sl.from_arrow(_table())).collect(optimize=False)
    assert_same_rows(got, _duckdb(query, _table()))


SPEC_QUERIES = {
    "q1": """SELECT l_returnflag, l_linestatus, sum(l_quantity) AS sum_qty,
        sum(l_extendedprice * (1 - l_discount)) AS sum_disc_price, count(*) AS count_order
        FROM lineitem WHERE l_shipdate <= date '1998-12-01' - interval '90' day (3)
        GROUP BY l_returnflag, l_linestatus ORDER BY l_returnflag, l_linestatus""",
    "q4": """SELECT count(*) FROM orders WHERE o_orderdate >= date '1993-07-01'
        AND o_orderdate < date '1993-07-01' + interval '3' month""",
    "q6": """SELECT sum(l_extendedprice * l_discount) AS revenue FROM lineitem
        WHERE l_shipdate >= date '1994-01-01' AND l_shipdate < date '1994-01-01' + interval '1' year
        AND l_discount BETWEEN .06 - 0.01 AND .06 + 0.01 AND l_quantity < 24""",
    "q10": """SELECT count(*), min(o_orderdate), max(o_orderdate) FROM orders
        WHERE o_orderdate >= date '1993-10-01' AND o_orderdate < date '1993-10-01' + interval '3' month""",
    "q14": """SELECT count(*) FROM lineitem WHERE l_shipdate >= date '1995-09-01'
        AND l_shipdate < date '1995-09-01' + interval '1' month""",
    "q9": """SELECT extract(year from o_orderdate) AS o_year, count(*) AS n FROM orders
        GROUP BY o_year ORDER BY o_year""",
}


@pytest.mark.slow  # tpchgen-cli writes the data once per session
@pytest.mark.parametrize("name", SPEC_QUERIES)
def test_tpch_specification_date_filters_match_duckdb(name: str, tpch_dir: Path) -> None:
    text = SPEC_QUERIES[name]
    tables = {p.stem: p for p in tpch_dir.glob("*.parquet")}
    con = duckdb.connect()
    for table, path in tables.items():
        con.execute(f"CREATE VIEW {table} AS SELECT * FROM '{path}'")
    expected = con.sql(text.replace(" (3)", "")).to_arrow_table()  # DuckDB has no precision
    got = sl.sql(text, {t: sl.from_parquet(p) for t, p in tables.items()}).collect()
    assert_same_rows(got, expected, ordered="ORDER BY" in text)
