"""The addresses servers hand out, on loopback: a JobManager and agents listening on every
interface (``--host 0.0.0.0``) never register or print the wildcard; ``--advertise-host``
(or ``SABOT_ADVERTISE_HOST``) is the address they hand out; an agent the JobManager cannot
reach back at its address is refused at registration and exits saying so."""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.runtime.addresses import host_of, is_wildcard
from sabot_lab.runtime.transport import Credentials, call
from tests.support.polling import wait_for

TOKEN = secrets.token_urlsafe(32)
CLUSTER_TOKEN = secrets.token_urlsafe(32)
CLUSTER = Credentials(CLUSTER_TOKEN, insecure=True)


def start(args: list[str], **env: str) -> tuple[subprocess.Popen[str], str]:
    """Start ``sabot-lab ARGS`` (with the cluster's tokens); the process and the URI its ready
    line names."""
    variables = {"SABOT_TOKEN": TOKEN, "SABOT_CLUSTER_TOKEN": CLUSTER_TOKEN, **env}
    process = subprocess.Popen(
        [sys.executable, "-m", "sabot_lab.cli", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **variables},
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert " ready " in line, (line, process.communicate(timeout=30))
    return process, line.split()[-1]


def stop(process: subprocess.Popen[str]) -> str:
    """Stop a started server; what it wrote to stderr."""
    if process.poll() is None:
        process.terminate()
    return process.communicate(timeout=60)[1]


@pytest.fixture
def jobmanager(tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """A JobManager on every interface, as the README starts one (plain grpc:// off
    loopback needs --insecure): its URI and process."""
    args = ["jobmanager", "--host", "0.0.0.0", "--insecure", "--workdir", str(tmp_path)]
    process, uri = start(args)
    yield uri, process
    stop(process)


def connect(uri: str) -> sl.Cluster:
    return sl.connect(uri, token=TOKEN, insecure=True)


def registered(uri: str) -> list[str]:
    return [a["uri"] for a in connect(uri).agents()]


def test_a_jobmanager_on_every_interface_hands_out_an_address_of_its_host(
    jobmanager: tuple[str, subprocess.Popen[str]],
) -> None:
    uri, _ = jobmanager
    assert not is_wildcard(host_of(uri)) and uri.startswith("grpc://")
    http = call(uri, "ping", None, Credentials(TOKEN, insecure=True))["http"]
    assert host_of(http) == host_of(uri)
    assert connect(uri).jobs() == []  # clients reach it at the address it handed out


def test_an_agent_on_every_interface_registers_the_address_toward_its_jobmanager(
    jobmanager: tuple[str, subprocess.Popen[str]],
) -> None:
    jm, _ = jobmanager
    loopback = jm.replace(host_of(jm), "127.0.0.1")  # the agent reaches it there: its route
    agent, uri = start(["agent", "--host", "0.0.0.0", "--insecure", "--jobmanager", loopback])
    try:
        assert host_of(uri) == "127.0.0.1"
        wait_for(lambda: registered(jm) == [uri], timeout=60)
        assert registered(jm) == [uri]
        table = {"k": [i % 5 for i in range(1_000)], "x": list(range(1_000))}
        job = sl.from_pydict(table).group_by("k").agg(total=col("x").sum()).submit(connect(jm))
        result = job.result(timeout=60).sort_by("k").to_pydict()
        assert result == {"k": [0, 1, 2, 3, 4], "total": [99500, 99700, 99900, 100100, 100300]}
    finally:
        stop(agent)


@pytest.mark.parametrize("given", ["flag", "environment"])
def test_the_advertised_host_is_the_address_an_agent_registers(
    jobmanager: tuple[str, subprocess.Popen[str]], given: str
) -> None:
    jm, _ = jobmanager
    args = ["agent", "--host", "0.0.0.0", "--insecure", "--jobmanager", jm]
    if given == "flag":
        agent, uri = start([*args, "--advertise-host", "localhost"])
    else:
        agent, uri = start(args, SABOT_ADVERTISE_HOST="localhost")
    try:
        assert host_of(uri) == "localhost"
        wait_for(lambda: registered(jm) == [uri], timeout=60)
        assert registered(jm) == [uri]
        assert call(uri, "ping", None, CLUSTER)["state"] == "ACTIVE"
    finally:
        stop(agent)


def test_an_agent_the_jobmanager_cannot_reach_back_is_refused_and_exits(
    jobmanager: tuple[str, subprocess.Popen[str]],
) -> None:
    jm, jm_process = jobmanager
    # it listens on 127.0.0.1 only, so nothing answers at 127.0.0.2
    args = ["agent", "--insecure", "--jobmanager", jm, "--advertise-host", "127.0.0.2"]
    agent, uri = start(args)
    try:
        code = agent.wait(timeout=60)
    finally:
        stderr = stop(agent)
    assert code != 0
    error = stderr.strip().splitlines()[-1]
    assert error.startswith(
        f"sabot-lab agent: error: the JobManager cannot reach this agent back at {uri} ("
    ), error
    assert "--advertise-host" in error
    assert uri not in registered(jm) and registered(jm) == []
    jm_process.terminate()  # its log says why it refused the agent
    logged = [json.loads(line) for line in stop(jm_process).splitlines() if line.startswith("{")]
    refusals = [r for r in logged if r.get("event", "").startswith("refused to register")]
    assert refusals and uri in refusals[0]["event"] and "--advertise-host" in refusals[0]["event"]
