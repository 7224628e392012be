"""User aggregates (``@sl.udaf``) refused with errors that name the function, the line and
the fix: at decoration, at plan build (compile failures, state and result types) and while
running (an exception in the user's code); numba is not imported with sabot_lab."""

from __future__ import annotations

import fractions
import math
import subprocess
import sys
from typing import Any

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.udaf import UserAggregateFunction

ROWS = sl.from_pydict({"k": ["a", "b", "a"], "x": [1.0, 2.0, 3.0], "s": ["u", "v", "w"]})


def aggregate(
    accumulate: Any,
    finalize: Any = lambda s: s,
    init: Any = lambda: 0.0,
    return_dtype: str = "float64",
    compile: bool = True,
) -> UserAggregateFunction:
    namespace = {
        "init": staticmethod(init),
        "accumulate": staticmethod(accumulate),
        "merge": staticmethod(lambda a, b: a + b),
        "finalize": staticmethod(finalize),
    }
    return sl.udaf(return_dtype=return_dtype, compile=compile)(type("Agg", (), namespace))


def uses_a_fraction(state: float, x: float) -> float:
    exact = x * 2
    return state + float(fractions.Fraction(exact))


def test_a_compile_failure_names_the_function_line_and_offers_compile_false() -> None:
    agg = aggregate(uses_a_fraction)
    line = uses_a_fraction.__code__.co_firstlineno + 2
    with pytest.raises(sl.PlanError) as info:
        ROWS.group_by("k").agg(agg(sl.col("x")))
    message = str(info.value)
    assert "user aggregate Agg: numba cannot compile accumulate" in message
    assert f"at line {line} of " in message
    assert (
        "test_user_aggregate_errors.py: `return state + float(fractions.Fraction(exact))`"
        in message
    )
    assert "compile=False" in message
    plain = aggregate(uses_a_fraction, compile=False)
    result = ROWS.group_by("k").agg(plain(sl.col("x"))).sort("k").collect()
    assert result.to_pylist() == [{"k": "a", "x": 8.0}, {"k": "b", "x": 4.0}]


def test_a_result_return_dtype_cannot_hold_is_refused_at_plan_build() -> None:
    agg = aggregate(lambda s, x: s + x, return_dtype="int64")
    with pytest.raises(sl.SchemaError, match=r"finalize returns float64, which return_dtype=int64"):
        ROWS.group_by("k").agg(agg(sl.col("x")))
    ok = aggregate(lambda s, x: s + 1, init=lambda: 0, return_dtype="float64")
    assert ROWS.agg(ok(sl.col("x")).alias("n")).collect().to_pylist() == [{"n": 3.0}]


def test_an_integer_state_given_floats_is_refused_rather_than_truncated() -> None:
    agg = aggregate(lambda s, x: s + x, init=lambda: 0)
    with pytest.raises(sl.SchemaError, match=r"accumulate makes the state a float64, but init"):
        ROWS.agg(agg(sl.col("x")))
    plain = aggregate(lambda s, x: s + x / 4, init=lambda: 0, compile=False)
    with pytest.raises(sl.SchemaError, match=r"state element 0 starts as a int64"):
        ROWS.agg(plain(sl.col("x")).alias("t")).collect()


def test_inputs_must_be_numbers_and_match_accumulate() -> None:
    agg = aggregate(lambda s, x: s + x)
    with pytest.raises(sl.SchemaError, match=r"takes numbers and booleans, got string"):
        ROWS.agg(agg(sl.col("s")))
    with pytest.raises(TypeError, match=r"Agg takes 1 input\(s\).*got 2"):
        agg(sl.col("x"), sl.col("x"))
    with pytest.raises(sl.SchemaError, match="column 'y' not found"):
        ROWS.agg(agg("y"))


def test_a_class_without_the_four_functions_or_a_bad_return_dtype_is_refused() -> None:
    class NoMerge:
        @staticmethod
        def init() -> float:
            return 0.0

    with pytest.raises(TypeError, match=r"NoMerge has no accumulate function"):
        sl.udaf(return_dtype="float64")(NoMerge)
    with pytest.raises(TypeError, match=r"return_dtype must be a number type or bool"):
        sl.udaf(return_dtype="string")
    with pytest.raises(sl.SchemaError, match=r"a user aggregate's state holds numbers"):
        aggregate(lambda s, x: s, init=lambda: "a")


def test_an_exception_while_running_names_the_aggregate() -> None:
    agg = aggregate(lambda s, x: s + x, finalize=lambda s: 1.0 / (s - s))
    with pytest.raises(sl.UDFError, match=r"Agg raised ZeroDivisionError in finalize"):
        ROWS.group_by("k").agg(agg(sl.col("x"))).collect()


def test_a_user_aggregate_is_refused_in_over() -> None:
    agg = aggregate(lambda s, x: s + math.fabs(x))
    with pytest.raises(sl.PlanError, match="over"):
        ROWS.with_columns(agg(sl.col("x")).over("k").alias("t")).collect()


def test_a_user_aggregate_renders_as_its_call() -> None:
    agg = aggregate(lambda s, x: s + x)
    expr = agg(sl.col("x") * 2).alias("t")
    assert repr(expr) == 'Agg((col("x") * 2)).alias("t")'
    assert expr.output_field(pa.schema({"x": pa.int32()})) == pa.field("t", pa.float64())


@pytest.mark.slow  # a fresh interpreter
def test_importing_sabot_lab_does_not_import_numba() -> None:
    code = "import sys, sabot_lab; print('numba' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
