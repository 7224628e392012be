"""The Nexmark Flink texts (:data:`nexmark_flink.QUERIES`) as unbounded jobs of one cluster of
2 agents, all at once, on the never-ending generator paced at its rate
(``'max-emit-speed' = 'false'``), with checkpoints: each job's committed rows equal DuckDB's
over the generator's prefix its last committed checkpoint had read (the source position
recorded in that checkpoint), with the checker of its kind (:mod:`tests.support.nexmark_checks`):
append-only results write Parquet files, upsert results a Parquet snapshot (the result table
declares the changelog's key as its ``PRIMARY KEY ... NOT ENFORCED``).

q5 groups its HOP window counts again by their window bounds and joins them to the counts
as each window closes: its committed rows are DuckDB's rows of the first windows, each whole.

Left out: q4, q6, q10 and q12, checked in test_nexmark_flink_texts_on_cluster.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import sabot_lab as sl
from sabot_lab.examples import nexmark_flink as nf
from tests.support.nexmark_checks import CHECKS, check
from tests.support.polling import wait_for

pytestmark = pytest.mark.slow

RATE = 500
"""Events per second of event time and of wall-clock time."""

PARALLELISM, SLOTS = 2, 96
"""Tasks per operator, and slots per agent: every job's tasks run at once."""
NAMES = sorted(CHECKS, key=lambda n: int(n[1:]))


def _committed(path: Path) -> tuple[pa.Table, int] | None:
    """The rows under ``path`` and the checkpoint they were committed at (the last one)."""
    if not path.exists():
        return None
    snapshot = path / "snapshot.parquet"
    if snapshot.exists():
        table = pq.read_table(snapshot)
        return table, int(table.schema.metadata[b"sabot.commit"])
    files = sorted(path.glob("*.parquet"))
    if not files:
        return None
    commit = int(files[-1].stem.rsplit("-", 1)[1])
    return pq.read_table(files), commit


def _position(job: sl.Job, commit: int) -> int:
    """The source position (events read) recorded in checkpoint ``commit`` of ``job``."""
    (location,) = [c["location"] for c in job.checkpoints() if c["checkpoint_id"] == commit]
    positions = {json.loads(p.read_text()) for p in Path(location).glob("*source*/value.json")}
    assert len(positions) == 1, positions
    return int(positions.pop())


def _has_rows(path: Path) -> bool:
    files = [*path.glob("*.parquet")] if path.exists() else []
    return sum(pq.read_metadata(f).num_rows for f in files) > 0


def _cancel_the_committed(running: dict[str, tuple[sl.Job, Path]]) -> bool:
    """Cancel each job of ``running`` that committed rows (so the others get the cores),
    taking it out; whether none is left."""
    for name, (job, out) in list(running.items()):
        if _has_rows(out):
            assert job.status() == "RUNNING", (name, job.status(), job.logs().to_pylist()[-5:])
            job.cancel()
            del running[name]
    return not running


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[sl.Job, Path]]]:
    tmp = tmp_path_factory.mktemp("nexmark_jobs")
    with pytest.MonkeyPatch.context() as env:  # the JobManager plans each job 2 tasks wide
        env.setenv("SABOT_MAX_PARALLELISM", str(PARALLELISM))
        cluster = sl.LocalCluster(agents=2, slots=SLOTS, workdir=tmp / "cluster")
    side_input = tmp / "side_input.txt"
    nf.write_side_input(side_input)
    with cluster:
        submitted = {}
        # q14 first: its user function compiles here and on its agents while the rest go
        for name in sorted(NAMES, key=lambda n: n != "q14"):
            ctx = sl.SQLContext()
            ctx.execute(nf.setup(events=0, rate=RATE, paced=True))
            out = tmp / name
            sink = {"connector": "filesystem", "path": str(out), "format": "parquet"}
            text = nf.script(name, side_input=side_input, sink=sink, primary_key=CHECKS[name].key)
            job = ctx.execute(text, cluster=cluster, checkpoint_interval=0.5)
            assert isinstance(job, sl.Job)
            submitted[name] = (job, out)
        running = dict(submitted)
        wait_for(lambda: _cancel_the_committed(running), timeout=240)
        assert not running, f"no rows committed by {sorted(running)}"
        yield submitted


@pytest.mark.parametrize("name", NAMES)
def test_the_committed_rows_equal_duckdb_over_the_prefix_read_by_that_checkpoint(
    name: str, jobs: dict[str, tuple[sl.Job, Path]]
) -> None:
    job, out = jobs[name]
    committed = _committed(out)
    assert committed is not None
    rows, commit = committed
    check(name, rows, RATE, _position(job, commit))
