"""Smallest and largest value of each integer column of Parquet files, from the row groups'
statistics in their footers (no data read): an upper bound on a column's distinct values that
the optimizer's estimates from the first rows cannot see (TPC-H's ``ps_suppkey``: every value
of the first 10 K rows differs, yet there are only 10 K suppliers).

>>> import tempfile, pyarrow as pa, pyarrow.parquet as pq, pyarrow.dataset as ds
>>> path = tempfile.mkdtemp() + "/t.parquet"
>>> pq.write_table(pa.table({"k": [3, 9, 4], "s": ["a", "b", "c"]}), path, row_group_size=2)
>>> integer_ranges(ds.dataset(path).get_fragments())
{'k': (3, 9)}
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import pyarrow as pa

__all__ = ["integer_ranges"]


def integer_ranges(fragments: Iterable[Any]) -> dict[str, tuple[int, int]]:
    """(min, max) of every top-level integer column whose every row group of the Parquet
    ``fragments`` has both in its statistics (others are left out)."""
    ranges: dict[str, tuple[int, int]] = {}
    missing: set[str] = set()
    for fragment in fragments:
        metadata = getattr(fragment, "metadata", None)
        if metadata is None:
            return {}
        schema = metadata.schema.to_arrow_schema()
        columns = {
            i: f.name
            for i, f in enumerate(schema)
            if pa.types.is_integer(f.type) and metadata.schema.column(i).path == f.name
        }
        for name in {f.name for f in schema} - set(columns.values()):
            missing.add(name)
        for g in range(metadata.num_row_groups):
            group = metadata.row_group(g)
            for i, name in columns.items():
                stats = group.column(i).statistics
                if stats is None or not stats.has_min_max:
                    missing.add(name)
                    continue
                low, high = ranges.get(name, (stats.min, stats.max))
                ranges[name] = (min(low, stats.min), max(high, stats.max))
    return {k: v for k, v in ranges.items() if k not in missing}
