"""Every parameter a plan's expression writes into DuckDB SQL is checked first: a plan decoded
from JSON (from a notebook or over the network) may hold anything in them."""

from __future__ import annotations

from typing import Any

import pytest

import sabot_lab as sl
from sabot_lab.errors import SchemaError
from sabot_lab.expr import Expr

HOSTILE = "x') OR 1=1; DROP TABLE t; --"


def with_param(expr: Expr, name: str, value: Any) -> Expr:
    data = expr.to_dict()
    data["params"][name] = value
    return Expr.from_dict(data)


@pytest.mark.parametrize(
    ("expr", "param", "value"),
    [
        (sl.col("x").round(2), "decimals", "2); DROP TABLE t; --"),
        (sl.col("x").round(2), "decimals", 2.5),
        (sl.col("x").log(2), "base", HOSTILE),
        (sl.col("x").log(2), "base", float("nan")),
        (sl.col("x").floor(), "fn", HOSTILE),
        (sl.col("t").dt.truncate("15m"), "unit", HOSTILE),
        (sl.col("t").dt.truncate("15m"), "multiple", "15 minute', t); DROP TABLE t; --"),
        (sl.col("t").dt.year(), "part", HOSTILE),
        (sl.col("x").sum(), "fn", HOSTILE),
        (sl.col("s").str.slice(1, 2), "offset", HOSTILE),
        (sl.col("s").str.slice(1, 2), "length", HOSTILE),
        (sl.col("s").str.head(2), "n", HOSTILE),
    ],
)
def test_a_parameter_that_is_not_what_it_should_be_is_refused_not_pasted(
    expr: Expr, param: str, value: Any
) -> None:
    hostile = with_param(expr, param, value)
    with pytest.raises(SchemaError, match=r"cannot write .* into SQL"):
        hostile.to_sql()


def test_the_same_expressions_with_their_own_parameters_render() -> None:
    rendered = [
        sl.col("x").round(2).to_sql(),
        sl.col("x").log(2).to_sql(),
        sl.col("t").dt.truncate("15m").to_sql(),
        sl.col("s").str.slice(1, 2).to_sql(),
    ]
    assert rendered == [
        'round("x", 2)',
        'log(2.0, "x")',
        "time_bucket(INTERVAL '15 minute', \"t\", TIMESTAMP '1970-01-01')",
        'substring("s", 2, 2)',
    ]
