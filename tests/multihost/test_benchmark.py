"""``benchmarks/multihost.py`` at a tiny size: it runs to its end on its own virtual hosts,
checks the answers before it times them (its ``checked:`` lines, compared here with DuckDB
on the files it wrote), prints its table with every figure in its form, and leaves no
namespace behind."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from cluster.netns.virtual_hosts import PREFIX, namespaces, require_root
from tests.support.reference import duckdb_table

ROOT = Path(__file__).resolve().parents[2]
ROWS = 20_000
NUMBER = r"[\d,]+(\.\d+)?"
FAILOVER = "failover: leader killed → new leader accepts submissions"
FIGURES = [
    (f"fintech, {ROWS:,} rows (Parquet)", "3 agent hosts", rf"{NUMBER} ms \({NUMBER} M rows/s, {NUMBER}x DuckDB\)"),
    (f"fintech, {ROWS:,} rows (Parquet)", "`collect()`", rf"{NUMBER} ms \({NUMBER} M rows/s, {NUMBER}x DuckDB\)"),
    (f"fintech, {ROWS:,} rows (Parquet)", "DuckDB", rf"{NUMBER} ms \({NUMBER} M rows/s, 1.00x DuckDB\)"),
    *(
        (f"shuffle {link}", security,
         rf"{NUMBER} GB/s \({NUMBER} of {NUMBER} MB between agents in {NUMBER} s; job {NUMBER} s\)")
        for link in ("across the bridge", "on loopback") for security in ("plain", "mutual TLS")
    ),
    ("partition detected (agent FAILED)", "default heartbeats (every 2 s, timeout 10 s)",
     rf"p50 {NUMBER} s \(min {NUMBER}, max {NUMBER}, 1 runs\)"),
    ("partition detected (agent FAILED)",
     "quick heartbeats (every 0.5 s, timeout 4 s), mutual TLS",
     rf"p50 {NUMBER} s \(min {NUMBER}, max {NUMBER}, 1 runs\)"),
    (FAILOVER, "across namespaces, 2 JobManagers on PostgreSQL (SSL) on `db`, mutual TLS, default lease",
     rf"p50 {NUMBER} s \(min {NUMBER}, max {NUMBER}, 1 runs\)"),
    (FAILOVER, "loopback, 2 JobManagers on PostgreSQL, default lease",
     r"skipped \(--loopback-failover-runs 0\)"),
]  # fmt: skip
FINTECH_SQL = """
SELECT sector, SUM(price * size) AS total, COUNT(*) AS n
FROM q JOIN s ON q.security_id = s.id WHERE price > 100 AND rating >= 3 GROUP BY sector
"""


def test_the_multihost_benchmark_checks_its_answers_and_prints_every_figure(
    tmp_path: Path,
) -> None:
    try:
        require_root()
    except PermissionError as exc:
        pytest.fail(str(exc), pytrace=False)
    run = subprocess.Popen(
        [sys.executable, "benchmarks/multihost.py", "--rows", str(ROWS), "--shuffle-mb", "2",
         "--runs", "1", "--detection-runs", "1", "--failover-runs", "1", "--loopback-failover-runs", "0",
         "--dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    out, err = run.communicate(timeout=900)
    assert run.returncode == 0, f"{out}\n{err[-3000:]}"
    for prefix in ("slabbench", PREFIX):  # (the failover's hosts have the default prefix)
        assert [n for n in namespaces(prefix) if n.startswith(f"{prefix}-{run.pid}x")] == []

    fintech = tmp_path / f"fintech-{ROWS}"
    expected = duckdb_table(
        FINTECH_SQL,
        q=pq.read_table(fintech / "quotes.parquet"),
        s=pq.read_table(fintech / "securities.parquet"),
    )
    wide_rows = pq.read_metadata(tmp_path / "shuffle-2MB" / "wide.parquet").num_rows
    lines = out.splitlines()
    assert (
        f"checked: fintech on 3 agent hosts == in-process == DuckDB ({expected.num_rows} sectors)"
        in lines
    ), out
    assert f"checked: every shuffle run counted {wide_rows:,} distinct rows, as DuckDB" in lines
    assert "checked: 1 jobs accepted after leader kills returned their rows" in lines, out

    table = [line for line in lines if line.startswith("|")]
    assert table[:2] == ["| figure | setting | result |", "|---|---|---|"], out
    rows = [[cell.strip() for cell in line.strip("|").split("|")] for line in table[2:]]
    assert [(figure, setting) for figure, setting, _ in rows] == [f[:2] for f in FIGURES], out
    for (_, _, result), (_, _, form) in zip(rows, FIGURES, strict=True):
        assert re.fullmatch(form, result), (result, form)
    detected = {setting: float(result.split()[1]) for figure, setting, result in rows
                if figure.startswith("partition")}  # fmt: skip
    # an agent cut off is FAILED one timeout after its last heartbeat, which came at most an
    # interval before the cut; the JobManager looks every 0.5 s at most, the client 0.02 s
    assert 10 - 2 - 0.5 <= detected[FIGURES[7][1]] <= 10 + 0.5 + 2.0
    assert 4 - 0.5 - 0.5 <= detected[FIGURES[8][1]] <= 4 + 0.5 + 2.0
    # the standby takes the lease (4 s) over once it ran out, which is at most a renewal
    # (1 s) after the kill sooner and a standby's try (every 1 s) later; the client retries
    # every 0.2 s; the margins are for a loaded machine
    (takeover,) = [float(result.split()[1]) for figure, _, result in rows[:-1]
                   if figure == FAILOVER]  # fmt: skip
    assert 4 - 1 - 0.5 <= takeover <= 4 + 1 + 0.2 + 2.0
