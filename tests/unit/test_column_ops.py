"""Column operations: drop, fill_null, drop_nulls, lenient casts, date parsing and the
comparison with None; their errors name what was wrong and the fix."""

from __future__ import annotations

import datetime as dt
import statistics
import warnings

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.expr import Expr
from tests.support.running import run_to_end

TABLE = pa.table(
    {
        "i": pa.array([1, None, 3], pa.int32()),
        "f": [None, 2.5, 3.5],
        "s": ["a", None, "c"],
        "b": [None, True, False],
        "d": [dt.date(2024, 1, 1), None, dt.date(2024, 1, 3)],
    }
)


def test_drop_removes_the_named_columns_and_keeps_the_order() -> None:
    s = sl.from_arrow(TABLE)
    assert s.drop("f").columns == ["i", "s", "b", "d"]
    assert s.drop(["i", "s"], "d").collect().to_pydict() == TABLE.select(["f", "b"]).to_pydict()


def test_drop_of_an_unknown_column_names_it_and_the_available_ones() -> None:
    s = sl.from_arrow(TABLE)
    with pytest.raises(
        sl.SchemaError, match=r"column 'ff' not found\. Did you mean 'f'\?.*i, f, s"
    ):
        s.drop("ff")
    assert s.drop("ff", "f", strict=False).columns == ["i", "s", "b", "d"]
    with pytest.raises(sl.SchemaError, match="every column"):
        s.drop(*TABLE.column_names)
    with pytest.raises(TypeError, match="column names"):
        s.drop(col("f"))  # type: ignore[arg-type]


def test_fill_null_fills_the_columns_whose_type_takes_the_value() -> None:
    s = sl.from_arrow(TABLE)
    assert s.fill_null(0).collect().to_pydict() == {
        "i": [1, 0, 3],
        "f": [0.0, 2.5, 3.5],
        "s": ["a", None, "c"],
        "b": [None, True, False],
        "d": [dt.date(2024, 1, 1), None, dt.date(2024, 1, 3)],
    }
    out = s.fill_null(9.5).fill_null("?").fill_null(False).fill_null(dt.date(2000, 1, 1)).collect()
    assert out.schema == s.schema  # the columns keep their types
    assert out.to_pydict() == {
        "i": [1, None, 3],
        "f": [9.5, 2.5, 3.5],
        "s": ["a", "?", "c"],
        "b": [False, True, False],
        "d": [dt.date(2024, 1, 1), dt.date(2000, 1, 1), dt.date(2024, 1, 3)],
    }
    assert s.fill_null(2**40).collect()["i"].to_pylist() == [1, None, 3]  # too big for int32
    with pytest.raises(TypeError, match="with_columns"):
        s.fill_null(col("f"))


def test_drop_nulls_keeps_the_rows_without_nulls_in_the_subset() -> None:
    s = sl.from_arrow(TABLE)
    assert s.drop_nulls().collect()["i"].to_pylist() == [3]
    assert s.drop_nulls("i").collect()["i"].to_pylist() == [1, 3]
    assert s.drop_nulls(["s", "b"]).collect()["s"].to_pylist() == ["c"]
    with pytest.raises(sl.SchemaError, match="column 'x' not found"):
        s.drop_nulls("x")


def test_comparing_with_none_warns_and_points_to_is_null() -> None:
    with pytest.warns(UserWarning, match=r'col\("x"\)\.is_null\(\)'):
        eq = col("x") == None  # noqa: E711
    with pytest.warns(UserWarning, match=r'col\("x"\)\.is_not_null\(\)'):
        ne = col("x") != None  # noqa: E711
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert isinstance(col("x") == col("y"), Expr)
        assert isinstance(col("x") == 0, Expr)
    s = sl.from_pydict({"x": [1, None]})
    assert s.filter(eq).collect().num_rows == 0  # SQL: a comparison with NULL is NULL
    assert s.filter(ne).collect().num_rows == 0
    assert s.filter(col("x").is_null()).collect().num_rows == 1


def test_abs_keeps_the_type_and_overflow_is_an_error() -> None:
    t = pa.table({"x": pa.array([-3, 4, None, -128], pa.int8())})
    s = sl.from_arrow(t)
    assert s.select(col("x").abs()).schema.field("x").type == pa.int8()
    with pytest.raises(sl.ComputeError, match="overflow"):
        s.select(col("x").abs()).collect()
    assert s.limit(3).select(col("x").abs()).collect()["x"].to_pylist() == [3, 4, None]


def test_a_failing_strict_cast_names_the_column_the_value_and_the_fix() -> None:
    s = sl.from_pydict({"zip": ["02139", "1o001", None]})
    with pytest.raises(sl.ComputeError) as info:
        s.select(col("zip").cast("int32")).collect()
    message = str(info.value)
    assert 'col("zip")' in message and "'1o001'" in message and "strict=False" in message
    out = s.select(col("zip").cast("int32", strict=False)).collect()
    assert out["zip"].to_pylist() == [2139, None, None]


def test_lenient_casts_round_trip_through_json_and_render() -> None:
    e = col("x").cast("int64", strict=False)
    assert Expr.from_dict(e.to_dict()).equals(e)
    assert repr(e) == 'col("x").cast("int64", strict=False)'
    assert e.to_sql() == 'TRY_CAST("x" AS BIGINT)'
    assert col("x").cast("int64").to_dict() == {
        "op": "cast",
        "args": [{"op": "col", "params": {"name": "x"}}],
        "params": {"dtype": "int64"},
    }  # a strict cast is stored as before


def test_date_parsing_errors_name_the_string_and_the_fix() -> None:
    s = sl.from_pydict({"d": ["2024-05-17", "17.05.2024"]})
    with pytest.raises(sl.ComputeError, match=r"'17\.05\.2024' does not match.*strict=False"):
        s.select(col("d").str.to_date("%Y-%m-%d")).collect()
    lenient = s.select(col("d").str.to_date("%Y-%m-%d", strict=False)).collect()
    assert lenient["d"].to_pylist() == [dt.date(2024, 5, 17), None]
    iso = s.limit(1).select(col("d").str.to_date()).collect()  # no format: ISO 8601
    assert iso["d"].to_pylist() == [dt.date(2024, 5, 17)]
    with pytest.raises(sl.SchemaError, match="date32"):
        col("d").str.strptime("int64", "%Y")
    with pytest.raises(sl.SchemaError, match=r"str\.strptime takes strings"):
        sl.from_pydict({"n": [1]}).select(col("n").str.to_date("%Y"))
    with pytest.raises(sl.SchemaError, match=r"dt\.strftime takes dates"):
        sl.from_pydict({"n": [1]}).select(col("n").dt.strftime("%Y"))


def test_quantile_and_ddof_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="from 0 to 1"):
        col("x").quantile(1.5)
    with pytest.raises(ValueError, match="'nearest', 'higher'"):
        col("x").quantile(0.5, interpolation="cubic")
    with pytest.raises(TypeError, match="ddof"):
        col("x").std(ddof=-1)
    with pytest.raises(sl.SchemaError, match="std takes numbers"):
        sl.from_pydict({"s": ["a"]}).agg(col("s").std())


def test_order_statistics_over_an_unbounded_stream_are_refused_and_spreads_run() -> None:
    def chunk(i: int) -> pa.Table | None:
        return None if i >= 3 else pa.table({"k": [i % 2, 1], "x": [float(i), 2.0]})

    for refused in (col("x").median(), col("x").quantile(0.9)):
        with pytest.raises(sl.PlanError, match=r"(median|quantile).*unbounded.*window"):
            sl.from_generator(chunk).group_by("k").agg(refused)
    updates = run_to_end(sl.from_generator(chunk).group_by("k").agg(sd=col("x").std())).table
    latest = {row["k"]: row["sd"] for row in updates.to_pylist()}  # the last update wins
    assert latest[0] == pytest.approx(statistics.stdev([0.0, 2.0]), rel=1e-12)
    assert latest[1] == pytest.approx(statistics.stdev([2.0, 1.0, 2.0, 2.0]), rel=1e-12)
