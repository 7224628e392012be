"""collect()'s progress bar: the rows read from a multi-file, multi-row-group Parquet source,
on a real terminal (a pseudo-terminal as stderr) and in a real notebook kernel."""

from __future__ import annotations

import json
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import duckdb
import nbformat
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from nbclient import NotebookClient

FILES, GROUPS, GROUP_ROWS = 3, 8, 1000
FRAME = re.compile(r"collect +(\d+)%  ([\d,]+)/([\d,]+) rows")

SCRIPT = """
import json, sys, time
import sabot_lab as sl

def slow(batch):
    time.sleep(0.02)
    return batch

stream = sl.from_parquet(sys.argv[1])
if sys.argv[2] == "slow":
    stream = stream.map_batches(slow)
out = stream.filter(sl.col("v") >= int(sys.argv[3])).group_by("k").agg(sl.col("v").sum().alias("total"))
print(json.dumps(sorted(out.collect().to_pylist(), key=lambda r: r["k"])))
"""

QUERY = "SELECT k, sum(v) AS total FROM read_parquet('{}/*.parquet') WHERE v >= {} GROUP BY k ORDER BY k"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Parquet files of ``GROUPS`` row groups each: the source's splits."""
    folder = tmp_path_factory.mktemp("progress")
    for f in range(FILES):
        start = f * GROUPS * GROUP_ROWS
        v = pa.array(range(start, start + GROUPS * GROUP_ROWS), pa.int64())
        table = pa.table({"k": pa.compute.remainder(v, 7), "v": v})
        pq.write_table(table, folder / f"part-{f}.parquet", row_group_size=GROUP_ROWS)
    return folder


def source_rows(folder: Path) -> int:
    files = sorted(folder.glob("*.parquet"))
    assert sum(pq.ParquetFile(f).metadata.num_row_groups for f in files) == FILES * GROUPS
    return sum(pq.ParquetFile(f).metadata.num_rows for f in files)


def collect_on_a_terminal(folder: Path, mode: str, at_least: int, **env: str) -> tuple[str, list]:
    """Run the collect in a process whose stderr is a pseudo-terminal; return what it drew
    there and the rows it printed."""
    leader, follower = pty.openpty()
    environment = {**os.environ, "SABOT_BATCH_SIZE": "500", "SABOT_THREADS": "1", **env}
    process = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(folder), mode, str(at_least)],
        stdout=subprocess.PIPE,
        stderr=follower,
        env=environment,
    )
    os.close(follower)
    drawn = b""
    while True:
        ready, _, _ = select.select([leader], [], [], 60)
        if not ready:
            break
        try:
            chunk = os.read(leader, 4096)
        except OSError:  # the process closed the terminal
            break
        if not chunk:
            break
        drawn += chunk
    os.close(leader)
    stdout, _ = process.communicate(timeout=60)
    assert process.returncode == 0, drawn.decode()
    return drawn.decode(), json.loads(stdout)


def frames(drawn: str) -> list[tuple[int, int]]:
    """(rows done, total) of each state of the bar drawn."""
    return [
        (int(m.group(2).replace(",", "")), int(m.group(3).replace(",", "")))
        for m in FRAME.finditer(drawn)
    ]


def expected(folder: Path, at_least: int) -> list[dict[str, int]]:
    rows = duckdb.sql(QUERY.format(folder, at_least)).fetchall()
    return [{"k": k, "total": int(total)} for k, total in rows]


def test_a_long_collect_draws_its_progress_until_every_source_row_is_read(dataset: Path) -> None:
    drawn, rows = collect_on_a_terminal(dataset, "slow", 10, SABOT_PROGRESS_DELAY="0")
    assert rows == expected(dataset, 10)
    states = frames(drawn)
    total = source_rows(dataset)
    assert states[-1] == (total, total)
    assert {t for _, t in states} == {total}
    done = [d for d, _ in states]
    assert done == sorted(done) and len(set(done)) >= 3  # drawn as it went, never backwards
    assert "\r" in drawn and drawn.rstrip().count("\n") == 0  # one line, redrawn in place


def test_a_source_that_skips_row_groups_still_ends_at_its_total(dataset: Path) -> None:
    """The filter is pushed into the Parquet scan, which skips row groups by their
    statistics: the source ends having yielded fewer rows than it holds."""
    at_least = FILES * GROUPS * GROUP_ROWS - 1500
    drawn, rows = collect_on_a_terminal(dataset, "fast", at_least, SABOT_PROGRESS_DELAY="0")
    assert rows == expected(dataset, at_least)
    total = source_rows(dataset)
    assert frames(drawn)[-1] == (total, total)


def test_a_quick_collect_or_a_disabled_bar_draws_nothing(dataset: Path) -> None:
    drawn, rows = collect_on_a_terminal(dataset, "fast", 10)  # well under the 1 s delay
    assert rows == expected(dataset, 10)
    assert drawn == ""
    drawn, _ = collect_on_a_terminal(dataset, "slow", 10, SABOT_PROGRESS="0")
    assert drawn == ""


def test_a_collect_in_a_notebook_leaves_its_final_progress_in_the_output(dataset: Path) -> None:
    code = SCRIPT.replace("sys.argv[1]", repr(str(dataset))).replace("sys.argv[2]", "'slow'")
    code = code.replace("sys.argv[3]", "'10'")
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import sabot_lab as sl\n"
            "sl.set_config(sl.get_config().replace(progress_delay=0.0, batch_size=500, threads=1))"
        ),
        nbformat.v4.new_code_cell(code),
    ]
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    bars = [o for o in notebook.cells[1].outputs if o["output_type"] == "display_data"]
    assert len(bars) == 1  # one output, updated in place
    total = source_rows(dataset)
    html = bars[0]["data"]["text/html"]
    assert f"data-done='{total}' data-total='{total}'" in html
    assert f'<progress value="{total}" max="{total}">' in html
    (printed,) = [o for o in notebook.cells[1].outputs if o["output_type"] == "stream"]
    assert json.loads(printed["text"]) == expected(dataset, 10)
