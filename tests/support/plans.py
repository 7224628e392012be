"""Hypothesis strategies for whole plans: random sources (Arrow, Parquet, DuckDB), predicates,
pipelines of verbs, and bushy join trees, shared by the optimizer and physical-plan tests."""

from __future__ import annotations

import functools
import operator

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from hypothesis import assume
from hypothesis import strategies as st

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.errors import PlanError, SchemaError
from tests.support.reference import duckdb_connection
from tests.support.scratch import scratch_directory
from tests.support.strategies import keyed_tables

WORKDIR = scratch_directory("sabot-optimizer-")


@st.composite
def sources(draw: st.DrawFn) -> sl.Stream:
    """The same kind of table from Arrow, Parquet (small row groups) or DuckDB."""
    table = draw(keyed_tables())
    kind = draw(st.sampled_from(["arrow", "parquet", "duckdb"]))
    if kind == "parquet":
        path = WORKDIR / f"t{draw(st.integers(0, 10**9))}.parquet"
        pq.write_table(table, path, row_group_size=7)
        return sl.from_parquet(path)
    if kind == "duckdb":
        return sl.from_duckdb(duckdb_connection().from_arrow(table))
    return sl.from_arrow(table)


@st.composite
def predicates(draw: st.DrawFn, schema: pa.Schema) -> sl.Expr:
    """Conjunctions of comparisons, ranges, null tests, IN lists and constants on any column,
    or ORs of such conjunctions that all repeat one of them."""
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        field = draw(st.sampled_from(list(schema)))
        c, v = col(field.name), draw(st.integers(-50, 50))
        if pa.types.is_string(field.type):
            options = [
                c == draw(st.sampled_from("abc")),
                c.is_in(draw(st.lists(st.sampled_from("abc"), max_size=2))),
                c.is_null(),
                ~(c == "a"),
            ]
        elif pa.types.is_integer(field.type) or pa.types.is_floating(field.type):
            options = [
                (c > v) & (c <= v + draw(st.integers(-5, 60))),
                c == v % 5,
                ~(c < v),
                (c == 1) | (c > 3),
                c.is_not_null(),
            ]
        else:
            options = [c.is_null()]
        options.append(sl.lit(draw(st.booleans())) | (sl.lit(1) > 2))
        parts.append(draw(st.sampled_from(options)))
    if len(parts) > 1 and draw(st.booleans()):  # an OR whose branches repeat a condition
        shared, *others = parts
        branches = [shared & p if i % 2 else p & shared for i, p in enumerate(others)]
        return functools.reduce(
            operator.or_, branches if len(branches) > 1 else [*branches, shared]
        )
    return functools.reduce(operator.and_, parts)


def shift_x(batch: pa.RecordBatch) -> pa.RecordBatch:
    """An opaque UDF that changes x: filters on x must not move below it."""
    return batch.set_column(batch.schema.get_field_index("x"), "x", pc.add(batch["x"], 7))


def tag_rows(batch: pa.RecordBatch) -> pa.RecordBatch:
    """A UDF that keeps every column and adds one: it may declare what it preserves."""
    return batch.append_column("tag", pc.multiply(pc.fill_null(batch["k"], 0), 10))


WINDOWS = [
    sl.tumbling("10s", on="t"),
    sl.sliding("10s", "5s", on="t"),
    sl.session("4s", on="t"),
]


@st.composite
def plans(draw: st.DrawFn) -> tuple[sl.Stream, bool]:
    s = draw(sources())
    ordered = False
    if draw(st.booleans()):  # numbered in source order (filters must stay above it)
        s = s.with_row_index("rn", offset=draw(st.integers(0, 3)))
    crossed = False
    for i in range(draw(st.integers(1, 6))):
        names = s.columns
        step = draw(
            st.sampled_from(
                [
                    "filter",
                    "filter",
                    "with_columns",
                    "join",
                    "join",
                    "group_by",
                    "union",
                    "sort_limit",
                    "udf",
                    "udf",
                    "distinct",
                    "select",
                    "limit",
                    "window",
                    "time_join",
                    "join_where",
                    "unpivot",
                    "over",
                ]
            )
        )
        ordered = False
        if step == "filter":
            s = s.filter(draw(predicates(s.schema)))
        elif step == "with_columns" and "x" in names:
            s = s.with_columns(x=col("x") * 2 + 1, z=col("x") - 3)
        elif step == "select" and len(names) > 1:
            s = s.select(*draw(st.lists(st.sampled_from(names), min_size=1, unique=True)))
        elif step == "join" and "k" in names:
            other = draw(sources()).select("k", col("g").alias(f"g{i}"), col("x").alias(f"x{i}"))
            other = other.filter(draw(predicates(other.schema))) if draw(st.booleans()) else other
            full = ["full"] if "k_right" not in names else []  # a full join keeps k as k_right
            how = draw(st.sampled_from(["inner", "inner", "left", *full, "semi", "anti"]))
            s = s.join(other, on="k", how=how)
        elif step == "group_by" and {"g", "x"} <= set(names):
            s = s.group_by("g").agg(x=col("x").sum(), k=sl.count(), y=col("x").max())
        elif step == "union":
            s = s.union(s.filter(col(names[0]).is_not_null()))
        elif step == "sort_limit":
            s = s.sort(names, descending=draw(st.booleans())).limit(
                draw(st.integers(0, 12)), offset=draw(st.integers(0, 3))
            )
            ordered = True
        elif step == "udf" and "x" in names and "tag" not in names:
            if draw(st.booleans()):
                s = s.map_batches(shift_x)
            elif "k" in names:
                s = s.map_batches(tag_rows, preserves=[n for n in names if n != "x"])
        elif step == "window" and "x" in names and "t" not in names:
            timed = s.with_columns(t=col("x").cast("timestamp[s]"))
            if draw(st.booleans()):  # a delay no x here spans: no row is ever late, so the
                # rows are the same however the input is split (lateness is tested elsewhere)
                timed = timed.with_watermark("t", f"{draw(st.integers(10**6, 2 * 10**6))}s")
            spec = draw(st.sampled_from(WINDOWS))
            keys = ["g"] if "g" in names and draw(st.booleans()) else []
            s = timed.window(spec).group_by(*keys).agg(n=sl.count(), x=col("x").sum())
        elif step == "time_join" and {"x", "k"} <= set(names) and "t" not in names:
            timed = s.with_columns(t=col("x").cast("timestamp[s]"))
            other = draw(sources()).select(
                "k", col("x").cast("timestamp[s]").alias("t"), col("g").alias(f"g{i}")
            )
            if draw(st.booleans()):
                s = timed.join_interval(other, on="k", time="t", lower="-3s", upper="2s")
            else:
                s = timed.join_asof(other, on="t", by="k", tolerance="5s")
        elif step == "join_where" and "x" in names and not crossed:
            other = draw(sources()).select(col("x").alias(f"lo{i}"), col("g").alias(f"h{i}"))
            s = s.join_where(other, col("x") >= col(f"lo{i}"), col(f"h{i}") != "c")
            crossed = True  # one cross product a plan, to keep it small
        elif step == "unpivot" and {"x", "y"} <= set(names) and "variable" not in names:
            keys = [n for n in names if n not in ("x", "y")]
            s = s.unpivot(["x", "y"], index=keys)
        elif step == "over" and {"x", "g", "k"} <= set(names) and "w" not in names:
            s = s.with_columns(
                w=col("x").sum().over("g", order_by="k", frame=("range", None, 0)),
                r=sl.rank().over(order_by="x", descending=True),
            )
        elif step == "distinct":
            s = s.distinct()
        elif step == "limit" and draw(st.booleans()):
            s = s.sort(names).head(draw(st.integers(0, 8)))
            ordered = True
    if draw(st.booleans()):
        s = s.filter(draw(predicates(s.schema)))
        ordered = False
    return s, ordered


@st.composite
def join_trees(draw: st.DrawFn) -> sl.Stream:
    """2-5 random tables joined in a random bushy shape on one or two random key columns (some
    shared names, some filtered inputs, the odd left join), with the odd projection on top."""
    parts = []
    for i in range(draw(st.integers(2, 5))):
        key = "k" if draw(st.booleans()) else f"a{i}"
        s = draw(sources()).select(
            col("k").alias(key), (col("x") % 3).alias(f"b{i}"), col("g").alias(f"g{i}")
        )
        if draw(st.booleans()):
            s = s.filter(col(f"g{i}") != draw(st.sampled_from("abc")))
        parts.append(s)
    try:
        while len(parts) > 1:
            i, j = draw(
                st.lists(st.integers(0, len(parts) - 1), min_size=2, max_size=2, unique=True)
            )
            left, right = parts[i], parts[j]
            keys = [n for n in left.columns if n[0] in "kab"]
            right_keys = [n for n in right.columns if n[0] in "kab"]
            pairs = draw(st.integers(1, 2))  # two-column keys close cycles in the join graph
            lk = draw(st.lists(st.sampled_from(keys), min_size=1, max_size=pairs, unique=True))
            rk = draw(st.lists(st.sampled_from(right_keys), min_size=len(lk), max_size=len(lk)))
            assume(len(rk) == len(lk))
            how = draw(st.sampled_from(["inner"] * 8 + ["left"]))
            joined = left.join(right, left_on=lk, right_on=rk, how=how)
            parts = [p for k, p in enumerate(parts) if k not in (i, j)] + [joined]
    except (PlanError, SchemaError):
        assume(False)  # a shape whose column names clash; not the subject here
    out = parts[0]
    if draw(st.booleans()):
        out = out.select(*draw(st.lists(st.sampled_from(out.columns), min_size=1, unique=True)))
    return out
