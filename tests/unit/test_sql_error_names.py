"""sl.sql() names a function it refuses as the user wrote it (not as the parser calls it:
``strftime`` is sqlglot's ``TimeToStr``, ``date_trunc`` its ``TimestampTrunc``...) and points at
the call."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.sql.parse import position

QUOTES = pa.table({
    "sid": [1, 2], "price": [10.0, 20.0], "size": [1, 2], "name": ["a", "b"],
    "t": [dt.datetime(2026, 1, 1), dt.datetime(2026, 1, 2)],
})  # fmt: skip

# (the call as written in "SELECT <call> FROM quotes", what the message says of it)
CALLS: list[tuple[str, str]] = [
    ("levenshtein(name, 'a')", "the function levenshtein()"),
    ("Jaro_Winkler_Similarity(name, 'a')", "the function Jaro_Winkler_Similarity()"),
    ("md5(name)", "the function md5()"),
    ("regexp_matches(name, 'a')", "the function regexp_matches()"),
    ("string_split(name, ',')", "the function string_split()"),
    ("list_value(sid, size)", "the function list_value()"),
    ('"Hash"(name)', 'the function "Hash"()'),
    ("array_agg(price)", "the aggregate function array_agg"),
    ("Mode(price)", "the aggregate function Mode"),
    ("substr(name, sid)", "substr with an argument that is not a whole number constant"),
    ("Substring(name FROM 2 FOR size)", "Substring with an argument that is not a whole number"),
    ("Strftime(t, name)", "Strftime with an argument that is not a string constant"),
    ("try_strptime(name, name)", "try_strptime with an argument that is not a string"),
    ("strptime(name, name)", "strptime with an argument that is not a string constant"),
    ("Round(price, size)", "Round with an argument that is not a whole number constant"),
    ("Floor(price, 1)", "Floor with a second argument"),
    ("ceiling(price, 1)", "ceiling with a second argument"),
    ("log(size, price)", "log with a base that is not a positive constant"),
    ("concat_ws(name, name)", "concat_ws with an argument that is not a string constant"),
    ("Trim(name, name)", "Trim with an argument that is not a string constant"),
    ("replace(name, name, 'x')", "replace with an argument that is not a string constant"),
    ("Left(name, size)", "Left with an argument that is not a whole number constant"),
    ("date_trunc('decade', t)", "the unit DECADE in date_trunc"),
    ("Extract(epoch FROM t)", "the unit EPOCH in Extract"),
    ("sum(DISTINCT price)", "sum(DISTINCT ...)"),
    ("stddev_samp(DISTINCT price)", "stddev_samp(DISTINCT ...)"),
    ("Median(*)", "Median without a value"),
    ("quantile_cont(price, size)", "quantile_cont with a quantile that is not a constant"),
    (
        "percentile_cont(0.5) within group (order by price, size)",
        "'percentile_cont(0.5) WITHIN GROUP (ORDER BY ...)'",
    ),
]


def refusal(query: str) -> sl.SQLError:
    with pytest.raises(sl.SQLError) as info:
        sl.sql(query, quotes=QUOTES)
    return info.value


def assert_points_into(err: sl.SQLError, query: str, call: str) -> None:
    """The error's line and column fall inside the call's text."""
    start = query.index(call)
    assert err.line is not None and err.column is not None
    first, last = position(query, start), position(query, start + len(call) - 1)
    assert first <= (err.line, err.column) <= last, (err.line, err.column, first, last)


@pytest.mark.parametrize(("call", "named"), CALLS, ids=[c[0] for c in CALLS])
def test_a_refused_call_is_named_as_written_and_pointed_at(call: str, named: str) -> None:
    query = f"SELECT\n  {call} AS x\nFROM quotes"
    err = refusal(query)
    assert named in err.message
    assert_points_into(err, query, call)


def test_an_unknown_table_function_is_quoted_as_written() -> None:
    query = "SELECT * FROM read_Csv('q.csv')"
    err = refusal(query)
    assert "the table function read_Csv('q.csv')" in err.message
    assert_points_into(err, query, "read_Csv('q.csv')")


def test_an_aggregate_in_where_is_quoted_as_written() -> None:
    query = "SELECT sid FROM quotes WHERE Sum(price) > 1"
    err = refusal(query)
    assert err.message == "aggregate Sum(price) is not allowed in WHERE; filter groups with HAVING"


@pytest.mark.parametrize(
    ("query", "message"),
    [
        (
            "SELECT name FROM quotes GROUP BY Max(price)",
            "GROUP BY cannot hold the aggregate Max(price)",
        ),
        (
            "SELECT Sum(max(price)) FROM quotes",
            "aggregate max(price) is not allowed in the argument of Sum(max(price))",
        ),
        ("SELECT avg(name) FROM quotes", "avg(name): cannot evaluate"),
    ],
)
def test_a_misused_aggregate_is_quoted_as_written(query: str, message: str) -> None:
    assert refusal(query).message.startswith(message)


def test_a_refusal_in_a_script_points_at_its_line_in_the_whole_script() -> None:
    query = "CREATE VIEW q AS SELECT * FROM quotes;\nSELECT sid FROM q;\nSELECT md5(name) FROM q"
    err = refusal(query)
    assert (err.line, err.column, err.message) == (
        3, 8, "the function md5() is not supported by sl.sql()",
    )  # fmt: skip
