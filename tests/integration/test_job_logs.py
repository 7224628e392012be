"""A job's log records where the user looks, on a real two-agent LocalCluster: a user
function that raises on one of a job's two tasks leaves that task's error record (with the
job's and the task's ids and the user's traceback) in ``job.logs()``, in the job widget and
in ``sabot-lab jobs --logs``; every line of the cluster's log files is a JSON record, and a
task's records carry its ids."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from typing import Any

import pyarrow as pa
import pytest

import sabot_lab as sl
from sabot_lab.notebook.job_widget import JobWidget
from sabot_lab.observability.log_records import LOG_SCHEMA

RAISES = "price feed is corrupt"


def explode_on_high_prices(batch: pa.RecordBatch) -> pa.RecordBatch:
    if batch.num_rows and batch.column(0)[0].as_py() >= 50:
        raise ValueError(RAISES)
    return batch


@pytest.fixture(scope="module")
def failed(two_agents: sl.LocalCluster) -> sl.Job:
    """A job of two tasks (one per partition of x: 0..49 and 50..99) whose second raises."""
    stream = sl.from_pydict({"x": list(range(100))}).map_batches(
        explode_on_high_prices, schema={"x": "int64"}
    )
    job = stream.submit(two_agents, partitions=2)
    assert job.wait(timeout=60) == "FAILED"
    return job


def failed_task(job: sl.Job) -> dict[str, Any]:
    (task,) = [t for t in job.tasks() if t["state"] == "FAILED"]
    return task


def test_job_logs_hold_the_failed_tasks_error_record_with_its_ids(failed: sl.Job) -> None:
    task, tasks = failed_task(failed), failed.tasks()
    logs = failed.logs()
    assert logs.schema == LOG_SCHEMA
    records = logs.to_pylist()
    errors = [r for r in records if r["level"] == "error"]
    ids = [(r["job_id"], r["task_id"], r["attempt"], r["stage"], r["agent_id"]) for r in errors]
    assert ids == [(failed.job_id, task["task_id"], 0, 0, task["agent"])]
    error = errors[0]["error"]
    assert f"ValueError: {RAISES}" in error and "in explode_on_high_prices" in error
    assert "Traceback" in error and "sabot_lab/" not in error  # the user's frames only
    started = {r["task_id"] for r in records if r["event"] == "task started"}
    assert started == {t["task_id"] for t in tasks}  # from both agents
    assert {r["agent_id"] for r in records} == {t["agent"] for t in tasks}
    assert [r["time"] for r in records] == sorted(r["time"] for r in records)


def test_job_logs_choose_by_level_task_and_tail(failed: sl.Job) -> None:
    task = failed_task(failed)
    records = failed.logs().to_pylist()
    assert failed.logs(level="error").to_pylist() == [r for r in records if r["level"] == "error"]
    assert failed.logs(level="WARNING").to_pylist() == failed.logs(level="error").to_pylist()
    of_task = [r for r in records if r["task_id"] == task["task_id"]]
    assert failed.logs(task=task["task_id"]).to_pylist() == of_task
    producer = task["task_id"].split("/")[1]  # "stage.partition": all its attempts
    assert failed.logs(task=producer).to_pylist() == of_task
    assert failed.logs(tail=2).to_pylist() == records[-2:]
    assert failed.logs(task=task["task_id"], tail=1).to_pylist() == of_task[-1:]
    awaited = asyncio.run(failed.logs_async(level="error", tail=1))
    assert awaited.to_pylist() == failed.logs(level="error").to_pylist()[-1:]
    with pytest.raises(sl.ClusterError, match="level 'loud' is none of DEBUG"):
        failed.logs(level="loud")
    with pytest.raises(sl.ClusterError, match="neither a task id"):
        failed.logs(task="../etc")


def test_the_job_widget_shows_the_failed_task_and_its_log(failed: sl.Job) -> None:
    task = failed_task(failed)
    widget = JobWidget(failed)  # no running loop: it reads the job once, now
    assert widget.failure is not None
    assert widget.failure["task_id"] == task["task_id"]
    assert widget.failure["agent"] == task["agent"]
    assert RAISES in widget.failure["error"]
    log = widget.failure["log"]
    assert any("ERROR" in line and f"task {task['task_id']} failed" in line for line in log)
    assert any("task started" in line for line in log)
    html = widget.static_html()
    assert 'class="sabot-job-failure"' in html and 'class="sabot-job-log"' in html
    assert f"task {task['task_id']} failed on {task['agent']}" in html
    text = widget.static_text()
    assert f"task {task['task_id']} failed on" in text and "task started" in text


def test_a_job_without_a_failed_task_shows_no_failure(two_agents: sl.LocalCluster) -> None:
    job = sl.from_pydict({"x": [1, 2, 3]}).submit(two_agents)
    assert job.wait(timeout=60) == "FINISHED"
    assert JobWidget(job).failure is None
    assert 'class="sabot-job-failure"' not in JobWidget(job).static_html()
    assert {r["level"] for r in job.logs().to_pylist()} == {"info"}


def run_cli(cluster: sl.LocalCluster, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SABOT_")}
    env["SABOT_TOKEN"] = cluster.token or ""
    return subprocess.run(
        [sys.executable, "-m", "sabot_lab.cli", "jobs", "--jobmanager", cluster.uri, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_sabot_lab_jobs_logs_prints_them(failed: sl.Job, two_agents: sl.LocalCluster) -> None:
    task = failed_task(failed)
    run = run_cli(two_agents, "--logs", failed.job_id)
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert len([line for line in lines if not line.startswith("    ")]) == failed.logs().num_rows
    (error_line,) = [line for line in lines if " ERROR " in line]
    assert task["task_id"] in error_line and f"task {task['task_id']} failed" in error_line
    after = lines[lines.index(error_line) + 1 :]
    assert any(f"ValueError: {RAISES}" in line for line in after)
    assert all(line.startswith("    ") for line in after[:3])  # its error, indented
    only = run_cli(two_agents, "--logs", failed.job_id, "--level", "error", "--tail", "1")
    assert only.returncode == 0, only.stderr
    assert only.stdout.splitlines()[0] == error_line
    gone = run_cli(two_agents, "--logs", "nosuchjob")
    assert gone.returncode == 5 and "no job 'nosuchjob'" in gone.stderr


def test_every_line_of_the_clusters_log_files_is_a_json_record_with_its_ids(
    failed: sl.Job, two_agents: sl.LocalCluster
) -> None:
    task = failed_task(failed)
    files = sorted(two_agents.workdir.glob("*.log"))
    assert [f.name for f in files] == ["agent-0.log", "agent-1.log", "jobmanager.log"]
    records = {f.name: [json.loads(line) for line in f.read_text().splitlines()] for f in files}
    for name, lines in records.items():
        assert lines, name
        for record in lines:
            assert {"time", "level", "event", "logger", "process"} <= record.keys()
            if "task_id" in record:  # a task's record: all its ids
                assert record["task_id"].startswith(f"{record['job_id']}/")
                assert {"attempt", "stage", "agent_id"} <= record.keys()
    agents = records["agent-0.log"] + records["agent-1.log"]
    (error,) = [r for r in agents if r["level"] == "error" and r["job_id"] == failed.job_id]
    assert error["task_id"] == task["task_id"] and error["agent_id"] == task["agent"]
    assert RAISES in error["error"] and error["process"] == "agent"
    ended = [r for r in records["jobmanager.log"] if r["event"] == f"job {failed.job_id} failed"]
    assert [r["job_id"] for r in ended] == [failed.job_id] and RAISES in ended[0]["error"]


def test_a_deleted_jobs_records_go_with_it(two_agents: sl.LocalCluster) -> None:
    stream = sl.from_pydict({"x": [70]}).map_batches(explode_on_high_prices, schema={"x": "int64"})
    job = stream.submit(two_agents)
    assert job.wait(timeout=60) == "FAILED"
    assert job.logs(level="error").num_rows == 1
    job.delete()
    with pytest.raises(sl.JobNotFoundError):
        job.logs()
