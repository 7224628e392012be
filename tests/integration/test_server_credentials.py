"""No server without its credentials: ``sabot-lab jobmanager`` refuses to start without strong
``SABOT_TOKEN`` (clients that submit) and ``SABOT_CLUSTER_TOKEN`` (agents), ``sabot-lab agent``
without ``SABOT_CLUSTER_TOKEN`` (``--insecure`` serves without them on loopback only), the
server classes refuse the same when embedded, and an agent whose token the JobManager refuses
exits instead of waiting forever. Tokens never travel in clear: plain ``grpc://`` off
loopback is refused unless ``--insecure``."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import sabot_lab as sl
from sabot_lab.errors import AuthenticationError, ClusterError
from sabot_lab.runtime.addresses import routable_address
from sabot_lab.runtime.agent import AgentServer
from sabot_lab.runtime.jobmanager.server import JobManager
from sabot_lab.runtime.transport import ANONYMOUS, Credentials, call
from tests.support.polling import wait_for

TOKEN = secrets.token_urlsafe(32)
CLUSTER_TOKEN = secrets.token_urlsafe(32)
TOKENS = {"SABOT_TOKEN": TOKEN, "SABOT_CLUSTER_TOKEN": CLUSTER_TOKEN}
"""What a JobManager needs (an agent: SABOT_CLUSTER_TOKEN)."""
VARIABLES = ("SABOT_TOKEN", "SABOT_CLUSTER_TOKEN", "SABOT_READ_TOKEN")


def environment(tokens: dict[str, str]) -> dict[str, str]:
    """This process's environment with ``tokens`` for the only token variables."""
    return {**{k: v for k, v in os.environ.items() if k not in VARIABLES}, **tokens}


def refused(args: list[str], tokens: dict[str, str]) -> str:
    """Run a server command that must not start; its one-line error."""
    done = subprocess.run(
        [sys.executable, "-m", "sabot_lab.cli", *args],
        capture_output=True,
        text=True,
        env=environment(tokens),
        timeout=60,
    )
    assert done.returncode != 0 and "ready" not in done.stdout, (done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def start(args: list[str], tokens: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """Start a server command that must start; the process and its URI."""
    process = subprocess.Popen(
        [sys.executable, "-m", "sabot_lab.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment(tokens),
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
    process, uri = start(["jobmanager", "--workdir", str(tmp_path)], TOKENS)
    yield uri
    stop(process)


def server_args(command: str, tmp_path: Path) -> list[str]:
    return [command, "--workdir", str(tmp_path)] if command == "jobmanager" else [command]


WEAK_TOKENS = [None, "", "s3cret", "k" * 21]


@pytest.mark.parametrize(
    ("command", "variable", "token"),
    [
        *[("agent", "SABOT_CLUSTER_TOKEN", t) for t in WEAK_TOKENS],
        *[("jobmanager", "SABOT_TOKEN", t) for t in WEAK_TOKENS],
        *[("jobmanager", "SABOT_CLUSTER_TOKEN", t) for t in WEAK_TOKENS],
        *[("jobmanager", "SABOT_READ_TOKEN", t) for t in WEAK_TOKENS if t],  # optional
    ],
)
def test_a_server_refuses_to_start_without_a_strong_token(
    command: str, variable: str, token: str | None, tmp_path: Path
) -> None:
    """Each token the server needs (the read token only when given) is checked, and the
    error names its variable."""
    tokens = {**TOKENS} if command == "jobmanager" else {}
    tokens.pop(variable, None)
    if token is not None:
        tokens[variable] = token
    error = refused(server_args(command, tmp_path), tokens)
    assert error.startswith(f"sabot-lab {command}: error: {variable} ")
    assert "secrets.token_urlsafe(32)" in error and "22 characters" in error


@pytest.mark.parametrize("same", ["SABOT_CLUSTER_TOKEN", "SABOT_READ_TOKEN"])
def test_a_jobmanager_refuses_one_token_for_two_roles(same: str, tmp_path: Path) -> None:
    error = refused(server_args("jobmanager", tmp_path), {**TOKENS, same: TOKEN})
    assert error.startswith("sabot-lab jobmanager: error: SABOT_TOKEN and ")
    assert same in error and "must differ" in error


@pytest.mark.parametrize("command", ["agent", "jobmanager"])
@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_insecure_is_refused_off_loopback(command: str, host: str, tmp_path: Path) -> None:
    error = refused([*server_args(command, tmp_path), "--insecure", "--host", host], {})
    variable = "SABOT_CLUSTER_TOKEN" if command == "agent" else "SABOT_TOKEN"
    assert "--insecure" in error and "loopback" in error and variable in error


def test_an_insecure_agent_on_loopback_serves_without_a_token_and_warns() -> None:
    process, uri = start(["agent", "--insecure", "--host", "127.0.0.1"], {})
    try:
        assert call(uri, "ping", None, ANONYMOUS)["state"] == "ACTIVE"
    finally:
        stderr = stop(process)
    assert "warning: " in stderr and "--insecure" in stderr


def test_the_server_classes_refuse_to_start_without_a_strong_token(tmp_path: Path) -> None:
    cluster = Credentials(CLUSTER_TOKEN)
    with pytest.raises(ClusterError, match=r"^SABOT_CLUSTER_TOKEN is not set"):
        AgentServer()
    with pytest.raises(ClusterError, match=r"^SABOT_CLUSTER_TOKEN is too short"):
        AgentServer(auth=Credentials("s3cret"))
    with pytest.raises(ClusterError, match="loopback"):
        AgentServer(host="0.0.0.0", insecure=True)
    with pytest.raises(ClusterError, match=r"^SABOT_TOKEN is not set"):
        JobManager(tmp_path)
    with pytest.raises(ClusterError, match=r"^SABOT_TOKEN is not set"):
        JobManager(tmp_path, auth=cluster)
    with pytest.raises(ClusterError, match=r"^SABOT_CLUSTER_TOKEN is not set"):
        JobManager(tmp_path, submit_token=TOKEN)
    with pytest.raises(ClusterError, match=r"^SABOT_READ_TOKEN is too short"):
        JobManager(tmp_path, auth=cluster, submit_token=TOKEN, read_token="s3cret")
    with pytest.raises(ClusterError, match=r"^SABOT_TOKEN and SABOT_CLUSTER_TOKEN must differ"):
        JobManager(tmp_path, auth=cluster, submit_token=CLUSTER_TOKEN)
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
    process, _ = start(args, {} if token is None else {"SABOT_CLUSTER_TOKEN": token})
    try:
        code = process.wait(timeout=60)
    finally:
        stderr = stop(process)
    assert code != 0
    error = stderr.strip().splitlines()[-1]
    assert error.startswith("sabot-lab agent: error: the JobManager refused this agent's token")
    assert "SABOT_CLUSTER_TOKEN" in error


def test_an_agent_with_the_submit_token_is_refused_and_exits(jobmanager: str) -> None:
    """The submit token is for clients: the JobManager refuses it from an agent."""
    process, _ = start(["agent", "--jobmanager", jobmanager], {"SABOT_CLUSTER_TOKEN": TOKEN})
    try:
        code = process.wait(timeout=60)
    finally:
        stderr = stop(process)
    assert code != 0 and "is for agents" in stderr and "SABOT_CLUSTER_TOKEN" in stderr


def test_an_agent_with_the_jobmanagers_token_registers(jobmanager: str) -> None:
    process, uri = start(
        ["agent", "--jobmanager", jobmanager], {"SABOT_CLUSTER_TOKEN": CLUSTER_TOKEN}
    )
    try:
        state = lambda: call(uri, "ping", None, Credentials(CLUSTER_TOKEN))["state"]  # noqa: E731
        wait_for(lambda: state() == "ACTIVE")
        assert state() == "ACTIVE" and process.poll() is None
    finally:
        stop(process)


READ_TOKEN = secrets.token_urlsafe(32)
ONLY_READS = "this credential may only read; submitting needs the submit token (SABOT_TOKEN)"


@pytest.fixture
def three_tokens_cluster(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A JobManager started with the three tokens and an agent with the cluster token: their
    URIs, once the agent registered."""
    jobmanager, jm_uri = start(
        ["jobmanager", "--workdir", str(tmp_path)], {**TOKENS, "SABOT_READ_TOKEN": READ_TOKEN}
    )
    agent, agent_uri = start(
        ["agent", "--jobmanager", jm_uri], {"SABOT_CLUSTER_TOKEN": CLUSTER_TOKEN}
    )
    try:
        registered = lambda: [a["uri"] for a in sl.connect(jm_uri, token=TOKEN).agents()]  # noqa: E731
        wait_for(lambda: registered() == [agent_uri], timeout=60)
        yield jm_uri, agent_uri
    finally:
        stop(agent)
        stop(jobmanager)


def test_a_cluster_started_from_the_command_line_gives_each_token_its_role(
    three_tokens_cluster: tuple[str, str],
) -> None:
    jm, agent = three_tokens_cluster
    job = sl.from_pydict({"x": [3, 1, 2]}).submit(sl.connect(jm, token=TOKEN), name="roles")
    assert sorted(job.result(timeout=60).column("x").to_pylist()) == [1, 2, 3]
    reader = sl.connect(jm, token=READ_TOKEN)
    assert [j["job_id"] for j in reader.jobs()] == [job.job_id]
    assert sorted(reader.job(job.job_id).result(timeout=60).column("x").to_pylist()) == [1, 2, 3]
    with pytest.raises(AuthenticationError) as refused_submit:
        sl.from_pydict({"x": [1]}).submit(reader)
    assert str(refused_submit.value).endswith(ONLY_READS)
    with pytest.raises(AuthenticationError, match="may only read"):
        reader.job(job.job_id).cancel()
    with pytest.raises(AuthenticationError, match=r"the submit token \(SABOT_TOKEN\)"):
        sl.from_pydict({"x": [1]}).submit(sl.connect(jm, token=CLUSTER_TOKEN))
    assert [j["job_id"] for j in reader.jobs()] == [job.job_id]
    for token in (TOKEN, READ_TOKEN):  # an agent takes no client token
        with pytest.raises(AuthenticationError):
            call(agent, "deploy", {}, Credentials(token))
    assert call(agent, "ping", None, Credentials(CLUSTER_TOKEN))["state"] == "ACTIVE"


def test_without_a_read_token_only_the_submit_token_reads(jobmanager: str) -> None:
    assert sl.connect(jobmanager, token=TOKEN).jobs() == []
    with pytest.raises(AuthenticationError, match="invalid or missing bearer token"):
        sl.connect(jobmanager, token=READ_TOKEN)


@pytest.mark.parametrize("command", ["agent", "jobmanager"])
@pytest.mark.parametrize("host", ["0.0.0.0", "::"])
def test_a_server_refuses_plain_grpc_off_loopback(command: str, host: str, tmp_path: Path) -> None:
    """Every caller's token would reach it in clear."""
    error = refused([*server_args(command, tmp_path), "--host", host], TOKENS)
    assert error.startswith(f"sabot-lab {command}: error: grpc://")
    for how in ("plain grpc://", "in clear", "--tls-cert", "SABOT_TLS_CA", "--insecure"):
        assert how in error


def test_insecure_serves_plain_grpc_off_loopback_with_a_warning() -> None:
    process, uri = start(["agent", "--host", "0.0.0.0", "--insecure"], TOKENS)
    try:
        assert uri.startswith(f"grpc://{routable_address()}:")  # (its host's, not 0.0.0.0)
        with pytest.raises(ClusterError, match="plain grpc://"):
            call(uri, "ping", None, Credentials(CLUSTER_TOKEN))
        assert call(uri, "ping", None, Credentials(CLUSTER_TOKEN, insecure=True))["state"]
    finally:
        stderr = stop(process)
    assert "warning: " in stderr and "in clear" in stderr


def test_an_agent_refuses_a_plain_jobmanager_off_loopback() -> None:
    error = refused(["agent", "--jobmanager", "grpc://192.0.2.1:8815"], TOKENS)
    assert error.startswith("sabot-lab agent: error: grpc://192.0.2.1:8815 is plain grpc:// ")
    assert "--tls-cert" in error


def test_a_client_refuses_a_plain_jobmanager_off_loopback() -> None:
    with pytest.raises(ClusterError, match=r"^grpc://192.0.2.1:8815 is plain grpc:// .*grpc\+tls"):
        sl.connect("grpc://192.0.2.1:8815", token=TOKEN)
    error = refused(["jobs", "--jobmanager", "grpc://192.0.2.1:8815"], TOKENS)
    assert error.startswith("sabot-lab jobs: error: grpc://192.0.2.1:8815 is plain grpc:// ")
