"""The shuffle job of the multi-host tests: facts and dims written as Parquet where every
virtual host reads them (the hosts share the filesystem), the client command ``shuffle``'s
arguments, and the check of its result against DuckDB's join and group-by."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from tests.support.reference import assert_same_rows, duckdb_table

KEYS = 20_011

QUERY = "SELECT name, SUM(x) AS total, COUNT(*) AS n FROM f JOIN d USING (k) GROUP BY name"


class ShuffleCase:
    """``rows`` facts (nulls among them) over 20,011 keys, in row groups of ``row_group``,
    joined to dims naming 97 groups. The keys are many, so the optimizer does not group the
    facts by them before the join: the group-by on the names, with its own parallelism, is
    what shuffles."""

    def __init__(self, directory: Path, rows: int, row_group: int) -> None:
        self.facts = pa.table(
            {
                "k": [i * 7919 % KEYS for i in range(rows)],
                "x": [None if i % 13 == 0 else i % 1_000 for i in range(rows)],
            }
        )
        self.dims = pa.table({"k": list(range(KEYS)), "name": [f"n{k % 97}" for k in range(KEYS)]})
        directory.mkdir(parents=True, exist_ok=True)
        self.paths = tuple(
            directory / f for f in ("facts.parquet", "dims.parquet", "result.parquet")
        )
        pq.write_table(self.facts, self.paths[0], row_group_size=row_group)
        pq.write_table(self.dims, self.paths[1])

    def args(self) -> tuple[str, ...]:
        """The ``shuffle`` command's arguments: facts, dims and where the result goes."""
        return tuple(str(p) for p in self.paths)

    def check(self) -> None:
        """The job's result equals DuckDB's over the same rows."""
        result = pq.read_table(self.paths[2])
        assert result.num_rows == 97
        expected = duckdb_table(QUERY, f=self.facts, d=self.dims)
        assert_same_rows(result.select(["name", "total", "n"]), expected)
