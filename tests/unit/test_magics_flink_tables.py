"""``%%sabot`` cells with Flink SQL's tables: a ``CREATE TABLE ... WITH`` of one cell serves
later cells, ``INSERT INTO`` writes a notebook variable's rows into it (the cell's result is
the rows written) and what it wrote reads back equal to DuckDB's."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from IPython.core.interactiveshell import InteractiveShell

from tests.support.reference import assert_same_rows, duckdb_table
from tests.unit.test_magics import sabot_magics, shell  # noqa: F401 (the fixture)


def test_tables_of_one_cell_take_inserts_of_later_cells(
    shell: InteractiveShell,  # noqa: F811 (the fixture)
    tmp_path: Path,
) -> None:
    trades = pa.table({"sym": ["A", "B", "A", None], "qty": [5, 7, 1, 2]})
    shell.user_ns["trades"] = trades
    shell.run_line_magic("config", "Sabot.showplan = False")
    create = (
        "CREATE TABLE totals (sym STRING, qty BIGINT) WITH ('connector' = 'filesystem', "
        f"'path' = '{tmp_path / 'totals'}', 'format' = 'parquet')"
    )
    assert shell.run_cell_magic("sabot", "", create) is None
    insert = "INSERT INTO totals SELECT sym, SUM(qty) FROM trades GROUP BY sym"
    assert shell.run_cell_magic("sabot", "written <<", insert) == 3
    assert shell.user_ns["written"] == 3
    expected = duckdb_table("SELECT sym, SUM(qty) FROM trades GROUP BY sym", trades=trades)
    assert_same_rows(pq.read_table(tmp_path / "totals"), expected)
    shell.run_cell_magic("sabot", "back <<", "SELECT * FROM totals")
    assert_same_rows(shell.user_ns["back"], expected)
    assert "totals" in sabot_magics(shell).sql_context.tables()
