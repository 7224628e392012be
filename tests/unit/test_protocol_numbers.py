"""Numbers from the network or the user are checked before anything waits on them: a NaN,
infinite or negative timeout is refused with an error naming it, on the JobManager's side and
in the client."""

from __future__ import annotations

import math

import pytest

from sabot_lab.client.cluster import Cluster
from sabot_lab.client.job import Job
from sabot_lab.errors import ClusterError
from sabot_lab.runtime.protocol import Heartbeat, JobRef, JobRequest
from sabot_lab.runtime.transport import Credentials

BAD = [math.nan, math.inf, -math.inf, -1.0]


@pytest.mark.parametrize("timeout", BAD)
def test_a_wait_body_with_a_bad_timeout_is_refused(timeout: float) -> None:
    with pytest.raises(ClusterError, match=r"wait: timeout must be a finite number|timeout must"):
        JobRef.from_dict({"job_id": "j1", "timeout": timeout}, "wait")


def test_a_submit_body_with_a_non_finite_interval_is_refused() -> None:
    body = {"plan": "{}", "checkpoint_interval": math.nan}
    with pytest.raises(ClusterError, match="checkpoint_interval must be a finite number"):
        JobRequest.from_dict(body)


@pytest.mark.parametrize("timeout", [*BAD, True, "5"])
def test_waiting_on_a_job_with_a_bad_timeout_fails_at_once(timeout: object) -> None:
    """Refused before any call: the JobManager address is never contacted."""
    job = Job(Cluster("grpc://127.0.0.1:9", Credentials("t")), "j1")
    with pytest.raises(ClusterError, match="timeout must be None or a finite number"):
        job.wait(timeout)  # type: ignore[arg-type]
    with pytest.raises(ClusterError, match="timeout must be None or a finite number"):
        job.savepoint(timeout)  # type: ignore[arg-type]


GOOD_BEAT = {"uri": "grpc://10.0.0.7:8815", "state": "ACTIVE", "slots": 2, "running": 0}
GOOD_TASK = {"task_id": "6435680d03fc45d8/0.1/0", "state": "RUNNING", "rows_out": 5}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"uri": "<script>alert(1)</script>"}, "is not an agent URI"),
        ({"uri": "http://10.0.0.7:80"}, "is not an agent URI"),
        ({"slots": 0}, "slots must be 1 to 1024"),
        ({"slots": 10**9}, "slots must be 1 to 1024"),
        ({"running": -1}, "running must not be negative"),
        ({"memory_bytes": -5}, "memory_bytes must not be negative"),
        ({"tasks": [{**GOOD_TASK, "task_id": "../../etc"}]}, "is not a task id"),
        ({"tasks": [{**GOOD_TASK, "rows_out": "many"}]}, "rows_out must be a number"),
        ({"tasks": [{**GOOD_TASK, "busy_s": math.nan}]}, "busy_s must be a finite number"),
        ({"tasks": [{**GOOD_TASK, "rows_out": -3}]}, "rows_out must not be negative"),
        ({"tasks": [{**GOOD_TASK, "operators": {"x\n<b>": 3}}]}, "is not an operator id"),
        ({"tasks": [{**GOOD_TASK, "operators": {"x" * 300: 3}}]}, "is not an operator id"),
        ({"tasks": [{**GOOD_TASK, "operators": {"scan": "3"}}]}, "scan must be an integer"),
    ],
)
def test_a_heartbeat_with_a_bad_field_is_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ClusterError, match=message):
        Heartbeat.from_dict({**GOOD_BEAT, **change})


def test_a_good_heartbeat_passes_with_its_task_metrics() -> None:
    operators = {"source_1": 5, "filter_2": 3}
    beat = Heartbeat.from_dict({**GOOD_BEAT, "tasks": [{**GOOD_TASK, "operators": operators}]})
    assert beat.tasks[0].metrics == {"rows_out": 5.0, "operators": operators}
    assert Heartbeat.from_dict({**GOOD_BEAT, "uri": "grpc+tls://[::1]:9000"}).uri.endswith("9000")


@pytest.mark.parametrize("job_id", ["../../x", "a/b", "a.b", "-x", "x" * 65, "é"])
def test_a_client_chosen_job_id_that_could_leave_a_directory_is_refused(job_id: str) -> None:
    with pytest.raises(ClusterError, match=r"job_id .* must be 1 to 64 letters"):
        JobRequest.from_dict({"plan": "{}", "job_id": job_id})
    assert JobRequest.from_dict({"plan": "{}", "job_id": "my-job_7"}).job_id == "my-job_7"
