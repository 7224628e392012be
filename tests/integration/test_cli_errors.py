"""``sabot-lab`` on the command line, as a user meets its failures: one line saying what went
wrong and the fix, never a traceback, and an exit code for each kind of failure."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import sabot_lab as sl
from sabot_lab.cli import EXIT_CODES, JobEndedError
from sabot_lab.errors import AuthenticationError, JobNotFoundError, UnreachableError
from tests.support.ports import free_port


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sl.LocalCluster]:
    with sl.LocalCluster(agents=1, slots=1, workdir=tmp_path_factory.mktemp("cli")) as c:
        yield c


def sabot_lab(*args: str, token: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SABOT_")}
    if token is not None:
        env["SABOT_TOKEN"] = token
    return subprocess.run(
        [sys.executable, "-m", "sabot_lab.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def one_line_error(run: subprocess.CompletedProcess[str]) -> str:
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    [line] = run.stderr.splitlines()
    assert line.startswith("sabot-lab jobs: error: ")
    return line


def test_each_kind_of_failure_has_its_own_exit_code() -> None:
    codes = [*EXIT_CODES.values(), 1, 2]
    assert len(set(codes)) == len(codes)


def test_a_wrong_or_missing_token_says_where_the_token_comes_from(
    cluster: sl.LocalCluster,
) -> None:
    for run in (
        sabot_lab("jobs", "--jobmanager", cluster.uri),
        sabot_lab("jobs", "--jobmanager", cluster.uri, "--token", "x" * 43),
        sabot_lab("jobs", "--jobmanager", cluster.uri, token="y" * 43),
    ):
        line = one_line_error(run)
        assert "rejected" in line and "SABOT_TOKEN or --token" in line
        assert run.returncode == EXIT_CODES[AuthenticationError]


def test_the_token_flag_and_the_variable_both_reach_the_cluster(
    cluster: sl.LocalCluster,
) -> None:
    job = sl.from_pydict({"x": [1]}).submit(cluster, name="listed")
    job.result(timeout=60)
    by_flag = sabot_lab("jobs", "--jobmanager", cluster.uri, "--token", cluster.auth.token)
    by_variable = sabot_lab("jobs", "--jobmanager", cluster.uri, token=cluster.auth.token)
    for run in (by_flag, by_variable):
        assert run.returncode == 0, run.stderr
        assert job.job_id in run.stdout and "listed" in run.stdout


def test_an_unreachable_jobmanager_says_how_to_start_one() -> None:
    run = sabot_lab("jobs", "--jobmanager", f"grpc://127.0.0.1:{free_port()}", token="t" * 43)
    line = one_line_error(run)
    assert "unreachable" in line and "sabot-lab local" in line
    assert run.returncode == EXIT_CODES[UnreachableError]


def test_an_unknown_job_says_how_to_list_the_jobs(cluster: sl.LocalCluster) -> None:
    for flag in ("--cancel", "--delete"):
        run = sabot_lab("jobs", "--jobmanager", cluster.uri, flag, "nosuchjob", token=cluster.token)
        line = one_line_error(run)
        assert "no job 'nosuchjob'" in line and "lists the cluster's jobs" in line
        assert run.returncode == EXIT_CODES[JobNotFoundError]


def test_cancelling_an_ended_job_is_an_error_and_lists_nothing(cluster: sl.LocalCluster) -> None:
    job = sl.from_pydict({"x": [1]}).submit(cluster)
    job.result(timeout=60)
    run = sabot_lab(
        "jobs", "--jobmanager", cluster.uri, "--cancel", job.job_id, token=cluster.token
    )
    line = one_line_error(run)
    assert f"job {job.job_id} already ended FINISHED: nothing to cancel" in line
    assert run.returncode == EXIT_CODES[JobEndedError]
    assert job.status() == "FINISHED"


def test_the_tls_ca_flag_is_the_certificates_a_tls_jobmanager_is_checked_against(
    tmp_path: Path,
) -> None:
    missing = tmp_path / "no-such-ca.pem"
    run = sabot_lab(
        "jobs", "--jobmanager", "grpc+tls://127.0.0.1:1", "--tls-ca", str(missing), token="t" * 43
    )
    line = one_line_error(run)
    assert str(missing) in line
    assert run.returncode == 1


def test_version_prints_the_installed_version() -> None:
    run = sabot_lab("--version")
    assert run.returncode == 0
    assert run.stdout.strip() == f"sabot-lab {sl.__version__}"


def test_wrong_arguments_exit_with_two_and_name_the_argument() -> None:
    run = sabot_lab("jobs")
    assert run.returncode == 2
    assert "--jobmanager" in run.stderr and "Traceback" not in run.stderr
