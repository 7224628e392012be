"""Arrow Flight plumbing shared by agents, the JobManager and clients: bearer tokens on every
call, JSON actions, and clear errors for unreachable or refusing servers.

>>> server = EchoServer(token="s3cret")
>>> call(f"grpc://127.0.0.1:{server.port}", "echo", {"n": 1}, token="s3cret")
{'n': 1}
>>> call(f"grpc://127.0.0.1:{server.port}", "echo", {}, token="wrong")
Traceback (most recent call last):
...
sabot_lab.errors.ClusterError: grpc://127.0.0.1:...: rejected: invalid or missing bearer token
>>> server.shutdown()
"""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import pyarrow as pa
import pyarrow.flight as flight

from sabot_lab.errors import ClusterError, SabotError

__all__ = [
    "EchoServer",
    "TokenMiddlewareFactory",
    "action_result",
    "call",
    "connect_flight",
    "dispatch",
    "options",
    "serve_until_stopped",
]

_AUTH = "authorization"


class TokenMiddlewareFactory(flight.ServerMiddlewareFactory):
    """Rejects every call whose ``authorization`` header is not ``Bearer <token>``."""

    def __init__(self, token: str) -> None:
        super().__init__()
        self._expected = f"Bearer {token}"

    def start_call(self, info: flight.CallInfo, headers: dict[str, list[str]]) -> None:
        values = headers.get(_AUTH) or headers.get(_AUTH.title()) or []
        if self._expected not in values:
            raise flight.FlightUnauthenticatedError("invalid or missing bearer token")
        return None


def options(token: str | None, timeout: float | None = None) -> flight.FlightCallOptions:
    """Call options carrying the bearer token."""
    headers = [(_AUTH.encode(), f"Bearer {token}".encode())] if token else []
    return flight.FlightCallOptions(headers=headers, timeout=timeout)


def connect_flight(uri: str) -> flight.FlightClient:
    """A Flight client for ``uri`` (``grpc://host:port`` or ``grpc+tls://host:port``)."""
    return flight.connect(uri)


def call(
    uri: str,
    name: str,
    payload: Any = None,
    token: str | None = None,
    timeout: float = 30.0,
    client: flight.FlightClient | None = None,
) -> Any:
    """Run the JSON action ``name`` on the Flight server at ``uri`` and return its JSON reply."""
    own = client is None
    client = client or connect_flight(uri)
    try:
        body = json.dumps(payload if payload is not None else {}).encode()
        results = list(client.do_action(flight.Action(name, body), options(token, timeout)))
    except flight.FlightUnauthenticatedError as exc:
        raise ClusterError(f"{uri}: rejected: {_message(exc)}") from None
    except flight.FlightUnavailableError as exc:
        raise ClusterError(f"{uri}: unreachable ({_message(exc)})") from None
    except flight.FlightTimedOutError:
        raise ClusterError(f"{uri}: no reply to {name!r} within {timeout:g} s") from None
    except (flight.FlightServerError, pa.ArrowException) as exc:
        raise ClusterError(f"{uri}: {name} failed: {_message(exc)}") from None
    finally:
        if own:
            client.close()
    return json.loads(results[0].body.to_pybytes()) if results else None


def action_result(value: Any) -> Iterator[flight.Result]:
    """The reply of a JSON action (server side)."""
    yield flight.Result(json.dumps(value).encode())


def dispatch(
    action: flight.Action, handlers: Mapping[str, Callable[[dict[str, Any]], Any]]
) -> Iterator[flight.Result]:
    """Serve a JSON action with its handler (server side): the body decoded, the reply
    encoded, and an unknown action or a sabot-lab error turned into a Flight error."""
    handler = handlers.get(action.type)
    if handler is None:
        raise flight.FlightServerError(f"unknown action {action.type!r}")
    try:
        return action_result(handler(json.loads(action.body.to_pybytes() or b"{}")))
    except SabotError as exc:
        raise flight.FlightServerError(str(exc)) from None


def serve_until_stopped(server: flight.FlightServerBase, label: str) -> None:
    """Serve until SIGTERM or SIGINT, after printing ``sabot-lab <label> ready <uri>`` (the
    line :class:`~sabot_lab.cluster.LocalCluster` waits for)."""
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: server.shutdown())
    print(f"sabot-lab {label} ready {server.uri}", flush=True)
    server.serve()


def _message(exc: BaseException) -> str:
    text = str(exc).split(". Detail:")[0]
    return text.split("gRPC client debug context")[0].strip().rstrip(".")


class EchoServer(flight.FlightServerBase):
    """A Flight server with one action, ``echo``: for trying the plumbing (and its doctests)."""

    def __init__(self, token: str) -> None:
        super().__init__("grpc://127.0.0.1:0", middleware={"auth": TokenMiddlewareFactory(token)})
        threading.Thread(target=self.serve, daemon=True).start()

    def do_action(
        self, context: flight.ServerCallContext, action: flight.Action
    ) -> Iterator[flight.Result]:
        return dispatch(action, {"echo": lambda body: body})
