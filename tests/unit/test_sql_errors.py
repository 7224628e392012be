"""sl.sql() errors: each names the fault, points at its line and column, and says the fix."""

from __future__ import annotations

import datetime as dt
import pickle

import pyarrow as pa
import pytest

import sabot_lab as sl

QUOTES = pa.table({"sid": [1, 2], "price": [10.0, 20.0], "size": [1, 2], "name": ["a", "b"]})
SECS = pa.table({"id": [1, 2], "sector": ["tech", "energy"], "price": [1.0, 2.0]})
BIDS = pa.table({"t": [dt.datetime(2026, 1, 1)], "auction": [1], "price": [5]})


def fails(query: str) -> sl.SQLError:
    with pytest.raises(sl.SQLError) as info:
        sl.sql(query, quotes=QUOTES, secs=SECS, bids=BIDS)
    return info.value


def test_a_syntax_error_points_at_the_token() -> None:
    err = fails("SELECT price\nFROM quotes\nWHERE price 3")
    assert (err.line, err.column, err.message) == (3, 13, "Invalid expression / Unexpected token")
    assert str(err).endswith("\n  WHERE price 3\n              ^")


def test_an_incomplete_clause_is_named() -> None:
    err = fails("SELECT price FROM quotes WHERE")
    assert (err.line, err.column, err.message) == (
        1, 26, "incomplete WHERE: something is missing here",
    )  # fmt: skip


def test_an_unterminated_string_points_at_its_quote() -> None:
    err = fails("SELECT price FROM quotes\nWHERE name = 'abc")
    assert (err.line, err.column) == (2, 14)
    assert "Missing '" in err.message


def test_an_unknown_table_is_named_with_the_closest_and_the_available_ones() -> None:
    err = fails("SELECT * FROM quotes JOIN sec ON quotes.sid = sec.id")
    assert (err.line, err.column) == (1, 27)
    assert err.message == (
        "unknown table 'sec'. Did you mean 'secs'? Available tables: bids, quotes, secs"
    )


def test_an_unknown_column_is_named_with_the_closest_and_the_available_ones() -> None:
    err = fails("SELECT sid,\n       pricee * size FROM quotes")
    assert (err.line, err.column) == (2, 8)
    assert err.message == (
        "column 'pricee' not found. Did you mean 'price'? Available columns: sid, price, size, name"
    )
    assert "\n         pricee * size FROM quotes\n         ^" in str(err)


def test_an_unknown_qualified_column_names_its_table() -> None:
    err = fails("SELECT s.sectr FROM quotes q JOIN secs s ON q.sid = s.id")
    assert (err.line, err.column) == (1, 8)
    assert err.message == (
        "column 'sectr' not found in s. Did you mean 'sector'? Available columns: id, sector, price"
    )


def test_an_unknown_table_alias_lists_the_ones_in_scope() -> None:
    err = fails("SELECT x.price FROM quotes q JOIN secs s ON q.sid = s.id")
    assert err.message == "unknown table or alias 'x'; this query reads q, s"


def test_an_ambiguous_column_asks_to_qualify_it() -> None:
    err = fails("SELECT price FROM quotes JOIN secs ON quotes.sid = secs.id")
    assert (err.line, err.column) == (1, 8)
    assert err.message == (
        "column reference 'price' is ambiguous: it could be quotes.price, secs.price; qualify it"
    )


def test_a_column_neither_grouped_nor_aggregated() -> None:
    err = fails("SELECT name, price FROM quotes GROUP BY name")
    assert (err.line, err.column) == (1, 14)
    assert err.message.startswith(
        "column 'price' must appear in GROUP BY or be used in an aggregate"
    )


def test_an_aggregate_in_where_points_to_having() -> None:
    err = fails("SELECT name FROM quotes WHERE SUM(price) > 1")
    assert (err.line, err.column) == (1, 31)
    assert err.message == "aggregate SUM(price) is not allowed in WHERE; filter groups with HAVING"


def test_a_type_error_names_the_clause_and_the_operand_types() -> None:
    err = fails("SELECT sid FROM quotes WHERE name > 3")
    assert (err.line, err.column) == (1, 30)
    assert err.message == (
        "WHERE: cannot evaluate (col(\"name\") > 3): '>' does not accept (string, int64)"
    )


@pytest.mark.parametrize(
    ("query", "construct", "column"),
    [
        ("SELECT price, MEDIAN(size) OVER () FROM quotes", "the window function MEDIAN(size)", 15),
        (
            "SELECT * FROM quotes FULL OUTER JOIN secs ON quotes.sid = secs.id AND price > 1",
            "the condition price > 1 in the ON of a FULL JOIN",
            71,
        ),
        ("SELECT sid FROM quotes EXCEPT ALL SELECT id FROM secs", "EXCEPT ALL", 8),
        ("SELECT sid FROM quotes INTERSECT ALL SELECT id FROM secs", "INTERSECT ALL", 8),
        ("SELECT ROUND(price, size) FROM quotes", "ROUND with an argument that is not", 21),
        ("SELECT SUBSTRING(name, sid, 2) FROM quotes", "SUBSTRING with an argument", 24),
        ("SELECT LEFT(name, 'a') FROM quotes", "LEFT with an argument that is not a whole", 19),
        ("SELECT REPLACE(name, name, 'x') FROM quotes", "REPLACE with an argument", 22),
        ("SELECT TRIM(name, name) FROM quotes", "TRIM with an argument", 19),
        ("SELECT LOG(price, 8) FROM quotes", "LOG with a base that is not a positive constant", 12),
        ("SELECT FLOOR(price, 1) FROM quotes", "FLOOR with a second argument", 8),
        ("SELECT EXTRACT(millennium FROM price) FROM quotes", "the unit MILLENNIUM in EXTRACT", 8),
        ("SELECT DATE_TRUNC('decade', price) FROM quotes", "the unit DECADE in", 8),
        ("SELECT 1 + 1", "a SELECT without FROM", 8),
        ("SELECT sid FROM quotes ORDER BY (SELECT MAX(id) FROM secs)", "a subquery here", 41),
        ("SELECT levenshtein(name, 'a') FROM quotes", "the function levenshtein()", 8),
        ("SELECT CAST(price AS BLOB) FROM quotes", "CAST to BLOB", 8),
        ("SELECT DISTINCT ON (name) name FROM quotes", "DISTINCT ON", 21),
        (
            "SELECT name FROM quotes GROUP BY name QUALIFY COUNT(*) > 1",
            "QUALIFY in a grouped query",
            47,
        ),
        ("SELECT name, SUM(price) FROM quotes GROUP BY ROLLUP (name)", "'ROLLUP (name)'", 54),
        ("DELETE FROM quotes WHERE price > 1", "the DELETE statement", 13),
        ("SELECT name LIKE 'a!%' ESCAPE '!' FROM quotes", "'name LIKE 'a!%' ESCAPE '!''", 8),
        (
            "SELECT * FROM quotes q LEFT JOIN secs s ON q.price > s.id",
            "the left join needs an equality",
            34,
        ),
        (
            "SELECT * FROM quotes q LEFT JOIN secs s ON q.sid = s.id AND q.price > 1",
            "the condition q.price > 1 in the ON of a LEFT JOIN",
            61,
        ),
        ("SELECT MODE(price) FROM quotes", "the aggregate function MODE", 8),
        ("SELECT * FROM read_csv('q.csv')", "the table function", 15),
        (
            "SELECT sid FROM quotes WHERE sid NOT IN (SELECT id FROM secs WHERE secs.id > quotes.sid)",
            "NOT IN (SELECT ...) correlated by the condition secs.id > quotes.sid (only by",
            68,
        ),
    ],
)
def test_an_unsupported_construct_is_named(query: str, construct: str, column: int) -> None:
    err = fails(query)
    assert construct in err.message
    assert err.column == column and err.line == 1


def test_sql_error_is_a_plan_error_and_pickles_with_its_position() -> None:
    err = fails("SELECT nope FROM quotes")
    assert isinstance(err, sl.PlanError)
    again = pickle.loads(pickle.dumps(err))
    assert (again.line, again.column, str(again)) == (err.line, err.column, str(err))


# ----------------------------------------------------------------------------- windows

TUMBLE = "TABLE(TUMBLE(TABLE bids, DESCRIPTOR(t), INTERVAL '10' SECONDS))"


def test_window_rows_must_be_grouped_by_the_window_bounds() -> None:
    err = fails(f"SELECT auction, COUNT(*) FROM {TUMBLE} GROUP BY auction")
    assert (err.line, err.column) == (1, 104)  # the GROUP BY keys
    assert err.message == (
        "the rows of TUMBLE(...) are aggregated per window: GROUP BY window_start, window_end "
        "(and any other keys)"
    )
    assert "aggregated per window" in fails(f"SELECT * FROM {TUMBLE}").message


def test_window_bounds_are_unknown_before_grouping() -> None:
    err = fails(
        f"SELECT window_start, COUNT(*) FROM {TUMBLE} WHERE window_start > TIMESTAMP '2026-01-01' "
        "GROUP BY window_start, window_end"
    )
    assert err.message.startswith("window_start is known once the windows are grouped")


def test_session_keys_must_match_its_partition() -> None:
    err = fails(
        "SELECT auction, window_start, COUNT(*) FROM TABLE(SESSION(TABLE bids, DESCRIPTOR(t), "
        "INTERVAL '5' SECONDS)) GROUP BY auction, window_start, window_end"
    )
    assert (
        "PARTITION BY (nothing) must name the same columns as the other GROUP BY keys (auction)"
        in err.message
    )


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (
            "HOP(TABLE bids, DESCRIPTOR(t), INTERVAL '20' SECONDS, INTERVAL '10' SECONDS)",
            "HOP: a sliding window's slide (20s) must not exceed its size (10s)",
        ),
        (
            "TUMBLE(TABLE bids, t, INTERVAL '10' SECONDS)",
            "TUMBLE takes its time column as DESCRIPTOR(column), got t",
        ),
        ("TUMBLE(TABLE bids, DESCRIPTOR(t))", "TUMBLE is missing its size"),
        (
            "TUMBLE(TABLE bids, DESCRIPTOR(t), INTERVAL '1' MONTH)",
            "the interval INTERVAL '1' MONTH",
        ),
        (
            "TUMBLE(TABLE bids, DESCRIPTOR(auction), INTERVAL '1' SECOND)",
            "window needs an event-time column of timestamp type; 'auction' is int64",
        ),
        (
            "TUMBLE(TABLE bid, DESCRIPTOR(t), INTERVAL '1' SECOND)",
            "unknown table 'bid'. Did you mean 'bids'?",
        ),
    ],
)
def test_bad_window_arguments(call: str, message: str) -> None:
    err = fails(f"SELECT COUNT(*) FROM TABLE({call}) GROUP BY window_start, window_end")
    assert message in err.message
    assert err.line == 1 and err.column is not None


def test_a_table_of_an_unknown_kind_is_refused() -> None:
    with pytest.raises(
        sl.PlanError, match="table 'rows' is a list; pass a Stream, a pyarrow Table"
    ):
        sl.sql("SELECT * FROM rows", rows=[1, 2])
