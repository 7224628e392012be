"""Independent references for tests: DuckDB over the same Arrow tables, and row comparison."""

from __future__ import annotations

import datetime as dt
import decimal
import math
from collections.abc import Sequence
from typing import Any

import duckdb
import pyarrow as pa

_DATABASE = duckdb.connect()


def duckdb_connection() -> duckdb.DuckDBPyConnection:
    """A new connection to one in-memory DuckDB database shared by the tests: tables registered
    on it stay on it. It costs about 1 ms; a new database costs about 18 ms, which hundreds of
    generated examples would pay."""
    return _DATABASE.cursor()


def duckdb_table(sql: str, **tables: pa.Table) -> pa.Table:
    """Run ``sql`` on a new connection with ``tables`` registered under their names."""
    con = duckdb_connection()
    for name, table in tables.items():
        con.register(name, table)
    return con.sql(sql).to_arrow_table()


def _norm(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return value


def normalized_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """Rows as tuples with DuckDB's HUGEINT/DECIMAL results turned into Python numbers."""
    return [tuple(_norm(v) for v in row.values()) for row in table.to_pylist()]


def _sort_key(row: tuple[Any, ...]) -> tuple[Any, ...]:
    def part(v: Any) -> tuple[Any, ...]:
        if v is None:
            return (0, "", 0)
        if isinstance(v, bool | int | float):
            return (1, "", round(float(v), 6))
        if isinstance(v, dt.datetime | dt.date):
            return (2, v.isoformat(), 0)
        return (3, str(v), 0)

    return tuple(part(v) for v in row)


def _paired(
    a: Sequence[tuple[Any, ...]], b: Sequence[tuple[Any, ...]], rel: float
) -> list[tuple[Any, ...]]:
    """``b`` in the order of the rows of ``a`` they are close to, when every row of ``a`` has
    its own close row in ``b`` (sorting alone can order close floats differently: 0.0 and
    1.9e-8 round alike, and their rows then sort by later columns); else ``b`` unchanged."""
    if len(a) != len(b) or all(_same_row(x, y, rel) for x, y in zip(a, b, strict=True)):
        return list(b)
    left = list(b)
    paired = []
    for row in a:
        match = next((i for i, other in enumerate(left) if _same_row(row, other, rel)), None)
        if match is None:
            return list(b)
        paired.append(left.pop(match))
    return paired


def _same_row(a: tuple[Any, ...], b: tuple[Any, ...], rel: float) -> bool:
    return len(a) == len(b) and all(_close(x, y, rel) for x, y in zip(a, b, strict=True))


def _close(a: Any, b: Any, rel: float) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        if a is None or b is None or isinstance(a, str) or isinstance(b, str):
            return a == b
        return math.isclose(a, b, rel_tol=rel, abs_tol=1e-9)
    return bool(a == b)


def assert_same_rows(
    actual: pa.Table | Sequence[tuple[Any, ...]],
    expected: pa.Table | Sequence[tuple[Any, ...]],
    ordered: bool = False,
    rel: float = 1e-9,
) -> None:
    """Assert two results hold the same rows (as multisets unless ``ordered``), floats approx."""
    a = normalized_rows(actual) if isinstance(actual, pa.Table) else [tuple(r) for r in actual]
    b = (
        normalized_rows(expected)
        if isinstance(expected, pa.Table)
        else [tuple(r) for r in expected]
    )
    if not ordered:
        a, b = sorted(a, key=_sort_key), sorted(b, key=_sort_key)
        b = _paired(a, b, rel)
    assert len(a) == len(b), (
        f"{len(a)} rows != {len(b)} rows\nactual:   {a[:10]}\nexpected: {b[:10]}"
    )
    for i, (ra, rb) in enumerate(zip(a, b, strict=True)):
        assert _same_row(ra, rb, rel), (
            f"row {i} differs: {ra} != {rb}\nactual:   {a[:10]}\nexpected: {b[:10]}"
        )


ENGINE_SETTINGS = (
    {"batch_size": 7, "threads": 1},
    {"batch_size": 5, "threads": 2, "max_in_flight": 1},
)


def collect_all_ways(
    stream: Any, optimize: bool = True, engine_settings: Sequence[dict[str, int]] = ENGINE_SETTINGS
) -> list[pa.Table]:
    """Collect ``stream`` with default settings and with each of ``engine_settings`` (by default
    tiny batches on one and on two threads, so batch boundaries fall everywhere)."""
    from sabot_lab import get_config, set_config

    old = get_config()
    results = [stream.collect(optimize=optimize)]
    try:
        for settings in engine_settings:
            set_config(old.replace(**settings))
            results.append(stream.collect(optimize=optimize))
    finally:
        set_config(old)
    return results


def timed_rows(table: pa.Table) -> list[tuple[Any, ...]]:
    """Rows as tuples in a fixed order, for tables with event times: timestamps as numbers of
    their unit (DuckDB references compute windows on epoch milliseconds), floats rounded to 6
    decimals, so results of streaming queries compare with their references as multisets."""
    columns = []
    for column in table.columns:
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.int64())
        values = column.to_pylist()
        if pa.types.is_floating(column.type):
            values = [None if v is None else round(v, 6) for v in values]
        columns.append(values)
    return sorted(zip(*columns, strict=True), key=repr)
