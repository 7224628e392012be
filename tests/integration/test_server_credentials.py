"""No server without a credential: ``sabot-lab jobmanager`` and ``sabot-lab agent`` refuse to
start without a strong ``SABOT_TOKEN`` (``--insecure`` serves without one on loopback only),
the server classes refuse the same when embedded, and an agent whose token the JobManager
refuses exits instead of waiting forever."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sabot_lab.errors import ClusterError
from sabot_lab.runtime.agent import AgentServer
from sabot_lab.runtime.jobmanager.server import JobManager
from sabot_lab.runtime.transport import ANONYMOUS, Credentials, call
from tests.support.polling import wait_for

TOKEN = secrets.token_urlsafe(32)


def environment(token: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "SABOT_TOKEN"}
    return env if token is None else {**env, "SABOT_TOKEN": token}


def refused(args: list[str], token: str | None) -> str:
    """Run a server command that must not start; its one-line error."""
    done = subprocess.run(
        [sys.executable, "-m", "sabot_lab.cli", *args],
        capture_output=True,
        text=True,
        env=environment(token),
        timeout=60,
    )
    assert done.returncode != 0 and "ready" not in done.stdout, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def start(args: list[str], token: str | None) -> tuple[subprocess.Popen[str], str]:
    """Start a server command that must start; the process and its URI."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sabot_lab.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(token),
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert " ready " in line, (line, process.communicate(timeout=30))
    return process, line.split()[-1]


def stop(process: subprocess.Popen[str]) -> str:
    """Stop a started server; what it wrote to stderr."""
    process.terminate()
    _, stderr = process.communicate(timeout=30)
    return stderr


@pytest.fixture
def jobmanager(tmp_path: Path) -> Iterator[str]:
    process, uri = start(["jobmanager", "--workdir", str(tmp_path)], TOKEN)
    yield uri
    stop(process)


def server_args(command: str, tmp_path: Path) -> list[str]:
    return [command, "--workdir", str(tmp_path)] if command == "jobmanager" else [command]


@pytest.mark.parametrize("command", ["agent", "jobmanager"])
@pytest.mark.parametrize("token", [None, "", "s3cret", "k" * 21])
def test_a_server_refuses_to_start_without_a_strong_token(
    command: str, token: str | None, tmp_path: Path
) -> None:
    error = refused(server_args(command, tmp_path), token)
    assert error.startswith(f"sabot-lab {command}: error: SABOT_TOKEN ")
    assert "secrets.token_urlsafe(32)" in error and "22 characters" in error


@pytest.mark.parametrize("command", ["agent", "jobmanager"])
@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_insecure_is_refused_off_loopback(command: str, host: str, tmp_path: Path) -> None:
    error = refused([*server_args(command, tmp_path), "--insecure", "--host", host], None)
    assert "--insecure" in error and "loopback" in error and "SABOT_TOKEN" in error


def test_an_insecure_agent_on_loopback_serves_without_a_token_and_warns() -> None:
    process, uri = start(["agent", "--insecure", "--host", "127.0.0.1"], None)
    try:
        assert call(uri, "ping", None, ANONYMOUS)["state"] == "ACTIVE"
    finally:
        stderr = stop(process)
    assert "warning: " in stderr and "--insecure" in stderr


def test_the_server_classes_refuse_to_start_without_a_strong_token(tmp_path: Path) -> None:
    with pytest.raises(ClusterError, match="SABOT_TOKEN is not set"):
        AgentServer()
    with pytest.raises(ClusterError, match="SABOT_TOKEN is too short"):
        AgentServer(auth=Credentials("s3cret"))
    with pytest.raises(ClusterError, match="loopback"):
        AgentServer(host="0.0.0.0", insecure=True)
    with pytest.raises(ClusterError, match="SABOT_TOKEN is not set"):
        JobManager(tmp_path)
    with pytest.raises(ClusterError, match="loopback"):
        JobManager(tmp_path, host="0.0.0.0", insecure=True)
    assert list(tmp_path.iterdir()) == []  # refused before opening anything
    agent = AgentServer(insecure=True)
    try:
        assert call(agent.uri, "ping", None, ANONYMOUS)["state"] == "ACTIVE"
    finally:
        agent.shutdown()


@pytest.mark.parametrize("token", [secrets.token_urlsafe(32), None], ids=["wrong", "none"])
def test_an_agent_the_jobmanager_refuses_exits_naming_sabot_token(
    jobmanager: str, token: str | None
) -> None:
    args = ["agent", "--jobmanager", jobmanager, *(["--insecure"] if token is None else [])]
    process, _ = start(args, token)
    try:
        code = process.wait(timeout=60)
    finally:
        stderr = stop(process)
    assert code != 0
    error = stderr.strip().splitlines()[-1]
    assert error.startswith("sabot-lab agent: error: the JobManager refused this agent's token")
    assert "SABOT_TOKEN" in error


def test_an_agent_with_the_jobmanagers_token_registers(jobmanager: str) -> None:
    process, uri = start(["agent", "--jobmanager", jobmanager], TOKEN)
    try:
        state = lambda: call(uri, "ping", None, Credentials(TOKEN))["state"]  # noqa: E731
        wait_for(lambda: state() == "ACTIVE")
        assert state() == "ACTIVE" and process.poll() is None
    finally:
        stop(process)
