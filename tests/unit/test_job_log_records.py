"""The JobManager's log records of its jobs' tasks: checked as they arrive, the last of each
task kept, chosen by level, task and tail, and deleted with their job."""

from __future__ import annotations

import pytest

from sabot_lab.errors import ClusterError
from sabot_lab.runtime.jobmanager.job_logs import FLUSH_RECORDS, MAX_TEXT, JobLogs
from sabot_lab.runtime.jobmanager.store import JobStore
from sabot_lab.runtime.protocol import LogsRequest


def record(time: float, level: str = "info", event: str = "e", **more: object) -> dict:
    return {"time": time, "level": level, "event": event, **more}


@pytest.fixture
def logs() -> JobLogs:
    store = JobStore("sqlite://")
    for job in ("j1", "j2"):
        store.create_job(job, "q")
    return JobLogs(store, per_task=3)


def events(rows: list[dict]) -> list[str]:
    return [row["event"] for row in rows]


def test_the_ids_are_the_jobmanagers_and_the_last_records_of_each_task_are_kept(
    logs: JobLogs,
) -> None:
    logs.add("grpc://a:1", {"j1/0.0/0": [record(t, event=f"a{t:g}") for t in (1, 2)]})
    logs.add("grpc://a:1", {"j1/0.0/0": [record(t, event=f"a{t:g}") for t in (3, 4)]})
    logs.add("grpc://b:2", {"j1/1.0/1": [record(2.5, "error", "b", error="Traceback ...")]})
    logs.add("grpc://b:2", {"j2/0.0/0": [record(1.5, job_id="j1", task_id="j1/0.0/0")]})
    rows = logs.records(LogsRequest("j1"))
    assert events(rows) == ["a2", "b", "a3", "a4"]  # by time; a1 went (3 per task)
    failed = rows[1]
    assert {k: failed[k] for k in ("job_id", "task_id", "stage", "attempt", "agent_id")} == {
        "job_id": "j1",
        "task_id": "j1/1.0/1",
        "stage": 1,
        "attempt": 1,
        "agent_id": "grpc://b:2",
    }
    assert failed["error"] == "Traceback ..." and failed["level"] == "error"
    (other,) = logs.records(LogsRequest("j2"))  # what an agent says of ids is not believed
    assert other["job_id"] == "j2" and other["task_id"] == "j2/0.0/0"


def test_records_are_chosen_by_level_task_and_tail(logs: JobLogs) -> None:
    logs.add("grpc://a:1", {"j1/0.0/0": [record(1, "debug", "d"), record(2, "warning", "w")]})
    logs.add("grpc://a:1", {"j1/0.1/0": [record(3, "error", "e")]})
    logs.add("grpc://a:1", {"j1/0.1/1": [record(4, "critical", "c")]})
    assert events(logs.records(LogsRequest("j1", level="warning"))) == ["w", "e", "c"]
    assert events(logs.records(LogsRequest("j1", level="ERROR"))) == ["e", "c"]
    assert events(logs.records(LogsRequest("j1", task="j1/0.1/0"))) == ["e"]
    assert events(logs.records(LogsRequest("j1", task="0.1"))) == ["e", "c"]  # all attempts
    assert events(logs.records(LogsRequest("j1", tail=2))) == ["e", "c"]
    assert events(logs.records(LogsRequest("j1", level="debug", task="0.0", tail=1))) == ["w"]
    assert logs.records(LogsRequest("j1", tail=0)) == []


def test_records_that_are_not_such_are_left_out_and_long_text_is_cut(logs: JobLogs) -> None:
    logs.add(
        "grpc://a:1",
        {
            "j1/0.0/0": [record(1), {"time": "soon", "level": "info", "event": "x"}],
            "j1/0.1/0": [record(2, "loud")],
            "j1/0.2/0": "not a list",
            "not-a-task": [record(3)],
            "j1/0.3/0": [record(4, "error", "x" * (MAX_TEXT + 10), error="y" * (MAX_TEXT + 1))],
            "j1/0.4/0": [record(float("nan"))],
        },
    )
    (long,) = logs.records(LogsRequest("j1"))
    assert len(long["event"]) == MAX_TEXT and len(long["error"]) == MAX_TEXT


def test_a_jobs_records_go_with_the_job(logs: JobLogs) -> None:
    logs.add("grpc://a:1", {"j1/0.0/0": [record(1)], "j2/0.0/0": [record(2)]})
    logs.flush()
    assert logs.store.delete_job("j1")
    assert logs.store.row_counts()["task_logs"] == 1
    assert logs.records(LogsRequest("j1")) == []
    logs.add("grpc://a:1", {"j1/0.0/0": [record(3)], "j2/0.0/0": [record(4)]})  # (late)
    logs.flush()
    assert events(logs.records(LogsRequest("j2"))) == ["e", "e"]
    assert logs.store.row_counts()["task_logs"] == 2  # the deleted job's were dropped


def test_records_wait_to_be_written_together_but_never_past_a_read(logs: JobLogs) -> None:
    for n in range(5):
        logs.add("grpc://a:1", {"j1/0.0/0": [record(n)]})
    assert logs.store.row_counts()["task_logs"] == 0  # not one transaction per poll
    assert len(logs.records(LogsRequest("j1"))) == 3  # a read writes them first
    logs.add("grpc://a:1", {"j1/0.0/0": [record(9)] * (FLUSH_RECORDS + 1)})
    assert logs.store.row_counts()["task_logs"] == 3  # (many: written at once, 3 kept)


def test_a_logs_request_is_checked() -> None:
    request = LogsRequest("j1", "warning", "j1/0.1/2", 5)
    assert LogsRequest.from_dict(request.to_dict()) == request
    for body, message in [
        ({"job_id": "j1", "tail": -1}, "tail must be >= 0"),
        ({"job_id": "j1", "tail": "5"}, "tail must be an integer"),
        ({"job_id": "j1", "task": "0/1"}, "neither a task id"),
        ({"job_id": "../j"}, "job_id '../j' must be"),
        ({"job_id": "j1", "level": "loud"}, "level 'loud' is none of"),
    ]:
        with pytest.raises(ClusterError, match=message):
            LogsRequest.from_dict(body)
