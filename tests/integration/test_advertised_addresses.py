"""The addresses servers hand out, on loopback: a JobManager and agents listening on every
interface (``--host 0.0.0.0``) never register or print the wildcard; ``--advertise-host``
(or ``SABOT_ADVERTISE_HOST``) is the address they hand out; an agent the JobManager cannot
reach back at its address is refused at registration and exits saying so."""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import sabot_lab as sl
from sabot_lab import col
from sabot_lab.errors import RegistrationRefusedError
from sabot_lab.runtime.addresses import host_of, is_wildcard
from sabot_lab.runtime.transport import Credentials, call
from tests.support.polling import wait_for

TOKEN = secrets.token_urlsafe(32)
CLUSTER_TOKEN = secrets.token_urlsafe(32)
CLUSTER = Credentials(CLUSTER_TOKEN, insecure=True)


def start(
    args: list[str], log: Path | None = None, **env: str
) -> tuple[subprocess.Popen[str], str]:
    """Start ``sabot-lab ARGS`` (with the cluster's tokens; its standard error to ``log``
    when given); the process and the URI its ready line names."""
    variables = {"SABOT_TOKEN": TOKEN, "SABOT_CLUSTER_TOKEN": CLUSTER_TOKEN, **env}
    with contextlib.ExitStack() as files:
        stderr = subprocess.PIPE if log is None else files.enter_context(log.open("w"))
        process = subprocess.Popen(
            [sys.executable, "-m", "sabot_lab.cli", *args],
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
            env={**os.environ, **variables},
        )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert " ready " in line, (line, process.communicate(timeout=30))
    return process, line.split()[-1]


def stop(process: subprocess.Popen[str]) -> str:
    """Stop a started server; what it wrote to stderr (if not to a file)."""
    if process.poll() is None:
        process.terminate()
    return process.communicate(timeout=60)[1] or ""


@dataclass
class JobManager:
    """A JobManager on every interface, as the README starts one (plain grpc:// off
    loopback needs --insecure): its URI and the file it logs to."""

    uri: str
    log: Path

    def records(self) -> list[dict[str, Any]]:
        lines = self.log.read_text().splitlines()
        return [json.loads(line) for line in lines if line.startswith("{")]


@pytest.fixture(scope="module")
def jobmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JobManager]:
    workdir = tmp_path_factory.mktemp("jobmanager")
    args = ["jobmanager", "--host", "0.0.0.0", "--insecure", "--workdir", str(workdir)]
    process, uri = start(args, workdir / "stderr.log")
    yield JobManager(uri, workdir / "stderr.log")
    stop(process)


def connect(uri: str) -> sl.Cluster:
    return sl.connect(uri, token=TOKEN, insecure=True)


def registered(uri: str) -> dict[str, str]:
    """The agents the JobManager at ``uri`` registered (those of earlier tests STOPPED), and
    their states."""
    return {a["uri"]: a["state"] for a in connect(uri).agents()}


def active(uri: str) -> list[str]:
    return [agent for agent, state in registered(uri).items() if state in ("ACTIVE", "BUSY")]


def test_a_jobmanager_on_every_interface_hands_out_an_address_of_its_host(
    jobmanager: JobManager,
) -> None:
    uri = jobmanager.uri
    assert not is_wildcard(host_of(uri)) and uri.startswith("grpc://")
    http = call(uri, "ping", None, Credentials(TOKEN, insecure=True))["http"]
    assert host_of(http) == host_of(uri)
    assert isinstance(connect(uri).jobs(), list)  # clients reach it at the address handed out


def test_an_agent_on_every_interface_registers_the_address_toward_its_jobmanager(
    jobmanager: JobManager,
) -> None:
    jm = jobmanager.uri
    loopback = jm.replace(host_of(jm), "127.0.0.1")  # the agent reaches it there: its route
    agent, uri = start(["agent", "--host", "0.0.0.0", "--insecure", "--jobmanager", loopback])
    try:
        assert host_of(uri) == "127.0.0.1"
        wait_for(lambda: active(jm) == [uri], timeout=60)
        assert active(jm) == [uri]
        table = {"k": [i % 5 for i in range(1_000)], "x": list(range(1_000))}
        job = sl.from_pydict(table).group_by("k").agg(total=col("x").sum()).submit(connect(jm))
        result = job.result(timeout=60).sort_by("k").to_pydict()
        assert result == {"k": [0, 1, 2, 3, 4], "total": [99500, 99700, 99900, 100100, 100300]}
    finally:
        stop(agent)


@pytest.mark.parametrize("given", ["flag", "environment"])
def test_the_advertised_host_is_the_address_an_agent_registers(
    jobmanager: JobManager, given: str
) -> None:
    jm = jobmanager.uri
    args = ["agent", "--host", "0.0.0.0", "--insecure", "--jobmanager", jm]
    if given == "flag":
        agent, uri = start([*args, "--advertise-host", "localhost"])
    else:
        agent, uri = start(args, SABOT_ADVERTISE_HOST="localhost")
    try:
        assert host_of(uri) == "localhost"
        wait_for(lambda: active(jm) == [uri], timeout=60)
        assert active(jm) == [uri]
        assert call(uri, "ping", None, CLUSTER)["state"] == "ACTIVE"
    finally:
        stop(agent)


def test_an_agent_the_jobmanager_cannot_reach_back_is_refused_and_exits(
    jobmanager: JobManager,
) -> None:
    # it listens on 127.0.0.1 only, so nothing answers at 127.0.0.2
    args = ["agent", "--insecure", "--jobmanager", jobmanager.uri, "--advertise-host", "127.0.0.2"]
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
    assert uri not in registered(jobmanager.uri)
    refused = f"refused to register agent {uri}: "  # what the JobManager logged
    wait_for(lambda: any(r["event"].startswith(refused) for r in jobmanager.records()))
    logged = [r for r in jobmanager.records() if r["event"].startswith(refused)]
    assert logged and "--advertise-host" in logged[0]["event"]


@pytest.mark.parametrize("state", ["STARTING", "ACTIVE", "STOPPED"])
def test_a_heartbeat_from_a_wildcard_address_is_refused_even_if_it_answers_there(
    jobmanager: JobManager, state: str
) -> None:
    jm = jobmanager.uri
    agent, uri = start(["agent", "--insecure"])  # on 127.0.0.1, which 0.0.0.0 reaches here
    try:
        wildcard = uri.replace("127.0.0.1", "0.0.0.0")
        assert call(wildcard, "ping", None, CLUSTER)["uri"] == uri
        beat = {"uri": wildcard, "state": state, "slots": 1}
        with pytest.raises(RegistrationRefusedError, match="a wildcard address"):
            call(jm, "heartbeat", beat, CLUSTER)
        assert wildcard not in registered(jm)
    finally:
        stop(agent)
