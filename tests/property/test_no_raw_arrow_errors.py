"""Every verb over columns of every Arrow type either runs, or is refused where the plan is
built with a sabot-lab error naming the column and its type: no raw pyarrow exception (nor a
crash) reaches the user, and nothing is refused at run time."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.errors import SabotError

COLUMNS: dict[str, pa.Array] = {
    "map": pa.array([[("a", 1)], None, []], pa.map_(pa.string(), pa.int64())),
    "list": pa.array([[1, 2], None, []], pa.list_(pa.int64())),
    "large_list": pa.array([["x"], None, ["y"]], pa.large_list(pa.string())),
    "fixed_list": pa.array([[1, 2], None, [3, 4]], pa.list_(pa.int64(), 2)),
    "struct": pa.array([{"a": 1}, None, {"a": 2}], pa.struct([("a", pa.int64())])),
    "union": pa.UnionArray.from_sparse(
        pa.array([0, 1, 0], pa.int8()), [pa.array([1, 2, 3]), pa.array(["a", "b", "c"])]
    ),
    "dictionary": pa.array(["a", None, "a"]).dictionary_encode(),
    "decimal": pa.array([1, None, 2], pa.decimal128(10, 2)),
    "null": pa.array([None, None, None], pa.null()),
    "fixed_binary": pa.array([b"ab", None, b"cd"], pa.binary(2)),
    "string_view": pa.array(["a", None, "b"], pa.string_view()),
    "binary_view": pa.array([b"a", None, b"b"], pa.binary_view()),
    "large_binary": pa.array([b"a", None, b"b"], pa.large_binary()),
    "duration": pa.array([1, None, 2], pa.duration("s")),
    "time": pa.array([1, None, 2], pa.time64("us")),
    "interval": pa.array([pa.MonthDayNano([1, 2, 3]), None, None], pa.month_day_nano_interval()),
    "timestamp_tz": pa.array([1, None, 2], pa.timestamp("us", tz="UTC")),
}

# (id, the stream or the action over source s, whose column "c" has the type)
VERBS: dict[str, Callable[[sl.Stream, Path], Any]] = {
    "sort": lambda s, _: s.sort("c"),
    "group_by": lambda s, _: s.group_by("c").agg(n=sl.count()),
    "distinct": lambda s, _: s.distinct(),
    "join": lambda s, _: s.join(s.rename({"i": "i2"}), on="c"),
    "min": lambda s, _: s.agg(m=col("c").min()),
    "max_per_group": lambda s, _: s.group_by("i").agg(m=col("c").max()),
    "n_unique": lambda s, _: s.agg(m=col("c").n_unique()),
    "first": lambda s, _: s.group_by("i").agg(m=col("c").first()),
    "last": lambda s, _: s.agg(m=col("c").last()),
    "count": lambda s, _: s.agg(m=col("c").count()),
    "equal_to_itself": lambda s, _: s.filter(col("c") == col("c")),
    "is_null": lambda s, _: s.filter(col("c").is_null()),
    "is_in": lambda s, _: s.filter(col("c").is_in([1])),
    "union": lambda s, _: s.union(s),
    "sql_group_by": lambda s, _: sl.sql("SELECT c, count(*) AS n FROM t GROUP BY c", t=s),
    "sql_order_by": lambda s, _: sl.sql("SELECT * FROM t ORDER BY c", t=s),
    "to_parquet": lambda s, d: s.to_parquet(d / "out.parquet"),
    "to_csv": lambda s, d: s.to_csv(d / "out.csv"),
    "to_json": lambda s, d: s.to_json(d / "out.json"),
}


@pytest.mark.parametrize("verb", VERBS, ids=list(VERBS))
@pytest.mark.parametrize("kind", COLUMNS, ids=list(COLUMNS))
def test_a_verb_runs_or_is_refused_where_the_plan_is_built(
    kind: str, verb: str, tmp_path: Path
) -> None:
    column = COLUMNS[kind]
    source = sl.from_arrow(pa.table({"i": pa.array([1, 2, 1], pa.int64()), "c": column}))
    try:
        built = VERBS[verb](source, tmp_path)
    except SabotError as refusal:
        text = str(refusal)
        assert "'c'" in text or 'col("c")' in text, text
        assert str(sl.from_arrow(pa.table({"c": column})).schema.field("c").type) in text, text
        assert not list(tmp_path.iterdir())  # refused before anything was written
        return
    if isinstance(built, sl.Stream):
        result = built.collect()
        assert result.schema == built.schema
