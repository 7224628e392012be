"""The JobWidget against real jobs on a LocalCluster (a JobManager and agent processes):
its traitlets follow the job from an asyncio task on the running loop, its Cancel message
cancels a running job, and the static HTML, text and notebook outputs show the final state."""

from __future__ import annotations

import asyncio
import itertools
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest
from nbclient import NotebookClient

import sabot_lab as sl
from sabot_lab.notebook.frontend import STATIC
from sabot_lab.notebook.job_widget import JobWidget

BATCHES = 12
BATCH_ROWS = 100


@pytest.fixture(scope="module")
def cluster() -> Iterator[sl.LocalCluster]:
    with sl.LocalCluster(agents=2, slots=2, heartbeat_timeout=5, heartbeat_interval=0.2) as c:
        yield c


def slow_batches() -> Iterator[pa.RecordBatch]:
    """Batches of ``x`` handed out over about 2.4 s, so a job reading them runs a while."""
    for i in range(BATCHES):
        time.sleep(0.2)
        yield pa.record_batch({"x": pa.array(range(i * BATCH_ROWS, (i + 1) * BATCH_ROWS))})


def steady_batches() -> Iterator[pa.RecordBatch]:
    """Ten rows every 20 ms, without end: a job reading them never waits for its consumer."""
    for i in itertools.count():
        time.sleep(0.02)
        yield pa.record_batch({"x": pa.array(range(i * 10, i * 10 + 10))})


def slow_even_rows() -> sl.Stream:
    return sl.from_iterable(slow_batches, schema={"x": "int64"}).filter(sl.col("x") % 3 == 0)


def expected_even_rows() -> pa.Table:
    table = pa.Table.from_batches(list(slow_batches()))
    return table.filter(pc.equal(pc.remainder(table["x"], 3), 0))


async def follow_until_done(widget: JobWidget, timeout: float = 60.0) -> list[tuple[str, int]]:
    """The widget's (state, rows) every 50 ms until its updater ends."""
    assert widget.updater is not None
    seen = []
    deadline = time.monotonic() + timeout
    while not widget.updater.done() and time.monotonic() < deadline:
        seen.append((widget.state, widget.rows))
        await asyncio.sleep(0.05)
    return seen


def test_the_widget_follows_a_bounded_job_to_its_final_state(cluster: sl.LocalCluster) -> None:
    expected = expected_even_rows()
    job = slow_even_rows().submit(cluster, name="slow filter")

    async def main() -> tuple[JobWidget, list[tuple[str, int]], Any]:
        widget = JobWidget(job)
        assert widget.updater is not None
        assert widget.updater.get_loop() is asyncio.get_running_loop()
        assert widget.updater in asyncio.all_tasks()
        seen = await follow_until_done(widget)
        last = await widget.updater
        await asyncio.sleep(0.6)  # two update intervals: nothing follows the job any more
        assert widget.loop_tasks == set()
        return widget, seen, last

    widget, seen, last = asyncio.run(main())
    result = job.result()
    assert result.num_rows == expected.num_rows
    assert widget.state == "FINISHED" == last[0].state
    assert widget.rows == expected.num_rows
    rows = [r for _, r in seen]
    assert rows == sorted(rows)  # the counter never goes back
    assert any(0 < r < expected.num_rows for s, r in seen if s == "RUNNING")  # ... and rises
    tasks = job.tasks()  # every attempt's (a loaded machine may retry one)
    latest = max(t["attempt"] for t in tasks)
    planned = sum(t["attempt"] == latest for t in tasks)
    assert widget.progress == {
        "done": planned,
        "total": planned,
        "text": f"{planned}/{planned} tasks",
    }
    assert widget.rows_read == BATCHES * BATCH_ROWS  # an iterable's size is not known ahead
    assert last[0].planned_tasks == planned
    assert widget.rows_all_stages == sum(t["rows_out"] for t in tasks)
    assert widget.throughput and max(widget.throughput) > 0
    assert widget.sparkline.count(",") == len(widget.throughput)
    assert widget.latency_s is None  # nothing runs any more
    assert widget.error == ""

    html = job._repr_html_()
    assert '<span class="sabot-job-state sabot-state-finished">FINISHED</span>' in html
    assert f'<span class="sabot-job-rows">{expected.num_rows:,}</span>' in html
    assert f'<progress value="{planned}" max="{planned}">' in html
    assert (
        '<span class="sabot-job-state sabot-state-finished">FINISHED</span>' in widget.static_html()
    )
    assert '<svg class="sabot-sparkline"' in widget.static_html()  # the throughput it saw
    text = job._repr_mimebundle_()[0]["text/plain"]  # outside a kernel: the static view
    assert text.startswith(f"Job {job.job_id} FINISHED: {expected.num_rows:,} rows out")
    assert repr(job) == f"<Job {job.job_id} on {cluster.uri}>"  # no call to the JobManager


def test_a_parquet_job_shows_rows_read_of_the_files_rows_rising_to_all(
    cluster: sl.LocalCluster, tmp_path: Path
) -> None:
    """The progress of a job whose sources' sizes are known is the rows read of them, not
    finished tasks (which stay at 0 until the end of a one-stage job)."""
    path = tmp_path / "ticks.parquet"
    table = pa.table({"x": pa.array(range(1_200))})
    pq.write_table(table, path, row_group_size=100)

    def slowly(batch: pa.RecordBatch) -> pa.RecordBatch:
        time.sleep(0.15)
        return batch

    job = (
        sl.from_parquet(path).map_batches(slowly, schema=table.schema).submit(cluster, partitions=1)
    )

    async def main() -> tuple[JobWidget, list[tuple[str, int]]]:
        widget = JobWidget(job, interval=0.05)
        seen = []
        assert widget.updater is not None
        while not widget.updater.done():
            if widget.progress is not None:
                seen.append((widget.state, widget.progress["done"]))
            await asyncio.sleep(0.05)
        return widget, seen

    widget, seen = asyncio.run(main())
    assert job.result().num_rows == 1_200
    done = [d for _, d in seen]
    assert done == sorted(done)  # never goes back
    assert any(0 < d < 1_200 for s, d in seen if s == "RUNNING"), seen
    assert widget.progress == {"done": 1_200, "total": 1_200, "text": "1,200 of 1,200 rows read"}
    assert widget.rows_read == 1_200
    assert "1,200 of 1,200 rows read" in widget.static_html()


def test_the_cancel_message_cancels_a_running_endless_job(cluster: sl.LocalCluster) -> None:
    endless = sl.nexmark(events=None, event_rate=10_000, seed=3).bids.select("auction", "price")
    job = endless.submit(cluster, name="endless bids", partitions=2)

    async def main() -> JobWidget:
        widget = JobWidget(job)
        deadline = time.monotonic() + 60
        while not (widget.state == "RUNNING" and widget.rows > 0) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert widget.state == "RUNNING" and widget.rows > 0
        assert widget.progress is None  # an unbounded job has no end to measure against
        assert widget.latency_s is not None and widget.latency_s < 5
        # the message a click on Cancel sends, through ipywidgets' dispatch
        widget._handle_custom_msg({"type": "cancel"}, [])
        assert widget.notice == "cancelling"
        assert len(widget.loop_tasks) == 2  # the updater and the cancel, both on this loop
        assert widget.updater is not None
        await asyncio.wait_for(widget.updater, 30)
        return widget

    widget = asyncio.run(main())
    assert job.status() == "CANCELLED"
    assert widget.state == "CANCELLED"
    assert widget.notice == ""
    assert "sabot-state-cancelled" in job._repr_html_()


def test_rates_come_from_reports_so_a_running_job_never_reads_zero(
    cluster: sl.LocalCluster,
) -> None:
    """Agents report every 0.2 s here; the widget reads every 0.05 s. Rates measured between
    readings read 0 rows/s on three readings of four; between a task's reports they never do,
    and the live plan's operators neither."""
    endless = sl.from_iterable(steady_batches, schema={"x": "int64"}).filter(sl.col("x") >= 0)
    job = endless.submit(cluster, name="steady rows", partitions=1)

    async def main() -> tuple[list[float], list[float]]:
        widget = JobWidget(job, interval=0.05)
        plan = endless.show_plan()
        plan.follow(job, interval=0.05)
        operator_rates: list[float] = []
        deadline = time.monotonic() + 60
        while len(widget.throughput) < 8 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            if widget.state == "RUNNING" and plan.live:
                nodes = plan.live["nodes"].values()
                operator_rates += [n["rows_per_s"] for n in nodes if n["rows_per_s"] is not None]
        seen = list(widget.throughput)
        await asyncio.to_thread(job.cancel)
        return seen, operator_rates

    rates, operator_rates = asyncio.run(main())
    assert len(rates) >= 8 and rates.count(0.0) <= 1, rates  # one, if a loaded machine stalls
    assert operator_rates and operator_rates.count(0.0) <= len(operator_rates) // 8
    assert job.status() == "CANCELLED"


def gated_batches(gate: Path) -> Iterator[pa.RecordBatch]:
    """The batches of :func:`slow_batches`, the second half only once ``gate`` exists."""
    for i, batch in enumerate(slow_batches()):
        while i >= BATCHES // 2 and not gate.exists():
            time.sleep(0.05)
        yield batch


async def until(condition: Any, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert condition()


def test_the_widget_says_when_the_jobmanager_gives_no_reading_and_follows_it_again(
    tmp_path: Path,
) -> None:
    """The JobManager killed while a widget follows a running job: the widget says it gets no
    reading and keeps trying; the JobManager restarted (DBOS resumes the job), it follows the
    job to its end and the notice goes."""
    gate = tmp_path / "second-half"
    stream = sl.from_iterable(lambda: gated_batches(gate), schema={"x": "int64"})
    stream = stream.filter(sl.col("x") % 3 == 0)
    with sl.LocalCluster(
        agents=1, slots=2, workdir=tmp_path / "cluster", heartbeat_timeout=3,
        heartbeat_interval=0.2,
    ) as cluster:  # fmt: skip
        job = stream.submit(cluster, name="gated filter", partitions=1)
        jobmanager = cluster.jobmanager_process
        assert jobmanager is not None

        async def main() -> JobWidget:
            widget = JobWidget(job, interval=0.05)
            await until(lambda: widget.state == "RUNNING" and widget.rows > 0)
            jobmanager.kill()
            await asyncio.to_thread(jobmanager.wait)
            await until(lambda: widget.notice.startswith("no reading"))
            assert widget.state == "RUNNING" and widget.updater is not None
            assert not widget.updater.done()
            await asyncio.to_thread(cluster.start_jobmanager)
            gate.touch()
            await asyncio.wait_for(widget.updater, 120)
            return widget

        widget = asyncio.run(main())
        assert widget.state == "FINISHED" and widget.notice == ""
        assert widget.rows == expected_even_rows().num_rows == job.result().num_rows


def test_a_failed_job_shows_the_remote_traceback(cluster: sl.LocalCluster) -> None:
    def explode(batch: pa.RecordBatch) -> pa.RecordBatch:
        if batch.num_rows:
            raise ValueError("price feed is corrupt")
        return batch

    failing = sl.from_pydict({"x": [1, 2, 3]}).map_batches(explode, schema={"x": "int64"})
    job = failing.submit(cluster, partitions=1)
    assert job.wait(timeout=60) == "FAILED"
    widget = JobWidget(job)  # no running loop: one reading, now
    assert widget.updater is None
    assert widget.state == "FAILED"
    assert "price feed is corrupt" in widget.error and "Traceback" in widget.error
    assert widget.error == job.info()["error"]
    html = job._repr_html_()
    assert '<pre class="sabot-job-error">' in html
    assert "price feed is corrupt" in html


def test_a_job_in_a_notebook_keeps_its_final_state_in_the_saved_output() -> None:
    notebook = nbformat.v4.new_notebook()
    notebook.cells = [
        nbformat.v4.new_code_cell(
            "import asyncio, time, pyarrow as pa, sabot_lab as sl\n"
            "cluster = sl.LocalCluster(agents=1, slots=1, heartbeat_interval=0.2)\n"
            "def slow():\n"
            "    for i in range(6):\n"
            "        time.sleep(0.2)\n"
            "        yield pa.record_batch({'x': pa.array(range(i * 10, i * 10 + 10))})\n"
            "job = sl.from_iterable(slow, schema={'x': 'int64'}).submit(cluster)"
        ),
        # nbclient applies in-place updates of a cell's outputs while that cell runs only
        nbformat.v4.new_code_cell("display(job)\nawait job\nawait asyncio.sleep(1)"),
        nbformat.v4.new_code_cell("cluster.close()"),
    ]
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    (output,) = notebook.cells[1].outputs
    assert output["output_type"] == "display_data"
    data = output["data"]
    # a batch run (nbclient) shows no widget view: the static HTML and the snapshot instead
    assert "application/vnd.jupyter.widget-view+json" not in data
    snapshot = data["application/vnd.sabot.job+json"]["state"]
    assert snapshot["state"] == "FINISHED" and snapshot["rows"] == 60
    # shown while PENDING or RUNNING, updated in place once the job ended
    assert '<span class="sabot-job-state sabot-state-finished">FINISHED</span>' in data["text/html"]
    assert '<span class="sabot-job-rows">60</span>' in data["text/html"]
    assert "FINISHED: 60 rows out" in data["text/plain"]


@pytest.mark.parametrize("name", ["job.js", "cluster.js"])
def test_the_widget_modules_are_valid_javascript(name: str, tmp_path: Path) -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: the ESM syntax check needs it")
    module = tmp_path / name.replace(".js", ".mjs")
    module.write_text((STATIC / name).read_text())
    checked = subprocess.run([node, "--check", str(module)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
