"""Numbers from the network or the user are checked before anything waits on them: a NaN,
infinite or negative timeout is refused with an error naming it, on the JobManager's side and
in the client."""

from __future__ import annotations

import math

import pytest

from sabot_lab.client.cluster import Cluster
from sabot_lab.client.job import Job
from sabot_lab.errors import ClusterError
from sabot_lab.runtime.protocol import JobRef, JobRequest
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
