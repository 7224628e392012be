"""``@sl.udf``: errors at plan build, null handling, the compile cache, plans carrying the
function, and the optimizer leaving non-deterministic functions where they are."""

from __future__ import annotations

import importlib.util
import json
import random
import statistics
import sys
from pathlib import Path
from typing import Any

import cloudpickle
import numba
import numpy as np
import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.kernels.function_cache import cached
from sabot_lab.kernels.udf_compile import compile_scalar, nopython
from sabot_lab.optimizer import RewriteTrace, push_down_filters, simplify_predicates
from tests.support.user_functions import UDFS, price


def smooth(x: float) -> float:
    total = x
    return statistics.mean([total, 1.0])  # numba has no statistics module


def test_a_function_numba_cannot_compile_fails_at_plan_build_naming_the_line_and_the_fix() -> None:
    stream = sl.from_pydict({"x": [1.0, 2.0]})
    with pytest.raises(sl.UDFCompileError) as err:
        stream.select(sl.udf(smooth, return_dtype="float64")(col("x")))
    message = str(err.value)
    assert "'smooth'" in message and "for (float64)" in message
    assert "Unknown attribute 'mean' of type module 'statistics'" in message
    assert "line 3 of the function: `return statistics.mean([total, 1.0])" in message
    assert "compile=False" in message
    slow = sl.udf(smooth, return_dtype="float64", compile=False)
    assert stream.select(slow(col("x"))).collect().to_pydict() == {"x": [1.0, 1.5]}


def test_a_result_type_that_return_dtype_cannot_hold_fails_at_plan_build() -> None:
    halve = sl.udf(lambda x: x / 2, return_dtype="int64")
    with pytest.raises(
        sl.SchemaError, match=r"returns float64 for \(int64\), but its return_dtype is int64"
    ):
        sl.from_pydict({"x": [1]}).select(halve(col("x")))
    widen = sl.udf(lambda x: x * 2, return_dtype="float64")  # an integer fits a float column
    assert sl.from_pydict({"x": [1]}).select(widen(col("x"))).collect().to_pydict() == {"x": [2.0]}


def test_compiled_functions_refuse_what_they_cannot_take_and_the_options_that_cannot_work() -> None:
    upper = sl.udf(lambda s: s.upper(), return_dtype="string", vectorized=True)
    with pytest.raises(sl.UDFCompileError, match=r"takes string as argument 1.*compile=False"):
        sl.from_pydict({"s": ["a"]}).select(upper(col("s")))
    first = sl.udf(lambda xs: xs[0], return_dtype="int64")
    with pytest.raises(sl.UDFCompileError, match=r"takes list<item: int64> as argument 1"):
        sl.from_pydict({"xs": [[1]]}).select(first(col("xs")))
    with pytest.raises(sl.SchemaError, match=r"null_handling='call'.*compile=False"):
        sl.udf(lambda x: x, return_dtype="int64", null_handling="call")
    with pytest.raises(sl.SchemaError, match="needs return_dtype="):
        sl.udf(lambda x: x)


def test_null_handling_call_hands_none_to_a_plain_python_function() -> None:
    def describe(x: int | None) -> str:
        return "missing" if x is None else f"#{x}"

    called = sl.udf(describe, return_dtype="string", compile=False, null_handling="call")
    propagated = sl.udf(describe, return_dtype="string", compile=False)
    s = sl.from_pydict({"x": [1, None]})
    out = s.select(called(col("x")).alias("c"), propagated(col("x")).alias("p")).collect()
    assert out.to_pydict() == {"c": ["#1", "missing"], "p": ["#1", None]}


def test_a_function_raising_while_running_is_a_udf_error_with_the_users_frame() -> None:
    def ratio(a: int, b: int) -> int:
        return a // b

    s = sl.from_pydict({"a": [4, 1], "b": [2, 0]}).select(
        sl.udf(ratio, return_dtype="int64")(col("a"), col("b"))
    )
    with pytest.raises(sl.UDFError, match="user function 'ratio' raised ZeroDivisionError"):
        s.collect()
    wrong = sl.udf(lambda x: x[:1], return_dtype="float64", vectorized=True)
    with pytest.raises(sl.UDFError, match=r"returned shape \(1,\) for 2 rows"):
        sl.from_pydict({"x": [1.0, 2.0]}).select(wrong(col("x"))).collect()


def test_a_function_compiles_once_per_process_for_each_argument_types() -> None:
    f64, i64 = np.dtype("float64"), np.dtype("int64")
    assert compile_scalar(price, [f64, i64]) is compile_scalar(price, [f64, i64])
    assert compile_scalar(price, [f64, i64]) is not compile_scalar(price, [f64, np.dtype("int32")])
    assert nopython(price) is nopython(price)
    plan = sl.from_pydict({"f": [1.0], "i": [2]}).select(UDFS["price"](col("f"), col("i")))
    rebuilt = sl.JobGraph.from_json(plan.graph.to_json())  # the same payload: the same object
    node = next(n for n in rebuilt if n.operator_type.value == "select")
    assert node.op.exprs[0].function() is UDFS["price"].function


def test_a_copy_of_a_function_shipped_by_value_loads_the_machine_code_kept_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A function defined in a file compiles once per host: the copy a plan carries to the
    JobManager and each agent (by value, as for Nexmark q14's ``count_char``) loads the
    machine code its first compile kept, and computes the same."""
    source = tmp_path / "shipped_udfs.py"
    source.write_text(
        "import sabot_lab as sl\n\n\n"
        "@sl.udf(return_dtype='int64')\n"
        "def collatz_steps(n):\n"
        "    steps = 0\n"
        "    while n > 1:\n"
        "        n = n // 2 if n % 2 == 0 else 3 * n + 1\n"
        "        steps += 1\n"
        "    return steps\n"
    )
    spec = importlib.util.spec_from_file_location("shipped_udfs", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setitem(sys.modules, "shipped_udfs", module)  # (importable, as on every agent)
    cloudpickle.register_pickle_by_value(module)  # (as a notebook's functions travel)
    monkeypatch.setattr(numba.core.config, "CACHE_DIR", str(tmp_path / "cache"))
    built = module.collatz_steps.function
    assert built.output_type([pa.int64()]) == pa.int64()
    shipped = cloudpickle.loads(cloudpickle.dumps(built))
    assert shipped.fn.__code__.co_filename == "<dynamic-code>"
    assert shipped.output_type([pa.int64()]) == pa.int64()

    def hits_and_misses(fn: Any) -> tuple[int, int]:
        stats = nopython(fn).stats
        return sum(stats.cache_hits.values()), sum(stats.cache_misses.values())

    assert hits_and_misses(built.fn) == (0, 1)  # compiled, and kept
    assert hits_and_misses(shipped.fn) == (1, 0)  # loaded
    n = pa.array([1, 6, 7, None, 27])
    expected = [None if v is None else built.fn(v) for v in n.to_pylist()]
    assert shipped.apply([n], len(n)).to_pylist() == expected == [0, 8, 16, None, 111]

    for kept in (tmp_path / "cache").rglob("*.nbc"):
        kept.write_bytes(b"not numba's")  # kept code that cannot be loaded: compiled again
    again = cloudpickle.loads(cloudpickle.dumps(built.fn))
    cloudpickle.unregister_pickle_by_value(module)
    assert nopython(again)(27) == 111
    assert hits_and_misses(again) == (0, 1)


def test_a_function_whose_module_cannot_be_found_is_compiled_not_kept() -> None:
    """numba's kept code names the function's module, to be imported where it is loaded: a
    function run by ``exec`` (a README sample, a generated function) has none, so its code
    is not kept (another process loading it failed: "No module named '<dynamic>'")."""
    namespace: dict[str, Any] = {"__name__": "__not_a_module__"}
    exec("def hyp(a, b):\n    return (a * a + b * b) ** 0.5\n", namespace)
    assert not cached(numba.njit(namespace["hyp"]))
    assert nopython(namespace["hyp"])(3.0, 4.0) == 5.0


def test_the_function_travels_with_the_plan_json() -> None:
    offset = 7  # a closure: pickled by value, as a notebook's functions are

    @sl.udf(return_dtype="int64")
    def shifted(x: int) -> int:
        return x + offset

    stream = sl.from_pydict({"x": [1, None]}).with_columns(y=shifted(col("x")))
    data = json.loads(stream.graph.to_json())
    rebuilt = sl.Stream(sl.JobGraph.from_dict(data), stream.node_id)
    assert rebuilt.collect().to_pydict() == {"x": [1, None], "y": [8, None]}
    assert repr(shifted(col("x"))) == 'shifted(col("x"))'
    assert shifted(1) == 8  # plain values call the function


def test_a_non_deterministic_function_is_computed_once_per_row_and_never_moved() -> None:
    rng = random.Random(1)
    noise = sl.udf(
        lambda x: rng.random(), return_dtype="float64", compile=False, deterministic=False
    )
    stream = (
        sl.from_pydict({"x": list(range(400))})
        .with_columns(n=noise(col("x")))
        .filter(col("n") > 0.5)
    )
    kept = stream.collect().column("n").to_pylist()
    assert kept and all(n > 0.5 for n in kept)  # a copy of the call below would draw again
    trace = RewriteTrace()
    push_down_filters(stream.graph, trace)
    assert "push_down_filters" not in trace.render()
    same = sl.udf(lambda x: x * 0.5, return_dtype="float64")  # deterministic: it moves
    moved = sl.from_pydict({"x": [1]}).with_columns(n=same(col("x"))).filter(col("n") > 0.5)
    trace = RewriteTrace()
    push_down_filters(moved.graph, trace)
    assert "moved" in trace.render()


def test_non_deterministic_calls_are_neither_folded_nor_merged_nor_factored() -> None:
    draws = iter(range(10_000))
    tick = sl.udf(lambda _: next(draws), return_dtype="int64", compile=False, deterministic=False)
    s = sl.from_pydict({"x": [1, 2, 3]})
    values = s.with_columns(t=tick(sl.lit(0))).collect(optimize=True).column("t").to_pylist()
    assert len(set(values)) == 3  # one call per row: not folded into one constant
    graph = s.filter(tick(sl.lit(0)) > -1).filter(col("x") > 1).graph
    optimized = simplify_predicates(push_down_filters(graph, RewriteTrace()), RewriteTrace())
    assert sum(n.operator_type.value == "filter" for n in optimized) == 2
    either = (tick(sl.lit(0)) > 5) & (col("x") > 1) | (tick(sl.lit(0)) > 5) & (col("x") < 0)
    from sabot_lab.optimizer.or_factoring import factor_or

    assert len(factor_or(either)) == 1  # the two calls are two values: nothing to factor


def test_sql_refuses_a_built_in_name_and_an_unknown_function() -> None:
    with pytest.raises(sl.PlanError, match="SQL already has a function of that name"):
        sl.register_function("sqrt", UDFS["price"])
    with pytest.raises(
        sl.SQLError, match=r"no_such\(\) is not supported.*functions=\{'no_such': fn\}"
    ):
        sl.sql("SELECT no_such(x) FROM t", t=pa.table({"x": [1]}))
    bad = sl.udf(smooth, return_dtype="float64")
    with pytest.raises(sl.SQLError, match="cannot compile user function 'smooth'"):
        sl.sql("SELECT smooth(x) FROM t", functions={"smooth": bad}, t=pa.table({"x": [1.0]}))


def test_a_sabot_cell_calls_the_registered_functions() -> None:
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.run_line_magic("load_ext", "sabot_lab")
    shell.user_ns["t"] = pa.table({"f": [1.0, -2.0], "i": [3, None]})
    sl.register_function("price", UDFS["price"])
    try:
        shell.run_cell_magic("sabot", "out <<", "SELECT price(f, i) AS p FROM t")
        assert shell.user_ns["out"].column("p").to_pylist() == [price(1.0, 3), None]
    finally:
        sl.unregister_function("price")
        shell.reset(new_session=False)
