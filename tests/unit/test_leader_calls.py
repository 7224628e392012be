"""A client following the leader of two JobManagers (real Flight servers here, acting out a
failover) waits ``patience`` seconds from the first refusal: a call the dying leader held
before it went does not eat the time the standby needs to take over."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from typing import Any

import pyarrow.flight as flight
import pytest

from sabot_lab.errors import NotLeaderError
from sabot_lab.runtime.leader_calls import LeaderCalls
from sabot_lab.runtime.transport import ClusterServer, Credentials, dispatch


class ActedJobManager(ClusterServer):
    """Answers ``ping`` as ``answer(calls)`` says: a reply, or an error to raise."""

    def __init__(self, auth: Credentials, answer: Any) -> None:
        super().__init__("127.0.0.1", 0, auth)
        self.answer = answer
        self.calls = 0

    def do_action(self, context: flight.ServerCallContext, action: flight.Action) -> Any:
        self.calls += 1
        return dispatch(action, {"ping": lambda _: self.answer(self.calls)}, context)


@pytest.fixture
def auth() -> Credentials:
    return Credentials(secrets.token_urlsafe(32))


@pytest.fixture
def serving() -> Iterator[list[ClusterServer]]:
    servers: list[ClusterServer] = []
    yield servers
    for server in servers:
        server.shutdown()


def started(servers: list[ClusterServer], server: ClusterServer) -> str:
    servers.append(server)
    threading.Thread(target=server.serve, daemon=True).start()
    return server.uri


def test_a_call_held_by_a_dying_leader_leaves_the_standby_its_whole_patience(
    auth: Credentials, serving: list[ClusterServer]
) -> None:
    held, patience = 2.5, 2.0
    start = time.monotonic()

    def dying(calls: int) -> Any:
        if calls == 1:
            time.sleep(held)  # a wait it holds until it goes
        raise flight.FlightUnavailableError("gone")

    def standby(calls: int) -> Any:
        if time.monotonic() - start < held + 0.5:  # it took over after the leader went
            raise NotLeaderError("no leader right now (a takeover is under way)")
        return {"leader": "standby"}

    leader = started(serving, ActedJobManager(auth, dying))
    other = started(serving, ActedJobManager(auth, standby))
    calls = LeaderCalls([leader, other], auth, patience=patience)
    assert calls.call("ping", timeout=10) == {"leader": "standby"}
    assert calls.uri == other


def test_no_leader_within_the_patience_raises_every_refusal(
    auth: Credentials, serving: list[ClusterServer]
) -> None:
    def refusing(calls: int) -> Any:
        raise NotLeaderError("no leader right now")

    uris = [started(serving, ActedJobManager(auth, refusing)) for _ in range(2)]
    calls = LeaderCalls(uris, auth, patience=0.5)
    start = time.monotonic()
    with pytest.raises(NotLeaderError, match=r"leads: grpc://127\.0\.0\.1:\d+: ping failed: "):
        calls.call("ping", timeout=10)
    assert time.monotonic() - start >= 0.5
