"""Work a script's runs share: its text is parsed once (each run plans copies of the trees),
and a generator table builds the stream its queries read once, anew when the functions its
computed columns call change."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from sqlglot import exp

import sabot_lab as sl
from sabot_lab.sql.parse import parse_script

GENERATOR = (
    "CREATE TABLE g (event_type INT, shifted AS shift(event_type)) "
    "WITH ('connector' = 'nexmark', 'events.num' = '500')"
)


def test_each_parse_of_a_script_gives_trees_of_its_own() -> None:
    text = "SELECT a FROM t WHERE a > 1;\nSELECT b FROM u"
    first = parse_script(text)
    first[0].find(exp.Column).set("this", exp.to_identifier("changed"))
    again = parse_script(text)
    assert [s.sql() for s in again] == ["SELECT a FROM t WHERE a > 1", "SELECT b FROM u"]
    assert first[0] is not again[0]


def test_an_error_of_a_script_run_again_points_at_the_same_place() -> None:
    ctx = sl.SQLContext(t=pa.table({"price": [1]}))
    script = "SELECT price FROM t;\nSELECT price, UPPER(pricee) FROM t"
    errors = []
    for _ in range(2):
        try:
            ctx.execute(script)
        except sl.SQLError as err:
            errors.append((err.line, err.column, str(err)))
    assert len(errors) == 2 and errors[0] == errors[1] and errors[0][:2] == (2, 21)


def test_a_generator_tables_computed_column_calls_the_function_registered_now() -> None:
    ctx = sl.SQLContext()
    ctx.register_function("shift", sl.udf(lambda x: x + 10, return_dtype="int64"))
    ctx.execute(GENERATOR)
    types = ctx.execute("SELECT event_type FROM g").collect()["event_type"].cast(pa.int64())
    first = ctx.execute("SELECT shifted FROM g").collect()["shifted"]
    assert first.to_pylist() == pc.add(types, 10).to_pylist()
    ctx.register_function("shift", sl.udf(lambda x: x * 100, return_dtype="int64"))
    second = ctx.execute("SELECT shifted FROM g").collect()["shifted"]
    assert second.to_pylist() == pc.multiply(types, 100).to_pylist()
